/**
 * Every route of the Engine API, over a ready engine (loaded lazily by ../index.ts). Each route
 * area names what it uses of the engine in its own backend interface (moby's route → backend
 * split); `Backends` is all of them, which the engine's wiring satisfies.
 */
import { Router } from "../server.js";
import { type ArchiveBackend, archiveRoutes } from "./archive.js";
import { type BuildBackend, buildRoutes } from "./build.js";
import { type ContainersBackend, containerRoutes } from "./containers.js";
import { type AttachWsBackend, attachWsRoutes } from "./attach-ws.js";
import { type DistributionBackend, distributionRoutes } from "./distribution.js";
import { type ExecBackend, execRoutes } from "./exec.js";
import { type ImagesBackend, imageRoutes } from "./images.js";
import { type NetworksBackend, networkRoutes } from "./networks.js";
import { type VolumesBackend, volumeRoutes } from "./volumes.js";
import { pluginRoutes } from "./plugins.js";
import { swarmRoutes } from "./swarm.js";
import { type StatsBackend, statsRoutes } from "./stats.js";
import { type SystemBackend, systemRoutes } from "./system.js";

export type Backends = SystemBackend &
  ContainersBackend &
  AttachWsBackend &
  ArchiveBackend &
  ExecBackend &
  ImagesBackend &
  NetworksBackend &
  VolumesBackend &
  StatsBackend &
  BuildBackend &
  DistributionBackend;

export function allRoutes(engine: Backends): Router {
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
