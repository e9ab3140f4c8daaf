/**
 * The OCI spec of a container's main process at start: the container's config and what start-up
 * resolved (rootfs, network attachment, volume mounts, namespaces to join) turned into runtime/spec's
 * input, with the container's capabilities and security options.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { invalid } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import {
  type OciMount,
  type OciSeccomp,
  type OciSpec,
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  apparmorEnabled,
  buildSpec,
  defaultApparmorProfile,
  hostCapabilities,
  profileFromDockerJson,
  resolveUser,
} from "../runtime/index.js";
import { mergeUlimits, specExtras } from "./hostconfig.js";
import { type NamespaceTargets, namespacePlan } from "./nsmodes.js";
import type { NetworkAttachment } from "./plugs.js";
import type { ContainerRecord, HostConfig } from "./types.js";

/**
 * The cgroup runc puts a container in (containerSpec builds the spec with it):
 * /berth/<id>, or <--cgroup-parent>/<id> (always absolute, as dockerd's cgroupfs driver).
 */
export function cgroupsPathOf(rec: Pick<ContainerRecord, "Id" | "HostConfig">): string {
  const parent = rec.HostConfig.CgroupParent;
  const base = parent ? path.posix.normalize(`/${parent}`).replace(/\/+$/, "") : "/berth";
  return `${base}/${rec.Id}`;
}

export interface ContainerSpecInput {
  rec: ContainerRecord;
  rootfs: string;
  net: NetworkAttachment;
  volumeMounts: OciMount[];
  /** --userns-remap's mapping, unless the container runs with --userns=host. */
  idMap?: IdMap;
  /** The daemon's default ulimits (daemon.json default-ulimits). */
  defaultUlimits: { Name: string; Soft: number; Hard: number }[];
  nsTargets: NamespaceTargets;
  /** Creates the container's shareable /dev/shm (--ipc shareable) and returns its path. */
  prepareShm: (rec: ContainerRecord) => Promise<string>;
}

export async function containerSpec(i: ContainerSpecInput): Promise<OciSpec> {
  const { rec, rootfs, net, volumeMounts } = i;
  const c = rec.Config;
    const user = await resolveUser(rootfs, c.User, rec.HostConfig.GroupAdd ?? []);
    const env = [...c.Env];
    for (const v of net.env ?? []) if (!env.some((e) => e.startsWith(v.slice(0, v.indexOf("=") + 1)))) env.push(v);
    if (!env.some((e) => e.startsWith("HOME="))) env.push(`HOME=${user.home}`);
    if (!env.some((e) => e.startsWith("HOSTNAME="))) env.unshift(`HOSTNAME=${c.Hostname}`);
    if (c.Tty && !env.some((e) => e.startsWith("TERM="))) env.push("TERM=xterm");
    const { home: _home, ...ociUser } = user;
    const caps = applyCaps(rec.HostConfig);
    const cs = rec.HostConfig.ConsoleSize;
    // The daemon's default ulimits again at each start (dockerd's WithRlimits): containers created before they were configured get them too.
    const dflt = i.defaultUlimits;
    const specRec = dflt.length > 0 ? { ...rec, HostConfig: { ...rec.HostConfig, Ulimits: mergeUlimits(rec.HostConfig.Ulimits, dflt) } } : rec;
    const extras = await specExtras(specRec, undefined, { userns: i.idMap !== undefined });
    const ns = await namespacePlan(rec, i.nsTargets);
    if (rec.HostConfig.IpcMode === "shareable") ns.shm = { bind: await i.prepareShm(rec) };
    const hostNs = [...(net.hostNamespaces ?? []), ...ns.hostNamespaces, ...(rec.HostConfig.CgroupnsMode === "host" ? ["cgroup"] : [])];

    const joinNs = { ...(net.joinNamespaces ?? {}), ...ns.joinNamespaces };
    const security = await securityOptions(rec.HostConfig, caps);
    const bindMounts = Object.entries(extras.bindFiles ?? {}).map(([dest, src]) => ({ destination: dest, type: "bind", source: src, options: ["rbind", "ro", "rprivate"] }));
    return buildSpec({
      rootfs,
      readonlyRootfs: rec.HostConfig.ReadonlyRootfs ?? false,
      hostname: c.Hostname,
      args: [...(extras.argsPrefix ?? []), rec.Path, ...rec.Args],
      env,
      cwd: c.WorkingDir || "/",
      user: ociUser,
      terminal: c.Tty,
      ...(c.Tty && cs && cs[0] && cs[1] ? { consoleSize: { height: cs[0], width: cs[1] } } : {}),
      etcFiles: { hostname: rec.HostnamePath, hosts: rec.HostsPath, resolvConf: rec.ResolvConfPath },
      cgroupsPath: cgroupsPathOf(rec),
      capabilities: caps,
      privileged: rec.HostConfig.Privileged ?? false,
      noNewPrivileges: security.noNewPrivileges,
      ...(security.seccomp ? { seccomp: security.seccomp } : {}),
      ...(security.apparmor ? { apparmorProfile: security.apparmor } : {}),
      shmSize: rec.HostConfig.ShmSize ?? 64 * 1024 * 1024,
      extraMounts: [...bindMounts, ...volumeMounts, ...(extras.extraMounts ?? [])],
      ...(Object.keys(joinNs).length > 0 ? { joinNamespaces: joinNs } : {}),
      ...(hostNs.length > 0 ? { hostNamespaces: hostNs } : {}),
      ...(ns.shm ? { shm: ns.shm } : {}),
      ...(i.idMap ? { userNamespace: i.idMap.oci() } : {}),
      ...(extras.resources ? { resources: extras.resources } : {}),
      ...(extras.rlimits ? { rlimits: extras.rlimits } : {}),
      ...(extras.devices ? { devices: extras.devices } : {}),
      ...(rec.HostConfig.Sysctls ? { sysctl: rec.HostConfig.Sysctls } : {}),
      ...systemPaths(rec.HostConfig, security.systemPathsUnconfined),
      ...(rec.HostConfig.OomScoreAdj ? { oomScoreAdj: rec.HostConfig.OomScoreAdj } : {}),
    });
}

function applyCaps(hc: HostConfig): string[] {
  const norm = (c: string) => {
    const u = c.toUpperCase();
    return u === "ALL" ? "ALL" : u.startsWith("CAP_") ? u : `CAP_${u}`;
  };
  if (hc.Privileged) return hostCapabilities();
  let caps = [...DEFAULT_CAPABILITIES];
  const add = (hc.CapAdd ?? []).map(norm);
  const drop = (hc.CapDrop ?? []).map(norm);
  for (const c of [...add, ...drop]) if (c !== "ALL" && !ALL_CAPABILITIES.includes(c)) throw invalid(`unknown capability: "${c}"`);
  if (drop.includes("ALL")) caps = [];
  else caps = caps.filter((c) => !drop.includes(c));
  if (add.includes("ALL")) caps = hostCapabilities();
  else for (const c of add) if (!caps.includes(c)) caps.push(c);
  return caps;
}

/**
 * `--security-opt`: seccomp=unconfined|builtin|<profile>, apparmor=<profile>|unconfined, no-new-privileges[=true|false],
 * systempaths=unconfined (no masked or read-only /proc paths), label=… (accepted: SELinux labels have no effect
 * here, as under dockerd on a host without SELinux).
 */
export function parseSecurityOpts(opts: readonly string[]): { seccomp?: string; apparmor?: string; noNewPrivileges: boolean; systemPathsUnconfined: boolean } {
  let seccomp: string | undefined;
  let apparmor: string | undefined;
  let noNewPrivileges = false;
  let systemPathsUnconfined = false;
  for (const o of opts) {
    const m = o.match(/^([a-z-]+)(?:[=:](.*))?$/);
    const key = m?.[1];
    const val = m?.[2];
    if (key === "seccomp" && val) seccomp = val;
    else if (key === "no-new-privileges") {
      if (val !== undefined && val !== "true" && val !== "false") throw invalid(`invalid --security-opt 2: "${o}"`);
      noNewPrivileges = val !== "false";
    } else if (key === "systempaths") {
      if (val !== "unconfined") throw invalid(`invalid --security-opt 2: "${o}"`);
      systemPathsUnconfined = true;
    } else if (key === "apparmor" && val !== undefined) apparmor = val || undefined;
    else if (key === "label" && val !== undefined) continue;
    else throw invalid(`invalid --security-opt 1: "${o}"`);
  }
  return { ...(seccomp !== undefined ? { seccomp } : {}), ...(apparmor !== undefined ? { apparmor } : {}), noNewPrivileges, systemPathsUnconfined };
}

/**
 * inspect's AppArmorProfile as dockerd 20.10 shows it: the profile asked for (even where the host has no
 * AppArmor to apply it with), else "unconfined" for --privileged and the default profile where one applies.
 */
export function apparmorShown(hc: HostConfig): string {
  const asked = parseSecurityOpts(hc.SecurityOpt ?? []).apparmor;
  if (asked) return asked;
  if (!apparmorEnabled()) return "";
  return hc.Privileged ? "unconfined" : (defaultApparmorProfile() ?? "");
}

/** Masked and read-only /proc paths other than Docker's defaults: none with systempaths=unconfined, else the HostConfig's. */
function systemPaths(hc: HostConfig, unconfined: boolean): { maskedPaths?: string[]; readonlyPaths?: string[] } {
  if (unconfined) return { maskedPaths: [], readonlyPaths: [] };
  return { ...(hc.MaskedPaths ? { maskedPaths: hc.MaskedPaths } : {}), ...(hc.ReadonlyPaths ? { readonlyPaths: hc.ReadonlyPaths } : {}) };
}

/**
 * The container's choices on top of the runtime's default confinement: a seccomp profile of its own
 * (or "unconfined"; absent: the default), an AppArmor profile (applied only where the host has AppArmor,
 * as dockerd), no-new-privileges, systempaths=unconfined.
 */
async function securityOptions(hc: HostConfig, caps: string[]): Promise<{ seccomp?: OciSeccomp | "unconfined"; apparmor?: string; noNewPrivileges: boolean; systemPathsUnconfined: boolean }> {
  const o = parseSecurityOpts(hc.SecurityOpt ?? []);
  const base = { noNewPrivileges: o.noNewPrivileges, systemPathsUnconfined: o.systemPathsUnconfined, ...(o.apparmor ? { apparmor: o.apparmor } : {}) };
  if (o.seccomp === "unconfined") return { ...base, seccomp: "unconfined" };
  if (!hc.Privileged && o.seccomp !== undefined && o.seccomp !== "builtin") {
    // The CLI sends the file's content, as docker does; a path is read by the daemon.
    const text = o.seccomp.trimStart().startsWith("{") ? o.seccomp : await fs.readFile(o.seccomp, "utf8").catch(() => {
      throw invalid(`opening seccomp profile (${o.seccomp}) failed`);
    });
    return { ...base, seccomp: profileFromDockerJson(text, caps) };
  }
  return base;
}

