/**
 * The default base image's root filesystem, built from the host's statically
 * linked busybox (Debian package busybox-static): bin/busybox, one symlink per
 * applet, a minimal directory skeleton and etc/passwd, etc/group, etc/shadow
 * modelled on the official busybox image.
 *
 * The tar is deterministic: entries sorted, everything owned by 0:0 with a
 * fixed mtime, so the same busybox binary always yields the same bytes (and so
 * the same layer digest).
 */
import { promises as fs } from "node:fs";
import { execFile } from "node:child_process";
import { Readable } from "node:stream";
import { EngineError, errnoCode, isEngineError, messageOf } from "../util/errors.js";
import { encodeTarHeader, tarPadding, tarEnd, type TarEntryHeader } from "./tar.js";

export const DEFAULT_BUSYBOX_PATH = "/bin/busybox";

/** Fixed mtime of every entry (seconds since the epoch). */
const MTIME = 0;

const INSTALL_HINT = "install the Debian package busybox-static (apt-get install busybox-static)";

const DIRS: ReadonlyArray<readonly [string, number]> = [
  ["bin", 0o755],
  ["dev", 0o755],
  ["etc", 0o755],
  ["home", 0o755],
  ["proc", 0o555],
  ["root", 0o700],
  ["sbin", 0o755],
  ["sys", 0o555],
  ["tmp", 0o1777],
  ["usr", 0o755],
  ["usr/bin", 0o755],
  ["usr/sbin", 0o755],
  ["var", 0o755],
  ["var/spool", 0o755],
  ["var/spool/mail", 0o755],
  ["var/www", 0o755],
];

const PASSWD = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
`;

const GROUP = `root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
`;

const SHADOW = `root:*:10933:0:99999:7:::
daemon:*:10933:0:99999:7:::
bin:*:10933:0:99999:7:::
sys:*:10933:0:99999:7:::
sync:*:10933:0:99999:7:::
mail:*:10933:0:99999:7:::
www-data:*:10933:0:99999:7:::
operator:*:10933:0:99999:7:::
nobody:*:10933:0:99999:7:::
`;

interface Entry {
  header: TarEntryHeader;
  data?: Buffer;
}

/**
 * Returns a tar stream of a minimal root filesystem: bin/busybox copied from
 * busyboxPath (default /bin/busybox), a symlink → /bin/busybox for every applet
 * listed by `busybox --list-full`, the directory skeleton and the passwd/group
 * files. EngineError("notFound") when the binary is missing, not an ELF
 * executable or not statically linked.
 */
export async function busyboxRootfsTar(opts: { busyboxPath?: string } = {}): Promise<Readable> {
  const bbPath = opts.busyboxPath ?? DEFAULT_BUSYBOX_PATH;
  let binary: Buffer;
  try {
    const fh = await fs.open(bbPath, "r");
    try {
      // Check the ELF headers before reading a possibly large wrong file.
      const head = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      checkStatic(bbPath, head.subarray(0, bytesRead));
      binary = await fh.readFile();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (isEngineError(e)) throw e;
    const why = errnoCode(e) === "ENOENT" ? "not found" : messageOf(e);
    throw new EngineError("notFound", `busybox binary ${bbPath}: ${why}; ${INSTALL_HINT}`, { cause: e });
  }
  checkStatic(bbPath, binary);
  const applets = await listApplets(bbPath);

  const entries = new Map<string, Entry>();
  const add = (e: Entry): void => {
    if (!entries.has(e.header.name)) entries.set(e.header.name, e);
  };
  const dir = (name: string, mode = 0o755): void => add({ header: { name, type: "directory", mode, uid: 0, gid: 0, mtime: MTIME } });
  const file = (name: string, mode: number, data: Buffer): void =>
    add({ header: { name, type: "file", mode, uid: 0, gid: 0, mtime: MTIME, size: data.length }, data });

  for (const [name, mode] of DIRS) dir(name, mode);
  dir("etc/network");
  for (const d of ["if-down.d", "if-post-down.d", "if-pre-up.d", "if-up.d"]) dir(`etc/network/${d}`);
  file("bin/busybox", 0o755, binary);
  file("etc/passwd", 0o644, Buffer.from(PASSWD));
  file("etc/group", 0o644, Buffer.from(GROUP));
  file("etc/shadow", 0o600, Buffer.from(SHADOW));
  for (const applet of applets) {
    if (applet === "bin/busybox" || entries.has(applet)) continue;
    const parts = applet.split("/");
    for (let i = 1; i < parts.length; i++) dir(parts.slice(0, i).join("/"));
    add({
      header: { name: applet, type: "symlink", mode: 0o777, uid: 0, gid: 0, mtime: MTIME, linkname: "/bin/busybox" },
    });
  }

  const names = [...entries.keys()].sort(comparePaths);
  const chunks: Buffer[] = [];
  for (const name of names) {
    const e = entries.get(name);
    if (e === undefined) continue;
    chunks.push(encodeTarHeader(e.header));
    if (e.data !== undefined) {
      chunks.push(e.data);
      const pad = tarPadding(e.data.length);
      if (pad.length > 0) chunks.push(pad);
    }
  }
  chunks.push(tarEnd());
  return Readable.from(chunks, { objectMode: false });
}

function checkStatic(bbPath: string, elf: Buffer): void {
  const linking = elfLinking(elf);
  if (linking === "static") return;
  const why = linking === "dynamic" ? "is dynamically linked" : "is not an ELF executable";
  throw new EngineError("notFound", `busybox binary ${bbPath} ${why}; a static busybox is needed: ${INSTALL_HINT}`);
}

/** Order paths component by component, so a directory always precedes its contents. */
function comparePaths(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    if (x !== y) return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** Applet paths ("bin/sh", "usr/bin/env", ...) from `busybox --list-full`, validated. */
async function listApplets(bbPath: string): Promise<string[]> {
  const out = await new Promise<string>((resolve, reject) => {
    execFile(bbPath, ["--list-full"], { timeout: 30_000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout) => {
      if (err !== null) {
        reject(new EngineError("notFound", `running ${bbPath} --list-full failed: ${err.message}; ${INSTALL_HINT}`, { cause: err }));
      } else {
        resolve(String(stdout));
      }
    });
  });
  const applets: string[] = [];
  for (const raw of out.split("\n")) {
    const line = raw.trim().replace(/^\/+/, "");
    if (line === "") continue;
    const parts = line.split("/");
    if (parts.some((p) => p === "" || p === "." || p === "..")) continue;
    applets.push(parts.join("/"));
  }
  if (applets.length === 0) throw new EngineError("notFound", `${bbPath} --list-full listed no applets; ${INSTALL_HINT}`);
  return applets;
}

/**
 * "static" for an ELF executable without a PT_INTERP program header (static or
 * static-pie), "dynamic" with one, "notElf" otherwise.
 */
export function elfLinking(b: Buffer): "static" | "dynamic" | "notElf" {
  if (b.length < 52 || b.readUInt32BE(0) !== 0x7f454c46) return "notElf";
  const is64 = b[4] === 2;
  const le = b[5] === 1;
  if (!is64 && b[4] !== 1) return "notElf";
  const u16 = (o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
  const u32 = (o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const u64 = (o: number): number => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
  if (is64 && b.length < 64) return "notElf";
  const type = u16(16);
  if (type !== 2 && type !== 3) return "notElf"; // ET_EXEC / ET_DYN
  const phoff = is64 ? u64(32) : u32(28);
  const phentsize = is64 ? u16(54) : u16(42);
  const phnum = is64 ? u16(56) : u16(44);
  if (phentsize < (is64 ? 56 : 32) || phoff + phnum * phentsize > b.length) return "notElf";
  for (let i = 0; i < phnum; i++) {
    if (u32(phoff + i * phentsize) === 3 /* PT_INTERP */) return "dynamic";
  }
  return "static";
}
