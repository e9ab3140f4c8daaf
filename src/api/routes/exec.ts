import type { ExecService } from "../../engine/index.js";
import { ExecCreateSchema, ExecStartSchema } from "../../engine/index.js";
import { invalid } from "../../util/errors.js";
import { type Ctx, type Router, versionAtLeast } from "../server.js";
import { parseBody } from "../body.js";
import { atoi } from "./containers.js";

const MUX = "application/vnd.docker.multiplexed-stream";
const RAW = "application/vnd.docker.raw-stream";

function size(v: number[] | null | undefined, version: string): [number, number] | undefined {
  // ConsoleSize arrived with API 1.42.
  return v && v.length === 2 && versionAtLeast(version, "1.42") ? [v[0] as number, v[1] as number] : undefined;
}

/** As dockerd parses it (strconv.Atoi, Go's message); sizes a terminal cannot have are refused, where dockerd passes them on. */
function dimension(ctx: Ctx, name: "h" | "w"): number {
  const v = atoi(ctx.query, name);
  if (v < 0 || v > 65535) throw invalid("invalid terminal size");
  return v;
}

/** What the exec routes use of the engine. */
export interface ExecBackend {
  exec: Pick<ExecService, "create" | "checkStartable" | "start" | "inspect" | "resize">;
}

export function execRoutes(r: Router, engine: ExecBackend): void {
  const es = engine.exec;

  r.post("/containers/{id}/exec", async (ctx) => {
    const body = await parseBody(ctx, ExecCreateSchema, "exec config");
    if (!versionAtLeast(ctx.version, "1.42")) body.ConsoleSize = null;
    ctx.json(201, await es.create(ctx.params["id"] ?? "", body));
  });

  r.post("/exec/{id}/start", async (ctx) => {
    const id = ctx.params["id"] ?? "";
    const body = await parseBody(ctx, ExecStartSchema, "exec config");
    es.checkStartable(id);
    const tty = body.Tty ?? false;
    // No console without a terminal.
    const consoleSize = tty ? size(body.ConsoleSize, ctx.version) : undefined;
    if (body.Detach) {
      await es.start(id, { consoleSize, muxed: false });
      ctx.status(200);
      return;
    }
    const muxed = !tty;
    const sock = ctx.hijack(!tty && versionAtLeast(ctx.version, "1.42") ? MUX : RAW, true);
    await es.start(id, { consoleSize, muxed }, sock);
  });

  r.get("/exec/{id}/json", async (ctx) => ctx.json(200, es.inspect(ctx.params["id"] ?? "")));

  r.post("/exec/{id}/resize", async (ctx) => {
    const h = dimension(ctx, "h");
    const w = dimension(ctx, "w");
    await es.resize(ctx.params["id"] ?? "", h, w);
    ctx.status(200);
  });
}
