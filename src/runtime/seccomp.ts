/**
 * Seccomp profiles in Docker's format (the file `--security-opt seccomp=FILE`
 * reads, and Berth's own default in seccomp-default.json) translated to the OCI
 * spec's linux.seccomp the way dockerd does it: the host's architectures from
 * `archMap`, rules kept or dropped by their `includes`/`excludes` (capabilities of
 * the container's bounding set, the host's architecture, the running kernel's
 * version), `name`/`names`, `args`, `errnoRet` and `defaultErrnoRet` carried over.
 * Hand-written because no maintained JS library reads Docker's profile format.
 */
import os from "node:os";
import { z } from "zod";
import { invalid } from "../util/errors.js";
import DEFAULT_PROFILE_JSON from "./seccomp-default.json" with { type: "json" };

const OPS = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"] as const;
const ACTIONS = [
  "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY",
] as const;

export interface OciSeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: (typeof OPS)[number];
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

/** What a profile's includes/excludes are decided on. */
export interface SeccompHost {
  /** Docker's name of the host architecture: amd64, arm64, x86, arm, ppc64le, s390x, riscv64. */
  arch: string;
  /** The running kernel's version, [major, minor, patch]. */
  kernel: [number, number, number];
}

/** Safe integers only: an argument value beyond 2^53 would be rounded by JSON.parse, so it is refused rather than compared against a wrong value. */
const uint = z.number().int().nonnegative();
const filter = z.object({ caps: z.array(z.string()).nullish(), arches: z.array(z.string()).nullish(), minKernel: z.string().nullish() }).nullish();
const profileSchema = z.object({
  defaultAction: z.enum(ACTIONS),
  defaultErrnoRet: uint.nullish(),
  architectures: z.array(z.string()).nullish(),
  archMap: z.array(z.object({ architecture: z.string(), subArchitectures: z.array(z.string()).nullish() })).nullish(),
  syscalls: z.array(z.object({
    name: z.string().nullish(),
    names: z.array(z.string()).nullish(),
    action: z.enum(ACTIONS),
    errnoRet: uint.nullish(),
    args: z.array(z.object({ index: z.number().int().min(0).max(5), value: uint, valueTwo: uint.nullish(), op: z.enum(OPS) })).nullish(),
    includes: filter,
    excludes: filter,
  })).nullish(),
});
type DockerProfile = z.infer<typeof profileSchema>;

/** Node's process.arch → Docker's (Go's) architecture name. */
const DOCKER_ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64", ia32: "x86", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };
/** Docker's architecture name → the seccomp architecture an archMap entry is chosen by. */
const SECCOMP_ARCH: Record<string, string> = {
  amd64: "SCMP_ARCH_X86_64", arm64: "SCMP_ARCH_AARCH64", x86: "SCMP_ARCH_X86", arm: "SCMP_ARCH_ARM",
  ppc64le: "SCMP_ARCH_PPC64LE", s390x: "SCMP_ARCH_S390X", riscv64: "SCMP_ARCH_RISCV64",
};

function parseKernel(v: string): [number, number, number] | undefined {
  const m = v.match(/^(\d+)\.(\d+)(?:\.(\d+))?/);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

let hostCache: SeccompHost | undefined;
export function seccompHost(): SeccompHost {
  hostCache ??= { arch: DOCKER_ARCH[process.arch] ?? process.arch, kernel: parseKernel(os.release()) ?? [0, 0, 0] };
  return hostCache;
}

function kernelAtLeast(host: SeccompHost, min: string): boolean {
  const want = parseKernel(min);
  if (!want) throw invalid(`decoding seccomp profile failed: invalid minKernel "${min}"`);
  for (let i = 0; i < 3; i++) if (host.kernel[i] !== want[i]) return (host.kernel[i] ?? 0) > (want[i] ?? 0);
  return true;
}

/** The OCI filter for a container whose bounding set is `capabilities`, from a profile in Docker's format. */
export function translateProfile(p: DockerProfile, capabilities: readonly string[], host: SeccompHost = seccompHost()): OciSeccomp {
  if ((p.architectures?.length ?? 0) > 0 && (p.archMap?.length ?? 0) > 0) {
    throw invalid("decoding seccomp profile failed: 'architectures' and 'archMap' were specified in the seccomp profile, use either 'architectures' or 'archMap'");
  }
  const caps = new Set(capabilities);
  const architectures = [...(p.architectures ?? [])];
  const native = SECCOMP_ARCH[host.arch];
  const entry = (p.archMap ?? []).find((a) => a.architecture === native);
  if (entry) architectures.push(entry.architecture, ...(entry.subArchitectures ?? []));
  const syscalls: OciSeccompRule[] = [];
  for (const s of p.syscalls ?? []) {
    const ex = s.excludes;
    if (ex?.arches?.includes(host.arch)) continue;
    if (ex?.caps?.some((c) => caps.has(c))) continue;
    if (ex?.minKernel && kernelAtLeast(host, ex.minKernel)) continue;
    const inc = s.includes;
    if (inc?.arches && inc.arches.length > 0 && !inc.arches.includes(host.arch)) continue;
    if (inc?.caps && !inc.caps.every((c) => caps.has(c))) continue;
    if (inc?.minKernel && !kernelAtLeast(host, inc.minKernel)) continue;
    if (s.name && s.names && s.names.length > 0) {
      throw invalid("decoding seccomp profile failed: 'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'");
    }
    const names = s.name ? [s.name] : (s.names ?? []);
    if (names.length === 0) throw invalid("decoding seccomp profile failed: a syscall rule without 'name' or 'names'");
    const args = (s.args ?? []).map((a) => ({ index: a.index, value: a.value, ...(a.valueTwo ? { valueTwo: a.valueTwo } : {}), op: a.op }));
    syscalls.push({ names, action: s.action, ...(s.errnoRet != null ? { errnoRet: s.errnoRet } : {}), ...(args.length > 0 ? { args } : {}) });
  }
  return {
    defaultAction: p.defaultAction,
    ...(p.defaultErrnoRet != null ? { defaultErrnoRet: p.defaultErrnoRet } : {}),
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls,
  };
}

/** Parse a profile in Docker's JSON format (a 400 with the reason when it is not one). */
export function parseDockerProfile(text: string): DockerProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw invalid(`decoding seccomp profile failed: ${(e as Error).message}`);
  }
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw invalid(`decoding seccomp profile failed: ${issue ? `${issue.path.join(".") || "profile"}: ${issue.message}` : "invalid profile"}`);
  }
  return r.data;
}

/** A profile given with `--security-opt seccomp=<file>` (its content), for a container with these capabilities. */
export function profileFromDockerJson(text: string, capabilities: readonly string[], host?: SeccompHost): OciSeccomp {
  return translateProfile(parseDockerProfile(text), capabilities, host);
}

let defaultProfile: DockerProfile | undefined;
/**
 * Berth's default profile (seccomp-default.json: Docker's allowlist) for a
 * container whose bounding set is `capabilities`: what it may call grows with
 * its capabilities as under Docker (CAP_SYS_ADMIN: mount, unshare, setns, clone
 * with namespace flags; CAP_SYS_PTRACE: ptrace, process_vm_*; …).
 */
export function defaultSeccompProfile(capabilities: readonly string[], host?: SeccompHost): OciSeccomp {
  defaultProfile ??= profileSchema.parse(DEFAULT_PROFILE_JSON);
  return translateProfile(defaultProfile, capabilities, host);
}
