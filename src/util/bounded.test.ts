import { test } from "node:test";
import assert from "node:assert/strict";
import { BoundedMap } from "./bounded.js";

test("a BoundedMap never holds more than its bound and drops the least recently used first", () => {
  const m = new BoundedMap<number, string>(3);
  for (let i = 0; i < 1000; i++) {
    m.set(i, `v${i}`);
    assert.ok(m.size <= 3);
  }
  assert.deepEqual([m.get(997), m.get(998), m.get(999), m.get(996)], ["v997", "v998", "v999", undefined]);
  m.get(997); // now the most recent: 998 is the oldest
  m.set(1000, "v1000");
  assert.equal(m.get(998), undefined);
  assert.equal(m.get(997), "v997");
  m.set(997, "again"); // replacing does not grow it
  assert.equal(m.size, 3);
  assert.equal(m.get(997), "again");
  assert.equal(m.delete(997), true);
  assert.equal(m.get(997), undefined);
});

test("a BoundedMap refuses a bound below one", () => {
  assert.throws(() => new BoundedMap(0), RangeError);
});
