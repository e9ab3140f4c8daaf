import { test } from "node:test";
import assert from "node:assert/strict";
import { buildPruneRequestFromQuery } from "./buildprune.js";

const req = (q: string, filters: Record<string, string[]> = {}, all = false) => buildPruneRequestFromQuery(new URLSearchParams(q), filters, all);

test("build prune accepts an integer keep-storage and reads the until / unused-for duration", () => {
  assert.deepEqual(req("keep-storage=1000", { until: ["1m30s"] }, true), { all: true, unusedForMs: 90_000 });
  assert.deepEqual(req("", { "unused-for": ["2h"], label: ["a", "b"] }), { all: false, unusedForMs: 7_200_000 });
});

test("build prune refuses bad parameters with dockerd's messages", () => {
  const refuses = (q: string, f: Record<string, string[]>, message: string) =>
    assert.throws(() => req(q, f), (e: Error & { kind?: string }) => e.kind === "invalid" && e.message === message);
  refuses("keep-storage=1.5", {}, 'keep-storage is in bytes and expects an integer, got 1.5: strconv.Atoi: parsing "1.5": invalid syntax');
  refuses("keep-storage=99999999999999999999", {}, 'keep-storage is in bytes and expects an integer, got 99999999999999999999: strconv.Atoi: parsing "99999999999999999999": value out of range');
  refuses("", { dangling: ["true"] }, "failed to prune build cache: Invalid filter 'dangling'");
  refuses("", { until: ["1h"], "unused-for": ["1h"] }, 'failed to prune build cache: conflicting filters: "until" and "unused-for"');
  refuses("", { id: ["a", "b"] }, "failed to prune build cache: filters expect only one value");
  refuses("", { until: ["soon"] }, `failed to prune build cache: "until" filter expects a duration (e.g., '24h'): time: invalid duration "soon"`);
});
