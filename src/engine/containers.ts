/**
 * Temporary (engine split, issue 15): the old path of the containers backend, for the
 * callers not yet retyped (exec, health, archive, images). Deleted when they import
 * from ./containers/index.js.
 */
export type { ContainerService } from "./containers/index.js";
