/**
 * Swarm mode (swarm, nodes, services, tasks, secrets, configs): Berth is never part
 * of a swarm, so it answers these as dockerd 20.10 does on a node that is not:
 * the same parameter checks first (400), then 503 "This node is not a swarm
 * manager…" (or "…not part of a swarm" for leave). Creating or joining a swarm
 * is refused with 501: Berth has no swarm mode.
 */
import { EngineError, invalid } from "../../util/errors.js";
import { type Ctx, type Router, qBool, qFilters } from "../server.js";

export const NOT_MANAGER = 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';

const notManager = (): EngineError => new EngineError("unavailable", NOT_MANAGER);

/** dockerd parses `version` as a uint64 before it asks the cluster. */
function requireVersion(ctx: Ctx, what: string, message?: string): void {
  const v = ctx.query.get("version") ?? "";
  if (!/^\d+$/.test(v) || BigInt(v) > 18446744073709551615n) {
    throw invalid(message ?? `invalid ${what} version '${v}': strconv.ParseUint: parsing ${JSON.stringify(v)}: invalid syntax`);
  }
}

function requireStream(ctx: Ctx): void {
  if (!qBool(ctx.query, "stdout") && !qBool(ctx.query, "stderr")) throw invalid("Bad parameters: you must choose at least one stream");
}

async function listenAddr(ctx: Ctx): Promise<{ ListenAddr?: unknown; RemoteAddrs?: unknown }> {
  const body = ((await ctx.body()) ?? {}) as { ListenAddr?: unknown; RemoteAddrs?: unknown };
  if (typeof body !== "object" || body === null) throw invalid("invalid JSON: expected an object");
  if (body.ListenAddr === undefined || body.ListenAddr === "") throw invalid('invalid ListenAddr "": invalid empty address');
  return body;
}

const NO_SWARM_MODE = "Berth does not support swarm mode";

export function swarmRoutes(r: Router): void {
  const unavailable = async (ctx: Ctx): Promise<void> => {
    qFilters(ctx.query);
    throw notManager();
  };

  r.get("/swarm", unavailable);
  r.post("/swarm/init", async (ctx) => {
    await listenAddr(ctx);
    throw new EngineError("notImplemented", NO_SWARM_MODE);
  });
  r.post("/swarm/join", async (ctx) => {
    const body = await listenAddr(ctx);
    if (!Array.isArray(body.RemoteAddrs) || body.RemoteAddrs.length === 0) throw invalid("at least 1 RemoteAddr is required to join");
    throw new EngineError("notImplemented", NO_SWARM_MODE);
  });
  r.post("/swarm/leave", async () => {
    throw new EngineError("unavailable", "This node is not part of a swarm");
  });
  r.post("/swarm/update", async (ctx) => {
    requireVersion(ctx, "swarm");
    throw notManager();
  });
  r.get("/swarm/unlockkey", unavailable);
  r.post("/swarm/unlock", unavailable);

  for (const [base, what] of [
    ["nodes", "node"],
    ["services", "service"],
    ["secrets", "secret"],
    ["configs", "config"],
  ] as const) {
    r.get(`/${base}`, unavailable);
    r.get(`/${base}/{id}`, unavailable);
    r.delete(`/${base}/{id}`, unavailable);
    r.post(`/${base}/{id}/update`, async (ctx) => {
      // dockerd's own wording differs for secrets and configs.
      requireVersion(ctx, what, what === "secret" || what === "config" ? `invalid ${what} version` : undefined);
      throw notManager();
    });
    if (base !== "nodes") r.post(`/${base}/create`, unavailable);
  }
  r.get("/services/{id}/logs", async (ctx) => {
    requireStream(ctx);
    throw notManager();
  });
  r.get("/tasks", unavailable);
  r.get("/tasks/{id}", unavailable);
  r.get("/tasks/{id}/logs", async (ctx) => {
    requireStream(ctx);
    throw notManager();
  });
}
