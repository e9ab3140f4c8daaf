/**
 * HostConfig → OCI runtime settings: resource limits (cgroups), rlimits, devices,
 * tmpfs mounts, the init process. The mapping is a pure function of the HostConfig
 * and a description of the host (HostFacts), so it is unit-testable without a
 * runtime; only device lookups and the init binary touch the filesystem.
 *
 * Docker's rules and messages (daemon/daemon_unix.go verifyPlatformContainerResources,
 * adaptContainerSettings, oci_linux.go) are followed: validation happens at create
 * (errors → 400, warnings → the create response) and again at start.
 */
import { promises as fs, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { invalid } from "../util/errors.js";
import { type CgroupHostInfo, type OciMount, type OciRlimit, cgroupHostInfo, hostNofile } from "../runtime/index.js";
import type { ContainerRecord, HostConfig } from "./types.js";

export interface SpecExtras {
  /** OCI linux.resources (memory, cpu, pids, blockIO, devices rules beyond the default deny-all). */
  resources?: Record<string, unknown>;
  /** Replaces the default rlimits when set. */
  rlimits?: OciRlimit[];
  /** Extra mounts (tmpfs, binds) appended after the defaults. */
  extraMounts?: OciMount[];
  /** Device nodes to create in the container (linux.devices). */
  devices?: OciDevice[];
  /** Arguments placed before the container's command (e.g. an init such as tini). */
  argsPrefix?: string[];
  /** Files to bind-mount read-only into the container before start (e.g. the init binary): dest → host source. */
  bindFiles?: Record<string, string>;
}

export interface OciDevice {
  path: string;
  type: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access: string;
}

/** What the host offers: cgroup features, CPUs, the daemon's own rlimits. */
export interface HostFacts extends CgroupHostInfo {
  ncpu: number;
  /** The daemon's rlimits by Docker ulimit name; -1 is unlimited. Containers cannot go above the hard ones... */
  rlimits: Record<string, { soft: number; hard: number }>;
  /** ...unless the daemon holds CAP_SYS_RESOURCE. */
  sysResource: boolean;
}

/** Where Docker's in-container init lives. */
export const INIT_PATH = "/sbin/docker-init";
const MIN_MEMORY = 6 * 1024 * 1024;
const DEFAULT_CPU_PERIOD = 100_000;

// --- the host -----------------------------------------------------------------------

const LIMIT_NAMES: Record<string, string> = {
  "Max cpu time": "cpu",
  "Max file size": "fsize",
  "Max data size": "data",
  "Max stack size": "stack",
  "Max core file size": "core",
  "Max resident set": "rss",
  "Max processes": "nproc",
  "Max open files": "nofile",
  "Max locked memory": "memlock",
  "Max address space": "as",
  "Max file locks": "locks",
  "Max pending signals": "sigpending",
  "Max msgqueue size": "msgqueue",
  "Max nice priority": "nice",
  "Max realtime priority": "rtprio",
  "Max realtime timeout": "rttime",
};

/** /proc/<pid>/limits → { nofile: {soft, hard}, ... } with -1 for unlimited. */
export function parseProcLimits(text: string): Record<string, { soft: number; hard: number }> {
  const out: Record<string, { soft: number; hard: number }> = {};
  for (const line of text.split("\n")) {
    const m = /^(Max [a-z ]+?)\s{2,}(\d+|unlimited)\s+(\d+|unlimited)/.exec(line);
    const name = m?.[1] ? LIMIT_NAMES[m[1]] : undefined;
    if (!m || !name) continue;
    const n = (v: string | undefined) => (v === "unlimited" || v === undefined ? -1 : Number(v));
    out[name] = { soft: n(m[2]), hard: n(m[3]) };
  }
  return out;
}

function hasCapSysResource(): boolean {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return m?.[1] ? (BigInt(`0x${m[1]}`) & (1n << 24n)) !== 0n : false;
  } catch {
    return false;
  }
}

let cachedFacts: HostFacts | undefined;

/** The host as seen by the daemon (probed once). */
export function hostFacts(): HostFacts {
  if (cachedFacts) return cachedFacts;
  let limits: Record<string, { soft: number; hard: number }> = {};
  try {
    limits = parseProcLimits(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    const n = hostNofile();
    limits = { nofile: { soft: n.soft, hard: n.hard } };
  }
  cachedFacts = { ...cgroupHostInfo(), ncpu: os.availableParallelism(), rlimits: limits, sysResource: hasCapSysResource() };
  return cachedFacts;
}

// --- validation (create and start) -------------------------------------------------------

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

/** HostConfig throttle lists → OCI linux.resources.blockIO fields. */
const THROTTLE = {
  BlkioDeviceReadBps: "throttleReadBpsDevice",
  BlkioDeviceWriteBps: "throttleWriteBpsDevice",
  BlkioDeviceReadIOps: "throttleReadIOPSDevice",
  BlkioDeviceWriteIOps: "throttleWriteIOPSDevice",
} as const;

const ULIMIT_NAMES = new Set(["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"]);

/** Docker's mount flags (moby/sys/mount): name → the flag group it sets or clears. */
const MOUNT_FLAGS: Record<string, string> = {
  ro: "rdonly", rw: "rdonly", suid: "nosuid", nosuid: "nosuid", dev: "nodev", nodev: "nodev", exec: "noexec", noexec: "noexec",
  sync: "sync", async: "sync", dirsync: "dirsync", remount: "remount", mand: "mand", nomand: "mand", atime: "noatime",
  noatime: "noatime", diratime: "nodiratime", nodiratime: "nodiratime", relatime: "relatime", norelatime: "relatime",
  strictatime: "strictatime", nostrictatime: "strictatime",
  // propagation (and bind) flags: only one of them survives
  bind: "prop", rbind: "prop", unbindable: "prop", runbindable: "prop", private: "prop", rprivate: "prop", shared: "prop",
  rshared: "prop", slave: "prop", rslave: "prop",
};
const TMPFS_DATA = new Set(["", "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"]);

/** Docker's MergeTmpfsOptions: later options win over earlier ones of the same kind; "defaults" is dropped. */
export function mergeTmpfsOptions(options: string[]): string[] {
  const flagSeen = new Set<string>();
  const dataSeen = new Set<string>();
  const out: string[] = [];
  for (let i = options.length - 1; i >= 0; i--) {
    const o = options[i] as string;
    if (o === "defaults") continue;
    const flag = MOUNT_FLAGS[o];
    if (flag) {
      if (!flagSeen.has(flag)) {
        out.unshift(o);
        flagSeen.add(flag);
      }
      continue;
    }
    const eq = o.indexOf("=");
    const parts = eq < 0 ? [o] : [o.slice(0, eq), o.slice(eq + 1)];
    if (parts.length !== 2 || !TMPFS_DATA.has(parts[0] as string)) {
      throw invalid(`Invalid tmpfs option [${parts.map((p) => JSON.stringify(p)).join(" ")}]`);
    }
    if (!dataSeen.has(parts[0] as string)) {
      out.unshift(o);
      dataSeen.add(parts[0] as string);
    }
  }
  return out;
}

function validateTmpfsDestination(dest: string): void {
  if (path.posix.normalize(dest) === "/") throw invalid(`invalid specification: destination can't be '/'`);
  if (!dest.startsWith("/")) throw invalid(`invalid mount path: '${dest}' mount path must be absolute`);
}

const DEVICE_RULE_RE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** `--device-cgroup-rule "c 1:3 mr"` → an OCI device cgroup rule. */
export function parseDeviceCgroupRule(rule: string): DeviceRule {
  const m = DEVICE_RULE_RE.exec(rule);
  if (!m) throw invalid(`invalid device cgroup rule format: '${rule}'`);
  return {
    allow: true,
    type: m[1] as string,
    ...(m[2] !== "*" ? { major: Number(m[2]) } : {}),
    ...(m[3] !== "*" ? { minor: Number(m[3]) } : {}),
    access: m[4] as string,
  };
}

function devicePermissions(p: string | null | undefined): string {
  const perms = p || "rwm";
  if (!/^[rwm]{1,3}$/.test(perms) || new Set(perms).size !== perms.length) throw invalid(`invalid device mode: ${perms}`);
  return perms;
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
  ulimitsToRlimits(hc.Ulimits ?? [], facts);
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

// --- the pure mapping -------------------------------------------------------------------

/** HostConfig resources → OCI linux.resources (without devices). */
export function resourcesFor(hc: HostConfig, facts: HostFacts): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  const mem: Record<string, unknown> = {};
  if ((hc.Memory ?? 0) > 0) mem["limit"] = hc.Memory;
  if ((hc.MemoryReservation ?? 0) > 0 && facts.memoryReservation) mem["reservation"] = hc.MemoryReservation;
  if ((hc.MemorySwap ?? 0) > 0 && facts.swapLimit) mem["swap"] = hc.MemorySwap;
  if (hc.MemorySwappiness !== undefined && hc.MemorySwappiness !== null && hc.MemorySwappiness >= 0 && facts.swappiness) mem["swappiness"] = hc.MemorySwappiness;
  if (hc.OomKillDisable && facts.oomKillDisable) mem["disableOOMKiller"] = true;
  if (Object.keys(mem).length > 0) r["memory"] = mem;

  const cpu: Record<string, unknown> = {};
  if ((hc.CpuShares ?? 0) > 0 && facts.cpuShares) cpu["shares"] = hc.CpuShares;
  if ((hc.NanoCpus ?? 0) > 0) {
    cpu["period"] = DEFAULT_CPU_PERIOD;
    cpu["quota"] = Math.floor(((hc.NanoCpus as number) * DEFAULT_CPU_PERIOD) / 1e9);
  }
  if ((hc.CpuPeriod ?? 0) !== 0) cpu["period"] = hc.CpuPeriod;
  if ((hc.CpuQuota ?? 0) !== 0) cpu["quota"] = hc.CpuQuota;
  if (hc.CpusetCpus) cpu["cpus"] = hc.CpusetCpus;
  if (hc.CpusetMems) cpu["mems"] = hc.CpusetMems;
  if (Object.keys(cpu).length > 0) r["cpu"] = cpu;

  if ((hc.PidsLimit ?? 0) > 0) r["pids"] = { limit: hc.PidsLimit };
  if ((hc.BlkioWeight ?? 0) > 0 && facts.blkioWeight) r["blockIO"] = { weight: hc.BlkioWeight };
  return r;
}

/** dockerd's mergeUlimits: the daemon's defaults for the ulimits a container does not set itself (by name). */
export function mergeUlimits<U extends { Name: string }>(own: U[] | null | undefined, defaults: U[]): U[] {
  const have = new Set((own ?? []).map((u) => u.Name));
  return [...(own ?? []), ...defaults.filter((u) => !have.has(u.Name)).map((u) => ({ ...u }))];
}

/**
 * Ulimits → OCI rlimits on top of the default (the daemon's open-files limit).
 * Hard limits above the daemon's own cannot be granted without CAP_SYS_RESOURCE:
 * that is an error here rather than a runtime failure at start.
 */
export function ulimitsToRlimits(ulimits: { Name: string; Soft: number; Hard: number }[], facts: HostFacts, base: OciRlimit[] = [hostNofile()]): OciRlimit[] {
  const out = new Map<string, OciRlimit>(base.map((r) => [r.type, r]));
  for (const u of ulimits) {
    const name = u.Name.toLowerCase();
    if (!ULIMIT_NAMES.has(name)) throw invalid(`invalid ulimit type: ${u.Name}`);
    const unl = (v: number) => v < 0;
    if (!unl(u.Hard) && (unl(u.Soft) || u.Soft > u.Hard)) {
      throw invalid(`ulimit soft limit must be less than or equal to hard limit: ${unl(u.Soft) ? "unlimited" : u.Soft} > ${u.Hard}`);
    }
    const host = facts.rlimits[name];
    if (host && !facts.sysResource && host.hard >= 0 && (unl(u.Hard) || u.Hard > host.hard)) {
      throw invalid(
        `invalid ulimit ${name}=${unl(u.Soft) ? "unlimited" : u.Soft}:${unl(u.Hard) ? "unlimited" : u.Hard}: the hard limit may not exceed the daemon's hard limit ${host.hard} (raising it requires CAP_SYS_RESOURCE)`,
      );
    }
    // -1 is RLIM_INFINITY; the runtime driver writes it as 2^64-1 (see ociJson in runtime/index.ts).
    const val = (v: number) => (unl(v) ? -1 : v);
    const type = `RLIMIT_${name.toUpperCase()}`;
    out.set(type, { type, soft: val(u.Soft), hard: val(u.Hard) });
  }
  return [...out.values()];
}

/** Tmpfs {"/run": "rw,size=64m"} → OCI tmpfs mounts with Docker's default options (noexec,nosuid,nodev). */
export function tmpfsMounts(tmpfs: Record<string, string>): OciMount[] {
  return Object.entries(tmpfs)
    .sort(([a], [b]) => a.split("/").length - b.split("/").length || (a < b ? -1 : a > b ? 1 : 0))
    .map(([dest, data]) => {
      validateTmpfsDestination(dest);
      const options = mergeTmpfsOptions(["noexec", "nosuid", "nodev", "rprivate", ...(data ? data.split(",") : [])]);
      return { destination: path.posix.normalize(dest), type: "tmpfs", source: "tmpfs", options };
    });
}

/** True for an ELF executable without a program interpreter (a static binary that runs in any image). */
export function isStaticElf(head: Buffer): boolean {
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = head[4] === 2;
  const le = head[5] === 1;
  const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const phoff = is64 ? Number(le ? head.readBigUInt64LE(0x20) : head.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  if (phnum === 0 || phoff + phnum * phentsize > head.length) return false;
  for (let i = 0; i < phnum; i++) if (u32(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

const INIT_CANDIDATES = ["/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/local/bin/docker-init", "/usr/bin/tini", "/usr/local/bin/tini"];

/** The host's static init binary (Debian's tini-static; Docker ships the same tini as docker-init). */
export async function findInitBinary(candidates = [process.env["BERTH_INIT_PATH"], ...INIT_CANDIDATES]): Promise<string> {
  for (const c of candidates) {
    if (!c) continue;
    const fh = await fs.open(c, "r").catch(() => undefined);
    if (!fh) continue;
    try {
      const st = await fh.stat();
      if (!st.isFile() || (st.mode & 0o111) === 0) continue;
      const head = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      if (isStaticElf(head.subarray(0, bytesRead))) return c;
    } finally {
      await fh.close();
    }
  }
  throw invalid(`could not find a static init binary for --init (docker-init or tini-static): install Debian's tini package`);
}

// --- devices ------------------------------------------------------------------------------

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

interface FoundDevice {
  device: OciDevice;
  rule: DeviceRule;
  /** The node on the host (device.path is where it appears in the container). */
  hostPath: string;
}

async function deviceAt(p: string, perms: string): Promise<FoundDevice | "notDevice"> {
  const st = await fs.lstat(p, { bigint: true });
  const fmt = Number(st.mode) & S_IFMT;
  const type = fmt === S_IFCHR ? "c" : fmt === S_IFBLK ? "b" : fmt === S_IFIFO ? "p" : undefined;
  if (!type) return "notDevice";
  const rdev = st.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return {
    device: { path: p, type, major, minor, fileMode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) },
    rule: { allow: true, type, major, minor, access: perms },
    hostPath: p,
  };
}

/** Docker's DevicesFromPath: one device node, or every device under a directory. */
export async function devicesFromPath(pathOnHost: string, pathInContainer: string, perms: string): Promise<FoundDevice[]> {
  let resolved = pathOnHost;
  const lst = await fs.lstat(pathOnHost).catch(() => undefined);
  if (lst?.isSymbolicLink()) resolved = await fs.realpath(pathOnHost).catch(() => pathOnHost);
  let reason: string;
  try {
    const d = await deviceAt(resolved, perms);
    if (d !== "notDevice") return [{ ...d, device: { ...d.device, path: pathInContainer } }];
    reason = "not a device node";
    const st = await fs.stat(resolved);
    if (st.isDirectory()) {
      const out: FoundDevice[] = [];
      const walk = async (dir: string): Promise<void> => {
        for (const ent of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
          const p = path.join(dir, ent.name);
          if (ent.isDirectory()) await walk(p);
          else {
            const c = await deviceAt(p, perms).catch(() => "notDevice" as const);
            if (c !== "notDevice") out.push({ ...c, device: { ...c.device, path: pathInContainer + p.slice(resolved.length) } });
          }
        }
      };
      await walk(resolved);
      if (out.length > 0) return out;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    reason = code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (e as Error).message;
  }
  throw invalid(`error gathering device information while adding custom device "${pathOnHost}": ${reason}`);
}

/** Every device node of the host's /dev, for --privileged (containerd's HostDevices). */
export async function hostDevices(dir = "/dev"): Promise<OciDevice[]> {
  const out: OciDevice[] = [];
  const skipDirs = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);
  const walk = async (d: string): Promise<void> => {
    for (const ent of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) {
        if (!skipDirs.has(ent.name)) await walk(p);
        continue;
      }
      if (ent.name === "console" || !(ent.isCharacterDevice() || ent.isBlockDevice())) continue;
      const f = await deviceAt(p, "rwm").catch(() => "notDevice" as const);
      if (f !== "notDevice") out.push(f.device);
    }
  };
  await walk(dir);
  return out;
}

/** Major and minor of a (block) device, for the blkio weight and throttle lists. */
async function majorMinor(p: string): Promise<{ major: number; minor: number }> {
  let st;
  try {
    st = await fs.stat(p, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(`stat ${p}: ${code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (e as Error).message}`);
  }
  const rdev = st.rdev;
  return { major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) };
}

/** The per-device blkio settings (weights, throttles) as OCI blockIO fields. */
export async function blockIODevices(hc: HostConfig): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const wd = hc.BlkioWeightDevice ?? [];
  if (wd.length > 0) out["weightDevice"] = await Promise.all(wd.map(async (w) => ({ ...(await majorMinor(w.Path)), weight: w.Weight })));
  for (const [k, oci] of Object.entries(THROTTLE) as [keyof typeof THROTTLE, string][]) {
    const list = hc[k] ?? [];
    if (list.length > 0) out[oci] = await Promise.all(list.map(async (t) => ({ ...(await majorMinor(t.Path)), rate: t.Rate })));
  }
  return out;
}

// --- everything together ---------------------------------------------------------------------

/** Compute the runtime settings a container's HostConfig asks for. Throws EngineError("invalid") on bad values. */
export async function specExtras(rec: ContainerRecord, facts: HostFacts = hostFacts(), opts: { userns?: boolean } = {}): Promise<SpecExtras> {
  const hc = structuredClone(rec.HostConfig);
  adaptHostConfig(hc, facts); // the host may have changed since create
  const out: SpecExtras = {};
  const resources = resourcesFor(hc, facts);
  const blkioDevs = await blockIODevices(hc);
  if (Object.keys(blkioDevs).length > 0) resources["blockIO"] = { ...((resources["blockIO"] as object | undefined) ?? {}), ...blkioDevs };

  const devices: OciDevice[] = [];
  const rules: DeviceRule[] = [];
  const renamed: OciMount[] = [];
  if (hc.Privileged) {
    // Every host device, all of them allowed; --device adds only renamed ones (Docker's rule).
    devices.push(...(await hostDevices()));
    for (const d of hc.Devices ?? []) {
      const dest = d.PathInContainer || d.PathOnHost;
      if (dest === d.PathOnHost) continue;
      for (const f of await devicesFromPath(d.PathOnHost, dest, "rwm")) devices.push(f.device);
    }
    resources["devices"] = [{ allow: true, access: "rwm" }];
  } else {
    for (const d of hc.Devices ?? []) {
      for (const f of await devicesFromPath(d.PathOnHost, d.PathInContainer || d.PathOnHost, devicePermissions(d.CgroupPermissions))) {
        // In a user namespace runc bind-mounts device nodes instead of creating them, from the
        // container path: a renamed device becomes an explicit bind mount of the host node.
        if (opts.userns && f.hostPath !== f.device.path) renamed.push({ destination: f.device.path, type: "bind", source: f.hostPath, options: ["bind", "rprivate"] });
        else devices.push(f.device);
        rules.push(f.rule);
      }
    }
    for (const r of hc.DeviceCgroupRules ?? []) rules.push(parseDeviceCgroupRule(r));
    // buildSpec's default rules are replaced by these: the deny-all must come first.
    if (rules.length > 0) resources["devices"] = [{ allow: false, access: "rwm" }, ...rules];
  }
  if (devices.length > 0) out.devices = devices;
  if (Object.keys(resources).length > 0) out.resources = resources;

  if ((hc.Ulimits ?? []).length > 0) out.rlimits = ulimitsToRlimits(hc.Ulimits ?? [], facts);
  const mounts = [...tmpfsMounts(hc.Tmpfs ?? {}), ...renamed];
  if (mounts.length > 0) out.extraMounts = mounts;

  if (hc.Init) {
    out.bindFiles = { [INIT_PATH]: await findInitBinary() };
    out.argsPrefix = [INIT_PATH, "--"];
  }
  return out;
}
