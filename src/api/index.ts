/** The API subsystem: Docker Engine API routes over the engine's backends. */
import type http from "node:http";
import type { Engine } from "../engine/index.js";
import type { Logger } from "../util/log.js";
import { archiveRoutes } from "./routes/archive.js";
import { buildRoutes } from "./routes/build.js";
import { containerRoutes } from "./routes/containers.js";
import { attachWsRoutes } from "./routes/attach-ws.js";
import { distributionRoutes } from "./routes/distribution.js";
import { execRoutes } from "./routes/exec.js";
import { imageRoutes } from "./routes/images.js";
import { networkRoutes } from "./routes/networks.js";
import { volumeRoutes } from "./routes/volumes.js";
import { pluginRoutes } from "./routes/plugins.js";
import { swarmRoutes } from "./routes/swarm.js";
import { statsRoutes } from "./routes/stats.js";
import { systemRoutes } from "./routes/system.js";
import { type TlsOptions, Router, createApiServer } from "./server.js";

export { API_VERSION, MIN_API_VERSION } from "./server.js";
export type { TlsOptions } from "./server.js";

export function makeApiServer(engine: Engine, log: Logger, tls?: TlsOptions): http.Server {
  return createApiServer(apiRouter(engine), log, tls);
}

/** Every route of the API (throws at start-up if one is registered twice). */
export function apiRouter(engine: Engine): Router {
  const r = new Router();
  systemRoutes(r, engine);
  containerRoutes(r, engine);
  attachWsRoutes(r, engine);
  archiveRoutes(r, engine);
  execRoutes(r, engine);
  imageRoutes(r, engine);
  networkRoutes(r, engine);
  volumeRoutes(r, engine);
  statsRoutes(r, engine);
  buildRoutes(r, engine);
  distributionRoutes(r, engine);
  swarmRoutes(r);
  pluginRoutes(r);
  return r;
}
