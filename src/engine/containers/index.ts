/**
 * The containers backend: the service the engine exposes, the store its roles share,
 * and the narrow roles the other backends take (see types.ts); stats and update are
 * backends of their own over those roles.
 */
export { ContainerService } from "./service.js";
export { ContainerStore } from "./store.js";
export type {
  AttachOptions,
  ContainerAccess,
  ContainerEvents,
  ContainerHealth,
  ContainerLocking,
  ContainerLookup,
  ContainerServiceOptions,
  ListOptions,
  WaitCondition,
  WaitResult,
} from "./types.js";
export { listCommand, statusString } from "./views.js";
export { newId } from "../names.js";
export { StatsService } from "./stats.js";
export { UpdateConfigSchema, UpdateService } from "./update.js";
export type { UpdateConfig } from "./update.js";
