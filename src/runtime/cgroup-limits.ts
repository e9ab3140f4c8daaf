/**
 * A container's resource limits as its cgroup holds them, on cgroup v1 (one
 * hierarchy per controller, also hybrid) and v2 (unified), in Docker's terms;
 * and the conversions runc (1.1) applies when it writes Docker's v1-style OCI
 * values into a v2 hierarchy, so that callers can say what to expect there.
 *
 * Berth hands limits to runc as OCI linux.resources (create and `runc update`);
 * runc does the v2 conversion. This module reads them back: the e2e tests check
 * limits through it on either hierarchy, and its unit tests run over fixture trees.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { CGROUP_ROOT, type CgroupVersion, cgroupVersion } from "./cgroups.js";

/** runc's ConvertCPUSharesToCgroupV2Value: cpu.shares [2, 262144] → cpu.weight [1, 10000]; 0 stays unset. */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** runc's ConvertBlkIOToIOWeightValue: blkio.weight [10, 1000] → io.weight [1, 10000]; 0 stays unset. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** runc's ConvertMemorySwapToCgroupV2Value: Docker's memory+swap total → memory.swap.max (swap alone); -1 = max. */
export function memorySwapToV2(memorySwap: number, memory: number): number {
  if (memorySwap === -1 || memorySwap === 0) return memorySwap;
  if (memory <= 0) throw new Error("unable to set swap limit without memory limit");
  if (memorySwap < memory) throw new Error("memory+swap limit should be >= memory limit");
  return memorySwap - memory;
}

/** "unlimited" as each version writes it: v1's huge page-aligned number, v2's "max". */
export type Limit = number | "max";

export interface CgroupLimits {
  version: CgroupVersion;
  /** bytes; memory.limit_in_bytes / memory.max. */
  memory: Limit;
  /** Docker's MemorySwap (memory + swap): memory.memsw.limit_in_bytes / memory.max + memory.swap.max. */
  memorySwap: Limit;
  /** memory.soft_limit_in_bytes / memory.low. */
  memoryReservation: Limit;
  pids: Limit;
  /** µs per period; "max" when unlimited (v1 -1). */
  cpuQuota: Limit;
  cpuPeriod: number;
  /** v1 cpu.shares; v2 cpu.weight (compare with cpuSharesToWeight). */
  cpuWeight: number;
  cpusetCpus: string;
  cpusetMems: string;
  /** v1 blkio.weight; v2 io.bfq.weight "default" (Docker's value) or else io.weight (compare with blkioWeightToIoWeight). */
  blkioWeight: number;
  /** "major:minor" → bytes/s, from blkio.throttle.* / io.max. */
  readBps: Record<string, number>;
  writeBps: Record<string, number>;
  readIops: Record<string, number>;
  writeIops: Record<string, number>;
}

const V1_UNLIMITED = 2 ** 62; // v1 writes PAGE_COUNTER_MAX * page size (9223372036854771712)

function limitOf(text: string | undefined): Limit {
  if (text === undefined || text === "" || text === "max" || text === "-1") return "max";
  const n = Number(text);
  return n >= V1_UNLIMITED ? "max" : n;
}

function devMap(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of (text ?? "").split("\n")) {
    const [dev, v] = l.trim().split(/\s+/);
    if (dev && v) out[dev] = Number(v);
  }
  return out;
}

/** io.max lines "8:0 rbps=1 wbps=max riops=max wiops=max" → one of its keys per device. */
function ioMax(text: string | undefined, key: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of (text ?? "").split("\n")) {
    const [dev, ...kv] = l.trim().split(/\s+/);
    for (const p of kv) {
      const [k, v] = p.split("=");
      if (dev && k === key && v && v !== "max") out[dev] = Number(v);
    }
  }
  return out;
}

/** The limits of the cgroup at cgroupsPath (e.g. "/berth/<id>") under root (default /sys/fs/cgroup). */
export function readCgroupLimits(cgroupsPath: string, root = CGROUP_ROOT): CgroupLimits {
  const version = cgroupVersion(root);
  const read = (...p: string[]): string | undefined => {
    try {
      return readFileSync(path.join(root, ...p), "utf8").trim();
    } catch {
      return undefined;
    }
  };
  if (version === 2) {
    const f = (file: string) => read(cgroupsPath, file);
    const memory = limitOf(f("memory.max"));
    const swap = limitOf(f("memory.swap.max"));
    const [quota, period] = (f("cpu.max") ?? "max 100000").split(/\s+/);
    // runc writes Docker's weight as is to io.bfq.weight when the BFQ scheduler offers it, else runc's conversion to io.weight.
    const weight = /^default (\d+)$/m.exec(f("io.bfq.weight") ?? f("io.weight") ?? "");
    return {
      version,
      memory,
      memorySwap: memory === "max" || swap === "max" ? "max" : memory + swap,
      memoryReservation: limitOf(f("memory.low") === "0" ? undefined : f("memory.low")),
      pids: limitOf(f("pids.max")),
      cpuQuota: limitOf(quota),
      cpuPeriod: Number(period ?? 100000),
      cpuWeight: Number(f("cpu.weight") ?? 0),
      cpusetCpus: f("cpuset.cpus") ?? "",
      cpusetMems: f("cpuset.mems") ?? "",
      blkioWeight: weight ? Number(weight[1]) : 0,
      readBps: ioMax(f("io.max"), "rbps"),
      writeBps: ioMax(f("io.max"), "wbps"),
      readIops: ioMax(f("io.max"), "riops"),
      writeIops: ioMax(f("io.max"), "wiops"),
    };
  }
  const f = (ctrl: string, file: string) => read(ctrl, cgroupsPath, file);
  return {
    version,
    memory: limitOf(f("memory", "memory.limit_in_bytes")),
    memorySwap: limitOf(f("memory", "memory.memsw.limit_in_bytes")),
    memoryReservation: limitOf(f("memory", "memory.soft_limit_in_bytes")),
    pids: limitOf(f("pids", "pids.max")),
    cpuQuota: limitOf(f("cpu", "cpu.cfs_quota_us")),
    cpuPeriod: Number(f("cpu", "cpu.cfs_period_us") ?? 100000),
    cpuWeight: Number(f("cpu", "cpu.shares") ?? 0),
    cpusetCpus: f("cpuset", "cpuset.cpus") ?? "",
    cpusetMems: f("cpuset", "cpuset.mems") ?? "",
    blkioWeight: Number(f("blkio", "blkio.weight") ?? f("blkio", "blkio.bfq.weight") ?? 0),
    readBps: devMap(f("blkio", "blkio.throttle.read_bps_device")),
    writeBps: devMap(f("blkio", "blkio.throttle.write_bps_device")),
    readIops: devMap(f("blkio", "blkio.throttle.read_iops_device")),
    writeIops: devMap(f("blkio", "blkio.throttle.write_iops_device")),
  };
}

/** The directories of a cgroup on the host: one per v1 controller, or the one v2 directory. */
export function cgroupDirs(cgroupsPath: string, root = CGROUP_ROOT, controllers: string[] = []): string[] {
  if (cgroupVersion(root) === 2) return [path.join(root, cgroupsPath)];
  return controllers.map((c) => path.join(root, c, cgroupsPath));
}

/** Files a container sees for its own memory and pids limits (private cgroup namespace), per version. */
export function ownLimitFiles(version: CgroupVersion): { memory: string; pidsMax: string; pidsCurrent: string } {
  return version === 2
    ? { memory: "/sys/fs/cgroup/memory.max", pidsMax: "/sys/fs/cgroup/pids.max", pidsCurrent: "/sys/fs/cgroup/pids.current" }
    : { memory: "/sys/fs/cgroup/memory/memory.limit_in_bytes", pidsMax: "/sys/fs/cgroup/pids/pids.max", pidsCurrent: "/sys/fs/cgroup/pids/pids.current" };
}
