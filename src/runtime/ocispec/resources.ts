/**
 * HostConfig → OCI runtime settings (Docker's adaptContainerSettings, oci_linux.go): resource limits
 * (cgroups), rlimits, tmpfs mounts, device cgroup rules, with the checks these translations share with
 * create-time validation (engine/hostconfig.ts) and Docker's messages. Pure.
 */
import path from "node:path";
import { invalid } from "../../util/errors.js";
import type { OciMount, OciRlimit } from "../spec.js";
import type { HostFacts } from "./host.js";
import type { SpecHostConfig, Ulimit } from "./hostconfig.js";

const DEFAULT_CPU_PERIOD = 100_000;

export interface DeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access: string;
}


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

export function validateTmpfsDestination(dest: string): void {
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

export function devicePermissions(p: string | null | undefined): string {
  const perms = p || "rwm";
  if (!/^[rwm]{1,3}$/.test(perms) || new Set(perms).size !== perms.length) throw invalid(`invalid device mode: ${perms}`);
  return perms;
}


/** HostConfig resources → OCI linux.resources (without devices). */
export function resourcesFor(hc: SpecHostConfig, facts: HostFacts): Record<string, unknown> {
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
 * Ulimits → OCI rlimits on top of `base` (a container's: the daemon's open-files limit).
 * Hard limits above the daemon's own cannot be granted without CAP_SYS_RESOURCE:
 * that is an error here rather than a runtime failure at start.
 */
export function rlimitsFor(ulimits: readonly Ulimit[], facts: HostFacts, base: readonly OciRlimit[]): OciRlimit[] {
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
    // -1 is RLIM_INFINITY; the runtime driver writes it as 2^64-1 (see ociJson in runtime/signals.ts).
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

