/**
 * The e2e tests' one way to look at a container's cgroup on the host, on cgroup
 * v1 (these machines, hybrid) and v2 (unified): limits in Docker's terms, the
 * value to expect for CPU shares and blkio weight (runc converts them on v2),
 * the files a container reads for its own limits, and cleanup of a parent.
 */
import { readFileSync, readdirSync, rmdirSync } from "node:fs";
import path from "node:path";
import { type CgroupLimits, cgroupDirs, cgroupVersion, cpuSharesToWeight, ownLimitFiles, readCgroupLimits } from "../../src/runtime/index.js";

export const CG_VERSION = cgroupVersion();

/** The limits of container `id` under `parent` (default "berth", as Berth places containers). */
export function limitsOf(id: string, parent = "berth"): CgroupLimits {
  return readCgroupLimits(`/${parent}/${id}`);
}

/** What the host's cgroup holds for `docker run --cpu-shares N`: N on v1, runc's cpu.weight on v2. */
export const sharesOnHost = (shares: number): number => (CG_VERSION === 2 ? cpuSharesToWeight(shares) : shares);

/** Memory and pids limit files as the container sees them in its private cgroup namespace. */
export const OWN = ownLimitFiles(CG_VERSION);

/** The host directories of the container's cgroup (the memory one on v1). */
export const memoryDir = (id: string, parent = "berth"): string => cgroupDirs(`/${parent}/${id}`, undefined, ["memory"])[0] as string;

/** Remove an (empty) parent cgroup a test made, in every hierarchy. */
export function removeParent(parent: string): void {
  const dirs = CG_VERSION === 2 ? cgroupDirs(`/${parent}`) : cgroupDirs(`/${parent}`, undefined, readdirSync("/sys/fs/cgroup"));
  for (const d of dirs) {
    try {
      rmdirSync(d);
    } catch {
      // not there for this controller
    }
  }
}

/** The memory the container's cgroup uses now (memory.usage_in_bytes / memory.current), in bytes. */
export function memoryUsage(id: string, parent = "berth"): number {
  return Number(readFileSync(path.join(memoryDir(id, parent), CG_VERSION === 2 ? "memory.current" : "memory.usage_in_bytes"), "utf8").trim());
}
