/**
 * The host side of a container's devices and --init, looked up at start before the spec is built
 * (runtime/ocispec is pure): `--device` nodes (Docker's DevicesFromPath), every host device for
 * --privileged, the major:minor of the blkio lists' devices, the static init binary.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { invalid } from "../util/errors.js";
import { type FoundDevice, type OciDevice, type ResolvedHost, THROTTLE, devicePermissions } from "../runtime/index.js";
import type { HostConfig } from "./types.js";

/** True for an ELF executable without a program interpreter (a static binary that runs in any image). */
export function isStaticElf(head: Buffer): boolean {
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return false;
  const is64 = head[4] === 2;
  const le = head[5] === 1;
  const u16 = (o: number) => (le ? head.readUInt16LE(o) : head.readUInt16BE(o));
  const u32 = (o: number) => (le ? head.readUInt32LE(o) : head.readUInt32BE(o));
  const phoff = is64 ? Number(le ? head.readBigUInt64LE(0x20) : head.readBigUInt64BE(0x20)) : u32(0x1c);
  const phentsize = u16(is64 ? 0x36 : 0x2a);
  const phnum = u16(is64 ? 0x38 : 0x2c);
  if (phnum === 0 || phoff + phnum * phentsize > head.length) return false;
  for (let i = 0; i < phnum; i++) if (u32(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

const INIT_CANDIDATES = ["/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/local/bin/docker-init", "/usr/bin/tini", "/usr/local/bin/tini"];

/** The host's static init binary (Debian's tini-static; Docker ships the same tini as docker-init). */
export async function findInitBinary(candidates = [process.env["BERTH_INIT_PATH"], ...INIT_CANDIDATES]): Promise<string> {
  for (const c of candidates) {
    if (!c) continue;
    const fh = await fs.open(c, "r").catch(() => undefined); // most candidates are absent
    if (!fh) continue;
    try {
      const st = await fh.stat();
      if (!st.isFile() || (st.mode & 0o111) === 0) continue;
      const head = Buffer.alloc(4096);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      if (isStaticElf(head.subarray(0, bytesRead))) return c;
    } finally {
      await fh.close();
    }
  }
  throw invalid(`could not find a static init binary for --init (docker-init or tini-static): install Debian's tini package`);
}

const S_IFMT = 0o170000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

async function deviceAt(p: string, perms: string): Promise<FoundDevice | "notDevice"> {
  const st = await fs.lstat(p, { bigint: true });
  const fmt = Number(st.mode) & S_IFMT;
  const type = fmt === S_IFCHR ? "c" : fmt === S_IFBLK ? "b" : fmt === S_IFIFO ? "p" : undefined;
  if (!type) return "notDevice";
  const rdev = st.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return {
    device: { path: p, type, major, minor, fileMode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid) },
    rule: { allow: true, type, major, minor, access: perms },
    hostPath: p,
  };
}

/** Docker's DevicesFromPath: one device node, or every device under a directory. */
export async function devicesFromPath(pathOnHost: string, pathInContainer: string, perms: string): Promise<FoundDevice[]> {
  let resolved = pathOnHost;
  const lst = await fs.lstat(pathOnHost).catch(() => undefined); // a missing path is reported below, by deviceAt
  if (lst?.isSymbolicLink()) resolved = await fs.realpath(pathOnHost).catch(() => pathOnHost);
  let reason: string;
  try {
    const d = await deviceAt(resolved, perms);
    if (d !== "notDevice") return [{ ...d, device: { ...d.device, path: pathInContainer } }];
    reason = "not a device node";
    const st = await fs.stat(resolved);
    if (st.isDirectory()) {
      const out: FoundDevice[] = [];
      const walk = async (dir: string): Promise<void> => {
        for (const ent of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
          const p = path.join(dir, ent.name);
          if (ent.isDirectory()) await walk(p);
          else {
            const c = await deviceAt(p, perms).catch(() => "notDevice" as const);
            if (c !== "notDevice") out.push({ ...c, device: { ...c.device, path: pathInContainer + p.slice(resolved.length) } });
          }
        }
      };
      await walk(resolved);
      if (out.length > 0) return out;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    reason = code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (e as Error).message;
  }
  throw invalid(`error gathering device information while adding custom device "${pathOnHost}": ${reason}`);
}

/** Every device node of the host's /dev, for --privileged (containerd's HostDevices). */
export async function hostDevices(dir = "/dev"): Promise<OciDevice[]> {
  const out: OciDevice[] = [];
  const skipDirs = new Set(["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"]);
  const walk = async (d: string): Promise<void> => {
    for (const ent of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) {
        if (!skipDirs.has(ent.name)) await walk(p);
        continue;
      }
      if (ent.name === "console" || !(ent.isCharacterDevice() || ent.isBlockDevice())) continue;
      const f = await deviceAt(p, "rwm").catch(() => "notDevice" as const);
      if (f !== "notDevice") out.push(f.device);
    }
  };
  await walk(dir);
  return out;
}

/** Major and minor of a (block) device, for the blkio weight and throttle lists. */
async function majorMinor(p: string): Promise<{ major: number; minor: number }> {
  let st;
  try {
    st = await fs.stat(p, { bigint: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw invalid(`stat ${p}: ${code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : (e as Error).message}`);
  }
  const rdev = st.rdev;
  return { major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)), minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)) };
}

/** What the HostConfig asks of the host's devices and init binary, looked up (in Docker's order). */
export async function resolveHost(hc: HostConfig): Promise<ResolvedHost> {
  const out: ResolvedHost = {};
  const blockDevices: Record<string, { major: number; minor: number }> = {};
  for (const list of [hc.BlkioWeightDevice ?? [], ...Object.keys(THROTTLE).map((k) => hc[k as keyof typeof THROTTLE] ?? [])]) {
    const found = await Promise.all(list.map(async (d) => [d.Path, await majorMinor(d.Path)] as const));
    for (const [p, mm] of found) blockDevices[p] = mm;
  }
  if (Object.keys(blockDevices).length > 0) out.blockDevices = blockDevices;
  const devices: FoundDevice[] = [];
  if (hc.Privileged) {
    out.hostDevices = await hostDevices();
    for (const d of hc.Devices ?? []) {
      const dest = d.PathInContainer || d.PathOnHost;
      if (dest !== d.PathOnHost) devices.push(...(await devicesFromPath(d.PathOnHost, dest, "rwm")));
    }
  } else {
    for (const d of hc.Devices ?? []) devices.push(...(await devicesFromPath(d.PathOnHost, d.PathInContainer || d.PathOnHost, devicePermissions(d.CgroupPermissions))));
  }
  if (devices.length > 0) out.devices = devices;
  if (hc.Init) out.initBinary = await findInitBinary();
  return out;
}
