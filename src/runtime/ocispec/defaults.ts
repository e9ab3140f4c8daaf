/**
 * The OCI spec Docker gives a process tree: its default mounts (/proc, /dev, /sys, cgroup, mqueue,
 * /dev/shm, the /etc files), namespaces, id mappings, rlimits and resources, with the confinement of
 * confinement.ts. Pure: everything resolved comes in (SpecInput), the host as a SpecHost.
 * containerSpecOf (container.ts) is the one caller that maps a container's HostConfig onto it.
 */
import type { OciMount, OciRlimit, OciSpec, IdMapping, OciUser } from "../spec.js";
import type { OciSeccomp } from "../seccomp.js";
import { type ConfinementHost, confinement } from "./confinement.js";
import { DEFAULT_SHM_SIZE } from "./constants.js";
import type { SpecHost } from "./host.js";

export interface SpecInput {
  rootfs: string;
  readonlyRootfs?: boolean;
  hostname: string;
  args: string[];
  env: string[];
  cwd: string;
  user: OciUser;
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  /** Files bind-mounted over /etc/hostname, /etc/hosts, /etc/resolv.conf. */
  etcFiles: { hostname?: string; hosts?: string; resolvConf?: string };
  cgroupsPath: string;
  capabilities?: string[];
  privileged?: boolean;
  noNewPrivileges?: boolean;
  shmSize?: number;
  /**
   * /dev/shm: a private tmpfs of shmSize (default), a bind mount of another /dev/shm
   * (the host's for --ipc host, a donor container's for --ipc container:x), or none.
   */
  shm?: { bind: string } | "none";
  extraMounts?: OciMount[];
  resources?: Record<string, unknown>;
  rlimits?: OciRlimit[];
  devices?: OciSpec["linux"]["devices"];
  /** Namespace paths to join instead of creating (e.g. a prepared netns); type → path. */
  joinNamespaces?: Record<string, string>;
  /** A seccomp filter, or "unconfined"; absent: the default profile for the capabilities (none when privileged). */
  seccomp?: OciSeccomp | "unconfined";
  /** An AppArmor profile, or "unconfined"; absent: the host's default where AppArmor is enabled. */
  apparmorProfile?: string;
  /** Namespace types not created at all (shared with the host), e.g. ["network"]. */
  hostNamespaces?: string[];
  /** Paths masked / made read-only instead of Docker's defaults (`--security-opt systempaths=unconfined` gives []). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Namespaced kernel parameters to set in the container (`--sysctl`). */
  sysctl?: Record<string, string>;
  /** The process's oom_score_adj (`--oom-score-adj`), default 0. */
  oomScoreAdj?: number;
  /**
   * Run in a user namespace with these id mappings (`--userns-remap`); created, or
   * joined when joinNamespaces has a "user" path (sharing another container's network).
   */
  userNamespace?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
  annotations?: Record<string, string>;
}

export function buildSpec(input: SpecInput, host: ConfinementHost & Pick<SpecHost, "nofile">): OciSpec {
  const confined = confinement({
    ...(input.capabilities ? { capabilities: input.capabilities } : {}),
    ...(input.privileged ? { privileged: true } : {}),
    ...(input.seccomp ? { seccomp: input.seccomp } : {}),
    ...(input.noNewPrivileges !== undefined ? { noNewPrivileges: input.noNewPrivileges } : {}),
    ...(input.maskedPaths ? { maskedPaths: input.maskedPaths } : {}),
    ...(input.readonlyPaths ? { readonlyPaths: input.readonlyPaths } : {}),
    ...(input.apparmorProfile ? { apparmorProfile: input.apparmorProfile } : {}),
  }, host);
  const shm = input.shmSize ?? DEFAULT_SHM_SIZE;
  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", input.privileged ? "rw" : "ro"] },
    // In a user namespace a read-only remount of the cgroup mount fails (dockerd clears the flag too).
    { destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", input.privileged || input.userNamespace ? "rw" : "ro"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  ];
  if (input.shm === undefined) mounts.push({ destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", `size=${shm}`] });
  else if (input.shm !== "none") mounts.push({ destination: "/dev/shm", type: "bind", source: input.shm.bind, options: ["rbind", "rprivate"] });
  const etc: [string, string | undefined][] = [
    ["/etc/resolv.conf", input.etcFiles.resolvConf],
    ["/etc/hostname", input.etcFiles.hostname],
    ["/etc/hosts", input.etcFiles.hosts],
  ];
  for (const [dest, src] of etc) if (src) mounts.push({ destination: dest, type: "bind", source: src, options: ["rbind", "rprivate"] });
  // Parents before children (Docker sorts mounts by depth), so `--tmpfs /a -v x:/a/b` nests as asked.
  const depth = (m: OciMount) => m.destination.split("/").filter(Boolean).length;
  mounts.push(...[...(input.extraMounts ?? [])].map((m, i) => ({ m, i })).sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i).map((x) => x.m));

  const nsTypes = ["pid", "network", "ipc", "uts", "mount", "cgroup"];
  const namespaces = nsTypes.filter((t) => !(input.hostNamespaces ?? []).includes(t)).map((type) => {
    const p = input.joinNamespaces?.[type];
    return p ? { type, path: p } : { type };
  });
  if (input.userNamespace) {
    const p = input.joinNamespaces?.user;
    namespaces.push(p ? { type: "user", path: p } : { type: "user" });
  }

  const spec: OciSpec = {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: input.terminal,
      ...(input.consoleSize ? { consoleSize: input.consoleSize } : {}),
      user: input.user,
      args: input.args,
      env: input.env,
      cwd: input.cwd,
      ...confined.process,
      rlimits: input.rlimits ?? [host.nofile],
      oomScoreAdj: input.oomScoreAdj ?? 0,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    // The host's UTS namespace keeps the host's name: runc may not set one there.
    ...((input.hostNamespaces ?? []).includes("uts") ? {} : { hostname: input.hostname }),
    mounts,
    ...(input.annotations ? { annotations: input.annotations } : {}),
    linux: {
      namespaces,
      ...(input.userNamespace ? { uidMappings: input.userNamespace.uidMappings, gidMappings: input.userNamespace.gidMappings } : {}),
      cgroupsPath: input.cgroupsPath,
      ...(input.devices && input.devices.length > 0 ? { devices: input.devices } : {}),
      ...(confined.linux.seccomp ? { seccomp: confined.linux.seccomp } : {}),
      ...(input.sysctl && Object.keys(input.sysctl).length > 0 ? { sysctl: input.sysctl } : {}),
      resources: { devices: [{ allow: false, access: "rwm" }], ...(input.resources ?? {}) },
      ...(confined.linux.maskedPaths ? { maskedPaths: confined.linux.maskedPaths } : {}),
      ...(confined.linux.readonlyPaths ? { readonlyPaths: confined.linux.readonlyPaths } : {}),
      rootfsPropagation: "private",
    },
  };
  return spec;
}
