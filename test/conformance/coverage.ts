/**
 * Coverage from the spec: every (method, path) of docker-engine-api-v1.47.yaml
 * with its query parameters; requests made by the scenarios are matched to
 * them, and the table (route, scenarios, query parameters used, differences)
 * is what the suite prints.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const SPEC = fileURLToPath(new URL("../../../test/conformance/spec/docker-engine-api-v1.47.yaml", import.meta.url));

export interface SpecRoute {
  key: string; // "GET /containers/{id}/json"
  method: string;
  template: string;
  re: RegExp;
  query: string[];
}

/**
 * Routes of the v1.47 spec that dockerd 20.10 (API 1.41) does not serve. Every
 * path of the spec existed by 1.41 (the changelog adds fields and parameters
 * since, no paths), so the set is empty; keep it here if a later spec adds one.
 */
const NOT_IN_REFERENCE = new Set<string>();

export function specRoutes(file = process.env.CONF_SPEC ?? SPEC): SpecRoute[] {
  const doc = parse(readFileSync(file, "utf8")) as { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string }> }>> };
  const out: SpecRoute[] = [];
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(ops)) {
      const method = m.toUpperCase();
      if (!["GET", "POST", "PUT", "DELETE", "HEAD"].includes(method)) continue;
      const key = `${method} ${template}`;
      if (NOT_IN_REFERENCE.has(key)) continue;
      // Image and plugin names contain slashes.
      const src = template.replace(/[.]/g, "\\.").replace(/\{(\w+)\}/g, (_m, p: string) => (p === "name" && !template.startsWith("/volumes") ? ".+" : "[^/]+"));
      out.push({ key, method, template, re: new RegExp(`^${src}$`), query: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name) });
    }
  }
  return out;
}

/** The spec route a request hits (most specific: fewest wildcards wins). */
export function routeOf(routes: readonly SpecRoute[], method: string, path: string): SpecRoute | undefined {
  const p = path.split("?")[0] ?? path;
  const hits = routes.filter((r) => r.method === method && r.re.test(p));
  return hits.sort((a, b) => (a.template.match(/\{/g)?.length ?? 0) - (b.template.match(/\{/g)?.length ?? 0))[0];
}

export interface CoverageRow {
  route: SpecRoute;
  scenarios: Set<string>;
  params: Set<string>;
  differences: number;
  allowed: number;
}

export function coverageTable(rows: readonly CoverageRow[]): string {
  const lines = ["route | scenarios | query params used/spec | differences (allowlisted)", "--- | --- | --- | ---"];
  for (const r of rows) {
    const used = r.route.query.filter((q) => r.params.has(q));
    lines.push(`${r.route.key} | ${r.scenarios.size} | ${used.length}/${r.route.query.length}${used.length < r.route.query.length && r.route.query.length > 0 ? ` (missing: ${r.route.query.filter((q) => !r.params.has(q)).join(",")})` : ""} | ${r.differences} (${r.allowed})`);
  }
  const covered = rows.filter((r) => r.scenarios.size > 0).length;
  lines.push(`routes covered: ${covered}/${rows.length}; scenarios per route total: ${rows.reduce((n, r) => n + r.scenarios.size, 0)}`);
  return lines.join("\n");
}
