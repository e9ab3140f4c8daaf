/**
 * The one source of the confinement every process Berth starts for a user gets:
 * `docker run` and build RUN steps through buildSpec, `docker exec` and health
 * checks through execConfinement (which copies the container's own, so an exec is
 * never freer than its container; runc applies the container's seccomp filter to
 * every process it starts in it). Defaults are Docker's: its 14 capabilities, its
 * seccomp allowlist relaxed per capability, its masked and read-only /proc paths,
 * AppArmor where the host has it; `--privileged` lifts all of them.
 */
import { readFileSync } from "node:fs";
import type { OciProcess } from "./spec.js";
import { type OciSeccomp, defaultSeccompProfile } from "./seccomp.js";

/** Docker's default capability set. */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability the kernel knows, in bit order. */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
  "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
  "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

export const MASKED_PATHS = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

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

export interface ConfinementInput {
  /** The capability set; Docker's default when absent. Ignored for privileged. */
  capabilities?: readonly string[];
  privileged?: boolean;
  /** A filter, or "unconfined"; absent: the default profile for these capabilities. */
  seccomp?: OciSeccomp | "unconfined";
  noNewPrivileges?: boolean;
  /** Paths masked / made read-only instead of Docker's defaults. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** An AppArmor profile, or "unconfined"; absent: the host's default (applied only where AppArmor is enabled). */
  apparmorProfile?: string;
}

export interface Confinement {
  process: Required<Pick<OciProcess, "capabilities" | "noNewPrivileges">> & Pick<OciProcess, "apparmorProfile">;
  linux: { seccomp?: OciSeccomp; maskedPaths?: string[]; readonlyPaths?: string[] };
}

/** The confinement of a container's processes (the parts of its OCI spec that confine it). */
export function confinement(input: ConfinementInput): Confinement {
  const privileged = input.privileged ?? false;
  const caps = privileged ? hostCapabilities() : [...(input.capabilities ?? DEFAULT_CAPABILITIES)];
  const seccomp = privileged || input.seccomp === "unconfined" ? undefined : (input.seccomp ?? defaultSeccompProfile(caps));
  const apparmor = !apparmorEnabled() || privileged || input.apparmorProfile === "unconfined" ? undefined : (input.apparmorProfile ?? defaultApparmorProfile());
  return {
    process: {
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: input.noNewPrivileges ?? false,
      ...(apparmor ? { apparmorProfile: apparmor } : {}),
    },
    linux: {
      ...(seccomp ? { seccomp } : {}),
      ...(privileged ? {} : { maskedPaths: input.maskedPaths ?? MASKED_PATHS, readonlyPaths: input.readonlyPaths ?? READONLY_PATHS }),
    },
  };
}

/**
 * An exec's confinement: its container's (capabilities, no-new-privileges, AppArmor;
 * the seccomp filter and /proc paths are the container's by construction), with every
 * capability the host grants for `exec --privileged`, as Docker does.
 */
export function execConfinement(container: OciProcess, privileged: boolean): Pick<OciProcess, "capabilities" | "noNewPrivileges" | "apparmorProfile"> {
  const all = privileged ? hostCapabilities() : undefined;
  return {
    ...(all ? { capabilities: { bounding: all, effective: all, permitted: all } } : container.capabilities ? { capabilities: container.capabilities } : {}),
    ...(container.noNewPrivileges !== undefined ? { noNewPrivileges: container.noNewPrivileges } : {}),
    ...(container.apparmorProfile ? { apparmorProfile: container.apparmorProfile } : {}),
  };
}
