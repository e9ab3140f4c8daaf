import assert from "node:assert/strict";
import { test } from "node:test";
import { humanDuration, parseGoDuration } from "./duration.js";

test("human durations truncate as Go's units.HumanDuration", () => {
  assert.equal(humanDuration(999), "Less than a second");
  assert.equal(humanDuration(1500), "1 second");
  assert.equal(humanDuration(59_900), "59 seconds");
  assert.equal(humanDuration(119_000), "About a minute");
  assert.equal(humanDuration(59.9 * 60_000), "59 minutes");
  assert.equal(humanDuration(90 * 60_000), "2 hours");
  assert.equal(humanDuration(3 * 86_400_000), "3 days");
  assert.equal(humanDuration(20 * 86_400_000), "2 weeks");
  assert.equal(humanDuration(90 * 86_400_000), "3 months");
  assert.equal(humanDuration(800 * 86_400_000), "2 years");
});

test("Go durations parse to milliseconds; bad ones are undefined", () => {
  assert.equal(parseGoDuration("1h30m"), 5_400_000);
  assert.equal(parseGoDuration("300ms"), 300);
  assert.equal(parseGoDuration("-1.5s"), -1500);
  assert.equal(parseGoDuration("0"), 0);
  assert.equal(parseGoDuration("10"), undefined);
  assert.equal(parseGoDuration("1d"), undefined);
});
