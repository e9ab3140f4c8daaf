import { test } from "node:test";
import assert from "node:assert/strict";
import { humanSize, progressBar } from "./progress.js";

test("sizes are printed like Go's units.HumanSize (4 significant digits, decimal units)", () => {
  assert.equal(humanSize(0), "0B");
  assert.equal(humanSize(512), "512B");
  assert.equal(humanSize(1000), "1kB");
  assert.equal(humanSize(65055), "65.06kB");
  assert.equal(humanSize(6293532), "6.294MB");
  assert.equal(humanSize(2_135_040), "2.135MB");
  assert.equal(humanSize(60_000_000_000), "60GB");
});

test("progress bars are dockerd's: 50 columns, percentage halved, right-aligned current size", () => {
  assert.equal(progressBar(65055, 6293532), `[>${" ".repeat(50)}]  65.06kB/6.294MB`);
  assert.equal(progressBar(5046272, 6293532), `[${"=".repeat(40)}>${" ".repeat(10)}]  5.046MB/6.294MB`);
  assert.equal(progressBar(6293532, 6293532), `[${"=".repeat(50)}>]  6.294MB/6.294MB`);
  assert.equal(progressBar(0, 0), "");
  assert.equal(progressBar(7, 0), "      7B");
});
