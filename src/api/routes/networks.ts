import type { NetworkService } from "../../engine/index.js";
import { NetworkConnectSchema, NetworkCreateSchema, NetworkDisconnectSchema } from "../../engine/index.js";
import { invalid } from "../../util/errors.js";
import { type Ctx, type Router, qFilters, versionAtLeast } from "../server.js";
import { type Schema, validate } from "../body.js";

/** Network bodies are required (no `{}` default). */
async function parse<T>(ctx: Ctx, schema: Schema<T>, what: string): Promise<T> {
  const raw = await ctx.body();
  if (raw === undefined || raw === null) throw invalid(`${what}: body is required`);
  return validate(schema, raw, what);
}

/** A network as a client of API `version` knows it: EnableIPv4 from 1.48 (the changelog's gate; the v1.47 yaml lists it early). */
function forVersion(n: Record<string, unknown>, version: string): Record<string, unknown> {
  if (versionAtLeast(version, "1.48")) return n;
  const { EnableIPv4: _v4, ...rest } = n;
  return rest;
}

/** What the network routes use of the engine. */
export interface NetworksBackend {
  networks: Pick<NetworkService, "list" | "create" | "prune" | "inspect" | "remove" | "connect" | "disconnect">;
}

export function networkRoutes(r: Router, engine: NetworksBackend): void {
  const ns = engine.networks;

  r.get("/networks", async (ctx) => ctx.json(200, ns.list(qFilters(ctx.query)).map((n) => forVersion(n, ctx.version))));

  r.post("/networks/create", async (ctx) => ctx.json(201, await ns.create(await parse(ctx, NetworkCreateSchema, "network config"))));

  r.post("/networks/prune", async (ctx) => ctx.json(200, await ns.prune(qFilters(ctx.query))));

  r.get("/networks/{id}", async (ctx) => ctx.json(200, forVersion(ns.inspect(ctx.params["id"] ?? "", ctx.query.get("scope") ?? ""), ctx.version)));

  r.delete("/networks/{id}", async (ctx) => {
    await ns.remove(ctx.params["id"] ?? "");
    ctx.status(204);
  });

  r.post("/networks/{id}/connect", async (ctx) => {
    const body = await parse(ctx, NetworkConnectSchema, "network connect request");
    await ns.connect(ctx.params["id"] ?? "", body.Container, body.EndpointConfig ?? {});
    ctx.status(200);
  });

  r.post("/networks/{id}/disconnect", async (ctx) => {
    const body = await parse(ctx, NetworkDisconnectSchema, "network disconnect request");
    await ns.disconnect(ctx.params["id"] ?? "", body.Container, body.Force ?? false);
    ctx.status(200);
  });
}

