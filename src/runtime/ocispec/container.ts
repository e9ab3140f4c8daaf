/**
 * The OCI spec of a container's main process: its config and HostConfig and what start-up resolved
 * (rootfs, user, network attachment, namespace plan, volume mounts, id mappings, host devices, the
 * init binary, a seccomp profile file's text) in, the runtime spec out. Pure: no I/O, no async; the
 * engine's thin start layer (engine/runspec.ts) and build RUN steps (build/builder/run.ts) resolve
 * first and call this, so a container and a RUN step are confined alike. Lives in runtime/ because
 * both the engine and build sit above it.
 */
import path from "node:path";
import { EngineError } from "../../util/errors.js";
import type { OciDevice, OciMount, OciRlimit, OciSpec, OciUser, IdMapping } from "../spec.js";
import { DEFAULT_SHM_SIZE } from "./constants.js";
import { buildSpec } from "./defaults.js";
import type { SpecHost } from "./host.js";
import { type SpecHostConfig, type Ulimit, THROTTLE } from "./hostconfig.js";
import { type DeviceRule, parseDeviceCgroupRule, resourcesFor, rlimitsFor, tmpfsMounts } from "./resources.js";
import { capabilitiesFor, securityOptions, systemPaths } from "./security.js";

/** Where Docker's in-container init lives. */
export const INIT_PATH = "/sbin/docker-init";

/** A device node found on the host for `--device` (engine/devices.ts looks them up). */
export interface FoundDevice {
  device: OciDevice;
  rule: DeviceRule;
  /** The node on the host (device.path is where it appears in the container). */
  hostPath: string;
}

/** What start-up found on the host for the HostConfig's devices, blkio lists and --init. */
export interface ResolvedHost {
  /** The --device entries' nodes (privileged: only the renamed ones, as Docker adds no others). */
  devices?: FoundDevice[];
  /** Every device node of the host's /dev (privileged only). */
  hostDevices?: OciDevice[];
  /** Major and minor of each path in the blkio weight/throttle lists. */
  blockDevices?: Record<string, { major: number; minor: number }>;
  /** The host's static init binary (--init). */
  initBinary?: string;
  /** The text of the seccomp profile file seccompProfileFile named. */
  seccompProfile?: string;
}

/** Namespaces the container shares with the host or joins (network attachment, --pid/--ipc/--uts plan). */
export interface NamespaceChoice {
  hostNamespaces?: string[];
  /** type → /proc/<pid>/ns/<type> (or a prepared netns). */
  joinNamespaces?: Record<string, string>;
}

export interface ContainerSpecInput {
  id: string;
  /** The process's argv: the container's Path and Args. */
  args: string[];
  config: { Hostname: string; Env: string[]; WorkingDir: string; Tty: boolean };
  /** As adapted to the host at start (engine/hostconfig.ts adaptHostConfig); Ulimits with the daemon's defaults merged. */
  hostConfig: SpecHostConfig;
  rootfs: string;
  user: OciUser & { home: string };
  /** Files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles: { hostname?: string; hosts?: string; resolvConf?: string };
  /** The network attachment: its environment (links) and namespaces. */
  net?: NamespaceChoice & { env?: string[] };
  /** --pid/--ipc/--uts: shared, joined, and /dev/shm's source (--ipc host, container:x, shareable, none). */
  namespaces?: NamespaceChoice & { shm?: { bind: string } | "none" };
  /** Volumes and binds, in the container. */
  mounts?: OciMount[];
  /** --userns-remap's mappings (the container gets a user namespace). */
  idMappings?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
  resolved?: ResolvedHost;
  /** rlimits already translated (build RUN steps: the daemon's default ulimits); replaces the HostConfig's. */
  rlimits?: OciRlimit[];
  host: SpecHost;
}

/**
 * The cgroup runc puts a container in: /berth/<id>, or <--cgroup-parent>/<id>
 * (always absolute, as dockerd's cgroupfs driver).
 */
export function cgroupsPathOf(id: string, hc: Pick<SpecHostConfig, "CgroupParent">): string {
  const parent = hc.CgroupParent;
  const base = parent ? path.posix.normalize(`/${parent}`).replace(/\/+$/, "") : "/berth";
  return `${base}/${id}`;
}

/** The process environment: the config's, the network's (links) unless set, HOME, HOSTNAME, TERM for a TTY. */
export function processEnv(own: readonly string[], o: { hostname: string; home: string; tty: boolean; net?: readonly string[] }): string[] {
  const env = [...own];
  for (const v of o.net ?? []) if (!env.some((e) => e.startsWith(v.slice(0, v.indexOf("=") + 1)))) env.push(v);
  if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${o.home}`);
  if (!env.some((e) => e.startsWith("HOSTNAME="))) env.unshift(`HOSTNAME=${o.hostname}`);
  if (o.tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
  return env;
}

export function containerSpecOf(i: ContainerSpecInput): OciSpec {
  const hc = i.hostConfig;
  const c = i.config;
  const { home, ...user } = i.user;
  const caps = capabilitiesFor(hc, i.host.capabilities);
  const cs = hc.ConsoleSize;
  const hw = hardware(i);
  const ns = i.namespaces ?? {};
  const hostNs = [...(i.net?.hostNamespaces ?? []), ...(ns.hostNamespaces ?? []), ...(hc.CgroupnsMode === "host" ? ["cgroup"] : [])];
  const joinNs = { ...(i.net?.joinNamespaces ?? {}), ...(ns.joinNamespaces ?? {}) };
  const security = securityOptions(hc, caps, i.host, i.resolved?.seccompProfile);
  const initBind: OciMount[] = hc.Init && i.resolved?.initBinary ? [{ destination: INIT_PATH, type: "bind", source: i.resolved.initBinary, options: ["rbind", "ro", "rprivate"] }] : [];
  const rlimits = i.rlimits ?? ((hc.Ulimits ?? []).length > 0 ? rlimitsFor(hc.Ulimits as Ulimit[], i.host, [i.host.nofile]) : undefined);
  return buildSpec(
    {
      rootfs: i.rootfs,
      readonlyRootfs: hc.ReadonlyRootfs ?? false,
      hostname: c.Hostname,
      args: [...(initBind.length > 0 ? [INIT_PATH, "--"] : []), ...i.args],
      env: processEnv(c.Env, { hostname: c.Hostname, home, tty: c.Tty, ...(i.net?.env ? { net: i.net.env } : {}) }),
      cwd: c.WorkingDir || "/",
      user,
      terminal: c.Tty,
      ...(c.Tty && cs && cs[0] && cs[1] ? { consoleSize: { height: cs[0], width: cs[1] } } : {}),
      etcFiles: i.etcFiles,
      cgroupsPath: cgroupsPathOf(i.id, hc),
      capabilities: caps,
      privileged: hc.Privileged ?? false,
      noNewPrivileges: security.noNewPrivileges,
      ...(security.seccomp ? { seccomp: security.seccomp } : {}),
      ...(security.apparmor ? { apparmorProfile: security.apparmor } : {}),
      shmSize: hc.ShmSize ?? DEFAULT_SHM_SIZE,
      extraMounts: [...initBind, ...(i.mounts ?? []), ...hw.mounts],
      ...(Object.keys(joinNs).length > 0 ? { joinNamespaces: joinNs } : {}),
      ...(hostNs.length > 0 ? { hostNamespaces: hostNs } : {}),
      ...(ns.shm ? { shm: ns.shm } : {}),
      ...(i.idMappings ? { userNamespace: i.idMappings } : {}),
      ...(Object.keys(hw.resources).length > 0 ? { resources: hw.resources } : {}),
      ...(rlimits ? { rlimits } : {}),
      ...(hw.devices.length > 0 ? { devices: hw.devices } : {}),
      ...(hc.Sysctls ? { sysctl: hc.Sysctls } : {}),
      ...systemPaths(hc, security.systemPathsUnconfined),
      ...(hc.OomScoreAdj ? { oomScoreAdj: hc.OomScoreAdj } : {}),
    },
    i.host,
  );
}

/** Resources (cgroup limits, blkio devices, device rules), device nodes, and the mounts tmpfs and renamed devices need. */
function hardware(i: ContainerSpecInput): { resources: Record<string, unknown>; devices: OciDevice[]; mounts: OciMount[] } {
  const hc = i.hostConfig;
  const r = i.resolved ?? {};
  const resources = resourcesFor(hc, i.host);
  const blkio = blockIO(hc, r.blockDevices ?? {});
  if (Object.keys(blkio).length > 0) resources["blockIO"] = { ...((resources["blockIO"] as object | undefined) ?? {}), ...blkio };
  const devices: OciDevice[] = [];
  const renamed: OciMount[] = [];
  if (hc.Privileged) {
    // Every host device, all of them allowed; --device adds only renamed ones (Docker's rule).
    devices.push(...(r.hostDevices ?? []), ...(r.devices ?? []).map((f) => f.device));
    resources["devices"] = [{ allow: true, access: "rwm" }];
  } else {
    const rules: DeviceRule[] = [];
    for (const f of r.devices ?? []) {
      // In a user namespace runc bind-mounts device nodes instead of creating them, from the
      // container path: a renamed device becomes an explicit bind mount of the host node.
      if (i.idMappings && f.hostPath !== f.device.path) renamed.push({ destination: f.device.path, type: "bind", source: f.hostPath, options: ["bind", "rprivate"] });
      else devices.push(f.device);
      rules.push(f.rule);
    }
    for (const rule of hc.DeviceCgroupRules ?? []) rules.push(parseDeviceCgroupRule(rule));
    // buildSpec's default rules are replaced by these: the deny-all must come first.
    if (rules.length > 0) resources["devices"] = [{ allow: false, access: "rwm" }, ...rules];
  }
  return { resources, devices, mounts: [...tmpfsMounts(hc.Tmpfs ?? {}), ...renamed] };
}

/** The per-device blkio settings (weights, throttles) as OCI blockIO fields. */
function blockIO(hc: SpecHostConfig, majorMinor: Record<string, { major: number; minor: number }>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const dev = (p: string): { major: number; minor: number } => {
    const d = majorMinor[p];
    if (!d) throw new EngineError("internal", `blkio device ${p} was not resolved before the spec was built`);
    return d;
  };
  const wd = hc.BlkioWeightDevice ?? [];
  if (wd.length > 0) out["weightDevice"] = wd.map((w) => ({ ...dev(w.Path), weight: w.Weight }));
  for (const [k, oci] of Object.entries(THROTTLE) as [keyof typeof THROTTLE, string][]) {
    const list = hc[k] ?? [];
    if (list.length > 0) out[oci] = list.map((t) => ({ ...dev(t.Path), rate: t.Rate }));
  }
  return out;
}
