/**
 * Managed plugins: Berth has no plugin subsystem, so no plugin is ever installed.
 * It answers as dockerd 20.10 does with none installed: `GET /plugins` → [] (with
 * its filter check), 404 `plugin "x" not found` for any named plugin (after the
 * same parameter checks), and 501 for installing or creating one. Also the
 * BuildKit session endpoint, which the legacy builder does not use.
 */
import { EngineError, invalid } from "../../util/errors.js";
import { parseReference } from "../../engine/index.js";
import { type Ctx, type Router, qFilters } from "../server.js";

const NO_PLUGINS = "Berth does not support plugins";

const notFoundPlugin = (name: string): EngineError => new EngineError("notFound", `plugin ${JSON.stringify(name)} not found`);

function checkRemote(ctx: Ctx): void {
  parseReference(ctx.query.get("remote") ?? "");
  const name = ctx.query.get("name");
  if (name) parseReference(name);
}

export function pluginRoutes(r: Router): void {
  r.get("/plugins", async (ctx) => {
    for (const k of Object.keys(qFilters(ctx.query))) if (k !== "capability" && k !== "enabled") throw invalid(`Invalid filter '${k}'`);
    ctx.json(200, []);
  });
  r.get("/plugins/privileges", async (ctx) => {
    checkRemote(ctx);
    throw new EngineError("notImplemented", NO_PLUGINS);
  });
  r.post("/plugins/pull", async (ctx) => {
    checkRemote(ctx);
    throw new EngineError("notImplemented", NO_PLUGINS);
  });
  r.post("/plugins/create", async () => {
    throw new EngineError("notImplemented", NO_PLUGINS);
  });
  const missing = async (ctx: Ctx): Promise<void> => {
    throw notFoundPlugin(ctx.params["name"] ?? "");
  };
  r.get("/plugins/{name*}/json", missing);
  r.delete("/plugins/{name*}", missing);
  r.post("/plugins/{name*}/disable", missing);
  r.post("/plugins/{name*}/push", missing);
  r.post("/plugins/{name*}/set", missing);
  r.post("/plugins/{name*}/enable", async (ctx) => {
    const t = ctx.query.get("timeout") ?? "";
    if (!/^[+-]?\d+$/.test(t)) throw invalid(`strconv.Atoi: parsing ${JSON.stringify(t)}: invalid syntax`);
    return missing(ctx);
  });
  r.post("/plugins/{name*}/upgrade", async (ctx) => {
    // dockerd looks the plugin up by its reference: a name without a tag gets ":latest".
    const name = ctx.params["name"] ?? "";
    const ref = parseReference(name);
    throw notFoundPlugin(ref.tag === undefined && ref.digest === undefined ? `${name}:latest` : name);
  });

  r.post("/session", async (ctx) => {
    if (!ctx.req.headers.upgrade) throw invalid("no upgrade proto in request");
    throw new EngineError("notImplemented", "Berth does not support BuildKit sessions: use the legacy builder (DOCKER_BUILDKIT=0)");
  });
}
