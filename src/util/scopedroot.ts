/**
 * A directory treated as "/" (a container's or an image's root filesystem, a
 * build context): the one place where paths inside such a root are resolved.
 * Hand-written because Node has no openat2(RESOLVE_IN_ROOT): every component is
 * looked up from the descriptor of the directory that holds it (fdpath.ts), a
 * symlink is read and followed as the root's own processes would see it
 * (absolute targets restart at the root, ".." stops at it), the number of
 * links followed is bounded, and directories are opened with
 * O_DIRECTORY|O_NOFOLLOW, so neither a hostile tree nor a running container
 * swapping a directory for a symlink meanwhile can lead a lookup out of the
 * root: a swap can make an operation fail, never reach outside.
 *
 * Callers (docker cp/export/diff/commit, /etc/passwd for --user, volume mount
 * points, build COPY/WORKDIR) keep their own error wording: they catch
 * ScopeError and throw dockerd's message for their operation.
 */
import fss, { constants as fsc, type BigIntStats } from "node:fs";
import path from "node:path";
import { errnoCode } from "./errors.js";
import { at, closeQuietly, lstatAt, openDirAt, readlinkAt } from "./fdpath.js";

/** The kernel's limit on symlinks followed in one lookup. */
export const MAX_LINKS = 40;
/** Docker's limit in FollowSymlinkInScope. */
export const MAX_LINKS_IN_SCOPE = 255;

/** An errno-style failure of a lookup inside a root (ENOENT, ENOTDIR, ELOOP). */
export class ScopeError extends Error {
  constructor(
    readonly code: "ENOENT" | "ENOTDIR" | "ELOOP",
    message: string,
    /** Root-relative components of the entry the failure is about (ENOTDIR from followInScope). */
    readonly parts: readonly string[] = [],
  ) {
    super(message);
    this.name = "ScopeError";
  }
}

/** Owner given to directories and files created inside a root (host ids). */
export interface Owner {
  uid: number;
  gid: number;
}

export interface FollowOptions {
  /** Symlinks followed before ScopeError ELOOP (default MAX_LINKS_IN_SCOPE). */
  maxLinks?: number;
  /** Past maxLinks, stop and answer what was resolved so far instead of throwing. */
  stopAtLimit?: boolean;
  /** A symlink on the way is not followed but counts as a non-directory (with create: ENOTDIR). */
  noFollow?: boolean;
  /**
   * mkdir -p: a missing component is created as a directory (mode minus the umask,
   * or exactly mode with exactMode; owner when given) and every component must be
   * a directory (else ScopeError ENOTDIR naming it).
   */
  create?: { mode: number; owner?: Owner; exactMode?: boolean };
}

export interface ResolvedPath {
  /** Physical components from the root to the entry, symlinks resolved ([] = the root itself). */
  readonly parts: string[];
  /** Open directory that holds the entry (the root's descriptor for the root itself). */
  readonly dirFd: number;
  /** The entry's name in dirFd ("" = the root itself). */
  readonly name: string;
  /** lstat of the entry; undefined when it does not exist (its parent does). */
  readonly stat: BigIntStats | undefined;
  /** Release the descriptors held for dirFd. */
  close(): void;
}

interface Held {
  name: string;
  fd: number;
}

export class ScopedRoot {
  private constructor(
    readonly fd: number,
    readonly hostPath: string,
  ) {}

  /** Open a root given by a trusted host path (e.g. the container's overlay mount point). */
  static open(hostPath: string): ScopedRoot {
    return new ScopedRoot(fss.openSync(hostPath, fsc.O_RDONLY | fsc.O_DIRECTORY), hostPath);
  }

  /** Run fn with the root at hostPath open; closed afterwards. */
  static async with<T>(hostPath: string, fn: (root: ScopedRoot) => T | Promise<T>): Promise<T> {
    const root = ScopedRoot.open(hostPath);
    try {
      return await fn(root);
    } finally {
      root.close();
    }
  }

  close(): void {
    closeQuietly(this.fd);
  }

  /** The host path of root-relative components (for a mount target or a child process). */
  hostPathOf(parts: readonly string[]): string {
    return path.join(this.hostPath, ...parts);
  }

  /**
   * Resolve a path like the kernel would inside a chroot to this root: every
   * symlink in a directory position is followed (absolute targets from the root),
   * ".." stops at the root, and the final component is followed only when
   * followFinal. A missing final component is not an error (stat undefined); a
   * missing or non-directory intermediate one throws ScopeError ENOENT/ENOTDIR,
   * more than MAX_LINKS symlinks ELOOP.
   */
  resolve(p: string, followFinal: boolean): ResolvedPath {
    const queue = splitPath(p);
    const stack: Held[] = [];
    const top = (): number => stack[stack.length - 1]?.fd ?? this.fd;
    let links = 0;
    try {
      while (queue.length > 0) {
        const c = queue.shift() as string;
        if (c === "..") {
          const d = stack.pop();
          if (d) closeQuietly(d.fd);
          continue;
        }
        const last = queue.length === 0;
        const st = lstatAt(top(), c);
        if (st === undefined) {
          if (last) return this.result(stack, c, undefined);
          throw new ScopeError("ENOENT", `no such file or directory: ${c}`);
        }
        if (st.isSymbolicLink() && (!last || followFinal)) {
          if (++links > MAX_LINKS) throw new ScopeError("ELOOP", "too many levels of symbolic links");
          const target = readlinkAt(top(), c);
          if (target.startsWith("/")) release(stack);
          queue.unshift(...splitPath(target));
          continue;
        }
        if (last) return this.result(stack, c, st);
        if (!st.isDirectory()) throw new ScopeError("ENOTDIR", `not a directory: ${c}`);
        let fd: number;
        try {
          fd = openDirAt(top(), c);
        } catch (e) {
          // Replaced between lstat and open (a running container): report it like the kernel would.
          const code = errnoCode(e);
          if (code === "ENOENT") throw new ScopeError("ENOENT", `no such file or directory: ${c}`);
          if (code === "ELOOP" || code === "ENOTDIR") throw new ScopeError("ENOTDIR", `not a directory: ${c}`);
          throw e;
        }
        stack.push({ name: c, fd });
      }
      // The path ended on a directory we hold (or the root itself).
      const d = stack.pop();
      if (d === undefined) return this.result(stack, "", fss.fstatSync(this.fd, { bigint: true }));
      closeQuietly(d.fd);
      return this.result(stack, d.name, lstatAt(top(), d.name));
    } catch (e) {
      release(stack);
      throw e;
    }
  }

  private result(stack: Held[], name: string, stat: BigIntStats | undefined): ResolvedPath {
    const held = stack.map((d) => d.fd);
    const parts = stack.map((d) => d.name);
    if (name !== "") parts.push(name);
    return {
      parts,
      dirFd: held[held.length - 1] ?? this.fd,
      name,
      stat,
      close: () => {
        for (const fd of held.splice(0)) closeQuietly(fd);
      },
    };
  }

  /**
   * Docker's FollowSymlinkInScope: the components of p with every symlink
   * resolved (the final one too); from the first missing or non-directory
   * component on, the rest is taken as written (".." included). ScopeError ELOOP
   * past maxLinks; with create, missing directories are made on the way.
   */
  followInScope(p: string, o: FollowOptions = {}): string[] {
    const maxLinks = o.maxLinks ?? MAX_LINKS_IN_SCOPE;
    const queue = splitPath(p);
    const stack: Held[] = [];
    const missing: string[] = [];
    const top = (): number => stack[stack.length - 1]?.fd ?? this.fd;
    const here = (c: string): string[] => [...stack.map((d) => d.name), c];
    let links = 0;
    try {
      while (queue.length > 0) {
        const c = queue.shift() as string;
        if (c === "..") {
          if (missing.length > 0) missing.pop();
          else {
            const d = stack.pop();
            if (d) closeQuietly(d.fd);
          }
          continue;
        }
        if (missing.length > 0) {
          missing.push(c);
          continue;
        }
        const st = lstatAt(top(), c);
        if (st === undefined) {
          if (o.create === undefined) missing.push(c);
          else {
            mkdirAt(top(), c, o.create, stack.map((d) => d.name));
            queue.unshift(c); // look again: it may have appeared as something else
          }
          continue;
        }
        if (st.isSymbolicLink() && !o.noFollow) {
          if (++links > maxLinks) {
            if (o.stopAtLimit) break;
            throw new ScopeError("ELOOP", "too many levels of symbolic links");
          }
          const target = readlinkAt(top(), c);
          if (target.startsWith("/")) release(stack);
          queue.unshift(...splitPath(target));
          continue;
        }
        if (!st.isDirectory()) {
          if (o.create !== undefined) throw new ScopeError("ENOTDIR", `not a directory: ${c}`, here(c));
          missing.push(c);
          continue;
        }
        try {
          stack.push({ name: c, fd: openDirAt(top(), c) });
        } catch (e) {
          if (o.create !== undefined) throw new ScopeError("ENOTDIR", `not a directory: ${c}: ${errnoCode(e) ?? "?"}`, here(c));
          missing.push(c);
        }
      }
      return [...stack.map((d) => d.name), ...missing];
    } finally {
      release(stack);
    }
  }

  /**
   * FollowSymlinkInScope as an absolute path inside the root (the linkTarget of
   * docker cp's path stat); past MAX_LINKS_IN_SCOPE links, the path resolved so far.
   */
  evalSymlinks(p: string): string {
    return `/${this.followInScope(p, { stopAtLimit: true }).join("/")}`;
  }

  /** Run fn with the directory at root-relative parts open (no symlink followed); undefined if unreachable. */
  withDir<T>(parts: readonly string[], fn: (fd: number) => T): T | undefined {
    return withDirNoFollow(this.fd, parts, fn);
  }

  /** lstat of root-relative rel without following any symlink on the way; undefined if it cannot be reached. */
  lstatNoFollow(rel: string): BigIntStats | undefined {
    const parts = splitPath(rel);
    const name = parts.pop();
    if (name === undefined) return fss.fstatSync(this.fd, { bigint: true });
    return withDirNoFollow(this.fd, parts, (fd) => lstatAt(fd, name));
  }

  /** lchown root-relative paths (never following a symlink, in the path or at its end); unreachable ones are skipped. */
  lchownAll(rels: Iterable<string>, uid: number, gid: number): void {
    for (const rel of rels) {
      const parts = splitPath(rel);
      const name = parts.pop();
      if (name === undefined) continue;
      withDirNoFollow(this.fd, parts, (fd) => {
        if (lstatAt(fd, name) !== undefined) fss.lchownSync(at(fd, name), uid, gid);
      });
    }
  }
}

/** mkdir of name in an open directory (an existing entry is left alone), then its mode and owner through its own descriptor. */
function mkdirAt(dirFd: number, name: string, c: NonNullable<FollowOptions["create"]>, parentParts: string[]): void {
  try {
    fss.mkdirSync(at(dirFd, name), c.mode);
  } catch (e) {
    const code = errnoCode(e);
    if (code === "EEXIST") return;
    if (code === "ENOTDIR" || code === "ENOENT") throw new ScopeError("ENOTDIR", `not a directory: ${parentParts.join("/")}`, parentParts);
    throw e;
  }
  if (!c.exactMode && c.owner === undefined) return;
  const fd = openDirAt(dirFd, name);
  try {
    if (c.exactMode) fss.fchmodSync(fd, c.mode);
    if (c.owner) fss.fchownSync(fd, c.owner.uid, c.owner.gid);
  } finally {
    closeQuietly(fd);
  }
}

function release(stack: Held[]): void {
  for (const d of stack.splice(0)) closeQuietly(d.fd);
}

/** Run fn with the directory at parts (below dirFd) open, not following symlinks; undefined if unreachable. */
function withDirNoFollow<T>(dirFd: number, parts: readonly string[], fn: (fd: number) => T): T | undefined {
  const opened: number[] = [];
  try {
    let cur = dirFd;
    for (const p of parts) {
      try {
        cur = openDirAt(cur, p);
      } catch {
        return undefined;
      }
      opened.push(cur);
    }
    return fn(cur);
  } finally {
    for (const fd of opened) closeQuietly(fd);
  }
}

/** The components of a slash path, "" and "." dropped (".." kept: resolution decides). */
export function splitPath(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/** The components of a slash path with ".." applied lexically, clamped at the root (Go's filepath.Clean of "/"+p). */
export function cleanParts(p: string): string[] {
  const out: string[] = [];
  for (const part of splitPath(p)) {
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out;
}
