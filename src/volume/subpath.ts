/**
 * A volume's subpath (`--mount type=volume,...,volume-subpath=a/b`), resolved so
 * that a running container sharing the volume cannot redirect the mount: the
 * subpath is resolved inside the volume (symlinks followed as in the volume,
 * never out of it, one directory descriptor at a time: util/scopedroot.ts's
 * ScopedRoot) and its final component is opened with O_PATH|O_NOFOLLOW. The
 * mount is then made from that descriptor (/proc/<pid>/fd/<n>), never from the
 * path string, which could lead anywhere by the time it is used (the container
 * swaps `a` for a symlink to the host's /etc). Docker does the same with openat2
 * and a bind mount of the descriptor (its internal/safepath).
 */
import fss from "node:fs";
import path from "node:path";
import { O_PATH, ScopeError, ScopedRoot, at, closeQuietly } from "../image/index.js";
import { errnoCode, invalid } from "../util/errors.js";

const MAX_ATTEMPTS = 8;

export interface OpenSubpath {
  /** An O_PATH descriptor of the subpath (the caller closes it). */
  fd: number;
  dir: boolean;
}

function notThere(p: string, why: string): Error {
  return invalid(`cannot access path ${p}: lstat ${p}: ${why}`);
}

/** Open the subpath sub of the volume data directory data (a trusted host path); it must exist. */
export function openSubpath(data: string, sub: string): OpenSubpath {
  const root = ScopedRoot.open(data);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let r;
      try {
        r = root.resolve(sub, true);
      } catch (e) {
        if (e instanceof ScopeError) {
          const p = path.join(data, sub);
          throw notThere(p, e.code === "ENOENT" ? "no such file or directory" : e.code === "ENOTDIR" ? "not a directory" : "too many levels of symbolic links");
        }
        throw e;
      }
      try {
        const p = path.join(data, ...r.parts);
        if (r.stat === undefined) throw notThere(p, "no such file or directory");
        let fd: number;
        try {
          // The volume's root itself: the fd link is followed to the directory we hold.
          fd = r.name === "" ? fss.openSync(at(r.dirFd), O_PATH) : fss.openSync(at(r.dirFd, r.name), O_PATH | fss.constants.O_NOFOLLOW);
        } catch (e) {
          if (errnoCode(e) === "ENOENT") continue; // removed since it was resolved: look again
          throw e;
        }
        const st = fss.fstatSync(fd);
        if (st.isSymbolicLink()) {
          // Swapped for a symlink since it was resolved: resolve again.
          closeQuietly(fd);
          continue;
        }
        return { fd, dir: st.isDirectory() };
      } finally {
        r.close();
      }
    }
    throw invalid(`cannot access path ${path.join(data, sub)}: it keeps changing`);
  } finally {
    root.close();
  }
}
