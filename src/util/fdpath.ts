/**
 * openat(2) and friends for Node, which has no *at() calls: a child of an open
 * directory is addressed as /proc/self/fd/<dirfd>/<name>. The kernel resolves
 * the fd link to the very directory that was opened, wherever it is now, and
 * then looks up one name in it; with O_NOFOLLOW (or a call that never follows
 * its last component: lstat, unlink, rmdir, mkdir, symlink, link, lchown) that
 * lookup cannot leave the directory. This is how everything that writes or
 * reads inside a tree someone else may change at the same time (a container's
 * root, a volume a running container shares) stays inside it: directories are
 * opened one component at a time with O_DIRECTORY|O_NOFOLLOW and never
 * addressed by a path string below a trusted root. (openat2 with
 * RESOLVE_IN_ROOT would do the same in one call; Node 20 cannot make it.)
 */
import fss, { constants as fsc, type BigIntStats } from "node:fs";
import { errnoCode } from "./errors.js";

export const O_DIR_NOFOLLOW = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;
/** Linux O_PATH (Node does not export it): a descriptor that only names a file, never opens its content. */
export const O_PATH = 0o10000000;

/** The path of an open directory's child, valid in this process ("" or undefined: the directory itself). */
export function at(fd: number, name?: string): string {
  return name === undefined || name === "" ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** The same path for a child process (mknod, mkfifo, setfattr, mount): through this process's /proc entry. */
export function procAt(fd: number, name?: string): string {
  const base = `/proc/${process.pid}/fd/${fd}`;
  return name === undefined || name === "" ? base : `${base}/${name}`;
}

export function closeQuietly(fd: number): void {
  try {
    fss.closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** lstat a child of an open directory; undefined if it does not exist. */
export function lstatAt(dirFd: number, name: string): BigIntStats | undefined {
  try {
    return fss.lstatSync(at(dirFd, name), { bigint: true, throwIfNoEntry: false });
  } catch (e) {
    const c = errnoCode(e);
    if (c === "ENOENT" || c === "ENOTDIR") return undefined;
    throw e;
  }
}

/** Open a child directory of an open directory; refuses a symlink (ELOOP) or a non-directory (ENOTDIR). */
export function openDirAt(dirFd: number, name: string): number {
  return fss.openSync(at(dirFd, name), O_DIR_NOFOLLOW);
}

/** A second descriptor for an open directory. */
export function reopenDir(dirFd: number): number {
  return fss.openSync(at(dirFd), fsc.O_RDONLY | fsc.O_DIRECTORY);
}

export function readlinkAt(dirFd: number, name: string): string {
  return fss.readlinkSync(at(dirFd, name));
}

/** Byte-wise (code unit) order of names, as Go sorts them: the order of every tree walk. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** dir/name of slash-separated relative paths ("" = the top). */
export function joinRel(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** The directory part of a relative path ("" for a top-level name). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

/** The last component of a relative path. */
export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf("/") + 1);
}

/** Names in an open directory, sorted; entries whose names are not valid UTF-8 are left out (they cannot be addressed by a JS string). */
export function readdirAt(dirFd: number): string[] {
  const out: string[] = [];
  for (const raw of fss.readdirSync(at(dirFd), { encoding: "buffer" })) {
    const s = raw.toString("utf8");
    if (Buffer.from(s, "utf8").equals(raw)) out.push(s);
  }
  return out.sort(compareNames);
}

/**
 * Remove the child name of an open directory and, for a directory, everything
 * below it, never following a symlink (rm -rf without path strings: a tree that
 * changes meanwhile can make it fail, never reach outside). A missing entry is
 * not an error.
 */
export function removeAt(dirFd: number, name: string): void {
  const st = lstatAt(dirFd, name);
  if (st === undefined) return;
  if (!st.isDirectory()) {
    unlinkQuietly(dirFd, name);
    return;
  }
  let fd: number;
  try {
    fd = openDirAt(dirFd, name);
  } catch (e) {
    const c = errnoCode(e);
    if (c === "ENOENT") return;
    // Replaced by something else meanwhile: that is what gets removed.
    if (c === "ELOOP" || c === "ENOTDIR") return unlinkQuietly(dirFd, name);
    throw e;
  }
  try {
    for (const child of fss.readdirSync(at(fd), { encoding: "buffer" })) removeAt(fd, bufferName(child));
  } finally {
    closeQuietly(fd);
  }
  try {
    fss.rmdirSync(at(dirFd, name));
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
  }
}

/** A name that is not valid UTF-8 cannot travel through a JS path string; refuse rather than remove something else. */
function bufferName(raw: Buffer): string {
  const s = raw.toString("utf8");
  if (Buffer.from(s, "utf8").equals(raw)) return s;
  throw Object.assign(new Error(`cannot remove a file whose name is not UTF-8: ${JSON.stringify(raw.toString("latin1"))}`), { code: "EILSEQ" });
}

function unlinkQuietly(dirFd: number, name: string): void {
  try {
    fss.unlinkSync(at(dirFd, name));
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
  }
}
