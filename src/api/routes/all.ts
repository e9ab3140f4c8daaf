/** Every route of the Engine API, over a ready engine (loaded lazily by ../index.ts). */
import type { Engine } from "../../engine/index.js";
import { Router } from "../server.js";
import { archiveRoutes } from "./archive.js";
import { buildRoutes } from "./build.js";
import { containerRoutes } from "./containers.js";
import { attachWsRoutes } from "./attach-ws.js";
import { distributionRoutes } from "./distribution.js";
import { execRoutes } from "./exec.js";
import { imageRoutes } from "./images.js";
import { networkRoutes } from "./networks.js";
import { volumeRoutes } from "./volumes.js";
import { pluginRoutes } from "./plugins.js";
import { swarmRoutes } from "./swarm.js";
import { statsRoutes } from "./stats.js";
import { systemRoutes } from "./system.js";

export function allRoutes(engine: Engine): Router {
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
