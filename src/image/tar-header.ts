/**
 * Tar header encoding (ustar, with a PAX header for what ustar cannot hold), the
 * one encoder behind every tar berthd writes (docker cp/export/commit, build
 * commits, image save, the busybox rootfs). Hand-written: the bytes must be
 * deterministic (the same tree gives the same layer digest) and entries are
 * produced synchronously from a directory walk, which tar-stream's pack does not do.
 */
import { baseOf } from "../util/fdpath.js";

export type TarEntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

export interface TarEntryHeader {
  /** Relative path, no leading "./" or "/"; directories without trailing slash (added when encoding). */
  name: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Data size, files only. */
  size?: number;
  /** Symlink target or hard link target name. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

/** Two zero blocks: the end-of-archive marker (a fresh buffer each call). */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** Zero padding after size bytes of entry data. */
export function tarPadding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

function isAsciiPrintable(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** Split an ASCII name into ustar prefix/name, or undefined if it does not fit. */
function splitUstar(name: string): [string, string] | undefined {
  if (name.length <= 100) return ["", name];
  for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length > 155) return undefined;
    if (rest.length <= 100 && rest.length > 0 && prefix.length > 0) return [prefix, rest];
  }
  return undefined;
}

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  // len-1 octal digits, NUL terminated.
  buf.write(value.toString(8).padStart(len - 1, "0"), off, len - 1, "ascii");
  buf[off + len - 1] = 0;
}

function fitsOctal(value: number, len: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (len - 1);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length + bodyLen !== len) len = String(len + 1).length + bodyLen;
  return `${len}${body}`;
}

function ustarBlock(f: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(f.name, 0, 100, "utf8");
  writeOctal(b, 100, 8, f.mode);
  writeOctal(b, 108, 8, f.uid);
  writeOctal(b, 116, 8, f.gid);
  writeOctal(b, 124, 12, f.size);
  writeOctal(b, 136, 12, f.mtime);
  b.write("        ", 148, 8, "ascii");
  b.write(f.typeflag, 156, 1, "ascii");
  b.write(f.linkname, 157, 100, "utf8");
  b.write("ustar\u000000", 257, 8, "ascii");
  writeOctal(b, 329, 8, f.devmajor);
  writeOctal(b, 337, 8, f.devminor);
  b.write(f.prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, "0"), 148, 6, "ascii");
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/** Truncate to at most n bytes of printable ASCII (for fields superseded by PAX records). */
function asciiFallback(s: string, n: number): string {
  return s.replace(/[^\x20-\x7e]/g, "_").slice(0, n);
}

/**
 * Encode one entry's header block(s): a plain ustar header when everything fits,
 * otherwise a PAX extended header (path, linkpath, uid, gid, size, mtime) followed
 * by the ustar header. Deterministic for a given input.
 */
export function encodeTarHeader(h: TarEntryHeader): Buffer {
  const fullName = h.type === "directory" ? `${h.name}/` : h.name;
  const size = h.type === "file" ? (h.size ?? 0) : 0;
  const linkname = h.linkname ?? "";
  const pax: string[] = [];

  let prefix = "";
  let name = fullName;
  const split = isAsciiPrintable(fullName) ? splitUstar(fullName) : undefined;
  if (split) [prefix, name] = split;
  else {
    pax.push(paxRecord("path", fullName));
    name = asciiFallback(fullName, 100);
  }
  let link = linkname;
  if (!isAsciiPrintable(linkname) || linkname.length > 100) {
    pax.push(paxRecord("linkpath", linkname));
    link = asciiFallback(linkname, 100);
  }
  const num = (key: string, v: number, len: number): number => {
    if (fitsOctal(v, len)) return v;
    pax.push(paxRecord(key, String(v)));
    return 0;
  };
  const uid = num("uid", h.uid, 8);
  const gid = num("gid", h.gid, 8);
  const sz = num("size", size, 12);
  const mtime = num("mtime", Math.floor(h.mtime), 12);

  const main = ustarBlock({
    name,
    prefix,
    mode: h.mode & 0o7777,
    uid,
    gid,
    size: sz,
    mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: link,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (pax.length === 0) return main;
  const body = Buffer.from(pax.join(""), "utf8");
  const paxHeader = ustarBlock({
    name: asciiFallback(`PaxHeaders.0/${baseOf(h.name)}`, 100),
    prefix: "",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: fitsOctal(Math.floor(h.mtime), 12) ? Math.floor(h.mtime) : 0,
    typeflag: "x",
    linkname: "",
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, tarPadding(body.length), main]);
}
