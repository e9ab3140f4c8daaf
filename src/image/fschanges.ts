/**
 * docker diff's answer (overlayChanges: a container's overlay upper dir against
 * its image's layers) and Go's os.FileMode of a stat (docker cp's path stat, the
 * comparison of diff). Everything is read through directory descriptors
 * (util/fdpath.ts), so a running container that swaps a directory for a symlink
 * meanwhile can make an entry vanish from the answer, never lead it outside.
 */
import type { BigIntStats } from "node:fs";
import { closeQuietly, compareNames, joinRel, lstatAt, openDirAt, readdirAt } from "../util/fdpath.js";

/** File type bits of st_mode (stat(2)). */
export const S_IFMT = 0o170000n;
export const S_IFSOCK = 0o140000n;
export const S_IFLNK = 0o120000n;
export const S_IFBLK = 0o060000n;
export const S_IFDIR = 0o040000n;
export const S_IFCHR = 0o020000n;
export const S_IFIFO = 0o010000n;

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
