import type { EngineEvent, Events, SystemService } from "../../engine/index.js";
import { eventJson } from "../../engine/index.js";
import { matchLabels, parseTimestamp } from "../../util/filters.js";
import { type Router, ping, versionAtLeast, qBool, qFilters, requireRes, startJsonStream } from "../server.js";
import { invalid } from "../../util/errors.js";

/** What the system routes use of the engine. */
export interface SystemBackend {
  system: Pick<SystemService, "version" | "info" | "check">;
  events: Pick<Events, "since" | "subscribe">;
}

export function systemRoutes(r: Router, engine: SystemBackend): void {
  r.get("/_ping", ping);
  r.head("/_ping", ping);
  r.get("/version", async (ctx) => ctx.json(200, engine.system.version()));
  // Berth's own extension (not in Docker's API): the engine's consistency check.
  r.get("/berth/system/check", async (ctx) => ctx.json(200, await engine.system.check(qBool(ctx.query, "blobs", true))));
  r.get("/info", async (ctx) => {
    const info = engine.system.info();
    // KernelMemory(TCP) left the API in 1.42; CDISpecDirs came in 1.45.
    if (versionAtLeast(ctx.version, "1.42")) {
      delete info["KernelMemory"];
      delete info["KernelMemoryTCP"];
    }
    if (!versionAtLeast(ctx.version, "1.45")) delete info["CDISpecDirs"];
    ctx.json(200, info);
  });

  r.get("/events", async (ctx) => {
    const res = requireRes(ctx);
    const filters = qFilters(ctx.query);
    const sinceQ = ctx.query.get("since");
    const untilQ = ctx.query.get("until");
    const time = (v: string): number => {
      const t = parseTimestamp(v);
      if (t === undefined) throw invalid(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
      return t;
    };
    const since = sinceQ ? time(sinceQ) : undefined;
    const until = untilQ ? time(untilQ) : undefined;
    if (since !== undefined && until !== undefined && since > until) throw invalid(`\`since\` time (${sinceQ ?? ""}) cannot be after \`until\` time (${untilQ ?? ""})`);
    // dockerd's fuzzy name match: the actor's id or name starts with the value; it applies to every event, whatever its type.
    const fuzzy = (e: EngineEvent, vals: string[]): boolean =>
      vals.some((v) => e.Actor.ID.startsWith(v) || (e.Actor.Attributes["name"] ?? "").startsWith(v));
    const match = (e: EngineEvent): boolean => {
      for (const [k, vals] of Object.entries(filters)) {
        if (vals.length === 0) continue;
        const ok = (() => {
          switch (k) {
            case "type":
              return vals.includes(e.Type);
            case "event":
              return vals.includes(e.Action) || vals.includes(e.Action.split(":")[0] ?? "");
            case "container":
              return e.Type === "container" && vals.some((v) => e.Actor.ID.startsWith(v) || e.Actor.Attributes["name"] === v);
            case "volume":
            case "network":
              return fuzzy(e, vals);
            case "image":
              return vals.some((v) => e.Actor.Attributes["image"] === v || e.Actor.ID === v || e.Actor.Attributes["name"] === v);
            case "label":
              return matchLabels(e.Actor.Attributes, vals);
            default:
              return true;
          }
        })();
        if (!ok) return false;
      }
      return true;
    };
    startJsonStream(res);
    const write = (e: EngineEvent) => {
      if (until !== undefined && e.time > until) return;
      if (match(e)) res.write(`${eventJson(e)}\n`);
    };
    if (since !== undefined) for (const e of engine.events.since(Math.floor(since * 1e9))) write(e);
    const nowS = Date.now() / 1000;
    if (until !== undefined && until <= nowS) {
      res.end();
      return;
    }
    const unsub = engine.events.subscribe(write);
    const timer = until !== undefined ? setTimeout(() => res.end(), (until - nowS) * 1000) : undefined;
    await new Promise<void>((resolve) => {
      res.on("close", resolve);
      res.on("finish", resolve);
    });
    unsub();
    if (timer) clearTimeout(timer);
  });
}
