import type { Engine } from "../../engine/index.js";
import { VolumeCreateSchema } from "../../engine/index.js";
import { invalid } from "../../util/errors.js";
import { type Router, qBool, qFilters, versionAtLeast } from "../server.js";

export function volumeRoutes(r: Router, engine: Engine): void {
  const vs = engine.volumes;

  r.get("/volumes", async (ctx) => ctx.json(200, vs.list(qFilters(ctx.query))));

  r.post("/volumes/create", async (ctx) => {
    const parsed = VolumeCreateSchema.safeParse((await ctx.body()) ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw invalid(`invalid volume config: ${issue ? `${issue.path.join(".") || "body"}: ${issue.message}` : "malformed"}`);
    }
    ctx.json(201, await vs.create(parsed.data));
  });

  r.post("/volumes/prune", async (ctx) => {
    const filters = qFilters(ctx.query);
    // Before API 1.42 prune considered every unused volume, not only anonymous ones.
    // The `all` filter arrived with it: older clients get dockerd 20.10's answer for an unknown filter.
    if (!versionAtLeast(ctx.version, "1.42")) {
      if (filters["all"]) throw invalid("Invalid filter 'all'");
      filters["all"] = ["true"];
    }
    ctx.json(200, await vs.prune(filters));
  });

  r.get("/volumes/{name}", async (ctx) => ctx.json(200, vs.inspect(ctx.params["name"] ?? "")));

  r.delete("/volumes/{name}", async (ctx) => {
    await vs.remove(ctx.params["name"] ?? "", qBool(ctx.query, "force"));
    ctx.status(204);
  });
}
