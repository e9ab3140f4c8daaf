import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  cgroupHostInfo,
  cgroupStats,
  cgroupVersion,
  oomKillFile,
  parseNetDev,
  parseOomKill,
  parseProcStat,
} from "./cgroups.js";

const tmp = mkdtempSync("/tmp/berth-cg-");
after(() => rmSync(tmp, { recursive: true, force: true }));

function fixture(name: string, files: Record<string, string>): string {
  const root = path.join(tmp, name);
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return root;
}

const CG = "/berth/abc";
const GB = 1024 ** 3;

describe("cgroup v1 stats", () => {
  const root = fixture("v1", {
    "cpuset/cpuset.cpus": "0-3\n",
    "cpuset/cpuset.effective_cpus": "0-1\n",
    "cpuset/cpuset.mems": "0\n",
    "memory/memory.memsw.limit_in_bytes": "9223372036854771712\n",
    "memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    "cpu/cpu.cfs_quota_us": "-1\n",
    "cpu/cpu.shares": "1024\n",
    "pids/pids.max": "max\n",
    [`cpuacct${CG}/cpuacct.usage`]: "123456789\n",
    [`cpuacct${CG}/cpuacct.usage_percpu`]: "100000000 23456789 \n",
    [`cpuacct${CG}/cpuacct.stat`]: "user 7\nsystem 3\n",
    [`cpu${CG}/cpu.stat`]: "nr_periods 10\nnr_throttled 2\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n",
    [`memory${CG}/memory.usage_in_bytes`]: "8388608\n",
    [`memory${CG}/memory.max_usage_in_bytes`]: "9437184\n",
    [`memory${CG}/memory.limit_in_bytes`]: "10485760\n",
    [`memory${CG}/memory.failcnt`]: "4\n",
    [`memory${CG}/memory.stat`]: "cache 4096\nrss 8192\ntotal_inactive_file 1024\nhierarchical_memory_limit 10485760\nnot_reported 1\n",
    [`memory${CG}/memory.oom_control`]: "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
    [`pids${CG}/pids.current`]: "3\n",
    [`pids${CG}/pids.max`]: "10\n",
    [`blkio${CG}/blkio.throttle.io_service_bytes`]: "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n",
    [`blkio${CG}/blkio.throttle.io_serviced`]: "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
  });

  it("detects v1 and reads what the host supports", () => {
    assert.equal(cgroupVersion(root), 1);
    const info = cgroupHostInfo(root);
    assert.equal(info.cpus, "0-1");
    assert.equal(info.mems, "0");
    assert.equal(info.swapLimit, true);
    assert.equal(info.oomKillDisable, true);
    assert.equal(info.cpuCfs, true);
    assert.equal(info.pidsLimit, true);
    assert.equal(info.blkioWeight, false);
    assert.equal(oomKillFile(CG, root), path.join(root, "memory/berth/abc/memory.oom_control"));
  });

  it("reports cpu, memory, pids and blkio in Docker's shape", async () => {
    const s = await cgroupStats(CG, { root, machineMemory: GB });
    assert.deepEqual(s.cpu_stats, {
      cpu_usage: { total_usage: 123456789, percpu_usage: [100000000, 23456789], usage_in_kernelmode: 30_000_000, usage_in_usermode: 70_000_000 },
      throttling_data: { periods: 10, throttled_periods: 2, throttled_time: 5000 },
    });
    assert.equal(s.memory_stats.usage, 8388608);
    assert.equal(s.memory_stats.max_usage, 9437184);
    assert.equal(s.memory_stats.limit, 10485760);
    assert.equal(s.memory_stats.failcnt, 4);
    assert.equal(s.memory_stats.stats?.["cache"], 4096);
    assert.equal(s.memory_stats.stats?.["total_inactive_file"], 1024);
    assert.equal(s.memory_stats.stats?.["total_rss"], 0);
    assert.equal(s.memory_stats.stats?.["not_reported"], undefined);
    assert.deepEqual(s.pids_stats, { current: 3, limit: 10 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive, [
      { major: 8, minor: 0, op: "Read", value: 4096 },
      { major: 8, minor: 0, op: "Write", value: 8192 },
      { major: 8, minor: 0, op: "Sync", value: 0 },
      { major: 8, minor: 0, op: "Async", value: 12288 },
      { major: 8, minor: 0, op: "Discard", value: 0 },
      { major: 8, minor: 0, op: "Total", value: 12288 },
    ]);
    assert.equal(s.blkio_stats.io_serviced_recursive?.length, 2);
    // Empty, not null, as dockerd 20.10 sends them on cgroup v1 (conformance: containers/export-and-stats).
    assert.deepEqual(s.blkio_stats.io_queue_recursive, []);
  });

  it("reports an unlimited memory cgroup with the machine's memory as the limit", async () => {
    const r2 = fixture("v1-unlimited", { [`memory${CG}/memory.limit_in_bytes`]: "9223372036854771712\n", [`memory${CG}/memory.usage_in_bytes`]: "1\n" });
    const s = await cgroupStats(CG, { root: r2, machineMemory: GB });
    assert.equal(s.memory_stats.limit, GB);
    assert.deepEqual(s.pids_stats, {});
  });

  it("counts OOM kills", () => {
    assert.equal(parseOomKill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2);
    assert.equal(parseOomKill("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n"), 1);
    assert.equal(parseOomKill(""), 0);
  });
});

describe("cgroup v2 stats", () => {
  const root = fixture("v2", {
    "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
    "cpuset.cpus.effective": "0-7\n",
    "cpuset.mems.effective": "0-1\n",
    [`${CG}/cpu.stat`]: "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 4\nnr_throttled 1\nthrottled_usec 700\n",
    [`${CG}/memory.current`]: "4194304\n",
    [`${CG}/memory.max`]: "max\n",
    [`${CG}/memory.stat`]: "anon 1000\nfile 2000\ninactive_file 300\npgfault 9\n",
    [`${CG}/memory.events`]: "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n",
    [`${CG}/pids.current`]: "2\n",
    [`${CG}/pids.max`]: "max\n",
    [`${CG}/io.stat`]: "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
  });

  it("detects pure v2 and what its root controllers offer", () => {
    assert.equal(cgroupVersion(root), 2);
    const info = cgroupHostInfo(root);
    assert.equal(info.version, 2);
    assert.equal(info.cpus, "0-7");
    assert.equal(info.mems, "0-1");
    assert.equal(info.oomKillDisable, false);
    assert.equal(info.blkioWeight, true);
    assert.equal(oomKillFile(CG, root), path.join(root, "berth/abc/memory.events"));
  });

  it("converts microseconds to nanoseconds and io.stat to read/write entries", async () => {
    const s = await cgroupStats(CG, { root, machineMemory: GB });
    assert.deepEqual(s.cpu_stats, {
      cpu_usage: { total_usage: 5_000_000, usage_in_kernelmode: 2_000_000, usage_in_usermode: 3_000_000 },
      throttling_data: { periods: 4, throttled_periods: 1, throttled_time: 700_000 },
    });
    assert.equal(s.memory_stats.usage, 4194304);
    assert.equal(s.memory_stats.limit, GB);
    assert.equal(s.memory_stats.failcnt, 2);
    assert.equal(s.memory_stats.max_usage, undefined);
    assert.equal(s.memory_stats.stats?.["inactive_file"], 300);
    assert.equal(s.memory_stats.stats?.["anon"], 1000);
    assert.equal(s.memory_stats.stats?.["slab"], 0);
    assert.deepEqual(s.pids_stats, { current: 2 });
    assert.deepEqual(s.blkio_stats.io_service_bytes_recursive, [
      { major: 8, minor: 0, op: "read", value: 4096 },
      { major: 8, minor: 0, op: "write", value: 8192 },
      { major: 253, minor: 1, op: "read", value: 1 },
      { major: 253, minor: 1, op: "write", value: 0 },
    ]);
    assert.equal(s.blkio_stats.io_serviced_recursive, null);
  });

  it("reports nothing but zeros for a cgroup that is gone", async () => {
    const s = await cgroupStats("/berth/gone", { root, machineMemory: GB });
    assert.equal(s.cpu_stats.cpu_usage.total_usage, 0);
    assert.deepEqual(s.memory_stats, {});
    assert.deepEqual(s.pids_stats, {});
  });
});

describe("host-wide figures", () => {
  it("sums /proc/stat's first seven CPU fields in nanoseconds and counts online CPUs", () => {
    const r = parseProcStat("cpu  100 1 50 1000 10 2 3 7 0 0\ncpu0 50 0 25 500 5 1 1 0 0 0\ncpu1 50 1 25 500 5 1 2 0 0 0\nintr 1\n");
    assert.equal(r.systemUsage, (100 + 1 + 50 + 1000 + 10 + 2 + 3) * 10_000_000);
    assert.equal(r.onlineCpus, 2);
  });

  it("reads interface counters from net/dev without the loopback", () => {
    const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
`;
    assert.deepEqual(parseNetDev(text), {
      eth0: { rx_bytes: 2000, rx_packets: 20, rx_errors: 1, rx_dropped: 2, tx_bytes: 3000, tx_packets: 30, tx_errors: 3, tx_dropped: 4 },
    });
  });
});
