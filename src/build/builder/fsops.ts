/**
 * Filesystem work for COPY/ADD/WORKDIR on untrusted trees (the build context,
 * image roots). Every path is resolved inside a root: symlinks are followed as
 * if the root were `/` (an absolute target restarts at the root, `..` stops at
 * it), so neither a hostile context nor a hostile image can make the builder
 * read or write outside. Copies never follow symlinks: an existing entry in
 * the way is replaced, and directories are only entered after lstat says they
 * are real directories.
 */
import fss, { constants as fsc, promises as fs } from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { invalid } from "../../util/errors.js";
import { type FollowOptions, MAX_LINKS_IN_SCOPE, type Owner, ScopeError, ScopedRoot, cleanParts } from "../../util/scopedroot.js";

/**
 * Resolve `p` (absolute or relative to the root) inside `root`, following
 * symlinks in scope (moby's FollowSymlinkInScope: the path is cleaned first,
 * util/scopedroot.ts resolves it). Missing trailing components are kept as they
 * are. Returns the host path (always under root) and the resolved in-root path.
 */
export function resolveInRoot(root: string, p: string): { host: string; rel: string } {
  const rel = inScope(root, p, {}, () => invalid(`too many levels of symbolic links resolving ${p}`)).join("/");
  return { host: rel === "" ? root : path.join(root, rel), rel: `/${rel}` };
}

export type { Owner } from "../../util/scopedroot.js";

/**
 * mkdir -p inside a root: `dir` is resolved in scope first; missing directories
 * are created 0755, owned by `owner` (root when unset). Returns the host path.
 */
export function mkdirAllInRoot(root: string, dir: string, owner?: Owner): string {
  const { host, rel } = resolveInRoot(root, dir);
  const create = { mode: 0o755, exactMode: true, owner: owner ?? { uid: 0, gid: 0 } };
  inScope(root, rel, { create, noFollow: true }, () => invalid(`Cannot mkdir: ${rel} is not a directory`));
  return host;
}

/** The components of cleaned p in root (ScopedRoot.followInScope); a ScopeError becomes fail()'s error. */
function inScope(root: string, p: string, o: FollowOptions, fail: () => Error): string[] {
  const r = ScopedRoot.open(root);
  try {
    return r.followInScope(cleanParts(p).join("/"), { maxLinks: MAX_LINKS_IN_SCOPE, ...o });
  } catch (e) {
    if (e instanceof ScopeError) throw fail();
    throw e;
  } finally {
    r.close();
  }
}

export interface CopyOptions {
  /** New owner of every copied entry; undefined keeps the source's (COPY --from). */
  owner?: Owner;
  /** `--chmod`: the mode of every copied file and directory. */
  mode?: number;
  /** Paths (relative to the copied directory) to skip. */
  skip?: (rel: string) => boolean;
}

/**
 * Copy one source entry (file, symlink, directory tree…) to exactly `dst`,
 * whose parent is a real directory. A directory is merged into an existing
 * directory at dst; anything else in the way is replaced. Hard links inside a
 * copied tree stay hard links.
 */
export async function copyEntry(src: string, dst: string, opts: CopyOptions): Promise<void> {
  const links = new Map<string, string>();
  await copyOne(src, dst, opts, links, "", true);
}

async function copyOne(src: string, dst: string, o: CopyOptions, links: Map<string, string>, rel: string, top: boolean): Promise<void> {
  const st = fss.lstatSync(src);
  let existing = fss.lstatSync(dst, { throwIfNoEntry: false });
  const uid = o.owner?.uid ?? st.uid;
  const gid = o.owner?.gid ?? st.gid;
  const clear = (): void => {
    if (existing === undefined) return;
    if (existing.isDirectory()) fss.rmSync(dst, { recursive: true, force: true });
    else fss.unlinkSync(dst);
    existing = undefined;
  };

  if (st.isDirectory()) {
    if (existing !== undefined && !existing.isDirectory()) clear();
    const created = existing === undefined;
    if (created) fss.mkdirSync(dst, 0o700);
    const names = fss.readdirSync(src).sort();
    for (const n of names) {
      const childRel = rel === "" ? n : `${rel}/${n}`;
      if (o.skip?.(childRel)) continue;
      await copyOne(path.join(src, n), path.join(dst, n), o, links, childRel, false);
    }
    if (created || !top) {
      fss.lchownSync(dst, uid, gid);
      fss.chmodSync(dst, o.mode ?? st.mode & 0o7777);
      fss.utimesSync(dst, st.atime, st.mtime);
    }
    return;
  }
  if (st.nlink > 1 && !st.isSymbolicLink()) {
    const key = `${st.dev}:${st.ino}`;
    const first = links.get(key);
    if (first !== undefined) {
      clear();
      fss.linkSync(first, dst);
      return;
    }
    links.set(key, dst);
  }
  clear();
  if (st.isSymbolicLink()) {
    fss.symlinkSync(fss.readlinkSync(src), dst);
    fss.lchownSync(dst, uid, gid);
    fss.lutimesSync(dst, st.atime, st.mtime);
    return;
  }
  if (st.isFile()) {
    await copyFileContents(src, dst);
  } else if (st.isFIFO()) {
    execFileSync("mkfifo", ["-m", "0600", "--", dst]);
  } else if (st.isCharacterDevice() || st.isBlockDevice()) {
    const major = Math.floor(st.rdev / 256) & 0xfff;
    const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
    execFileSync("mknod", ["-m", "0600", "--", dst, st.isCharacterDevice() ? "c" : "b", String(major), String(minor)]);
  } else {
    return; // sockets are not copied
  }
  fss.lchownSync(dst, uid, gid);
  // chown clears setuid/setgid: the mode goes last.
  fss.chmodSync(dst, o.mode ?? st.mode & 0o7777);
  fss.utimesSync(dst, st.atime, st.mtime);
}

async function copyFileContents(src: string, dst: string): Promise<void> {
  // The source was lstat'ed as a regular file; COPYFILE_EXCL creates dst with O_EXCL, never through a symlink.
  await fs.copyFile(src, dst, fsc.COPYFILE_EXCL);
}

// --- content hashes (the cache key of COPY/ADD sources) ---------------------------

async function fileDigest(p: string): Promise<string> {
  const h = createHash("sha256");
  const fh = await fs.open(p, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(256 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest("hex");
}

function typeOf(st: fss.Stats): string {
  if (st.isDirectory()) return "d";
  if (st.isSymbolicLink()) return "l";
  if (st.isFile()) return "f";
  if (st.isFIFO()) return "p";
  if (st.isCharacterDevice()) return "c";
  if (st.isBlockDevice()) return "b";
  return "s";
}

/** The hash of one entry: its name, type, mode, owner (when kept), size, link target and content; not its mtime. */
async function entryHash(abs: string, name: string, st: fss.Stats, withOwner: boolean): Promise<string> {
  const h = createHash("sha256");
  h.update(`${name}\0${typeOf(st)}\0${(st.mode & 0o7777).toString(8)}\0${withOwner ? `${st.uid}:${st.gid}` : ""}\0`);
  if (st.isSymbolicLink()) h.update(fss.readlinkSync(abs));
  else if (st.isFile()) h.update(`${st.size}\0${await fileDigest(abs)}`);
  else if (st.isCharacterDevice() || st.isBlockDevice()) h.update(String(st.rdev));
  return h.digest("hex");
}

/**
 * Docker-style source hash: `file:<sha256>` for a single file (the name
 * included, since it names the destination), `dir:<sha256>` over every entry
 * of a tree (paths relative to the directory, sorted).
 */
export async function sourceHash(abs: string, opts: { withOwner: boolean; skip?: (rel: string) => boolean }): Promise<string> {
  const st = fss.lstatSync(abs);
  if (!st.isDirectory()) return `file:${await entryHash(abs, path.basename(abs), st, opts.withOwner)}`;
  const parts: string[] = [await entryHash(abs, ".", st, opts.withOwner)];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const n of fss.readdirSync(dir).sort()) {
      const r = rel === "" ? n : `${rel}/${n}`;
      if (opts.skip?.(r)) continue;
      const p = path.join(dir, n);
      const cst = fss.lstatSync(p);
      parts.push(await entryHash(p, r, cst, opts.withOwner));
      if (cst.isDirectory()) await walk(p, r);
    }
  };
  await walk(abs, "");
  return `dir:${createHash("sha256").update(parts.join(",")).digest("hex")}`;
}

// --- wildcards ------------------------------------------------------------------

/** Go's filepath.Match for one path component: `*`, `?`, `[...]` (with `^`/`!` negation), `\` escapes. */
export function componentMatcher(pattern: string): RegExp {
  let re = "^";
  const cps = Array.from(pattern);
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i] as string;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < cps.length) re += escapeRe(cps[++i] as string);
    else if (c === "[") {
      let j = i + 1;
      let cls = "";
      if (cps[j] === "^" || cps[j] === "!") {
        cls += "^";
        j++;
      }
      let closed = false;
      for (; j < cps.length; j++) {
        const d = cps[j] as string;
        if (d === "]" && j > i + 1) {
          closed = true;
          break;
        }
        if (d === "\\" && j + 1 < cps.length) cls += escapeClass(cps[++j] as string);
        else if (d === "-") cls += "-";
        else cls += escapeClass(d);
      }
      if (!closed) throw invalid(`syntax error in pattern ${JSON.stringify(pattern)}`);
      re += `[${cls}]`;
      i = j;
    } else re += escapeRe(c);
  }
  return new RegExp(`${re}$`, "u");
}

/** Escape a character for use outside a class (only syntax characters: other escapes are invalid with the u flag). */
function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

function escapeClass(c: string): string {
  return /[\\\][^-]/.test(c) ? `\\${c}` : c;
}

export function hasWildcards(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?" || c === "[") return true;
  }
  return false;
}

/**
 * Paths in `root` matching a wildcard pattern (relative, slash-separated),
 * found component by component without following symlinked directories.
 * Returned relative to root, sorted.
 */
export function globInRoot(root: string, pattern: string): string[] {
  const parts = cleanParts(pattern);
  const out: string[] = [];
  const walk = (dir: string, rel: string, i: number): void => {
    if (i === parts.length) {
      out.push(rel);
      return;
    }
    const part = parts[i] as string;
    if (!hasWildcards(part)) {
      const name = part.replace(/\\(.)/g, "$1");
      const p = path.join(dir, name);
      const st = fss.lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) return;
      if (i < parts.length - 1 && !st.isDirectory()) return;
      walk(p, rel === "" ? name : `${rel}/${name}`, i + 1);
      return;
    }
    const re = componentMatcher(part);
    let names: string[];
    try {
      names = fss.readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const n of names) {
      if (!re.test(n)) continue;
      const p = path.join(dir, n);
      if (i < parts.length - 1 && !fss.lstatSync(p).isDirectory()) continue;
      walk(p, rel === "" ? n : `${rel}/${n}`, i + 1);
    }
  };
  walk(root, "", 0);
  return out;
}
