import { type DistributionService, type ImageService, importProgress, openImportUrl } from "../../engine/index.js";
import { invalid, messageOf } from "../../util/errors.js";
import { type PullBackend, pullImage } from "./distribution.js";
import { type Router, qBool, qFilters, requireRes, startJsonStream, versionAtLeast } from "../server.js";

/** What the image routes use of the engine (docker import downloads with the distribution's transport). */
export interface ImagesBackend extends PullBackend {
  images: Pick<ImageService, "list" | "import" | "inspect" | "history" | "tag" | "prune" | "remove">;
  distribution: Pick<DistributionService, "pull" | "transport">;
}

export function imageRoutes(r: Router, engine: ImagesBackend): void {
  const is = engine.images;

  r.get("/images/json", async (ctx) => {
    ctx.json(200, await is.list({ all: qBool(ctx.query, "all"), filters: qFilters(ctx.query), digests: qBool(ctx.query, "digests") }));
  });

  r.post("/images/create", async (ctx) => {
    const q = ctx.query;
    const fromSrc = q.get("fromSrc");
    const fromImage = q.get("fromImage");
    if (fromSrc !== null) {
      const res = requireRes(ctx);
      // A URL: dockerd downloads it (its errors before the stream starts are plain HTTP errors).
      const opened = fromSrc === "-" ? undefined : await openImportUrl(fromSrc, engine.distribution.transport());
      // Errors before the stream starts are plain HTTP errors; after it, in-band as Docker does.
      let started = false;
      const write = (m: unknown): void => {
        if (!started) startJsonStream(res);
        started = true;
        res.write(`${JSON.stringify(m)}\n`);
      };
      const changes = q.getAll("changes");
      const repo = q.get("repo") ?? undefined;
      const tag = q.get("tag") ?? undefined;
      const message = q.get("message") ?? undefined;
      try {
        const id = await is.import(opened ? importProgress(opened, write) : ctx.stream(), {
          ...(repo ? { repo } : {}),
          ...(tag ? { tag } : {}),
          // dockerd's default comment names the source ("-" or the URL).
          message: message !== undefined && message !== "" ? message : `Imported from ${opened?.url ?? fromSrc}`,
          changes,
        });
        if (!started) startJsonStream(res);
        started = true;
        res.end(`${JSON.stringify({ status: id })}\n`);
      } catch (e) {
        if (started) res.end(`${JSON.stringify({ errorDetail: { message: messageOf(e) }, error: messageOf(e) })}\n`);
        else throw e;
      }
      return;
    }
    if (fromImage !== null) return pullImage(ctx, engine);
    throw invalid("either fromSrc or fromImage must be given");
  });

  r.get("/images/{name*}/json", async (ctx) => {
    const img = await is.inspect(ctx.params["name"] ?? "");
    // Container and ContainerConfig left the API in 1.45.
    if (versionAtLeast(ctx.version, "1.45")) {
      delete img["Container"];
      delete img["ContainerConfig"];
    }
    ctx.json(200, img);
  });
  r.get("/images/{name*}/history", async (ctx) => ctx.json(200, await is.history(ctx.params["name"] ?? "")));

  r.post("/images/{name*}/tag", async (ctx) => {
    const repo = ctx.query.get("repo");
    await is.tag(ctx.params["name"] ?? "", repo ?? "", ctx.query.get("tag") || undefined);
    ctx.status(201);
  });

  r.post("/images/prune", async (ctx) => {
    const filters = qFilters(ctx.query);
    const all = ["false", "0"].includes(filters["dangling"]?.[0] ?? "");
    ctx.json(200, await is.prune({ all, filters }));
  });

  r.delete("/images/{name*}", async (ctx) => {
    ctx.json(200, await is.remove(ctx.params["name"] ?? "", { force: qBool(ctx.query, "force"), noprune: qBool(ctx.query, "noprune") }));
  });
}
