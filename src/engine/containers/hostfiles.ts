/**
 * What a container gets from the host beside its root filesystem, kept in its record
 * directory: the /etc files (hostname, hosts, resolv.conf; bind-mounted in) and, for a
 * shareable IPC namespace, a /dev/shm tmpfs others can bind (dockerd's mounts/shm).
 */
import { promises as fs, readFileSync } from "node:fs";
import path from "node:path";
import { invalid, messageOf } from "../../util/errors.js";
import { atomicWriteFile, mkdirp } from "../../util/fsutil.js";
import { run } from "../../util/exec.js";
import { mountedOver } from "../../util/mounter.js";
import { DEFAULT_HOSTS_LINES } from "../../runtime/index.js";
import type { NetworkAttachment } from "../plugs.js";
import type { ContainerRecord } from "../types.js";
import type { ContainerStore } from "./store.js";

/** The magic --add-host address dockerd replaces with the host's address on the default bridge. */
const HOST_GATEWAY = "host-gateway";

export async function writeEtcFiles(store: ContainerStore, rec: ContainerRecord, net: NetworkAttachment): Promise<void> {
  const c = rec.Config;
  await atomicWriteFile(rec.HostnamePath, `${c.Hostname}\n`);
  const extra = (rec.HostConfig.ExtraHosts ?? []).map((h) => {
    const i = h.indexOf(":");
    if (i <= 0) throw invalid(`bad format for add-host: ${JSON.stringify(h)}`);
    let ip = h.slice(i + 1);
    if (ip === HOST_GATEWAY) {
      ip = store.o.networking?.hostGatewayIp() ?? "";
      if (ip === "") throw invalid(`unable to derive the IP value for host-gateway`);
    }
    return `${ip}\t${h.slice(0, i)}`;
  });
  const hosts = [...DEFAULT_HOSTS_LINES, ...extra, ...(net.hostsEntries ?? [])];
  await atomicWriteFile(rec.HostsPath, `${hosts.join("\n")}\n`);
  await atomicWriteFile(rec.ResolvConfPath, net.resolvConf ?? containerResolvConf());
  // Owned by the container's root, as under dockerd, so it may edit them.
  const idMap = store.o.images.idMap;
  if (idMap) for (const f of [rec.HostnamePath, rec.HostsPath, rec.ResolvConfPath]) await fs.chown(f, idMap.root.uid, idMap.root.gid);
}

function containerResolvConf(): string {
  let host = "";
  try {
    host = readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    host = "";
  }
  // Loopback nameservers of the host are unreachable from the container's own network namespace.
  const lines = host.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  return `${lines.filter((l, i, a) => l !== "" || i < a.length - 1).join("\n")}\n`;
}

/** Where a shareable container's /dev/shm lives on the host (a tmpfs others can bind, like dockerd's mounts/shm). */
export function shmPath(store: ContainerStore, rec: ContainerRecord): string {
  return path.join(store.dir(rec.Id), "shm");
}

export async function prepareShm(store: ContainerStore, rec: ContainerRecord): Promise<string> {
  const p = shmPath(store, rec);
  if (await mountedOver(p)) return p;
  await mkdirp(p, 0o700);
  const size = rec.HostConfig.ShmSize ?? 64 * 1024 * 1024;
  const idMap = rec.HostConfig.UsernsMode === "host" ? undefined : store.o.images.idMap;
  const owner = idMap ? `,uid=${idMap.root.uid},gid=${idMap.root.gid}` : "";
  await run("mount", ["-t", "tmpfs", "-o", `nosuid,nodev,noexec,mode=1777,size=${size}${owner}`, "shm", p]);
  return p;
}

export async function releaseShm(store: ContainerStore, rec: ContainerRecord): Promise<void> {
  const p = shmPath(store, rec);
  if (await mountedOver(p)) await run("umount", ["-l", p]).catch((e: unknown) => store.o.log.warn(`unmount ${p}: ${messageOf(e)}`));
}
