/**
 * Container cgroups as the kernel shows them: resource usage in the shape of
 * Docker's stats JSON (cpu_stats, memory_stats, pids_stats, blkio_stats), the
 * OOM-kill counter, and what the host's hierarchy supports. Works on cgroup v1
 * (one hierarchy per controller, also the hybrid layout) and on pure v2.
 *
 * Every reader takes the cgroup root (default /sys/fs/cgroup) so that tests can
 * point it at fixture directories.
 */
import { existsSync, readFileSync } from "node:fs";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";

export const CGROUP_ROOT = "/sys/fs/cgroup";

/** Clock ticks per second of cpuacct.stat and /proc/stat (USER_HZ, 100 on every Linux ABI we run on). */
const CLK_TCK = 100;
const NS_PER_TICK = 1e9 / CLK_TCK;

export type CgroupVersion = 1 | 2;

/** 2 when the root is a pure cgroup v2 (unified) mount, else 1 (v1 or hybrid: controllers live on v1). */
export function cgroupVersion(root = CGROUP_ROOT): CgroupVersion {
  return existsSync(path.join(root, "cgroup.controllers")) ? 2 : 1;
}

/** The file whose `oom_kill N` line counts OOM kills in a container's memory cgroup. */
export function oomKillFile(cgroupsPath: string, root = CGROUP_ROOT): string {
  return cgroupVersion(root) === 2
    ? path.join(root, cgroupsPath, "memory.events")
    : path.join(root, "memory", cgroupsPath, "memory.oom_control");
}

/** The `oom_kill N` counter of v1 memory.oom_control or v2 memory.events (0 if absent). */
export function parseOomKill(text: string): number {
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

// --- what the host supports ---------------------------------------------------------

export interface CgroupHostInfo {
  version: CgroupVersion;
  /** CPUs and memory nodes containers may use (cpuset list syntax, e.g. "0-3"). */
  cpus: string;
  mems: string;
  /** memory.memsw.* (v1) / memory.swap.max (v2). */
  swapLimit: boolean;
  memoryReservation: boolean;
  swappiness: boolean;
  oomKillDisable: boolean;
  pidsLimit: boolean;
  cpuCfs: boolean;
  cpuShares: boolean;
  cpuset: boolean;
  blkioWeight: boolean;
  blkioWeightDevice: boolean;
  /** blkio.throttle.* (v1) / io.max (v2). */
  blkioThrottle: boolean;
}

function readTrim(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Probe the cgroup mounts once (the answer does not change while the daemon runs). */
export function cgroupHostInfo(root = CGROUP_ROOT): CgroupHostInfo {
  const has = (...p: string[]) => existsSync(path.join(root, ...p));
  const allCpus = `0-${Math.max(0, os.cpus().length - 1)}`;
  if (cgroupVersion(root) === 2) {
    const ctrls = (readTrim(path.join(root, "cgroup.controllers")) ?? "").split(/\s+/);
    const on = (c: string) => ctrls.includes(c);
    return {
      version: 2,
      cpus: readTrim(path.join(root, "cpuset.cpus.effective")) || allCpus,
      mems: readTrim(path.join(root, "cpuset.mems.effective")) || "0",
      swapLimit: on("memory"),
      memoryReservation: on("memory"),
      swappiness: false,
      oomKillDisable: false,
      pidsLimit: on("pids"),
      cpuCfs: on("cpu"),
      cpuShares: on("cpu"),
      cpuset: on("cpuset"),
      blkioWeight: on("io"),
      blkioWeightDevice: on("io"),
      blkioThrottle: on("io"),
    };
  }
  return {
    version: 1,
    cpus: readTrim(path.join(root, "cpuset", "cpuset.effective_cpus")) || readTrim(path.join(root, "cpuset", "cpuset.cpus")) || allCpus,
    mems: readTrim(path.join(root, "cpuset", "cpuset.effective_mems")) || readTrim(path.join(root, "cpuset", "cpuset.mems")) || "0",
    swapLimit: has("memory", "memory.memsw.limit_in_bytes"),
    memoryReservation: has("memory", "memory.soft_limit_in_bytes"),
    swappiness: has("memory", "memory.swappiness"),
    oomKillDisable: has("memory", "memory.oom_control"),
    pidsLimit: has("pids"),
    cpuCfs: has("cpu", "cpu.cfs_quota_us"),
    cpuShares: has("cpu", "cpu.shares"),
    cpuset: has("cpuset", "cpuset.cpus"),
    blkioWeight: has("blkio", "blkio.weight") || has("blkio", "blkio.bfq.weight"),
    blkioWeightDevice: has("blkio", "blkio.weight_device") || has("blkio", "blkio.bfq.weight_device"),
    blkioThrottle: has("blkio", "blkio.throttle.read_bps_device"),
  };
}

// --- usage, in Docker's stats shapes --------------------------------------------------

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

export interface DockerCpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface DockerMemoryStats {
  usage?: number;
  max_usage?: number;
  stats?: Record<string, number>;
  failcnt?: number;
  limit?: number;
}

export interface DockerBlkioStats {
  io_service_bytes_recursive: BlkioEntry[] | null;
  io_serviced_recursive: BlkioEntry[] | null;
  io_queue_recursive: BlkioEntry[] | null;
  io_service_time_recursive: BlkioEntry[] | null;
  io_wait_time_recursive: BlkioEntry[] | null;
  io_merged_recursive: BlkioEntry[] | null;
  io_time_recursive: BlkioEntry[] | null;
  sectors_recursive: BlkioEntry[] | null;
}

export interface CgroupStats {
  cpu_stats: DockerCpuStats;
  memory_stats: DockerMemoryStats;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: DockerBlkioStats;
}

export function emptyCpuStats(): DockerCpuStats {
  return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
}

export function emptyBlkioStats(): DockerBlkioStats {
  return {
    io_service_bytes_recursive: null,
    io_serviced_recursive: null,
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

/** memory.stat keys Docker reports on cgroup v1 (always all of them, 0 when absent). */
const V1_MEMORY_KEYS = [
  "cache", "rss", "rss_huge", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout", "pgfault", "pgmajfault",
  "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "hierarchical_memory_limit",
  "hierarchical_memsw_limit", "total_cache", "total_rss", "total_rss_huge", "total_mapped_file", "total_dirty",
  "total_writeback", "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault", "total_inactive_anon",
  "total_active_anon", "total_inactive_file", "total_active_file", "total_unevictable",
];

/** memory.stat keys Docker reports on cgroup v2. */
const V2_MEMORY_KEYS = [
  "anon", "file", "kernel_stack", "slab", "sock", "shmem", "file_mapped", "file_dirty", "file_writeback", "anon_thp",
  "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable", "slab_reclaimable", "slab_unreclaimable",
  "pgfault", "pgmajfault", "workingset_refault", "workingset_activate", "workingset_nodereclaim", "pgrefill", "pgscan",
  "pgsteal", "pgactivate", "pgdeactivate", "pglazyfree", "pglazyfreed", "thp_fault_alloc", "thp_collapse_alloc",
];

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, "utf8");
  } catch {
    return undefined;
  }
}

/** A number file; "max" (or an unparsable value) is undefined. */
async function readNum(file: string): Promise<number | undefined> {
  const t = (await readText(file))?.trim();
  if (t === undefined || !/^\d+$/.test(t)) return undefined;
  return Number(t);
}

/** "key value" lines (memory.stat, cpu.stat, cpuacct.stat, memory.events). */
export function parseKeyValues(text: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (text ?? "").split("\n")) {
    const m = /^(\S+)\s+(\d+)$/.exec(line.trim());
    if (m && m[1]) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** v1 blkio files: "8:0 Read 4096" lines; "Total N" lines are dropped like containerd does. */
export function parseBlkioV1(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 3) continue;
    const mm = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!mm || !/^\d+$/.test(f[2] ?? "")) continue;
    out.push({ major: Number(mm[1]), minor: Number(mm[2]), op: f[1] ?? "", value: Number(f[2]) });
  }
  return out;
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 ..." → Docker's read/write byte entries. */
export function parseIoStatV2(text: string | undefined): BlkioEntry[] {
  const out: BlkioEntry[] = [];
  for (const line of (text ?? "").split("\n")) {
    const f = line.trim().split(/\s+/);
    const mm = /^(\d+):(\d+)$/.exec(f[0] ?? "");
    if (!mm) continue;
    const kv = new Map(f.slice(1).map((x) => x.split("=") as [string, string]));
    const major = Number(mm[1]);
    const minor = Number(mm[2]);
    out.push({ major, minor, op: "read", value: Number(kv.get("rbytes") ?? 0) }, { major, minor, op: "write", value: Number(kv.get("wbytes") ?? 0) });
  }
  return out;
}

function clampLimit(limit: number | undefined, machine: number): number | undefined {
  if (limit === undefined) return machine;
  return machine > 0 && limit > machine ? machine : limit;
}

export interface CgroupStatsOptions {
  root?: string;
  version?: CgroupVersion;
  /** Host memory in bytes; limits above it are reported as it (Docker does the same). */
  machineMemory?: number;
}

/** Resource usage of the cgroup at cgroupsPath (e.g. "/berth/<id>"), Docker-shaped. */
export async function cgroupStats(cgroupsPath: string, opts: CgroupStatsOptions = {}): Promise<CgroupStats> {
  const root = opts.root ?? CGROUP_ROOT;
  const version = opts.version ?? cgroupVersion(root);
  const machine = opts.machineMemory ?? os.totalmem();
  return version === 2 ? statsV2(path.join(root, cgroupsPath), machine) : statsV1(root, cgroupsPath, machine);
}

async function statsV1(root: string, cg: string, machine: number): Promise<CgroupStats> {
  const p = (ctrl: string, file: string) => path.join(root, ctrl, cg, file);
  const [usage, percpu, acct, cpuStat, memUsage, memMax, memLimit, memFail, memStat, pidsCur, pidsMax, ioBytes, ioOps] = await Promise.all([
    readNum(p("cpuacct", "cpuacct.usage")),
    readText(p("cpuacct", "cpuacct.usage_percpu")),
    readText(p("cpuacct", "cpuacct.stat")),
    readText(p("cpu", "cpu.stat")),
    readNum(p("memory", "memory.usage_in_bytes")),
    readNum(p("memory", "memory.max_usage_in_bytes")),
    readNum(p("memory", "memory.limit_in_bytes")),
    readNum(p("memory", "memory.failcnt")),
    readText(p("memory", "memory.stat")),
    readNum(p("pids", "pids.current")),
    readNum(p("pids", "pids.max")),
    readText(p("blkio", "blkio.throttle.io_service_bytes")),
    readText(p("blkio", "blkio.throttle.io_serviced")),
  ]);
  const ticks = parseKeyValues(acct);
  const thr = parseKeyValues(cpuStat);
  const percpuUsage = (percpu ?? "").trim().split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
  const cpu: DockerCpuStats = {
    cpu_usage: {
      total_usage: usage ?? 0,
      ...(percpuUsage.length > 0 ? { percpu_usage: percpuUsage } : {}),
      usage_in_kernelmode: (ticks.get("system") ?? 0) * NS_PER_TICK,
      usage_in_usermode: (ticks.get("user") ?? 0) * NS_PER_TICK,
    },
    throttling_data: { periods: thr.get("nr_periods") ?? 0, throttled_periods: thr.get("nr_throttled") ?? 0, throttled_time: thr.get("throttled_time") ?? 0 },
  };
  let memory: DockerMemoryStats = {};
  if (memStat !== undefined || memUsage !== undefined) {
    const kv = parseKeyValues(memStat);
    const stats: Record<string, number> = {};
    for (const k of V1_MEMORY_KEYS) stats[k] = kv.get(k) ?? 0;
    // failcnt is omitempty in dockerd's stats JSON.
    memory = { usage: memUsage ?? 0, max_usage: memMax ?? 0, stats, ...(memFail ? { failcnt: memFail } : {}), limit: clampLimit(memLimit, machine) as number };
  }
  const blkio = emptyBlkioStats();
  blkio.io_service_bytes_recursive = parseBlkioV1(ioBytes);
  blkio.io_serviced_recursive = parseBlkioV1(ioOps);
  // dockerd (through containerd's v1 metrics) sends the other v1 lists empty, not null.
  for (const k of ["io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive", "io_time_recursive", "sectors_recursive"] as const) blkio[k] = [];
  return {
    cpu_stats: cpu,
    memory_stats: memory,
    pids_stats: { ...(pidsCur !== undefined ? { current: pidsCur } : {}), ...(pidsMax ? { limit: pidsMax } : {}) },
    blkio_stats: blkio,
  };
}

async function statsV2(dir: string, machine: number): Promise<CgroupStats> {
  const p = (file: string) => path.join(dir, file);
  const [cpuStat, memCur, memMax, memStat, memEvents, pidsCur, pidsMax, ioStat] = await Promise.all([
    readText(p("cpu.stat")),
    readNum(p("memory.current")),
    readNum(p("memory.max")),
    readText(p("memory.stat")),
    readText(p("memory.events")),
    readNum(p("pids.current")),
    readNum(p("pids.max")),
    readText(p("io.stat")),
  ]);
  const c = parseKeyValues(cpuStat);
  const cpu: DockerCpuStats = {
    cpu_usage: {
      total_usage: (c.get("usage_usec") ?? 0) * 1000,
      usage_in_kernelmode: (c.get("system_usec") ?? 0) * 1000,
      usage_in_usermode: (c.get("user_usec") ?? 0) * 1000,
    },
    throttling_data: { periods: c.get("nr_periods") ?? 0, throttled_periods: c.get("nr_throttled") ?? 0, throttled_time: (c.get("throttled_usec") ?? 0) * 1000 },
  };
  let memory: DockerMemoryStats = {};
  if (memStat !== undefined || memCur !== undefined) {
    const kv = parseKeyValues(memStat);
    const stats: Record<string, number> = {};
    for (const k of V2_MEMORY_KEYS) stats[k] = kv.get(k) ?? 0;
    const ev = parseKeyValues(memEvents);
    memory = { usage: memCur ?? 0, stats, limit: clampLimit(memMax, machine) as number, ...(memEvents !== undefined && (ev.get("oom") ?? 0) > 0 ? { failcnt: ev.get("oom") ?? 0 } : {}) };
  }
  const blkio = emptyBlkioStats();
  const io = parseIoStatV2(ioStat);
  if (ioStat !== undefined) blkio.io_service_bytes_recursive = io;
  return {
    cpu_stats: cpu,
    memory_stats: memory,
    pids_stats: { ...(pidsCur !== undefined ? { current: pidsCur } : {}), ...(pidsMax ? { limit: pidsMax } : {}) },
    blkio_stats: blkio,
  };
}

// --- host-wide figures -----------------------------------------------------------------

/** /proc/stat: the host's CPU time in ns (user..softirq, as Docker sums it) and the online CPUs. */
export function parseProcStat(text: string): { systemUsage: number; onlineCpus: number } {
  let systemUsage = 0;
  let onlineCpus = 0;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "cpu") {
      systemUsage = f.slice(1, 8).reduce((s, x) => s + Number(x || 0), 0) * NS_PER_TICK;
    } else if (f[0] && /^cpu\d+$/.test(f[0])) onlineCpus++;
  }
  return { systemUsage, onlineCpus };
}

export async function systemCpuUsage(procStat = "/proc/stat"): Promise<{ systemUsage: number; onlineCpus: number }> {
  return parseProcStat((await readText(procStat)) ?? "");
}

export interface NetworkStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** /proc/<pid>/net/dev → per-interface counters; the loopback is left out like Docker does. */
export function parseNetDev(text: string): Record<string, NetworkStats> {
  const out: Record<string, NetworkStats> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const name = line.slice(0, i).trim();
    const f = line.slice(i + 1).trim().split(/\s+/).map(Number);
    if (name === "" || name === "lo" || f.length < 16 || f.some((n) => Number.isNaN(n))) continue;
    out[name] = {
      rx_bytes: f[0] ?? 0,
      rx_packets: f[1] ?? 0,
      rx_errors: f[2] ?? 0,
      rx_dropped: f[3] ?? 0,
      tx_bytes: f[8] ?? 0,
      tx_packets: f[9] ?? 0,
      tx_errors: f[10] ?? 0,
      tx_dropped: f[11] ?? 0,
    };
  }
  return out;
}

/** The interfaces of the network namespace a process lives in (undefined when the process is gone). */
export async function networkStats(pid: number): Promise<Record<string, NetworkStats> | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const t = await readText(`/proc/${pid}/net/dev`);
  return t === undefined ? undefined : parseNetDev(t);
}
