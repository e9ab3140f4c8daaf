/**
 * Docker's create-time checks and adjustments of a HostConfig's resources (daemon/daemon_unix.go
 * verifyPlatformContainerResources): errors → 400 with Docker's messages, warnings → the create
 * response; made again at start (the host may have changed). The translation into the OCI spec is
 * runtime/ocispec's (pure); the host device lookups are devices.ts's.
 */
import { invalid } from "../util/errors.js";
import {
  type HostFacts,
  type OciRlimit,
  type Ulimit,
  devicePermissions,
  hostFacts,
  hostNofile,
  mergeTmpfsOptions,
  parseDeviceCgroupRule,
  THROTTLE,
  rlimitsFor,
  validateTmpfsDestination,
} from "../runtime/index.js";
import type { HostConfig } from "./types.js";

export { type HostFacts, hostFacts, mergeTmpfsOptions, mergeUlimits } from "../runtime/index.js";

const MIN_MEMORY = 6 * 1024 * 1024;

/** Docker's ParseUintList (cpuset syntax "0-2,4"): the set, or an error message. */
export function parseUintList(val: string, maximum = 0): Set<number> {
  const out = new Set<number>();
  if (val === "") return out;
  const bad = () => new Error(`invalid format: ${val}`);
  const int = (s: string) => {
    if (!/^[+]?\d+$/.test(s)) throw bad();
    return Number(s);
  };
  for (const r of val.split(",")) {
    let lo: number;
    let hi: number;
    if (!r.includes("-")) {
      lo = hi = int(r);
    } else {
      const i = r.indexOf("-");
      lo = int(r.slice(0, i));
      hi = int(r.slice(i + 1));
      if (hi < lo) throw bad();
    }
    if (maximum !== 0 && hi > maximum) throw new Error(`value of out range, maximum is ${maximum}`);
    for (let v = lo; v <= hi; v++) out.add(v);
  }
  return out;
}

function cpusetAvailable(provided: string, available: string, what: "cpus" | "mems"): boolean {
  let avail: Set<number>;
  let want: Set<number>;
  try {
    avail = parseUintList(available);
    const maxCpus = Math.max(8192, ...avail);
    want = parseUintList(provided, maxCpus);
  } catch (e) {
    throw invalid(`Invalid value ${provided} for cpuset ${what}: ${(e as Error).message}`);
  }
  return [...want].every((v) => avail.has(v));
}

/**
 * Docker's create-time checks and adjustments of HostConfig's resources (in place):
 * throws EngineError("invalid") with Docker's messages, returns Docker's warnings.
 * With `update` (docker update: hc holds only the values to change) a swap limit
 * may come without a memory limit, a pids limit of 0 (unlimited) is kept, and no
 * create-time defaults are filled in (Docker's verifyPlatformContainerResources).
 */
export function adaptHostConfig(hc: HostConfig, facts: HostFacts = hostFacts(), update = false): string[] {
  const warnings: string[] = [];
  const memory = hc.Memory ?? 0;
  let swap = hc.MemorySwap ?? 0;
  if (hc.MemorySwappiness === -1) hc.MemorySwappiness = null;
  if (!update && hc.PidsLimit !== undefined && hc.PidsLimit !== null && hc.PidsLimit <= 0) hc.PidsLimit = null;

  // memory
  if (memory !== 0 && memory < MIN_MEMORY) throw invalid("Minimum memory limit allowed is 6MB");
  if (memory > 0 && swap !== -1 && !facts.swapLimit) {
    warnings.push("Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.");
    swap = hc.MemorySwap = -1;
  }
  if (memory > 0 && swap > 0 && swap < memory) throw invalid("Minimum memoryswap limit should be larger than memory limit, see usage");
  if (memory === 0 && swap > 0 && !update) throw invalid("You should always set the Memory limit when using Memoryswap limit, see usage");
  const swappiness = hc.MemorySwappiness;
  if (swappiness !== undefined && swappiness !== null) {
    if (!facts.swappiness) {
      warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.");
      hc.MemorySwappiness = null;
    } else if (swappiness < 0 || swappiness > 100) {
      throw invalid(`Invalid value: ${swappiness}, valid memory swappiness range is 0-100`);
    }
  }
  const reservation = hc.MemoryReservation ?? 0;
  if (reservation > 0 && !facts.memoryReservation) {
    warnings.push("Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.");
    hc.MemoryReservation = 0;
  } else {
    if (reservation > 0 && reservation < MIN_MEMORY) throw invalid("Minimum memory reservation allowed is 6MB");
    if (memory > 0 && reservation > 0 && memory < reservation) throw invalid("Minimum memory limit can not be less than memory reservation limit, see usage");
  }
  if (hc.OomKillDisable !== undefined && hc.OomKillDisable !== null && !facts.oomKillDisable) {
    if (hc.OomKillDisable) warnings.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
    hc.OomKillDisable = null;
  }
  if (hc.OomKillDisable && memory === 0) {
    warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.");
  }
  if (hc.PidsLimit && !facts.pidsLimit) {
    warnings.push("Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.");
    hc.PidsLimit = null;
  }

  // cpu
  const nano = hc.NanoCpus ?? 0;
  if (nano > 0 && (hc.CpuPeriod ?? 0) > 0) throw invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && (hc.CpuQuota ?? 0) > 0) throw invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  if (nano > 0 && !facts.cpuCfs) throw invalid("NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted");
  if (nano < 0 || nano > facts.ncpu * 1e9) {
    throw invalid(`Range of CPUs is from 0.01 to ${facts.ncpu}.00, as there are only ${facts.ncpu} CPUs available`);
  }
  if ((hc.CpuShares ?? 0) > 0 && !facts.cpuShares) {
    warnings.push("Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.");
    hc.CpuShares = 0;
  }
  if (((hc.CpuPeriod ?? 0) !== 0 || (hc.CpuQuota ?? 0) !== 0) && !facts.cpuCfs) {
    warnings.push("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.");
    hc.CpuPeriod = 0;
    hc.CpuQuota = 0;
  }
  const period = hc.CpuPeriod ?? 0;
  if (period !== 0 && (period < 1000 || period > 1_000_000)) throw invalid("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
  const quota = hc.CpuQuota ?? 0;
  if (quota > 0 && quota < 1000) throw invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");

  // cpuset
  if ((hc.CpusetCpus || hc.CpusetMems) && !facts.cpuset) {
    warnings.push("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.");
    hc.CpusetCpus = "";
    hc.CpusetMems = "";
  }
  if (hc.CpusetCpus && !cpusetAvailable(hc.CpusetCpus, facts.cpus, "cpus")) {
    throw invalid(`Requested CPUs are not available - requested ${hc.CpusetCpus}, available: ${facts.cpus}`);
  }
  if (hc.CpusetMems && !cpusetAvailable(hc.CpusetMems, facts.mems, "mems")) {
    throw invalid(`Requested memory nodes are not available - requested ${hc.CpusetMems}, available: ${facts.mems}`);
  }

  // blkio
  if ((hc.BlkioWeight ?? 0) > 0 && !facts.blkioWeight) {
    warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.");
    hc.BlkioWeight = 0;
  }
  const weight = hc.BlkioWeight ?? 0;
  if (weight > 0 && (weight < 10 || weight > 1000)) throw invalid("Range of blkio weight is from 10 to 1000");
  if ((hc.BlkioWeightDevice ?? []).length > 0 && !facts.blkioWeightDevice) {
    warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.");
    hc.BlkioWeightDevice = [];
  }
  const throttles: [keyof typeof THROTTLE, string][] = [
    ["BlkioDeviceReadBps", "BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded."],
    ["BlkioDeviceWriteBps", "BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded."],
    ["BlkioDeviceReadIOps", "IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded."],
    ["BlkioDeviceWriteIOps", "IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded."],
  ];
  for (const [k, w] of throttles) {
    if ((hc[k] ?? []).length > 0 && !facts.blkioThrottle) {
      warnings.push(`Your kernel does not support ${w}`);
      hc[k] = [];
    }
  }

  // ulimits, tmpfs, devices
  rlimitsFor(hc.Ulimits ?? [], facts, []);
  for (const [dest, opts] of Object.entries(hc.Tmpfs ?? {})) {
    validateTmpfsDestination(dest);
    mergeTmpfsOptions(opts ? opts.split(",") : []);
  }
  for (const r of hc.DeviceCgroupRules ?? []) parseDeviceCgroupRule(r);
  for (const d of hc.Devices ?? []) {
    if (!d.PathOnHost) throw invalid("invalid device specification: empty host path");
    devicePermissions(d.CgroupPermissions);
  }

  // Docker's defaults, visible in inspect
  if (!update && memory > 0 && (hc.MemorySwap ?? 0) === 0) hc.MemorySwap = memory * 2;
  return warnings;
}

/** Ulimits → OCI rlimits on top of the daemon's open-files limit (build RUN steps: the default ulimits). */
export function ulimitsToRlimits(ulimits: readonly Ulimit[], facts: HostFacts, base: readonly OciRlimit[] = [hostNofile()]): OciRlimit[] {
  return rlimitsFor(ulimits, facts, base);
}
