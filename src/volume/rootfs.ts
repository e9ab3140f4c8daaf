/**
 * Paths inside a container's root filesystem, resolved the way the container
 * would see them: every component is lstat'ed and a symlink is resolved against
 * the root, never against the host, so `..` and absolute links cannot lead out.
 * The container is not running while these are used (start prepares its mounts).
 */
import { promises as fs, constants as fsc } from "node:fs";
import path from "node:path";
import { errnoCode, invalid } from "../util/errors.js";

const MAX_LINKS = 40;

function components(p: string): string[] {
  return p.split("/").filter((x) => x !== "" && x !== ".");
}

/** Host ids of the container's root, given to what is created (`--userns-remap`); host root when absent. */
export interface Owner {
  uid: number;
  gid: number;
}

async function walk(root: string, p: string, create: boolean, mode: number, owner?: Owner): Promise<string> {
  const parts = components(p);
  let cur: string[] = [];
  let links = 0;
  while (parts.length > 0) {
    const name = parts.shift() as string;
    if (name === "..") {
      cur.pop();
      continue;
    }
    const candidate = path.join(root, ...cur, name);
    let st;
    try {
      st = await fs.lstat(candidate);
    } catch (e) {
      const code = errnoCode(e);
      if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
      if (!create) {
        // Nothing exists below a missing component: the rest resolves lexically.
        cur.push(name);
        continue;
      }
      if (code === "ENOTDIR") throw invalid(`cannot create ${p} in the container: ${path.join("/", ...cur)} is not a directory`);
      try {
        await fs.mkdir(candidate, mode);
        if (owner) await fs.lchown(candidate, owner.uid, owner.gid);
      } catch (e2) {
        if (errnoCode(e2) !== "EEXIST") throw e2;
      }
      parts.unshift(name); // look again: it may have appeared as something else
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw invalid(`cannot resolve ${p} in the container: too many levels of symbolic links`);
      const target = await fs.readlink(candidate);
      if (target.startsWith("/")) cur = [];
      parts.unshift(...components(target));
      continue;
    }
    if (create && !st.isDirectory()) throw invalid(`cannot create ${p} in the container: ${path.join("/", ...cur, name)} is not a directory`);
    cur.push(name);
  }
  return path.join(root, ...cur);
}

/** The host path of p inside root, symlinks followed within root (FollowSymlinkInScope); it may not exist. */
export function resolveInRoot(root: string, p: string): Promise<string> {
  return walk(root, p, false, 0);
}

/** mkdir -p of p inside root without ever leaving it; returns the host path of the directory. */
export function mkdirInRoot(root: string, p: string, mode = 0o755, owner?: Owner): Promise<string> {
  return walk(root, p, true, mode, owner);
}

/**
 * Make sure p exists inside root as a mount point for a file (an empty file is
 * created when nothing is there); returns its host path.
 */
export async function createFileInRoot(root: string, p: string, mode = 0o755, owner?: Owner): Promise<string> {
  const resolved = await resolveInRoot(root, p);
  try {
    await fs.lstat(resolved);
    return resolved;
  } catch (e) {
    if (errnoCode(e) !== "ENOENT") throw e;
  }
  const parent = await mkdirInRoot(root, path.relative(root, path.dirname(resolved)), mode, owner);
  const file = path.join(parent, path.basename(resolved));
  try {
    const fh = await fs.open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.close();
  } catch (e) {
    if (errnoCode(e) !== "EEXIST") throw e;
  }
  return file;
}

/** True when host path p is root itself or lies inside it (lexically). */
export function within(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}
