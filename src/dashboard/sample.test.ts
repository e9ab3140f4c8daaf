import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { sampleOf } from "./sample.js";

describe("dashboard stats sample", () => {
  it("computes docker stats' CPU %, memory without the page cache, and summed network bytes", () => {
    const s = sampleOf("c1", {
      read: "2024-01-01T00:00:01Z",
      cpu_stats: { cpu_usage: { total_usage: 2_000_000_000 }, system_cpu_usage: 20_000_000_000, online_cpus: 2 },
      precpu_stats: { cpu_usage: { total_usage: 1_000_000_000 }, system_cpu_usage: 10_000_000_000 },
      memory_stats: { usage: 10_000, limit: 1_000_000, stats: { inactive_file: 4_000 } },
      networks: { eth0: { rx_bytes: 10, tx_bytes: 20 }, eth1: { rx_bytes: 1, tx_bytes: 2 } },
    });
    assert.deepEqual(s, { id: "c1", t: Date.parse("2024-01-01T00:00:01Z"), cpu: 20, mem: 6_000, memLimit: 1_000_000, rx: 11, tx: 22 });
  });

  it("gives 0 % for the first sample (no previous one) and takes cgroup v1's total_inactive_file", () => {
    const s = sampleOf("c1", { cpu_stats: { cpu_usage: { total_usage: 5 }, system_cpu_usage: 5 }, memory_stats: { usage: 100, stats: { total_inactive_file: 30 } } });
    assert.equal(s.cpu, 0);
    assert.equal(s.mem, 70);
    assert.equal(s.rx, 0);
  });
});
