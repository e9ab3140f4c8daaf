/**
 * What the spec builder needs to know about the host, probed here (the only I/O of ocispec/):
 * cgroup features, CPUs and the daemon's rlimits (HostFacts, probed once), the capabilities the
 * daemon can hand on, AppArmor, the open-files limit containers inherit, the seccomp arch/kernel.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import { type CgroupHostInfo, cgroupHostInfo } from "../cgroups.js";
import { type SeccompHost, seccompHost } from "../seccomp.js";
import type { OciRlimit } from "../spec.js";
import { ALL_CAPABILITIES } from "./constants.js";

/** What the host offers: cgroup features, CPUs, the daemon's own rlimits. */
export interface HostFacts extends CgroupHostInfo {
  ncpu: number;
  /** The daemon's rlimits by Docker ulimit name; -1 is unlimited. Containers cannot go above the hard ones... */
  rlimits: Record<string, { soft: number; hard: number }>;
  /** ...unless the daemon holds CAP_SYS_RESOURCE. */
  sysResource: boolean;
}

/** Everything about the host the spec builder decides on (specHost() probes it). */
export interface SpecHost extends HostFacts {
  /** The capabilities the daemon can hand on (`--privileged`, `--cap-add ALL`, `exec --privileged`). */
  capabilities: string[];
  /** Whether the host enforces AppArmor. */
  apparmor: boolean;
  /** The host's default AppArmor profile for containers (docker-default when loaded). */
  apparmorDefault?: string;
  /** The daemon's open-files limit: a container's default rlimit. */
  nofile: OciRlimit;
  seccomp: SeccompHost;
}

/** The host now (cgroup facts probed once; the rest read at each call, as each start did before). */
export function specHost(): SpecHost {
  const aa = defaultApparmorProfile();
  return { ...hostFacts(), capabilities: hostCapabilities(), apparmor: apparmorEnabled(), ...(aa ? { apparmorDefault: aa } : {}), nofile: hostNofile(), seccomp: seccompHost() };
}

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

/** The daemon's own open-files limit: containers inherit it, never more than the hard limit. */
export function hostNofile(): OciRlimit {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const m = line?.match(/Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/);
    if (m) {
      const hard = m[2] === "unlimited" ? 1048576 : Number(m[2]);
      const soft = m[1] === "unlimited" ? hard : Number(m[1]);
      return { type: "RLIMIT_NOFILE", hard, soft: Math.min(soft, hard) };
    }
  } catch {
    // fall through
  }
  return { type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 };
}


/**
 * Every capability the daemon can hand on (`--privileged`, `--cap-add ALL`, `exec
 * --privileged`): those both in its bounding and its effective set, so that runc can
 * grant them on hosts that withhold some (a sandbox without CAP_SYS_MODULE, …).
 */
export function hostCapabilities(): string[] {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const set = (name: string): bigint => {
      const m = new RegExp(`^${name}:\\s+([0-9a-f]+)$`, "m").exec(status);
      return m?.[1] ? BigInt(`0x${m[1]}`) : -1n;
    };
    const bits = set("CapBnd") & set("CapEff");
    return ALL_CAPABILITIES.filter((_c, i) => (bits >> BigInt(i)) & 1n);
  } catch {
    return [...ALL_CAPABILITIES];
  }
}

/** Whether the host enforces AppArmor (what dockerd checks before it applies a profile). */
export function apparmorEnabled(): boolean {
  try {
    return readFileSync("/sys/module/apparmor/parameters/enabled", "utf8").startsWith("Y");
  } catch {
    return false;
  }
}

/** The host's default AppArmor profile for containers: docker-default when it is loaded, else none. */
export function defaultApparmorProfile(): string | undefined {
  if (!apparmorEnabled()) return undefined;
  try {
    const loaded = readFileSync("/sys/kernel/security/apparmor/profiles", "utf8");
    return /^docker-default \(/m.test(loaded) ? "docker-default" : undefined;
  } catch {
    return undefined;
  }
}
