/**
 * Berth's default seccomp profile: what Docker's default profile denies, written
 * as rules on top of an allow-by-default filter, relaxed per capability the way
 * Docker relaxes its profile (CAP_SYS_ADMIN allows mount/unshare/setns, …).
 * Everything else a container may do is unchanged, so ordinary programs never
 * notice; the kernel's attack surface for escapes shrinks.
 */
import { invalid } from "../util/errors.js";

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: "SCMP_CMP_NE" | "SCMP_CMP_LT" | "SCMP_CMP_LE" | "SCMP_CMP_EQ" | "SCMP_CMP_GE" | "SCMP_CMP_GT" | "SCMP_CMP_MASKED_EQ";
}

export interface OciSeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: OciSeccompArg[];
}

export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls: OciSeccompRule[];
}

const EPERM = 1;
const ENOSYS = 38;

/** Syscalls denied unless the container holds the capability that makes them meaningful. */
const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_ADMIN: [
    "mount", "umount", "umount2", "unshare", "setns", "pivot_root", "quotactl", "quotactl_fd", "lookup_dcookie",
    "open_by_handle_at", "name_to_handle_at", "fanotify_init", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
    "move_mount", "mount_setattr", "bpf", "perf_event_open", "syslog", "vm86", "vm86old", "iopl", "ioperm",
  ],
  CAP_SYS_MODULE: ["init_module", "finit_module", "delete_module", "create_module", "get_kernel_syms", "query_module"],
  CAP_SYS_BOOT: ["reboot", "kexec_load", "kexec_file_load"],
  CAP_SYS_TIME: ["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64", "adjtimex"],
  CAP_SYS_PACCT: ["acct"],
  CAP_SYS_NICE: ["mbind", "set_mempolicy", "move_pages", "get_mempolicy", "set_mempolicy_home_node"],
  CAP_SYS_RAWIO: [],
  CAP_SYSLOG: [],
};

/** Denied for everyone (obsolete or key-management syscalls Docker blocks too). */
const ALWAYS_DENIED = ["add_key", "keyctl", "request_key", "uselib", "ustat", "sysfs", "_sysctl", "nfsservctl", "userfaultfd", "swapon", "swapoff", "kcmp"];

/** Namespace flags of clone(2); without CAP_SYS_ADMIN a container may not make new namespaces. */
const CLONE_NS_FLAGS = [0x00020000 /* NEWNS */, 0x02000000 /* NEWCGROUP */, 0x04000000 /* NEWUTS */, 0x08000000 /* NEWIPC */, 0x10000000 /* NEWUSER */, 0x20000000 /* NEWPID */, 0x40000000 /* NEWNET */];

export function defaultSeccompProfile(capabilities: readonly string[]): OciSeccomp {
  const caps = new Set(capabilities);
  const denied = new Set(ALWAYS_DENIED);
  for (const [cap, calls] of Object.entries(BY_CAPABILITY)) if (!caps.has(cap)) for (const c of calls) denied.add(c);
  const syscalls: OciSeccompRule[] = [{ names: [...denied].sort(), action: "SCMP_ACT_ERRNO", errnoRet: EPERM }];
  if (!caps.has("CAP_SYS_ADMIN")) {
    for (const flag of CLONE_NS_FLAGS) {
      syscalls.push({ names: ["clone"], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }] });
    }
    // clone3 passes flags in a struct seccomp cannot inspect: make libc fall back to clone.
    syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  }
  // personality(2) only with the values Docker allows (0, PER_LINUX32, UNAME26 combos, query).
  syscalls.push({ names: ["personality"], action: "SCMP_ACT_ERRNO", errnoRet: EPERM, args: [{ index: 0, value: 0x0040000, valueTwo: 0x0040000, op: "SCMP_CMP_MASKED_EQ" }] });
  return {
    defaultAction: "SCMP_ACT_ALLOW",
    architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
    syscalls,
  };
}

/**
 * A profile given with `--security-opt seccomp=<file>` in Docker's JSON format
 * (defaultAction, syscalls[{names|name, action, errnoRet, args, includes/excludes by caps}]).
 */
export function profileFromDockerJson(text: string, capabilities: readonly string[]): OciSeccomp {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalid(`decoding seccomp profile failed: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || typeof (raw as { defaultAction?: unknown }).defaultAction !== "string") {
    throw invalid("decoding seccomp profile failed: defaultAction is required");
  }
  const r = raw as { defaultAction: string; defaultErrnoRet?: number; architectures?: string[]; archMap?: { architecture: string; subArchitectures?: string[] }[]; syscalls?: unknown[] };
  const caps = new Set(capabilities);
  const syscalls: OciSeccompRule[] = [];
  for (const s of r.syscalls ?? []) {
    if (typeof s !== "object" || s === null) throw invalid("decoding seccomp profile failed: bad syscall entry");
    const e = s as { names?: string[]; name?: string; action?: string; errnoRet?: number; args?: OciSeccompArg[] | null; includes?: { caps?: string[] }; excludes?: { caps?: string[] } };
    if (e.includes?.caps && !e.includes.caps.every((c) => caps.has(c))) continue;
    if (e.excludes?.caps && e.excludes.caps.some((c) => caps.has(c))) continue;
    const names = e.names ?? (e.name ? [e.name] : []);
    if (names.length === 0 || typeof e.action !== "string") throw invalid("decoding seccomp profile failed: a syscall entry needs names and an action");
    syscalls.push({ names, action: e.action, ...(e.errnoRet !== undefined ? { errnoRet: e.errnoRet } : {}), ...(e.args ? { args: e.args } : {}) });
  }
  const arches = r.architectures ?? (r.archMap ?? []).flatMap((a) => [a.architecture, ...(a.subArchitectures ?? [])]);
  return { defaultAction: r.defaultAction, ...(r.defaultErrnoRet !== undefined ? { defaultErrnoRet: r.defaultErrnoRet } : {}), ...(arches.length ? { architectures: arches } : {}), syscalls };
}
