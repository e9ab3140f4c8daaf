/**
 * Limits read back from cgroup trees laid out as the kernel shows them after runc
 * created `docker run -m 32m --memory-swap 64m --cpus 0.5 --cpu-shares 512
 * --cpuset-cpus 0 --pids-limit 10 --device-read-bps /dev/loop0:1mb` — on cgroup v2
 * (unified) and v1 — and runc 1.1's v1 → v2 conversions.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { blkioWeightToIoWeight, cgroupDirs, cpuSharesToWeight, memorySwapToV2, ownLimitFiles, readCgroupLimits } from "./cgroup-limits.js";

const ID = "ab".repeat(32);

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), "berth-cg-"));
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), `${text}\n`);
  }
  return root;
}

const c = `berth/${ID}`;
const V2 = {
  "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc",
  [`${c}/cgroup.controllers`]: "cpuset cpu io memory hugetlb pids rdma misc",
  [`${c}/memory.max`]: "33554432",
  [`${c}/memory.swap.max`]: "33554432",
  [`${c}/memory.low`]: "0",
  [`${c}/memory.current`]: "1458176",
  [`${c}/cpu.max`]: "50000 100000",
  [`${c}/cpu.weight`]: "20",
  [`${c}/cpuset.cpus`]: "0",
  [`${c}/cpuset.mems`]: "",
  [`${c}/pids.max`]: "10",
  [`${c}/io.max`]: "7:0 rbps=1048576 wbps=max riops=max wiops=max",
  [`${c}/io.weight`]: "default 100",
};
const V1 = {
  [`memory/${c}/memory.limit_in_bytes`]: "33554432",
  [`memory/${c}/memory.memsw.limit_in_bytes`]: "67108864",
  [`memory/${c}/memory.soft_limit_in_bytes`]: "9223372036854771712",
  [`cpu/${c}/cpu.cfs_quota_us`]: "50000",
  [`cpu/${c}/cpu.cfs_period_us`]: "100000",
  [`cpu/${c}/cpu.shares`]: "512",
  [`cpuset/${c}/cpuset.cpus`]: "0",
  [`cpuset/${c}/cpuset.mems`]: "0",
  [`pids/${c}/pids.max`]: "10",
  [`blkio/${c}/blkio.weight`]: "500",
  [`blkio/${c}/blkio.throttle.read_bps_device`]: "7:0 1048576",
  [`blkio/${c}/blkio.throttle.write_bps_device`]: "",
};

void describe("cgroup limits on v1 and v2", () => {
  void test("converts as runc 1.1 does: cpu shares → cpu.weight, blkio weight → io.weight, memory+swap → memory.swap.max", () => {
    assert.deepEqual([0, 2, 512, 1024, 262144].map(cpuSharesToWeight), [0, 1, 20, 39, 10000]);
    assert.deepEqual([0, 10, 500, 1000].map(blkioWeightToIoWeight), [0, 1, 4950, 10000]);
    assert.equal(memorySwapToV2(64, 32), 32);
    assert.equal(memorySwapToV2(-1, 32), -1);
    assert.throws(() => memorySwapToV2(16, 32), /memory\+swap limit should be >= memory limit/);
  });

  void test("reads a v2 container's limits in Docker's terms", () => {
    const root = tree(V2);
    try {
      assert.deepEqual(readCgroupLimits(`/${c}`, root), {
        version: 2,
        memory: 32 * 1024 * 1024,
        memorySwap: 64 * 1024 * 1024,
        memoryReservation: "max",
        pids: 10,
        cpuQuota: 50000,
        cpuPeriod: 100000,
        cpuWeight: cpuSharesToWeight(512),
        cpusetCpus: "0",
        cpusetMems: "",
        blkioWeight: 100,
        readBps: { "7:0": 1048576 },
        writeBps: {},
        readIops: {},
        writeIops: {},
      });
      assert.deepEqual(cgroupDirs(`/${c}`, root, ["memory"]), [path.join(root, c)]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void test("shows v2's unlimited values (max) and Docker's blkio weight from io.bfq.weight", () => {
    const root = tree({ ...V2, [`${c}/memory.max`]: "max", [`${c}/memory.swap.max`]: "max", [`${c}/cpu.max`]: "max 100000", [`${c}/pids.max`]: "max", [`${c}/io.bfq.weight`]: "default 300" });
    try {
      const l = readCgroupLimits(`/${c}`, root);
      assert.deepEqual([l.memory, l.memorySwap, l.cpuQuota, l.pids, l.blkioWeight], ["max", "max", "max", "max", 300]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void test("reads a v1 (hybrid) container's limits in the same terms", () => {
    const root = tree(V1);
    try {
      const l = readCgroupLimits(`/${c}`, root);
      assert.deepEqual(
        { ...l, readIops: undefined, writeIops: undefined },
        { version: 1, memory: 32 * 1024 * 1024, memorySwap: 64 * 1024 * 1024, memoryReservation: "max", pids: 10, cpuQuota: 50000, cpuPeriod: 100000, cpuWeight: 512, cpusetCpus: "0", cpusetMems: "0", blkioWeight: 500, readBps: { "7:0": 1048576 }, writeBps: {}, readIops: undefined, writeIops: undefined },
      );
      assert.deepEqual(cgroupDirs(`/${c}`, root, ["memory", "pids"]), [path.join(root, "memory", c), path.join(root, "pids", c)]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  void test("names the files a container reads for its own limits on each version", () => {
    assert.equal(ownLimitFiles(2).memory, "/sys/fs/cgroup/memory.max");
    assert.equal(ownLimitFiles(1).pidsMax, "/sys/fs/cgroup/pids/pids.max");
  });
});
