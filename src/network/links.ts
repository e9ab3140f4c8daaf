/**
 * Links and network namespaces, driven by Debian's iproute2 in batch mode so a
 * container's set-up costs one process spawn and its teardown none:
 *
 *   unshare --net=<exec-root>/netns/<id> ip -batch -     (inside the new netns:
 *       lo up, veth created with its peer sent to the host, address, route;
 *       forked by the long-lived mount helper, util/mounter.ts, not by berthd)
 *   the long-lived host `ip -batch` (ipserver.ts)         (peer onto the bridge, up)
 *
 * The namespace is a bind mount under the daemon's exec-root (like dockerd's
 * /var/run/docker/netns), so it outlives berthd and dies with an unmount; the
 * veths in it die with it.
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { run } from "../util/exec.js";
import { errnoCode, messageOf } from "../util/errors.js";
import { mounter } from "../util/mounter.js";
import { ipServer } from "./ipserver.js";

/** One interface of a container: `ifname` inside, `hostIf` on the bridge. */
export interface VethSpec {
  ifname: string;
  hostIf: string;
  bridge: string;
  mac: string;
  /** Address with prefix length, e.g. "172.18.0.2/16". */
  cidr: string;
  mtu: number;
  /** Default route through this gateway (at most one interface has it). */
  defaultVia?: string;
  /** IPv6 networks: the global address ("fd00::2/64") and the IPv6 default route's gateway. */
  cidr6?: string;
  defaultVia6?: string;
}

export const IP = "ip";

const hostNetns = (): string => `/proc/${process.pid}/ns/net`;

function q(s: string): string {
  return /^[\w.:/@+-]+$/.test(s) ? s : `"${s.replace(/["\\]/g, "\\$&")}"`;
}

/** Lines run inside the container's namespace to create and configure its interfaces. */
export function insideBatch(veths: VethSpec[], withLoopback: boolean): string {
  const lines: string[] = [];
  if (withLoopback) lines.push("link set lo up");
  for (const v of veths) {
    lines.push(`link add ${q(v.ifname)} address ${v.mac} mtu ${v.mtu} type veth peer name ${q(v.hostIf)} mtu ${v.mtu} netns ${hostNetns()}`);
    // IPv4-only networks: no IPv6 link-local address on the interface (Docker disables IPv6 there);
    // IPv6 ones keep the kernel's EUI-64 link-local (from the MAC) beside the global address, which,
    // as dockerd adds it, skips duplicate address detection.
    if (!v.cidr6) lines.push(`link set ${q(v.ifname)} addrgenmode none`);
    lines.push(`addr add ${v.cidr} brd + dev ${q(v.ifname)}`);
    if (v.cidr6) lines.push(`addr add ${v.cidr6} dev ${q(v.ifname)} nodad`);
    lines.push(`link set ${q(v.ifname)} up`);
  }
  for (const v of veths) if (v.defaultVia) lines.push(`route add default via ${v.defaultVia} dev ${q(v.ifname)}`);
  for (const v of veths) if (v.defaultVia6) lines.push(`route add default via ${v.defaultVia6} dev ${q(v.ifname)}`);
  return `${lines.join("\n")}\n`;
}

/** Lines run on the host to put the peers on their bridges. */
export function hostBatch(veths: VethSpec[]): string[] {
  return veths.map((v) => `link set ${q(v.hostIf)} master ${q(v.bridge)} up`);
}

/** Create a network namespace bound at `nsPath` with these interfaces (loopback up). */
export async function createSandbox(nsPath: string, veths: VethSpec[]): Promise<void> {
  await fs.writeFile(nsPath, "", { mode: 0o444 });
  // The mount helper forks the `unshare --net … ip -batch` child: no fork of the daemon per run.
  await mounter().netns(nsPath, IP, insideBatch(veths, true));
  await ipServer().batch(hostBatch(veths));
}

/**
 * Bind the network namespace the runtime created for process `pid` at `nsPath` and
 * give it these interfaces (loopback up). For user-namespaced containers: their
 * network namespace must belong to their user namespace (or sysfs cannot be
 * mounted), so runc creates it and it is configured between create and start.
 */
export async function adoptSandbox(nsPath: string, pid: number, veths: VethSpec[]): Promise<void> {
  await fs.writeFile(nsPath, "", { mode: 0o444 });
  await run("mount", ["--bind", `/proc/${pid}/ns/net`, nsPath]);
  await run("nsenter", [`--net=${nsPath}`, IP, "-batch", "-"], { input: insideBatch(veths, true) });
  await ipServer().batch(hostBatch(veths));
}

/** Add interfaces to an existing namespace (network connect on a running container). */
export async function addInterfaces(nsPath: string, veths: VethSpec[]): Promise<void> {
  if (veths.length === 0) return;
  await run("nsenter", [`--net=${nsPath}`, IP, "-batch", "-"], { input: insideBatch(veths, false) });
  await ipServer().batch(hostBatch(veths));
}

/** Delete host-side veths (their peers go with them); missing ones are fine. */
export async function deleteLinks(names: string[]): Promise<void> {
  if (names.length === 0) return;
  await ipServer().batch(names.map((n) => `link del ${q(n)}`)).catch((e: unknown) => {
    if (!/Cannot find device|does not exist/.test(messageOf(e))) throw e;
  });
}

const NETNS_RUN_DIR = "/run/netns";

/** Whether a path is a mount point of its own (an nsfs bind mount differs in device from its directory). */
async function isMountPoint(p: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([fs.stat(p), fs.stat(path.dirname(p))]);
    return a.dev !== b.dev;
  } catch {
    return false;
  }
}

/**
 * Unmount and remove a namespace file; fine when it is already gone. The
 * unmount goes through the host ip server (`ip netns del` of a transient
 * /run/netns symlink to the file: iproute2 unmounts the symlink's target),
 * with `umount` as the fallback.
 */
export async function removeNetns(nsPath: string): Promise<void> {
  try {
    await fs.access(nsPath);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
  }
  if (await isMountPoint(nsPath)) {
    const name = `berth-rm-${randomBytes(6).toString("hex")}`;
    const link = path.join(NETNS_RUN_DIR, name);
    try {
      await fs.mkdir(NETNS_RUN_DIR, { recursive: true, mode: 0o755 });
      await fs.symlink(nsPath, link);
      await ipServer().batch([`netns del ${name}`]);
    } catch {
      // fall back below
    } finally {
      await fs.rm(link, { force: true });
    }
    if (await isMountPoint(nsPath)) {
      await run("umount", [nsPath]).catch((e: unknown) => {
        if (!/not mounted|no mount point|not found/i.test(messageOf(e))) throw e;
      });
    }
  }
  await fs.rm(nsPath, { force: true });
}

/** Whether a host link exists (no process spawned: /sys/class/net). */
export async function linkExists(name: string): Promise<boolean> {
  return fs.access(`/sys/class/net/${name}`).then(() => true, () => false);
}

/**
 * Wait until these links are gone (a veth dies with its namespace once the last
 * process and mount let go of it); returns those still present after `timeoutMs`.
 */
export async function waitLinksGone(names: string[], timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = names;
  for (;;) {
    const present = await Promise.all(left.map(linkExists));
    left = left.filter((_, i) => present[i]);
    if (left.length === 0 || Date.now() >= deadline) return left;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Tear a sandbox down: veths and the namespace, in parallel (two spawns). */
export async function destroySandbox(nsPath: string | undefined, hostIfs: string[]): Promise<void> {
  const results = await Promise.allSettled([deleteLinks(hostIfs), nsPath ? removeNetns(nsPath) : Promise.resolve()]);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

export interface HostLink {
  ifname: string;
  kind: string;
  alias: string;
  up: boolean;
  /** IPv4 addresses as "a.b.c.d/n". */
  addrs: string[];
  /** Global IPv6 addresses as "fd00::1/64". */
  addrs6: string[];
}

interface IpJsonLink {
  ifname?: string;
  flags?: string[];
  ifalias?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

/** Every link of the host with its kind, alias and IPv4 addresses (one `ip -j -d addr`). */
export async function hostLinks(): Promise<HostLink[]> {
  const { stdout } = await run(IP, ["-j", "-d", "addr", "show"]);
  const arr = JSON.parse(stdout || "[]") as IpJsonLink[];
  return arr.map((l) => ({
    ifname: l.ifname ?? "",
    kind: l.linkinfo?.info_kind ?? "",
    alias: l.ifalias ?? "",
    up: (l.flags ?? []).includes("UP"),
    addrs: (l.addr_info ?? []).filter((a) => a.family === "inet" && a.local).map((a) => `${a.local}/${a.prefixlen ?? 32}`),
    addrs6: (l.addr_info ?? []).filter((a) => a.family === "inet6" && a.local && !a.local.startsWith("fe80:")).map((a) => `${a.local}/${a.prefixlen ?? 128}`),
  }));
}

/** IPv4 destinations routed on the host (all tables), e.g. "10.0.0.0/8"; "default" is skipped. */
export async function hostRoutes(): Promise<string[]> {
  const { stdout } = await run(IP, ["-j", "-4", "route", "show", "table", "all"]);
  const arr = JSON.parse(stdout || "[]") as { dst?: string; type?: string }[];
  return arr
    .filter((r) => r.dst && r.dst !== "default" && (r.type === undefined || r.type === "unicast"))
    .map((r) => (r.dst?.includes("/") ? r.dst : `${r.dst}/32`));
}

/** A random unicast, locally administered MAC address. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * Create a bridge with its gateway address (and IPv6 gateway address, dual-stack
 * networks) and bring it up. Its MAC address is set (as dockerd does): one the
 * kernel picks follows the lowest MAC of the bridge's ports, so containers' ARP
 * entries for the gateway would go stale as others come and go.
 */
export async function createBridge(name: string, gatewayCidr: string, mtu: number, alias?: string, gateway6Cidr?: string): Promise<void> {
  const lines = [`link add name ${q(name)} address ${randomMac()} mtu ${mtu} type bridge`];
  if (alias) lines.push(`link set dev ${q(name)} alias ${q(alias)}`);
  lines.push(`addr add ${gatewayCidr} brd + dev ${q(name)}`);
  if (gateway6Cidr) lines.push(`addr add ${gateway6Cidr} dev ${q(name)}`);
  lines.push(`link set dev ${q(name)} up`);
  await ipServer().batch(lines);
}

/** Give an existing bridge an address and bring it up (adopting a bridge left by a previous run). */
export async function configureBridge(name: string, gatewayCidr: string | undefined, gateway6Cidr?: string): Promise<void> {
  const lines: string[] = [];
  if (gatewayCidr) lines.push(`addr add ${gatewayCidr} brd + dev ${q(name)}`);
  if (gateway6Cidr) lines.push(`addr add ${gateway6Cidr} dev ${q(name)}`);
  lines.push(`link set dev ${q(name)} up`);
  await ipServer().batch(lines);
}

/** Fix the MAC address of a bridge made without one (an older berthd's): its current one, set explicitly. */
export async function pinBridgeMac(name: string): Promise<void> {
  const dir = `/sys/class/net/${name}`;
  const type = (await fs.readFile(`${dir}/addr_assign_type`, "utf8").catch(() => "")).trim();
  if (type === "" || type === "3") return; // gone, or NET_ADDR_SET already
  const mac = (await fs.readFile(`${dir}/address`, "utf8")).trim();
  await ipServer().batch([`link set dev ${q(name)} address ${mac}`]);
}

export async function deleteBridge(name: string): Promise<void> {
  await deleteLinks([name]);
}

/** Write a sysctl under /proc/sys (e.g. "net/ipv4/ip_forward"); returns false when it could not. */
export async function setSysctl(key: string, value: string): Promise<boolean> {
  const file = `/proc/sys/${key}`;
  try {
    const cur = (await fs.readFile(file, "utf8")).trim();
    if (cur === value) return true;
    await fs.writeFile(file, value);
    return true;
  } catch {
    return false;
  }
}
