import assert from "node:assert/strict";
import { test } from "node:test";
import { pruneFilters } from "./images.js";

test("image prune reads dangling, until, label and label! as dockerd, and refuses bad values before removing anything", () => {
  assert.deepEqual(pruneFilters({}), {});
  assert.deepEqual(pruneFilters({ dangling: ["0"], label: ["a=b"], "label!": ["c"] }), { label: ["a=b"], notLabel: ["c"] });
  const now = Date.now() / 1000;
  const u = pruneFilters({ until: ["1h"] }).until ?? 0;
  assert.ok(Math.abs(u - (now - 3600)) < 5, `until 1h is an hour ago (${u})`);
  assert.equal(pruneFilters({ until: ["1700000000"] }).until, 1700000000);
  assert.throws(() => pruneFilters({ dangling: ["maybe"] }), /Invalid filter 'dangling=\[maybe\]'/); // reference: dockerd 20.10
  assert.throws(() => pruneFilters({ until: ["bogus"] }), /failed to parse value as time or duration: "bogus"/);
  assert.throws(() => pruneFilters({ until: ["1h", "2h"] }), /more than one until filter specified/);
});
