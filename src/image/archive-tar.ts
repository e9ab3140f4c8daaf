/**
 * Filesystem access inside a container's root that a running container cannot
 * redirect, and the tar streams and change lists built on it (docker cp,
 * export, diff, commit).
 *
 * A running container can rename or replace anything below its root at any
 * moment, for example swap a directory for a symlink to the host's "/" between
 * our check and our use. Nothing here therefore opens a path string below a
 * root: directories are opened one component at a time with
 * O_DIRECTORY|O_NOFOLLOW, and children are reached through
 * /proc/self/fd/<dirfd>/<name> (openat(2) by another name: the kernel resolves
 * the fd link to the directory that was opened, wherever it is now). A swap can
 * make an operation fail or skip an entry, never leave the root.
 *
 * Symlinks inside a container path are resolved as the container would see them
 * (util/scopedroot.ts): absolute targets restart at the container's root and
 * ".." never climbs above it.
 */
import fss, { constants as fsc, type BigIntStats } from "node:fs";
import { execFile } from "node:child_process";
import { Readable } from "node:stream";
import { errnoCode, internal } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import { type TarEntryHeader, encodeTarHeader, extractLayer, tarEnd, tarPadding } from "./tar.js";
import { at, closeQuietly, lstatAt, openDirAt, readdirAt, readlinkAt, reopenDir } from "../util/fdpath.js";

const O_FILE_NOFOLLOW = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
const READ_CHUNK = 256 * 1024;
const WH_PREFIX = ".wh.";
const WH_OPAQUE = ".wh..wh..opq";

const S_IFMT = 0o170000n;
const S_IFSOCK = 0o140000n;
const S_IFLNK = 0o120000n;
const S_IFBLK = 0o060000n;
const S_IFDIR = 0o040000n;
const S_IFCHR = 0o020000n;
const S_IFIFO = 0o010000n;

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function isWhiteoutStat(st: BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFCHR && st.rdev === 0n;
}

// ---------------------------------------------------------------------------
// Go's os.FileMode (the `mode` of Docker's path stat)

const GO_MODE_DIR = 2 ** 31;
const GO_MODE_SYMLINK = 2 ** 27;
const GO_MODE_DEVICE = 2 ** 26;
const GO_MODE_NAMED_PIPE = 2 ** 25;
const GO_MODE_SOCKET = 2 ** 24;
const GO_MODE_SETUID = 2 ** 23;
const GO_MODE_SETGID = 2 ** 22;
const GO_MODE_CHAR_DEVICE = 2 ** 21;
const GO_MODE_STICKY = 2 ** 20;

/** The os.FileMode Go's os.Lstat reports for this stat (type bits, permissions, setuid/setgid/sticky). */
export function goFileMode(st: BigIntStats): number {
  let m = Number(st.mode & 0o777n);
  switch (st.mode & S_IFMT) {
    case S_IFBLK:
      m += GO_MODE_DEVICE;
      break;
    case S_IFCHR:
      m += GO_MODE_DEVICE + GO_MODE_CHAR_DEVICE;
      break;
    case S_IFDIR:
      m += GO_MODE_DIR;
      break;
    case S_IFIFO:
      m += GO_MODE_NAMED_PIPE;
      break;
    case S_IFLNK:
      m += GO_MODE_SYMLINK;
      break;
    case S_IFSOCK:
      m += GO_MODE_SOCKET;
      break;
    default:
      break;
  }
  if (st.mode & 0o4000n) m += GO_MODE_SETUID;
  if (st.mode & 0o2000n) m += GO_MODE_SETGID;
  if (st.mode & 0o1000n) m += GO_MODE_STICKY;
  return m;
}

// ---------------------------------------------------------------------------
// Tar streams

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
    yield encodeTarHeader({ ...h, size });
    let done = 0;
    while (done < size) {
      const want = Math.min(READ_CHUNK, size - done);
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const n = fss.readSync(fd, buf, got, want - got, done + got);
        if (n === 0) break; // shrank: the rest stays zero
        got += n;
      }
      done += want;
      yield buf;
    }
    const pad = tarPadding(size);
    if (pad.length > 0) yield pad;
  }
}

function inodeKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

function joinRel(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
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
 * package `attr`). Best effort on a tree that changes meanwhile.
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

/** A change of `docker diff`: Kind 0 modified ("C"), 1 added ("A"), 2 deleted ("D"). */
export interface FsChange {
  Path: string;
  Kind: 0 | 1 | 2;
}

export interface ChangesOptions {
  /** Opaque directories of the upper dir (opaqueDirs). */
  opaque: ReadonlySet<string>;
  /** The lower view is a single layer's own directory, where whiteouts are visible as 0:0 char devices. */
  lowerWhiteouts: boolean;
  /**
   * Paths the runtime creates as mount points when the image lacks them (Docker keeps
   * them in its init layer, below the container's layer): not changes themselves.
   */
  mountPoints: ReadonlySet<string>;
}

/**
 * The changes of a container's filesystem against its image, from its overlay
 * upper dir (upperFd) and a view of the image's layers (lowerFd; undefined for
 * an image without layers). The same answer as Docker's full comparison of the
 * two trees (archive.ChangesDirs): an entry is added when the image lacks it,
 * modified when mode, owner, device or (for non-directories) size or mtime
 * differ, deleted for a whiteout or a lower entry hidden by an opaque directory;
 * everything below an added directory is added; every directory with a change
 * inside is itself reported modified. Sorted by path. (File capabilities, which
 * Docker also compares, are not.)
 */
export function overlayChanges(upperFd: number, lowerFd: number | undefined, opts: ChangesOptions): FsChange[] {
  const changes: FsChange[] = [];
  const lower = (fd: number | undefined, name: string): BigIntStats | undefined => {
    if (fd === undefined) return undefined;
    const st = lstatAt(fd, name);
    return st !== undefined && opts.lowerWhiteouts && isWhiteoutStat(st) ? undefined : st;
  };

  const addAll = (dirFd: number, rel: string): void => {
    for (const n of readdirAt(dirFd)) {
      const st = lstatAt(dirFd, n);
      if (st === undefined || isWhiteoutStat(st)) continue;
      const crel = joinRel(rel, n);
      changes.push({ Path: `/${crel}`, Kind: 1 });
      if (st.isDirectory()) withDir(dirFd, n, (fd) => addAll(fd, crel));
    }
  };

  /** Visit a directory present in the merged view; returns nothing, records into changes. */
  const visit = (ufd: number, lfd: number | undefined, rel: string): void => {
    const names = readdirAt(ufd);
    for (const n of names) {
      const crel = joinRel(rel, n);
      const p = `/${crel}`;
      const ust = lstatAt(ufd, n);
      if (ust === undefined) continue;
      const lst = lower(lfd, n);
      if (isWhiteoutStat(ust)) {
        if (lst !== undefined) changes.push({ Path: p, Kind: 2 });
        continue;
      }
      if (lst === undefined && !(opts.mountPoints.has(crel) && (ust.isDirectory() || ust.isFile()))) {
        changes.push({ Path: p, Kind: 1 });
        if (ust.isDirectory()) withDir(ufd, n, (fd) => addAll(fd, crel));
        continue;
      }
      let recorded = false;
      if (lst !== undefined && statDifferent(lst, ust)) {
        changes.push({ Path: p, Kind: 0 });
        recorded = true;
      }
      if (!ust.isDirectory()) continue;
      const before = changes.length;
      withDir(ufd, n, (cfd) => {
        if (lst !== undefined && !lst.isDirectory()) addAll(cfd, crel);
        else if (lst !== undefined && lfd !== undefined) {
          const clfd = tryOpenDirAt(lfd, n);
          try {
            visit(cfd, clfd, crel);
          } finally {
            if (clfd !== undefined) closeQuietly(clfd);
          }
        } else visit(cfd, undefined, crel);
      });
      if (!recorded && changes.length > before) changes.push({ Path: p, Kind: 0 });
    }
    if (lfd !== undefined && opts.opaque.has(rel)) {
      const present = new Set(names);
      for (const ln of readdirAt(lfd)) {
        if (!present.has(ln) && lower(lfd, ln) !== undefined) changes.push({ Path: `/${joinRel(rel, ln)}`, Kind: 2 });
      }
    }
  };

  visit(upperFd, lowerFd, "");
  changes.sort((a, b) => compareNames(a.Path, b.Path));
  return changes;
}

function withDir(dirFd: number, name: string, fn: (fd: number) => void): void {
  const fd = tryOpenDirAt(dirFd, name);
  if (fd === undefined) return;
  try {
    fn(fd);
  } finally {
    closeQuietly(fd);
  }
}

function tryOpenDirAt(dirFd: number, name: string): number | undefined {
  try {
    return openDirAt(dirFd, name);
  } catch {
    return undefined;
  }
}

/** Docker's statDifferent: mode, owner, rdev, and for non-directories size and mtime (see sameFsTime). */
function statDifferent(a: BigIntStats, b: BigIntStats): boolean {
  if (goFileMode(a) !== goFileMode(b) || a.uid !== b.uid || a.gid !== b.gid || a.rdev !== b.rdev) return true;
  return !a.isDirectory() && (!sameFsTime(a.mtimeNs, b.mtimeNs) || a.size !== b.size);
}

/** Equal times, or the same second with one of them truncated to whole seconds (tar's precision). */
function sameFsTime(a: bigint, b: bigint): boolean {
  const s = 1_000_000_000n;
  const secA = a >= 0n ? a / s : (a - s + 1n) / s;
  const secB = b >= 0n ? b / s : (b - s + 1n) / s;
  return a === b || (secA === secB && (a % s === 0n || b % s === 0n));
}

// ---------------------------------------------------------------------------
// docker cp into a container

export interface CopyInOptions {
  /** See ExtractOptions.onEntry: vet (or skip, by returning false) each entry before it is written. */
  onEntry?: (rel: string, type: string | null) => boolean | void;
  /** User-namespace remapping: the archive's ids are container ids. */
  idMap?: IdMap;
  signal?: AbortSignal;
}

/**
 * Extract a tar (plain or gzip) into dir the way `docker cp` does: whiteout names
 * are ordinary files (Docker's Untar does not interpret them), owners and modes
 * come from the archive, an absolute name is read from the destination. The
 * extraction is extractLayer's: entries with "..", and any write through a
 * symlink, are refused; device files too.
 */
export async function extractCopy(input: NodeJS.ReadableStream | Readable, dir: string | number, opts: CopyInOptions = {}): Promise<{ entries: number }> {
  const res = await extractLayer(input, dir, {
    overlayWhiteouts: false,
    whiteouts: false,
    preserveOwners: true,
    // Go's tar reader, as Docker's Untar uses it, takes "/x" as x under the destination and
    // a stream that ends after its last entry's data (no padding or end blocks) as whole.
    absoluteNames: true,
    padFinalEntry: true,
    ...(opts.idMap ? { idMap: opts.idMap } : {}),
    ...(opts.onEntry ? { onEntry: opts.onEntry } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { entries: res.entries };
}
