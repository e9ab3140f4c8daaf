import type { VolumeService } from "../../engine/index.js";
import { VolumeCreateSchema } from "../../engine/index.js";
import { invalid } from "../../util/errors.js";
import { type Router, qBool, qFilters, versionAtLeast } from "../server.js";
import { parseBody } from "../body.js";

/** What the volume routes use of the engine. */
export interface VolumesBackend {
  volumes: Pick<VolumeService, "list" | "create" | "prune" | "inspect" | "remove">;
}

export function volumeRoutes(r: Router, engine: VolumesBackend): void {
  const vs = engine.volumes;

  r.get("/volumes", async (ctx) => ctx.json(200, vs.list(qFilters(ctx.query))));

  r.post("/volumes/create", async (ctx) => {
    ctx.json(201, await vs.create(await parseBody(ctx, VolumeCreateSchema, "volume config")));
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
