/** Pull, push, login, save, load and disk usage: thin handlers over the engine's distribution and image-archive backends. */
import type { ServerResponse } from "node:http";
import type { DfType, DistributionService, ImageArchiveService, ProgressMessage, SystemService } from "../../engine/index.js";
import { invalid, messageOf } from "../../util/errors.js";
import { type Ctx, type Router, qBool, qFilters, requireRes, startJsonStream, startStream, versionAtLeast } from "../server.js";
import { forVersion } from "./containers.js";

/**
 * A JSON-lines progress stream started on the first message: an error before
 * it is a plain HTTP error, after it an in-band {"errorDetail":...} (dockerd's way).
 */
class LazyJsonStream {
  started = false;
  constructor(private readonly res: ServerResponse) {}
  /** Answer 200 now: later errors go in-band. */
  start(): void {
    if (this.started) return;
    startJsonStream(this.res);
    this.started = true;
  }
  write = (m: ProgressMessage): void => {
    if (!this.started) {
      startJsonStream(this.res);
      this.started = true;
    }
    if (!this.res.destroyed) this.res.write(`${JSON.stringify(m)}\n`);
  };
  async run(fn: (out: (m: ProgressMessage) => void) => Promise<void>): Promise<void> {
    try {
      await fn(this.write);
      if (!this.started) startJsonStream(this.res);
      this.res.end();
    } catch (e) {
      if (!this.started) throw e;
      const message = messageOf(e);
      this.res.end(`${JSON.stringify({ errorDetail: { message }, error: message })}\n`);
    }
  }
}

/** An AbortSignal that fires when the client goes away before the answer is complete. */
function clientGone(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) ac.abort(new Error("client disconnected"));
  });
  return ac.signal;
}

function registryAuth(ctx: Ctx): string | undefined {
  const h = ctx.req.headers["x-registry-auth"];
  return typeof h === "string" && h !== "" ? h : undefined;
}

/** What docker pull uses of the engine. */
export interface PullBackend {
  distribution: Pick<DistributionService, "pull">;
}

/** What the distribution routes use of the engine. */
export interface DistributionBackend {
  distribution: Pick<DistributionService, "push" | "login" | "search" | "inspectRemote">;
  imageArchive: Pick<ImageArchiveService, "plan" | "save" | "load">;
  system: Pick<SystemService, "diskUsage">;
}

/** POST /images/create?fromImage=: docker pull (called from the images routes). */
export async function pullImage(ctx: Ctx, engine: PullBackend): Promise<void> {
  const res = requireRes(ctx);
  const q = ctx.query;
  const fromImage = q.get("fromImage") ?? "";
  if (fromImage === "") throw invalid("either fromSrc or fromImage must be given");
  const tag = q.get("tag") ?? "";
  const platform = q.get("platform") ?? "";
  const auth = registryAuth(ctx);
  const signal = clientGone(res);
  await new LazyJsonStream(res).run((out) =>
    engine.distribution.pull({ fromImage, tag, ...(platform ? { platform } : {}), ...(auth ? { auth } : {}), signal }, out),
  );
}

export function distributionRoutes(r: Router, engine: DistributionBackend): void {
  r.post("/images/{name*}/push", async (ctx) => {
    const res = requireRes(ctx);
    const auth = registryAuth(ctx);
    // dockerd decodes the header before anything else (an absent one is an empty JSON document).
    if (auth === undefined) throw invalid("Bad parameters and missing X-Registry-Auth: EOF");
    const signal = clientGone(res);
    const tag = ctx.query.get("tag") ?? "";
    await new LazyJsonStream(res).run((out) => engine.distribution.push({ name: ctx.params["name"] ?? "", tag, ...(auth ? { auth } : {}), signal }, out));
  });

  r.post("/auth", async (ctx) => {
    const body = (await ctx.body<Record<string, unknown>>()) ?? {};
    const str = (k: string): string | undefined => (typeof body[k] === "string" ? (body[k] as string) : undefined);
    const username = str("username");
    const password = str("password");
    const serveraddress = str("serveraddress");
    const identitytoken = str("identitytoken");
    ctx.json(
      200,
      await engine.distribution.login({
        ...(username !== undefined ? { username } : {}),
        ...(password !== undefined ? { password } : {}),
        ...(serveraddress !== undefined ? { serveraddress } : {}),
        ...(identitytoken !== undefined ? { identitytoken } : {}),
      }),
    );
  });

  const save = async (ctx: Ctx, names: string[]): Promise<void> => {
    const res = requireRes(ctx);
    const plan = engine.imageArchive.plan(names);
    const signal = clientGone(res);
    const tar = engine.imageArchive.save(plan, signal);
    startStream(res, "application/x-tar");
    tar.on("error", () => res.destroy());
    tar.pipe(res);
    await new Promise<void>((resolve) => {
      res.on("close", resolve);
      res.on("finish", resolve);
    });
  };
  r.get("/images/get", async (ctx) => save(ctx, ctx.query.getAll("names")));
  r.get("/images/{name*}/get", async (ctx) => save(ctx, [ctx.params["name"] ?? ""]));

  r.post("/images/load", async (ctx) => {
    const res = requireRes(ctx);
    // dockerd's default is quiet (the docker CLI always sends quiet=0 or 1).
    const quiet = qBool(ctx.query, "quiet", true);
    const signal = clientGone(res);
    // dockerd answers 200 at once and reports a bad archive in the stream.
    const stream = new LazyJsonStream(res);
    stream.start();
    await stream.run((out) => engine.imageArchive.load(ctx.stream(), { quiet, signal }, out));
  });

  r.get("/images/search", async (ctx) => {
    const res = requireRes(ctx);
    const raw = ctx.query.get("limit");
    let limit = 25;
    if (raw !== null && raw !== "") {
      if (!/^[+-]?\d+$/.test(raw)) throw invalid(`strconv.Atoi: parsing "${raw}": invalid syntax`);
      limit = Number(raw);
    }
    const auth = registryAuth(ctx);
    ctx.json(200, await engine.distribution.search({ term: ctx.query.get("term") ?? "", limit, filters: qFilters(ctx.query), ...(auth ? { auth } : {}) }, clientGone(res)));
  });

  r.get("/distribution/{name*}/json", async (ctx) => {
    const res = requireRes(ctx);
    ctx.json(200, await engine.distribution.inspectRemote(ctx.params["name"] ?? "", registryAuth(ctx), clientGone(res)));
  });

  r.get("/system/df", async (ctx) => {
    const types = ctx.query.getAll("type").filter((t): t is DfType => ["image", "container", "volume", "build-cache"].includes(t));
    const df = await engine.system.diskUsage(versionAtLeast(ctx.version, "1.42") ? types : []);
    if (Array.isArray(df["Containers"])) df["Containers"] = (df["Containers"] as Record<string, unknown>[]).map((c) => forVersion(c, ctx.version));
    // BuilderSize left the API in 1.42 (the `type` parameter came then too).
    ctx.json(200, versionAtLeast(ctx.version, "1.42") ? df : { ...df, BuilderSize: 0 });
  });
}
