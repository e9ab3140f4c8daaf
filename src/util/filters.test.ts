import assert from "node:assert/strict";
import { test } from "node:test";
import { matchLabels, parseTimestamp } from "./filters.js";

test("label filters match a present key, an equal key=value, and nothing else", () => {
  const l = { a: "1", b: "" };
  assert.equal(matchLabels(l, ["a"]), true);
  assert.equal(matchLabels(l, ["a=1", "b="]), true);
  assert.equal(matchLabels(l, ["a=2"]), false);
  assert.equal(matchLabels(l, ["c"]), false);
  assert.equal(matchLabels(null, []), true);
  assert.equal(matchLabels({}, ["toString"]), false);
});

test("time filters read durations before now, unix seconds and RFC 3339 dates", () => {
  const now = Date.parse("2026-01-02T03:04:05Z");
  assert.equal(parseTimestamp("10m", now), now / 1000 - 600);
  assert.equal(parseTimestamp("1h30m", now), now / 1000 - 5400);
  assert.equal(parseTimestamp("1700000000", now), 1700000000);
  assert.equal(parseTimestamp("1700000000.5", now), 1700000000.5);
  assert.equal(parseTimestamp("2026-01-01", now), Date.parse("2026-01-01T00:00:00Z") / 1000);
  assert.equal(parseTimestamp("2026-01-01T10:00:00+02:00", now), Date.parse("2026-01-01T08:00:00Z") / 1000);
  assert.equal(parseTimestamp("yesterday", now), undefined);
  assert.equal(parseTimestamp("", now), undefined);
});
