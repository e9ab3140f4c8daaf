import { test } from "node:test";
import assert from "node:assert/strict";
import { randomMac } from "./links.js";

test("makes bridge MAC addresses unicast and locally administered, never the same twice", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const m = randomMac();
    assert.match(m, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    const first = parseInt(m.slice(0, 2), 16);
    assert.equal(first & 0x01, 0, `${m}: unicast`);
    assert.equal(first & 0x02, 0x02, `${m}: locally administered`);
    seen.add(m);
  }
  assert.equal(seen.size, 200);
});
