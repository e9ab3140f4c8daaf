/**
 * A container's filesystem as `docker cp` sees it (Docker's openContainerFS): its
 * root filesystem with the volumes and bind mounts mounted where the container
 * has them. mountView builds that view and must run in a private mount namespace
 * of its own (a helper process started with `unshare --mount --propagation
 * private`): nothing it mounts is ever seen by the host, the daemon or the
 * container, and everything goes away with the process.
 *
 * Mount targets are resolved inside the root the way the container would see them
 * (symlinks followed, never out of the root) and created when missing, one
 * directory descriptor at a time; the mount is then made onto the open descriptor
 * (/proc/<pid>/fd/<n>), so a running container swapping a directory for a symlink
 * cannot redirect it. A volume subpath is mounted from a descriptor of the
 * subpath resolved inside the volume (subpath.ts), never from its path, which a
 * container sharing the volume could redirect. A read-only mount is prepared (bind, then remount read-only)
 * in a private staging tmpfs and only then moved onto its target.
 */
import fss, { constants as fsc } from "node:fs";
import path from "node:path";
import { ScopedRoot, openDirAt, lstatAt, procAt } from "../image/index.js";
import { errnoCode, internal, invalid, messageOf } from "../util/errors.js";
import { bestEffort } from "../util/besteffort.js";
import { run } from "../util/exec.js";
import { mountPoints } from "./mountinfo.js";
import type { Owner } from "./rootfs.js";
import { openSubpath } from "./subpath.js";

/** One mount of the view: a host path (volume data, bind source) shown at a container path. */
export interface ViewMount {
  /** Container path (absolute, clean). */
  destination: string;
  /** Host path of what is mounted there (for a subpath: the volume's data directory). */
  source: string;
  /** A volume's subpath: resolved inside source by the helper and mounted from its descriptor (subpath.ts). */
  subpath?: string;
  /** Writable; read-only mounts are read-only in the view too (and recursively, unless readOnlyNonRecursive). */
  rw: boolean;
  /** rbind (the default) or bind (`--mount type=bind,bind-nonrecursive`). */
  recursive: boolean;
  /** `bind-recursive=writable`/readonly non-recursive: only the top mount is made read-only. */
  readOnlyNonRecursive?: boolean;
}

const MAX_ATTEMPTS = 8;
const FILE_TARGET_FLAGS = fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY;

function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

function splitPath(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

function closeQuietly(fd: number): void {
  try {
    fss.closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** The component was replaced (by a symlink or something else) while we walked: resolve again. */
class Raced extends Error {}

/**
 * Open (creating it when missing, as Docker's createIfNotExists does) the mount
 * target for dest inside root: a directory, or a file when the source is not a
 * directory. Symlinks on the way are followed as the container sees them; the
 * target itself is never a symlink. Returns an open descriptor of the target
 * (the caller closes it), or throws.
 */
export function openMountTarget(root: ScopedRoot, dest: string, dir: boolean, owner?: Owner): number {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // The physical path: every symlink resolved inside the root; missing components kept.
    const parts = splitPath(root.evalSymlinks(dest));
    if (parts.length === 0) throw invalid(`cannot mount over the container's root: ${dest}`);
    try {
      return walkCreate(root.fd, parts, dir, dest, owner);
    } catch (e) {
      if (e instanceof Raced) continue;
      throw e;
    }
  }
  throw internal(`cannot prepare the mount point ${dest}: it keeps changing`);
}

function walkCreate(rootFd: number, parts: string[], dir: boolean, dest: string, owner?: Owner): number {
  const held: number[] = [];
  let cur = rootFd;
  try {
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i] as string;
      const last = i === parts.length - 1;
      let st = lstatAt(cur, name);
      if (st === undefined) {
        try {
          if (!last || dir) fss.mkdirSync(at(cur, name), 0o755);
          else fss.closeSync(fss.openSync(at(cur, name), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o755));
          if (owner) fss.lchownSync(at(cur, name), owner.uid, owner.gid);
        } catch (e) {
          if (errnoCode(e) !== "EEXIST") throw e;
        }
        st = lstatAt(cur, name);
        if (st === undefined) throw new Raced();
      }
      if (st.isSymbolicLink()) throw new Raced();
      if (!last || dir) {
        if (!st.isDirectory()) {
          throw invalid(`cannot mount on ${dest}: /${parts.slice(0, i + 1).join("/")} is not a directory`);
        }
        let fd: number;
        try {
          fd = openDirAt(cur, name);
        } catch (e) {
          const c = errnoCode(e);
          if (c === "ELOOP" || c === "ENOTDIR" || c === "ENOENT") throw new Raced();
          throw e;
        }
        if (last) return fd;
        held.push(fd);
        cur = fd;
        continue;
      }
      // A file mount point: never open anything but a regular file (no fifo, device, socket).
      if (st.isDirectory()) throw invalid(`cannot mount a file on ${dest}: it is a directory`);
      if (!st.isFile()) throw invalid(`cannot mount a file on ${dest}: it is not a regular file`);
      let fd: number;
      try {
        fd = fss.openSync(at(cur, name), FILE_TARGET_FLAGS);
      } catch (e) {
        const c = errnoCode(e);
        if (c === "ELOOP" || c === "ENOENT") throw new Raced();
        throw e;
      }
      if (!fss.fstatSync(fd).isFile()) {
        closeQuietly(fd);
        throw new Raced();
      }
      return fd;
    }
    throw internal(`cannot prepare the mount point ${dest}`);
  } finally {
    for (const fd of held) closeQuietly(fd);
  }
}

async function mountCmd(args: string[]): Promise<void> {
  // -n: no userspace mount table (utab) entries; -c: the kernel resolves the paths exactly as given.
  await run("mount", ["-n", "-c", ...args]);
}

/**
 * Mount the view's volumes and binds into rootfs, parents before children. Only
 * in a private mount namespace (see the file comment): stageDir (an existing
 * directory) is covered by a staging tmpfs of the namespace's own.
 */
export async function mountView(rootfs: string, mounts: readonly ViewMount[], o: { stageDir: string; owner?: Owner }): Promise<void> {
  if (mounts.length === 0) return;
  await mountCmd(["-t", "tmpfs", "-o", "mode=0700,size=64k", "berth-cp-stage", o.stageDir]);
  const root = ScopedRoot.open(rootfs);
  try {
    for (const [i, m] of mounts.entries()) {
      let dir: boolean;
      let source = m.source;
      let subFd: number | undefined;
      if (m.subpath !== undefined) {
        const sub = openSubpath(m.source, m.subpath);
        subFd = sub.fd;
        dir = sub.dir;
        source = procAt(sub.fd);
      } else {
        try {
          dir = fss.statSync(m.source).isDirectory();
        } catch (e) {
          throw invalid(`error while mounting ${m.destination}: stat ${m.source}: ${errnoCode(e) === "ENOENT" ? "no such file or directory" : messageOf(e)}`);
        }
      }
      const stage = path.join(o.stageDir, String(i));
      if (dir) fss.mkdirSync(stage, 0o700);
      else fss.writeFileSync(stage, "", { mode: 0o600 });
      try {
        await mountCmd([m.recursive ? "--rbind" : "--bind", source, stage]);
      } finally {
        if (subFd !== undefined) closeQuietly(subFd);
      }
      if (!m.rw) {
        await mountCmd(["-o", "remount,bind,ro", stage]);
        if (m.recursive && !m.readOnlyNonRecursive) {
          // Docker makes read-only binds recursively read-only (best effort, as it does).
          for (const sub of (await mountPoints()).filter((p) => p.startsWith(`${stage}/`))) {
            await mountCmd(["-o", "remount,bind,ro", sub]).catch(bestEffort(`read-only remount of ${sub}`));
          }
        }
      }
      const fd = openMountTarget(root, m.destination, dir, o.owner);
      try {
        await mountCmd(["--move", stage, `/proc/${process.pid}/fd/${fd}`]);
      } finally {
        closeQuietly(fd);
      }
    }
  } finally {
    root.close();
  }
}
