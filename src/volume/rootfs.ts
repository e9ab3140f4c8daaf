/**
 * Paths inside a container's root filesystem, resolved the way the container
 * would see them (util/scopedroot.ts: one directory descriptor at a time, a
 * symlink resolved against the root, never against the host, so `..` and
 * absolute links cannot lead out). The container is not running while these are
 * used (start prepares its mounts); the answers are host paths because they
 * become mount targets.
 */
import fss, { constants as fsc } from "node:fs";
import path from "node:path";
import { errnoCode, invalid } from "../util/errors.js";
import { at, closeQuietly, lstatAt } from "../util/fdpath.js";
import { MAX_LINKS, type Owner, ScopeError, ScopedRoot } from "../util/scopedroot.js";

/** Host ids of the container's root, given to what is created (`--userns-remap`); host root when absent. */
export type { Owner } from "../util/scopedroot.js";

/** Components of p inside root, symlinks followed (FollowSymlinkInScope); with create, mkdir -p on the way. */
function follow(root: ScopedRoot, p: string, create?: { mode: number; owner?: Owner }): string[] {
  try {
    return root.followInScope(p, { maxLinks: MAX_LINKS, ...(create ? { create } : {}) });
  } catch (e) {
    if (!(e instanceof ScopeError)) throw e;
    if (e.code === "ELOOP") throw invalid(`cannot resolve ${p} in the container: too many levels of symbolic links`);
    throw invalid(`cannot create ${p} in the container: ${path.join("/", ...e.parts)} is not a directory`);
  }
}

/** The host path of p inside root, symlinks followed within root (FollowSymlinkInScope); it may not exist. */
export async function resolveInRoot(root: string, p: string): Promise<string> {
  return ScopedRoot.with(root, (r) => r.hostPathOf(follow(r, p)));
}

/** mkdir -p of p inside root without ever leaving it; returns the host path of the directory. */
export async function mkdirInRoot(root: string, p: string, mode = 0o755, owner?: Owner): Promise<string> {
  return ScopedRoot.with(root, (r) => r.hostPathOf(follow(r, p, { mode, ...(owner ? { owner } : {}) })));
}

/**
 * Make sure p exists inside root as a mount point for a file (an empty file is
 * created when nothing is there); returns its host path.
 */
export async function createFileInRoot(root: string, p: string, mode = 0o755, owner?: Owner): Promise<string> {
  return ScopedRoot.with(root, (r) => {
    const parts = follow(r, p);
    const name = parts.pop();
    if (name === undefined) return r.hostPath;
    const parent = follow(r, parts.join("/"), { mode, ...(owner ? { owner } : {}) });
    const made = r.withDir(parent, (dirFd) => {
      if (lstatAt(dirFd, name) !== undefined) return true;
      let fd: number;
      try {
        fd = fss.openSync(at(dirFd, name), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
      } catch (e) {
        if (errnoCode(e) !== "EEXIST") throw e;
        return true;
      }
      try {
        if (owner) fss.fchownSync(fd, owner.uid, owner.gid);
      } finally {
        closeQuietly(fd);
      }
      return true;
    });
    if (made === undefined) throw invalid(`cannot create ${p} in the container: ${path.join("/", ...parent)} is not a directory`);
    return r.hostPathOf([...parent, name]);
  });
}

/** True when host path p is root itself or lies inside it (lexically). */
export function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}
