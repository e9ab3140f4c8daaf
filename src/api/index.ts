/** The API subsystem: Docker Engine API routes over the engine's backends. */
import type http from "node:http";
import type { Engine } from "../engine/index.js";
import type { Logger } from "../util/log.js";
import { containerRoutes } from "./routes/containers.js";
import { imageRoutes } from "./routes/images.js";
import { systemRoutes } from "./routes/system.js";
import { Router, createApiServer } from "./server.js";

export { API_VERSION, MIN_API_VERSION } from "./server.js";

export function makeApiServer(engine: Engine, log: Logger): http.Server {
  const r = new Router();
  systemRoutes(r, engine);
  containerRoutes(r, engine);
  imageRoutes(r, engine);
  return createApiServer(r, log);
}
