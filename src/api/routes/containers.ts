import type { ContainerService, UpdateService, WaitCondition } from "../../engine/index.js";
import { ContainerCreateSchema, NOT_JOINED, UpdateConfigSchema, parseDetachKeys } from "../../engine/index.js";
import { invalid } from "../../util/errors.js";
import { parseTimestamp } from "../../util/filters.js";
import { type Router, COMMON_HEADERS, qBool, qFilters, qInt, requireRes, startStream, versionAtLeast } from "../server.js";
import { parseBody, validate } from "../body.js";

const MUX = "application/vnd.docker.multiplexed-stream";
const RAW = "application/vnd.docker.raw-stream";

/** What the container routes use of the engine. */
export interface ContainersBackend {
  containers: Pick<
    ContainerService,
    "list" | "create" | "inspect" | "start" | "stop" | "restart" | "kill" | "pause" | "unpause" | "resize" | "rename" | "wait" | "remove" | "removeLink" | "prune" | "get" | "attach" | "logs"
  >;
  containerUpdate: Pick<UpdateService, "update">;
}

export function containerRoutes(r: Router, engine: ContainersBackend): void {
  const cs = engine.containers;

  r.get("/containers/json", async (ctx) => {
    const q = ctx.query;
    const list = await cs.list({ all: qBool(q, "all"), limit: qInt(q, "limit") ?? -1, size: qBool(q, "size"), filters: qFilters(q) });
    ctx.json(200, list.map((c) => forVersion(c, ctx.version)));
  });

  r.post("/containers/create", async (ctx) => {
    const raw = await ctx.body();
    if (raw === undefined || raw === null) throw invalid("Config cannot be empty in order to create a container");
    const config = validate(ContainerCreateSchema, raw, "container config");
    const name = ctx.query.get("name") ?? undefined;
    ctx.json(201, await cs.create(config, name));
  });

  r.get("/containers/{name*}/json", async (ctx) => ctx.json(200, forVersion(await cs.inspect(ctx.params["name"] ?? "", qBool(ctx.query, "size")), ctx.version)));

  r.post("/containers/{id}/start", async (ctx) => {
    const res = await cs.start(ctx.params["id"] ?? "");
    ctx.status(res === "alreadyRunning" ? 304 : 204);
  });

  r.post("/containers/{id}/stop", async (ctx) => {
    const stopped = await cs.stop(ctx.params["id"] ?? "", qInt(ctx.query, "t"), ctx.query.get("signal") ?? undefined);
    ctx.status(stopped ? 204 : 304);
  });

  r.post("/containers/{id}/restart", async (ctx) => {
    await cs.restart(ctx.params["id"] ?? "", qInt(ctx.query, "t"), ctx.query.get("signal") ?? undefined);
    ctx.status(204);
  });

  r.post("/containers/{id}/kill", async (ctx) => {
    await cs.kill(ctx.params["id"] ?? "", ctx.query.get("signal") || "SIGKILL");
    ctx.status(204);
  });

  r.post("/containers/{id}/pause", async (ctx) => {
    await cs.pause(ctx.params["id"] ?? "");
    ctx.status(204);
  });

  r.post("/containers/{id}/unpause", async (ctx) => {
    await cs.unpause(ctx.params["id"] ?? "");
    ctx.status(204);
  });

  r.post("/containers/{id}/resize", async (ctx) => {
    const h = atoi(ctx.query, "h");
    const w = atoi(ctx.query, "w");
    if (h < 0 || w < 0 || h > 65535 || w > 65535) throw invalid("invalid terminal size");
    await cs.resize(ctx.params["id"] ?? "", h, w);
    ctx.status(200);
  });

  r.post("/containers/{id}/rename", async (ctx) => {
    const name = ctx.query.get("name");
    if (!name) throw invalid("Neither old nor new names may be empty");
    await cs.rename(ctx.params["id"] ?? "", name);
    ctx.status(204);
  });

  r.post("/containers/{id}/update", async (ctx) => {
    const update = await parseBody(ctx, UpdateConfigSchema, "update config");
    // The pids limit came with API 1.40; older clients' values are ignored (dockerd's rule).
    const body = versionAtLeast(ctx.version, "1.40") ? update : { ...update, PidsLimit: null };
    ctx.json(200, await engine.containerUpdate.update(ctx.params["id"] ?? "", body));
  });

  r.post("/containers/{id}/wait", async (ctx) => {
    const res = requireRes(ctx);
    const cond = (ctx.query.get("condition") || "not-running") as WaitCondition;
    if (!["not-running", "next-exit", "removed"].includes(cond)) throw invalid(`invalid condition: "${cond}"`);
    const result = cs.wait(ctx.params["id"] ?? "", cond);
    // Answer the headers at once: the client starts the container only after the wait is registered.
    res.writeHead(200, { ...COMMON_HEADERS, "Content-Type": "application/json" });
    res.flushHeaders();
    const r2 = await result;
    res.end(JSON.stringify(versionAtLeast(ctx.version, "1.30") ? r2 : { StatusCode: r2.StatusCode }));
  });

  // Names may hold slashes here: link names ("parent/alias", `docker rm --link`).
  r.delete("/containers/{name*}", async (ctx) => {
    const name = ctx.params["name"] ?? "";
    if (qBool(ctx.query, "link")) await cs.removeLink(name);
    else await cs.remove(name, { force: qBool(ctx.query, "force"), volumes: qBool(ctx.query, "v") });
    ctx.status(204);
  });

  r.post("/containers/prune", async (ctx) => ctx.json(200, await cs.prune(qFilters(ctx.query))));

  r.post("/containers/{id}/attach", async (ctx) => {
    ctx.rawErrors();
    const id = ctx.params["id"] ?? "";
    const rec = cs.get(id);
    const q = ctx.query;
    const keys = q.get("detachKeys");
    const opts = { stdin: qBool(q, "stdin"), stdout: qBool(q, "stdout"), stderr: qBool(q, "stderr"), stream: qBool(q, "stream"), logs: qBool(q, "logs"), ...(keys ? { detachKeys: parseDetachKeys(keys) } : {}) };
    const sock = ctx.hijack(rec.Config.Tty ? RAW : versionAtLeast(ctx.version, "1.42") ? MUX : RAW);
    await cs.attach(id, sock, opts);
  });

  r.get("/containers/{id}/logs", async (ctx) => {
    const res = requireRes(ctx);
    const q = ctx.query;
    const stdout = qBool(q, "stdout");
    const stderr = qBool(q, "stderr");
    if (!stdout && !stderr) throw invalid("Bad parameters: you must choose at least one stream");
    const tailQ = q.get("tail");
    const tail = !tailQ || tailQ === "all" ? ("all" as const) : Number(tailQ);
    if (typeof tail === "number" && !Number.isInteger(tail)) throw invalid(`invalid tail value: ${tailQ}`);
    const since = q.get("since") ? timeFilter(q.get("since") as string) : 0;
    const until = q.get("until") ? timeFilter(q.get("until") as string) : 0;
    const { stream, tty } = cs.logs(ctx.params["id"] ?? "", { stdout, stderr, follow: qBool(q, "follow"), tail, since, until, timestamps: qBool(q, "timestamps"), details: qBool(q, "details") });
    // API 1.42 named the stream types; dockerd 20.10 sends logs without a Content-Type.
    startStream(res, !versionAtLeast(ctx.version, "1.42") ? undefined : tty ? RAW : MUX);
    res.on("close", () => stream.destroy());
    stream.pipe(res);
    await new Promise<void>((resolve) => {
      res.on("finish", resolve);
      res.on("close", resolve);
    });
  });
}

/**
 * A container (inspect or list entry) as a client of API `version` knows it:
 * HostConfig.KernelMemory(TCP) until 1.42, endpoints' DNSNames from 1.44, the short id among Aliases until 1.45 and
 * GwPriority from 1.48 (the changelog's gates).
 */
export function forVersion(c: Record<string, unknown>, version: string): Record<string, unknown> {
  const hc = c["HostConfig"] as Record<string, unknown> | undefined;
  if (hc && "Binds" in hc && !versionAtLeast(version, "1.42")) {
    hc["KernelMemory"] ??= 0;
    hc["KernelMemoryTCP"] ??= 0;
  }
  const nets = (c["NetworkSettings"] as { Networks?: Record<string, Record<string, unknown>> } | undefined)?.Networks ?? {};
  for (const [name, ep] of Object.entries(nets)) {
    // Before 1.45 the short id is among a user-defined network's Aliases, once the container joined it (started or connected).
    const shortId = typeof c["Id"] === "string" ? c["Id"].slice(0, 12) : "";
    const joined = !(NOT_JOINED in ep);
    if (!versionAtLeast(version, "1.45") && shortId !== "" && joined && !["bridge", "host", "none", "default"].includes(name)) {
      const aliases = Array.isArray(ep["Aliases"]) ? (ep["Aliases"] as string[]) : [];
      if (!aliases.includes(shortId)) ep["Aliases"] = [...aliases, shortId];
    }
    if (!versionAtLeast(version, "1.44")) delete ep["DNSNames"];
    if (!versionAtLeast(version, "1.48")) delete ep["GwPriority"];
  }
  return c;
}

/** A logs since/until value in unix seconds (util/filters' one parser), with this route's wording for a bad one. */
function timeFilter(v: string): number {
  const t = parseTimestamp(v);
  if (t === undefined) throw invalid(`invalid time filter: ${v}`);
  return t;
}

/** A resize dimension as dockerd parses it (strconv.Atoi, with Go's error text). */
export function atoi(q: URLSearchParams, name: string): number {
  const v = q.get(name) ?? "";
  if (!/^[+-]?\d+$/.test(v)) throw invalid(`strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
  return Number(v);
}
