import { test } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import { HostLeases } from "./leases.js";
import { suiteTempDir } from "../util/testfixtures.js";

const tmp = suiteTempDir("berth-leases-");

test("an address is leased once across daemons, and released only by its holder", async () => {
  const rootA = path.join(tmp, "a");
  const rootB = path.join(tmp, "b");
  await fs.mkdir(rootA);
  await fs.mkdir(rootB);
  const a = new HostLeases(path.join(tmp, "leases1"), rootA);
  const b = new HostLeases(path.join(tmp, "leases1"), rootB);
  const claims = await Promise.all([a.claim("berth0", "172.17.0.2", "c1"), b.claim("berth0", "172.17.0.2", "c2")]);
  assert.deepEqual([...claims].sort(), [false, true], "exactly one wins");
  const winner = claims[0] ? a : b;
  const loser = claims[0] ? b : a;
  await loser.release("berth0", "172.17.0.2", claims[0] ? "c2" : "c1");
  assert.deepEqual([...(await a.taken("berth0"))], ["172.17.0.2"]);
  await winner.release("berth0", "172.17.0.2", claims[0] ? "c1" : "c2");
  assert.deepEqual([...(await a.taken("berth0"))], []);
});

test("collects leases of vanished daemons and this daemon's unreferenced ones", async () => {
  const live = path.join(tmp, "live");
  const other = path.join(tmp, "other");
  const gone = path.join(tmp, "gone");
  await fs.mkdir(live);
  await fs.mkdir(other);
  const dir = path.join(tmp, "leases2");
  const me = new HostLeases(dir, live);
  await me.claim("berth0", "10.0.0.2", "keep");
  await me.claim("berth0", "10.0.0.3", "crashed");
  await new HostLeases(dir, other).claim("berth0", "10.0.0.4", "x");
  await new HostLeases(dir, gone).claim("berth0", "10.0.0.5", "y");
  const removed = await me.collect(new Set(["berth0/10.0.0.2"]));
  assert.equal(removed, 2);
  assert.deepEqual([...(await me.taken("berth0"))].sort(), ["10.0.0.2", "10.0.0.4"]);
});
