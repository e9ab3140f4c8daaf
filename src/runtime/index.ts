/**
 * The runtime subsystem: OCI bundles executed by a real OCI runtime (runc, or crun)
 * under a small per-container monitor process (berth-monitor) that holds the
 * container's stdio, writes its log and records its exit status, so containers
 * outlive berthd. Other folders import from here only.
 */
import type { ExitStatus, LogSinks } from "./monitor-client.js";
import type { OciMount, OciProcess, OciRlimit, OciSpec } from "./spec.js";

export type { ExitStatus, LogSinks, OciSpec, OciProcess, OciMount, OciRlimit };
export { DEFAULT_HOSTS_LINES, DEFAULT_PATH_ENV } from "./spec.js";
export type { IdMapping, OciDevice, OciUser } from "./spec.js";
export * from "./ocispec/index.js";
export { resolveUser, readInRoot } from "./user.js";
export { defaultSeccompProfile, profileFromDockerJson } from "./seccomp.js";
export type { OciSeccomp } from "./seccomp.js";
export {
  CGROUP_ROOT,
  cgroupHostInfo,
  cgroupStats,
  cgroupVersion,
  emptyBlkioStats,
  emptyCpuStats,
  networkStats,
  oomKillFile,
  parseOomKill,
  systemCpuUsage,
} from "./cgroups.js";
export type { CgroupHostInfo, CgroupStats, CgroupVersion, NetworkStats } from "./cgroups.js";
export { blkioWeightToIoWeight, cgroupDirs, cpuSharesToWeight, memorySwapToV2, ownLimitFiles, readCgroupLimits } from "./cgroup-limits.js";
export type { CgroupLimits, Limit } from "./cgroup-limits.js";

export { Runtime } from "./runtime.js";
export { type AttachFlags, type ProcessIO, type RuntimeOptions, ContainerProcess, ExecProcess, removeCgroups } from "./process.js";
export { ociJson, parseSignal, runtimeErrorText } from "./signals.js";
