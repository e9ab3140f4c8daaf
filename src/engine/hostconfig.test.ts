import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { HostConfig } from "./types.js";
import { adaptHostConfig, parseUintList } from "./hostconfig.js";
import { TEST_FACTS_V1 as V1, TEST_FACTS_V2 as V2, parseProcLimits } from "../runtime/index.js";

const MB = 1024 * 1024;

const errMsg = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "(no error)";
};

describe("HostConfig validation (Docker's create-time rules)", () => {
  it("rejects memory below 6MB and bad swap/reservation combinations with Docker's messages", () => {
    assert.equal(errMsg(() => adaptHostConfig({ Memory: 4 * MB }, V1)), "Minimum memory limit allowed is 6MB");
    assert.equal(errMsg(() => adaptHostConfig({ Memory: 64 * MB, MemorySwap: 32 * MB }, V1)), "Minimum memoryswap limit should be larger than memory limit, see usage");
    assert.equal(errMsg(() => adaptHostConfig({ MemorySwap: 64 * MB }, V1)), "You should always set the Memory limit when using Memoryswap limit, see usage");
    assert.equal(errMsg(() => adaptHostConfig({ MemoryReservation: MB }, V1)), "Minimum memory reservation allowed is 6MB");
    assert.equal(errMsg(() => adaptHostConfig({ Memory: 10 * MB, MemoryReservation: 20 * MB }, V1)), "Minimum memory limit can not be less than memory reservation limit, see usage");
    assert.equal(errMsg(() => adaptHostConfig({ MemorySwappiness: 101 }, V1)), "Invalid value: 101, valid memory swappiness range is 0-100");
  });

  it("defaults MemorySwap to twice the memory, keeps -1 (unlimited), and drops PidsLimit <= 0", () => {
    const a: HostConfig = { Memory: 10 * MB };
    assert.deepEqual(adaptHostConfig(a, V1), []);
    assert.equal(a.MemorySwap, 20 * MB);
    const b: HostConfig = { Memory: 10 * MB, MemorySwap: -1, PidsLimit: -1 };
    adaptHostConfig(b, V1);
    assert.equal(b.MemorySwap, -1);
    assert.equal(b.PidsLimit, null);
  });

  it("validates CPU options against the host", () => {
    assert.equal(errMsg(() => adaptHostConfig({ NanoCpus: 3e9 }, V1)), "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available");
    assert.equal(errMsg(() => adaptHostConfig({ NanoCpus: 5e8, CpuPeriod: 50000 }, V1)), "Conflicting options: Nano CPUs and CPU Period cannot both be set");
    assert.equal(errMsg(() => adaptHostConfig({ NanoCpus: 5e8, CpuQuota: 50000 }, V1)), "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    assert.equal(errMsg(() => adaptHostConfig({ CpuPeriod: 500 }, V1)), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    assert.equal(errMsg(() => adaptHostConfig({ CpuQuota: 999 }, V1)), "CPU cfs quota can not be less than 1ms (i.e. 1000)");
    assert.equal(errMsg(() => adaptHostConfig({ CpusetCpus: "0-3" }, V1)), "Requested CPUs are not available - requested 0-3, available: 0-1");
    assert.equal(errMsg(() => adaptHostConfig({ CpusetCpus: "1-0" }, V1)), "Invalid value 1-0 for cpuset cpus: invalid format: 1-0");
    assert.equal(errMsg(() => adaptHostConfig({ CpusetMems: "1" }, V1)), "Requested memory nodes are not available - requested 1, available: 0");
    assert.deepEqual(adaptHostConfig({ CpusetCpus: "0,1", CpusetMems: "0" }, V1), []);
  });

  it("warns and discards what the kernel does not support", () => {
    const hc: HostConfig = { BlkioWeight: 300 };
    assert.deepEqual(adaptHostConfig(hc, V1), ["Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."]);
    assert.equal(hc.BlkioWeight, 0);
    assert.equal(errMsg(() => adaptHostConfig({ BlkioWeight: 5 }, V2)), "Range of blkio weight is from 10 to 1000");
    const oom: HostConfig = { OomKillDisable: true, Memory: 10 * MB };
    assert.deepEqual(adaptHostConfig(oom, V2), ["Your kernel does not support OomKillDisable. OomKillDisable discarded."]);
    assert.equal(oom.OomKillDisable, null);
    assert.deepEqual(adaptHostConfig({ OomKillDisable: true }, V1), [
      "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
    ]);
  });

  it("discards per-device blkio throttles where the kernel has no throttling, with Docker's warning", () => {
    const hc: HostConfig = { BlkioDeviceReadBps: [{ Path: "/dev/null", Rate: 1 }] };
    assert.deepEqual(adaptHostConfig(hc, { ...V1, blkioThrottle: false }), [
      "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
    ]);
    assert.deepEqual(hc.BlkioDeviceReadBps, []);
  });

  it("checks ulimits: known names, soft <= hard, never above the daemon's hard limit without CAP_SYS_RESOURCE", () => {
    assert.equal(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "bogus", Soft: 1, Hard: 1 }] }, V1)), "invalid ulimit type: bogus");
    assert.equal(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "nofile", Soft: 300, Hard: 200 }] }, V1)), "ulimit soft limit must be less than or equal to hard limit: 300 > 200");
    assert.match(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "nofile", Soft: 1024, Hard: 30000 }] }, V1)), /nofile=1024:30000: the hard limit may not exceed the daemon's hard limit 20000/);
    assert.match(errMsg(() => adaptHostConfig({ Ulimits: [{ Name: "nproc", Soft: -1, Hard: -1 }] }, V1)), /hard limit 1000/);
    assert.deepEqual(adaptHostConfig({ Ulimits: [{ Name: "nofile", Soft: 30000, Hard: 30000 }] }, { ...V1, sysResource: true }), []);
  });

  it("checks tmpfs destinations and options, device modes and device cgroup rules", () => {
    assert.equal(errMsg(() => adaptHostConfig({ Tmpfs: { "/": "" } }, V1)), "invalid specification: destination can't be '/'");
    assert.equal(errMsg(() => adaptHostConfig({ Tmpfs: { run: "" } }, V1)), "invalid mount path: 'run' mount path must be absolute");
    assert.equal(errMsg(() => adaptHostConfig({ Tmpfs: { "/run": "bogus" } }, V1)), 'Invalid tmpfs option ["bogus"]');
    assert.equal(errMsg(() => adaptHostConfig({ Devices: [{ PathOnHost: "/dev/null", PathInContainer: "/dev/null", CgroupPermissions: "rwx" }] }, V1)), "invalid device mode: rwx");
    assert.equal(errMsg(() => adaptHostConfig({ DeviceCgroupRules: ["c 1:3"] }, V1)), "invalid device cgroup rule format: 'c 1:3'");
  });

  it("reads the host's rlimits and cpuset lists", () => {
    const limits = parseProcLimits(
      "Limit                     Soft Limit           Hard Limit           Units\nMax core file size        0                    unlimited            bytes\nMax open files            1024                 20000                files\n",
    );
    assert.deepEqual(limits, { core: { soft: 0, hard: -1 }, nofile: { soft: 1024, hard: 20000 } });
    assert.deepEqual([...parseUintList("0-2,5")], [0, 1, 2, 5]);
    assert.throws(() => parseUintList("0,,1"), /invalid format: 0,,1/);
    assert.throws(() => parseUintList("9000", 8192), /value of out range, maximum is 8192/);
  });
});
