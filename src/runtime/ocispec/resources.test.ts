import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { TEST_FACTS_V1 as V1, TEST_FACTS_V2 as V2 } from "./testhost.js";
import type { SpecHostConfig as HostConfig } from "./hostconfig.js";
import { mergeTmpfsOptions, mergeUlimits, parseDeviceCgroupRule, resourcesFor, rlimitsFor, tmpfsMounts } from "./resources.js";

const MB = 1024 * 1024;

describe("HostConfig → OCI resources", () => {
  it("maps memory, swap, reservation, swappiness and the OOM killer switch", () => {
    // MemorySwap as create-time adaptation leaves it (twice the memory: engine/hostconfig.test.ts)
    const hc: HostConfig = { Memory: 64 * MB, MemorySwap: 128 * MB, MemoryReservation: 32 * MB, MemorySwappiness: 10, OomKillDisable: true };
    assert.deepEqual(resourcesFor(hc, V1), {
      memory: { limit: 64 * MB, reservation: 32 * MB, swap: 128 * MB, swappiness: 10, disableOOMKiller: true },
    });
    assert.deepEqual(resourcesFor({ Memory: 64 * MB, MemorySwap: -1 }, V1), { memory: { limit: 64 * MB } });
  });

  it("maps --cpus to a 100ms period and a quota, and passes shares, period, quota and cpusets", () => {
    assert.deepEqual(resourcesFor({ NanoCpus: 5e8 }, V1), { cpu: { period: 100000, quota: 50000 } });
    assert.deepEqual(resourcesFor({ NanoCpus: 1.5e9 }, V1), { cpu: { period: 100000, quota: 150000 } });
    assert.deepEqual(resourcesFor({ CpuShares: 512, CpuPeriod: 20000, CpuQuota: 10000, CpusetCpus: "1", CpusetMems: "0" }, V1), {
      cpu: { shares: 512, period: 20000, quota: 10000, cpus: "1", mems: "0" },
    });
  });

  it("maps the pids limit and the blkio weight (when supported), nothing for an empty config", () => {
    assert.deepEqual(resourcesFor({ PidsLimit: 10 }, V1), { pids: { limit: 10 } });
    assert.deepEqual(resourcesFor({ BlkioWeight: 300 }, V2), { blockIO: { weight: 300 } });
    assert.deepEqual(resourcesFor({}, V1), {});
  });

  it("turns ulimits into rlimits on top of the default open-files limit", () => {
    const base = [{ type: "RLIMIT_NOFILE", soft: 20000, hard: 20000 }];
    assert.deepEqual(rlimitsFor([{ Name: "nofile", Soft: 100, Hard: 200 }], V1, base), [{ type: "RLIMIT_NOFILE", soft: 100, hard: 200 }]);
    assert.deepEqual(rlimitsFor([{ Name: "core", Soft: -1, Hard: -1 }], V1, base), [
      base[0],
      { type: "RLIMIT_CORE", soft: -1, hard: -1 },
    ]);
  });

  it("mounts tmpfs with Docker's default options, later options overriding earlier ones", () => {
    assert.deepEqual(tmpfsMounts({ "/scratch": "" }), [
      { destination: "/scratch", type: "tmpfs", source: "tmpfs", options: ["noexec", "nosuid", "nodev", "rprivate"] },
    ]);
    assert.deepEqual(tmpfsMounts({ "/run": "rw,size=64m" })[0]?.options, ["noexec", "nosuid", "nodev", "rprivate", "rw", "size=64m"]);
    assert.deepEqual(tmpfsMounts({ "/run": "exec,size=1m,size=2m,mode=1777" })[0]?.options, ["nosuid", "nodev", "rprivate", "exec", "size=2m", "mode=1777"]);
    assert.deepEqual(mergeTmpfsOptions(["defaults", "ro", "rw", "shared", "rprivate"]), ["rw", "rprivate"]);
    assert.deepEqual(tmpfsMounts({ "/a/b": "", "/a": "" }).map((m) => m.destination), ["/a", "/a/b"]);
  });

  it("parses device cgroup rules with wildcards", () => {
    assert.deepEqual(parseDeviceCgroupRule("c 1:3 mr"), { allow: true, type: "c", major: 1, minor: 3, access: "mr" });
    assert.deepEqual(parseDeviceCgroupRule("b *:* rwm"), { allow: true, type: "b", access: "rwm" });
  });
});

it("default ulimits are added for the names a container does not set, after its own (dockerd's mergeUlimits)", () => {
  const dflt = [{ Name: "nofile", Soft: 1234, Hard: 2345 }, { Name: "core", Soft: 0, Hard: 0 }];
  assert.deepEqual(mergeUlimits(null, dflt), dflt);
  assert.deepEqual(mergeUlimits([{ Name: "nofile", Soft: 1, Hard: 2 }, { Name: "nproc", Soft: 5, Hard: 6 }], dflt), [
    { Name: "nofile", Soft: 1, Hard: 2 },
    { Name: "nproc", Soft: 5, Hard: 6 },
    { Name: "core", Soft: 0, Hard: 0 },
  ]);
});
