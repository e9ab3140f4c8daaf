import type { StatsService } from "../../engine/index.js";
import { type Router, qBool, requireRes, startJsonStream } from "../server.js";

/** GET /containers/{id}/stats and /containers/{id}/top. */
/** What the stats and top routes use of the engine. */
export interface StatsBackend {
  stats: Pick<StatsService, "stats" | "top">;
}

export function statsRoutes(r: Router, engine: StatsBackend): void {
  const stats = engine.stats;

  r.get("/containers/{id}/stats", async (ctx) => {
    const res = requireRes(ctx);
    const stream = qBool(ctx.query, "stream", true);
    const oneShot = qBool(ctx.query, "one-shot");
    const ac = new AbortController();
    res.on("close", () => ac.abort());
    const samples = stats.stats(ctx.params["id"] ?? "", { stream, oneShot }, ac.signal);
    // The first sample (or the error: unknown container, bad options) comes before any header.
    const first = await samples.next();
    if (!stream) {
      ctx.json(200, first.done ? {} : first.value);
      return;
    }
    startJsonStream(res);
    try {
      for (let s = first; !s.done && !ac.signal.aborted; s = await samples.next()) res.write(`${JSON.stringify(s.value)}\n`);
    } finally {
      await samples.return(undefined);
      res.end();
    }
  });

  r.get("/containers/{id}/top", async (ctx) => {
    ctx.json(200, await stats.top(ctx.params["id"] ?? "", ctx.query.get("ps_args") ?? ""));
  });
}
