/**
 * The API subsystem: Docker Engine API routes over the engine's backends.
 * The server listens before the engine is ready: `/_ping` answers at once, every other request
 * waits for the engine (and its routes, loaded with it), so nothing sees a half-initialised state.
 */
import type http from "node:http";
import type { Backends } from "./routes/all.js";
import type { Logger } from "../util/log.js";
import { type TlsOptions, createApiServer } from "./server.js";

export type { TlsOptions } from "./server.js";
export type { Backends } from "./routes/all.js";

/**
 * An API server over an engine that may still be starting: `engine` is the route areas' backends
 * (the engine's wiring satisfies them). The route modules (and through them the engine's, zod's,
 * ws's) are loaded only once `engine` resolves: a daemon answers /_ping without them.
 */
export function makeApiServer(engine: Backends | Promise<Backends>, log: Logger, tls?: TlsOptions): http.Server {
  const router = Promise.resolve(engine).then(async (e) => (await import("./routes/all.js")).allRoutes(e));
  // A failed start is the daemon's to report (it exits); waiting requests go with it.
  router.catch(() => undefined);
  return createApiServer(router, log, tls);
}
