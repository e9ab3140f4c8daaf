/**
 * The one tar writer for directory trees: docker cp and export (a container's
 * root, read while it may run), docker commit and build commits (an overlay
 * upper dir, as a layer with OCI whiteouts). Every directory is opened from its
 * parent's descriptor with O_NOFOLLOW (util/fdpath.ts), so a tree changed
 * meanwhile can make an entry vanish from the archive, never bring in anything
 * from outside it. Hand-written rather than tar-stream's pack: entries are
 * produced synchronously as the walk goes (one generator, no per-entry stream)
 * and the bytes are deterministic (tar-header.ts), so the same tree gives the
 * same layer digest.
 */
import fss, { constants as fsc, type BigIntStats } from "node:fs";
import path from "node:path";
import { execFile } from "node:child_process";
import { Readable } from "node:stream";
import { EngineError, errnoCode, internal, invalid } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import { at, closeQuietly, compareNames, joinRel, lstatAt, openDirAt, readdirAt, readlinkAt, reopenDir } from "../util/fdpath.js";
import { S_IFBLK, S_IFCHR, S_IFIFO, S_IFLNK, S_IFMT, S_IFSOCK } from "./fschanges.js";
import { type TarEntryHeader, encodeTarHeader, tarEnd, tarPadding } from "./tar-header.js";

const O_FILE_NOFOLLOW = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
const READ_CHUNK = 256 * 1024;
/** Files up to this size go out as one chunk with their header and padding. */
const SMALL_FILE = 64 * 1024;
const WH_PREFIX = ".wh.";
const WH_OPAQUE = ".wh..wh..opq";


export interface TreeTarOptions {
  /** Tar name of a walk-relative path ("" = the top entry). Directories get their "/" when encoded. */
  name: (rel: string) => string;
  /** Emit an entry for the top directory itself (docker cp); export and layers leave it out. */
  includeTop?: boolean;
  /** Overlay whiteouts → OCI whiteouts (a layer from an upper dir): 0:0 char device x → `.wh.x`, opaque dirs → `.wh..wh..opq`. */
  ociWhiteouts?: boolean;
  /** Walk-relative paths of opaque directories (see opaqueDirs). */
  opaque?: ReadonlySet<string>;
  /** Leave out a walk-relative path (and everything below it). */
  skip?: (rel: string) => boolean;
  /** Walk-relative path → host file shown in its place (bind-mounted files), also when the tree lacks it. */
  files?: ReadonlyMap<string, string>;
  /** User-namespace remapping: host owners are written as the container ids they stand for. */
  idMap?: IdMap;
  /** A name that is not valid UTF-8 fails the archive (a layer must not lose it) instead of being left out. */
  strictNames?: boolean;
}

/**
 * Tar of the entry `name` in the open directory dirFd ("" = dirFd itself) and,
 * when it is a directory, everything below it, in sorted order. Full mode bits,
 * numeric uid/gid, mtime in seconds; hard links (by device and inode) become link
 * entries after their first occurrence; sockets are left out. Symlinks are stored,
 * never followed. A file that shrinks while read is padded with zeros so the
 * archive stays well-formed; entries that vanish or change type meanwhile are
 * left out. The caller keeps dirFd open until the stream ends.
 */
export function tarTree(dirFd: number, name: string, opts: TreeTarOptions): Readable {
  return Readable.from(new TreeWriter(opts).all(dirFd, name), { objectMode: false, highWaterMark: READ_CHUNK });
}

class TreeWriter {
  private readonly links = new Map<string, string>();
  private readonly virtualByDir = new Map<string, string[]>();

  constructor(private readonly o: TreeTarOptions) {
    for (const rel of o.files?.keys() ?? []) {
      if (rel === "") continue;
      const i = rel.lastIndexOf("/");
      const dir = i < 0 ? "" : rel.slice(0, i);
      const list = this.virtualByDir.get(dir) ?? [];
      list.push(rel.slice(i + 1));
      this.virtualByDir.set(dir, list);
    }
  }

  *all(dirFd: number, name: string): Generator<Buffer> {
    const host = this.o.files?.get("");
    if (host !== undefined) {
      yield* this.hostFile(host, "");
      yield tarEnd();
      return;
    }
    const st = name === "" ? fss.fstatSync(dirFd, { bigint: true }) : lstatAt(dirFd, name);
    if (st === undefined) throw internal(`${name} vanished while archiving`);
    if (!st.isDirectory()) {
      yield* this.nonDir(dirFd, name, "", st);
      yield tarEnd();
      return;
    }
    const fd = name === "" ? reopenDir(dirFd) : openDirAt(dirFd, name);
    try {
      if (this.o.includeTop) yield* this.dirHeader(fd, "");
      yield* this.walk(fd, "");
    } finally {
      closeQuietly(fd);
    }
    yield tarEnd();
  }

  private header(rel: string, st: BigIntStats): Omit<TarEntryHeader, "type"> {
    return {
      name: this.o.name(rel),
      mode: Number(st.mode & 0o7777n),
      uid: this.o.idMap ? this.o.idMap.containerUid(Number(st.uid)) : Number(st.uid),
      gid: this.o.idMap ? this.o.idMap.containerGid(Number(st.gid)) : Number(st.gid),
      mtime: Number(st.mtimeNs / 1_000_000_000n) - (st.mtimeNs < 0n && st.mtimeNs % 1_000_000_000n !== 0n ? 1 : 0),
    };
  }

  private *dirHeader(fd: number, rel: string): Generator<Buffer> {
    const st = fss.fstatSync(fd, { bigint: true });
    const h = this.header(rel, st);
    yield encodeTarHeader({ ...h, type: "directory" });
    if (this.o.ociWhiteouts && this.o.opaque?.has(rel)) {
      yield encodeTarHeader({ ...h, name: this.o.name(joinRel(rel, WH_OPAQUE)), type: "file", mode: h.mode & 0o777, size: 0 });
    }
  }

  private *walk(dirFd: number, dirRel: string): Generator<Buffer> {
    const names = readdirAt(dirFd);
    if (this.o.strictNames) refuseNonUtf8Names(dirFd, dirRel, names.length);
    const virtual = this.virtualByDir.get(dirRel);
    if (virtual) {
      for (const v of virtual) if (!names.includes(v)) names.push(v);
      names.sort(compareNames);
    }
    for (const n of names) {
      const rel = joinRel(dirRel, n);
      if (this.o.skip?.(rel)) continue;
      const host = this.o.files?.get(rel);
      if (host !== undefined) {
        yield* this.hostFile(host, rel);
        continue;
      }
      const st = lstatAt(dirFd, n);
      if (st === undefined) continue; // vanished
      if (!st.isDirectory()) {
        yield* this.nonDir(dirFd, n, rel, st);
        continue;
      }
      let fd: number;
      try {
        fd = openDirAt(dirFd, n);
      } catch {
        continue; // replaced meanwhile
      }
      try {
        yield* this.dirHeader(fd, rel);
        yield* this.walk(fd, rel);
      } finally {
        closeQuietly(fd);
      }
    }
  }

  private *nonDir(dirFd: number, n: string, rel: string, st: BigIntStats): Generator<Buffer> {
    const h = this.header(rel, st);
    const fmt = st.mode & S_IFMT;
    if (fmt === S_IFSOCK) return;
    if (fmt === S_IFCHR || fmt === S_IFBLK) {
      const { major, minor } = splitDev(st.rdev);
      if (this.o.ociWhiteouts && fmt === S_IFCHR && major === 0 && minor === 0) {
        const i = rel.lastIndexOf("/");
        const wh = i < 0 ? WH_PREFIX + rel : `${rel.slice(0, i + 1)}${WH_PREFIX}${rel.slice(i + 1)}`;
        yield encodeTarHeader({ ...h, name: this.o.name(wh), type: "file", mode: 0o600, size: 0 });
        return;
      }
      if (this.hardlink(st, h.name)) {
        yield encodeTarHeader({ ...h, type: "link", linkname: this.links.get(inodeKey(st)) as string });
        return;
      }
      yield encodeTarHeader({ ...h, type: fmt === S_IFCHR ? "character-device" : "block-device", devmajor: major, devminor: minor });
      return;
    }
    if (this.hardlink(st, h.name)) {
      yield encodeTarHeader({ ...h, type: "link", linkname: this.links.get(inodeKey(st)) as string });
      return;
    }
    if (fmt === S_IFLNK) {
      let target: string;
      try {
        target = readlinkAt(dirFd, n);
      } catch {
        return; // replaced meanwhile
      }
      yield encodeTarHeader({ ...h, type: "symlink", linkname: target });
      return;
    }
    if (fmt === S_IFIFO) {
      yield encodeTarHeader({ ...h, type: "fifo" });
      return;
    }
    let fd: number;
    try {
      fd = fss.openSync(at(dirFd, n), O_FILE_NOFOLLOW);
    } catch {
      return; // replaced by a symlink, or vanished
    }
    try {
      const fst = fss.fstatSync(fd, { bigint: true });
      if (!fst.isFile()) return;
      yield* this.fileData(fd, { ...this.header(rel, fst), type: "file" }, Number(fst.size));
    } finally {
      closeQuietly(fd);
    }
  }

  /** True when st is a later link to an inode already archived (the first occurrence is recorded). */
  private hardlink(st: BigIntStats, tarName: string): boolean {
    if (st.nlink <= 1n || st.isDirectory()) return false;
    const key = inodeKey(st);
    if (this.links.has(key)) return true;
    this.links.set(key, tarName);
    return false;
  }

  /** A trusted host file shown in the tree (the container's /etc/hosts and friends). */
  private *hostFile(hostPath: string, rel: string): Generator<Buffer> {
    let fd: number;
    try {
      fd = fss.openSync(hostPath, fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch {
      return;
    }
    try {
      const st = fss.fstatSync(fd, { bigint: true });
      if (!st.isFile()) return;
      yield* this.fileData(fd, { ...this.header(rel, st), type: "file" }, Number(st.size));
    } finally {
      closeQuietly(fd);
    }
  }

  private *fileData(fd: number, h: TarEntryHeader, size: number): Generator<Buffer> {
    const header = encodeTarHeader({ ...h, size });
    const pad = tarPadding(size);
    if (size <= SMALL_FILE) {
      // Header, data and padding in one chunk.
      const buf = Buffer.alloc(header.length + size + pad.length);
      header.copy(buf, 0);
      readAll(fd, buf, header.length, size, 0);
      yield buf;
      return;
    }
    yield header;
    for (let done = 0; done < size; ) {
      const want = Math.min(READ_CHUNK, size - done);
      const buf = Buffer.alloc(want);
      readAll(fd, buf, 0, want, done);
      done += want;
      yield buf;
    }
    if (pad.length > 0) yield pad;
  }

}

/** Read len bytes at pos into buf; a file that shrank meanwhile leaves the rest zero. */
function readAll(fd: number, buf: Buffer, off: number, len: number, pos: number): void {
  for (let got = 0; got < len; ) {
    const n = fss.readSync(fd, buf, off + got, len - got, pos + got);
    if (n === 0) return;
    got += n;
  }
}

/** readdirAt leaves out names that are not UTF-8: with strictNames that fails the archive, naming the entry. */
function refuseNonUtf8Names(dirFd: number, dirRel: string, kept: number): void {
  const raw = fss.readdirSync(at(dirFd), { encoding: "buffer" });
  if (raw.length === kept) return;
  for (const b of raw) {
    const s = b.toString("utf8");
    if (!Buffer.from(s, "utf8").equals(b)) throw new EngineError("notImplemented", `cannot archive non-UTF-8 file name ${JSON.stringify(joinRel(dirRel, s))}`);
  }
}

/**
 * A directory as a tar (build commits: an overlay upper dir, with ociWhiteouts
 * as a layer), written by tarTree like docker commit's: the root itself is not
 * an entry, names are relative ("bin/sh"), and the opaque directories are found
 * with one getfattr run. A name that is not UTF-8 fails the stream.
 */
export function packDirectory(root: string, opts: { ociWhiteouts?: boolean; idMap?: IdMap } = {}): Readable {
  async function* entries(): AsyncGenerator<Buffer> {
    let dirFd: number;
    try {
      dirFd = fss.openSync(root, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (e) {
      if (errnoCode(e) === "ENOTDIR") throw invalid(`${root} is not a directory`);
      throw e;
    }
    try {
      const opaque = opts.ociWhiteouts ? await opaqueDirs(path.resolve(root)) : new Set<string>();
      const o: TreeTarOptions = { name: (rel) => rel, ociWhiteouts: opts.ociWhiteouts ?? false, opaque, strictNames: true, ...(opts.idMap ? { idMap: opts.idMap } : {}) };
      yield* new TreeWriter(o).all(dirFd, "");
    } finally {
      closeQuietly(dirFd);
    }
  }
  return Readable.from(entries(), { objectMode: false, highWaterMark: READ_CHUNK });
}

function inodeKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}


function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

// ---------------------------------------------------------------------------
// Overlay upper dirs

/**
 * Relative paths of the directories under dir marked opaque
 * (trusted.overlay.opaque=y), found with one `getfattr -R -P` run (Debian
 * package `attr`). Best effort on a tree that changes meanwhile. execFile rather
 * than util/exec: a run that exits non-zero (something vanished during the walk)
 * still has the right answer for the rest in its output.
 */
export function opaqueDirs(dir: string): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const args = ["-R", "-P", "--absolute-names", "-m", "^trusted\\.overlay\\.opaque$", "-d", "-e", "text", "--", dir];
    execFile("getfattr", args, { timeout: 600_000, maxBuffer: 256 * 1024 * 1024 }, (err, stdout) => {
      if (err && errnoCode(err) === "ENOENT") return reject(internal(`getfattr not found: install the Debian package "attr"`, err));
      // A non-zero exit with output: something vanished during the walk; the rest is still right.
      if (err && String(stdout) === "") return resolve(new Set());
      const out = new Set<string>();
      let current: string | undefined;
      for (const line of String(stdout).split("\n")) {
        if (line.startsWith("# file: ")) current = unquoteGetfattr(line.slice("# file: ".length));
        else if (current !== undefined && line === 'trusted.overlay.opaque="y"' && current.startsWith(`${dir}/`)) out.add(current.slice(dir.length + 1));
      }
      resolve(out);
    });
  });
}

/** getfattr escapes backslash, newline and CR in names as \ooo (bytes). */
function unquoteGetfattr(s: string): string {
  if (!s.includes("\\")) return s;
  const raw = Buffer.from(s, "utf8");
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? 0;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.toString("latin1", i + 1, i + 4))) {
      bytes.push(parseInt(raw.toString("latin1", i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString("utf8");
}

