/**
 * The start of a container's main process, the I/O half: what the spec needs is resolved here (the
 * user in the rootfs, the HostConfig adapted to the host, host devices and the init binary, the
 * namespaces to join, a shareable /dev/shm, a seccomp profile file) and handed to the pure builder,
 * runtime/ocispec's containerSpecOf.
 */
import { promises as fs } from "node:fs";
import { invalid } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import {
  type OciMount,
  type OciSpec,
  apparmorEnabled,
  capabilitiesFor,
  cgroupsPathOf as cgroupOf,
  containerSpecOf,
  defaultApparmorProfile,
  mergeUlimits,
  parseSecurityOpts,
  resolveUser,
  seccompProfileFile,
  specHost,
} from "../runtime/index.js";
import { resolveHost } from "./devices.js";
import { adaptHostConfig } from "./hostconfig.js";
import { type NamespaceTargets, namespacePlan } from "./nsmodes.js";
import type { NetworkAttachment } from "./plugs.js";
import type { ContainerRecord, HostConfig } from "./types.js";

export { parseSecurityOpts } from "../runtime/index.js";

/** The cgroup runc puts a container in: /berth/<id>, or <--cgroup-parent>/<id>. */
export function cgroupsPathOf(rec: Pick<ContainerRecord, "Id" | "HostConfig">): string {
  return cgroupOf(rec.Id, rec.HostConfig);
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
  const { rec } = i;
  const host = specHost();
  const user = await resolveUser(i.rootfs, rec.Config.User, rec.HostConfig.GroupAdd ?? []);
  capabilitiesFor(rec.HostConfig, host.capabilities); // an unknown capability is the first error, as before
  // The daemon's default ulimits again at each start (dockerd's WithRlimits): containers created before they were configured get them too.
  const hc = structuredClone(rec.HostConfig);
  if (i.defaultUlimits.length > 0) hc.Ulimits = mergeUlimits(hc.Ulimits, i.defaultUlimits);
  adaptHostConfig(hc, host); // the host may have changed since create
  const resolved = await resolveHost(hc);
  const ns = await namespacePlan(rec, i.nsTargets);
  if (rec.HostConfig.IpcMode === "shareable") ns.shm = { bind: await i.prepareShm(rec) };
  const profile = seccompProfileFile(hc);
  if (profile !== undefined) {
    resolved.seccompProfile = await fs.readFile(profile, "utf8").catch(() => {
      throw invalid(`opening seccomp profile (${profile}) failed`);
    });
  }
  return containerSpecOf({
    id: rec.Id,
    args: [rec.Path, ...rec.Args],
    config: rec.Config,
    hostConfig: hc,
    rootfs: i.rootfs,
    user,
    etcFiles: { hostname: rec.HostnamePath, hosts: rec.HostsPath, resolvConf: rec.ResolvConfPath },
    net: i.net,
    namespaces: ns,
    mounts: i.volumeMounts,
    ...(i.idMap ? { idMappings: i.idMap.oci() } : {}),
    resolved,
    host,
  });
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
