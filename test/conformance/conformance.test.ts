/**
 * Differential conformance: every scenario under scenarios/ runs against a
 * private reference dockerd 20.10 and a private berthd; any difference not in
 * the allowlist fails. Prints the coverage table of the spec's routes.
 * CONF_FILTER=<substring> runs only matching scenarios; CONF_VERBOSE=1 logs set-up;
 * CONF_DUMP=<file> appends both engines' whole answer for every step that differs (JSON lines).
 */
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { coverageTable, routeOf, specRoutes, type CoverageRow } from "./coverage.js";
import { startPair, type Pair } from "./engines.js";
import { loadScenarios, matchesScenario, runScenario, type ScenarioResult } from "./runner.js";

let pair: Pair | undefined;

before(async () => {
  pair = await startPair();
});

after(async () => {
  const notes = (await pair?.close()) ?? [];
  for (const n of notes) console.log(`conformance clean-up: ${n}`);
});

test("berthd answers every scenario as the reference dockerd does (differences only where allowlisted)", { timeout: 600_000 }, async () => {
  assert.ok(pair);
  const { scenarios, allowlist } = await loadScenarios();
  const filter = process.env.CONF_FILTER ?? "";
  const chosen = scenarios.filter((s) => s.name.includes(filter));
  assert.ok(chosen.length > 0, `no scenario matches ${filter}`);
  const results: ScenarioResult[] = [];
  for (const sc of chosen) {
    const t0 = Date.now();
    const r = await runScenario(pair, pair.cli, sc, allowlist);
    results.push(r);
    const dump = process.env.CONF_DUMP;
    if (dump !== undefined && dump !== "") {
      r.records.forEach((rec, i) => {
        if (r.differences.some((d) => d.step === i)) appendFileSync(dump, `${JSON.stringify({ scenario: sc.name, step: i, dockerd: rec.obs, berth: r.berthRecords?.[i]?.obs })}\n`);
      });
    }
    const open = r.differences.filter((d) => d.allowed === undefined).length;
    console.log(`${r.error ? "ERROR" : open > 0 ? "DIFF " : "ok   "} ${sc.name} (${Date.now() - t0} ms, ${r.differences.length} difference(s), ${open} not allowlisted)${r.error ? `: ${r.error}` : ""}`);
  }

  const routes = specRoutes();
  const rows = new Map<string, CoverageRow>(routes.map((r) => [r.key, { route: r, scenarios: new Set(), params: new Set(), differences: 0, allowed: 0 }]));
  for (const r of results) {
    r.records.forEach((rec, i) => {
      if (rec.method === undefined || rec.path === undefined) return;
      const route = routeOf(routes, rec.method, rec.path);
      const row = route ? rows.get(route.key) : undefined;
      if (!row) return;
      row.scenarios.add(r.scenario.name);
      for (const k of new URLSearchParams(rec.path.split("?")[1] ?? "").keys()) row.params.add(k);
      for (const d of r.differences.filter((x) => x.step === i)) {
        row.differences++;
        if (d.allowed !== undefined) row.allowed++;
      }
    });
  }
  if (filter === "") console.log(`\nCoverage (spec v1.47 routes served by dockerd 20.10):\n${coverageTable([...rows.values()])}`);
  const used = allowlist.filter((a) => results.some((r) => matchesScenario(a.scenario, r.scenario.name) && r.differences.some((d) => d.allowed === a.why)));
  const allDiffs = results.flatMap((r) => r.differences);
  console.log(`\nscenarios: ${results.length}; differences: ${allDiffs.length} (${allDiffs.filter((d) => d.allowed !== undefined).length} allowlisted); allowlist entries used: ${used.length}/${allowlist.length}`);
  if (filter === "") for (const a of allowlist.filter((x) => !used.includes(x))) console.log(`allowlist entry no longer needed: ${a.scenario} ${a.where} (${a.why})`);

  const errors = results.filter((r) => r.error !== undefined).map((r) => `${r.scenario.name}: ${r.error ?? ""}`);
  const open = allDiffs.filter((d) => d.allowed === undefined);
  const report = open.map((d) => `${d.scenario} step ${d.step} ${d.where}:\n    dockerd: ${d.ref}\n    berth:   ${d.berth}`);
  if (errors.length + report.length > 0) assert.fail(`${errors.length} scenario error(s), ${open.length} difference(s) from the reference not in the allowlist:\n${[...errors, ...report].join("\n")}`);
});
