/**
 * The filesystem side of `docker cp` on an open container root: the path stat
 * (HEAD), the archive of a path (GET) and the extraction into a directory (PUT),
 * with Docker's semantics and error messages. ArchiveService runs these in the
 * daemon for a container without volumes or bind mounts; for one with them they
 * run in a helper process inside a private mount namespace where those are
 * mounted (cpview.ts), exactly as here.
 *
 * Paths are container paths: symlinks are followed as the container sees them
 * (absolute targets from its root) and never lead out of its root (util/
 * scopedroot.ts: every lookup goes one directory descriptor at a time). The
 * container's /etc/hosts, /etc/hostname and /etc/resolv.conf are the files
 * bind-mounted from its directory, as Docker's cp shows them.
 */
import fss from "node:fs";
import type { Readable } from "node:stream";
import { internal, invalid, isEngineError, messageOf, notFound } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import { type ResolvedPath, ScopeError, type ScopedRoot, closeQuietly, extractCopy, goFileMode, openDirAt, reopenDir, tarTree } from "../image/index.js";
import { resolveUser } from "../runtime/index.js";

/** Docker's ContainerPathStat (the X-Docker-Container-Path-Stat header, base64 JSON). */
export interface PathStat {
  name: string;
  size: number;
  /** Go's os.FileMode bits. */
  mode: number;
  /** RFC 3339 with nanoseconds, local time zone (Go's time.Time JSON). */
  mtime: string;
  linkTarget: string;
}

/** A file bind-mounted from the container's directory: [container path, host path]. */
export type EtcFile = readonly [string, string];

/** A container mount point as the writable check sees it (Docker's MountPoint.Destination and RW). */
export interface WritableMount {
  destination: string;
  rw: boolean;
}

export interface ExtractSpec {
  /** Fail instead of replacing a directory with a non-directory or the reverse (the CLI always asks for it). */
  noOverwriteDirNonDir: boolean;
  /** docker cp -a: own everything extracted by this user of the container (its Config.User). */
  user?: string;
  readonlyRootfs: boolean;
  /** All the container's mount points (tmpfs ones too): where a read-only one holds the destination, nothing is written. */
  mountPoints: WritableMount[];
  idMap?: IdMap;
}

// --- the three operations -------------------------------------------------------

/** HEAD: the stat of a path (a final symlink is reported, not followed). */
export function statPath(root: ScopedRoot, etc: readonly EtcFile[], p: string, idOrName: string): PathStat {
  const binds = bindFiles(root, etc);
  const r = resolveIn(root, p, followsFinal(p), idOrName);
  try {
    return pathStat(root, r, binds, goBase(p), goClean(`/${p}`), p, idOrName);
  } finally {
    r.close();
  }
}

/**
 * GET: a tar of the path (a file: one entry named by its base name; a directory:
 * the directory and its contents; "dir/." names its entries "./..."), with the
 * path's stat. close() releases what the stream reads from; call it when the
 * stream is done with.
 */
export function archivePath(root: ScopedRoot, etc: readonly EtcFile[], p: string, idOrName: string, idMap?: IdMap): { stat: PathStat; tar: Readable; close: () => void } {
  const absPath = preserveTrailingDotOrSeparator(goClean(`/${p}`), p);
  const binds = bindFiles(root, etc);
  const r = resolveIn(root, absPath, followsFinal(absPath), idOrName);
  try {
    const top = goBase(absPath);
    const stat = pathStat(root, r, binds, top, absPath, p, idOrName);
    const key = r.parts.join("/");
    const files = new Map<string, string>();
    for (const [k, host] of binds) {
      if (k === key) files.set("", host);
      else if (key === "" || k.startsWith(`${key}/`)) files.set(key === "" ? k : k.slice(key.length + 1), host);
    }
    const tar = tarTree(r.dirFd, r.name, {
      includeTop: true,
      files,
      ...(idMap ? { idMap } : {}),
      name: (rel) => (top === "/" ? (rel === "" ? "" : `/${rel}`) : rel === "" ? top : `${top}/${rel}`),
    });
    return {
      stat,
      tar,
      close: () => {
        tar.destroy();
        r.close();
      },
    };
  } catch (e) {
    r.close();
    throw e;
  }
}

/**
 * PUT: extract a tar into a directory of the container. The destination (all
 * symlinks followed inside the container) must exist and be a directory, and be
 * writable (Docker's checkWritablePath). Nothing is ever written outside the
 * container's root: entries with absolute names or "..", and writes through
 * symlinks, are refused. rootfs is the root's path (to read the container's
 * users for -a); the extraction works on descriptors only (image/tar-apply.ts).
 */
export async function extractInto(root: ScopedRoot, rootfs: string, etc: readonly EtcFile[], p: string, idOrName: string, body: Readable, spec: ExtractSpec): Promise<void> {
  const binds = bindFiles(root, etc);
  const r = resolveIn(root, goClean(`/${p}`), true, idOrName);
  try {
    const key = r.parts.join("/");
    if (!binds.has(key) && r.stat === undefined) throw fileNotFound(p, idOrName);
    if (binds.has(key) || !r.stat?.isDirectory()) throw invalid("extraction point is not a directory");
    const dest = `/${key}`;
    checkWritable(spec.mountPoints, spec.readonlyRootfs, dest);
    let owner: { uid: number; gid: number } | undefined;
    if (spec.user) {
      const u = await resolveUser(rootfs, spec.user);
      owner = { uid: u.uid, gid: u.gid };
    }
    const written: string[] = [];
    /** The entry being written, as a container path (for the error of a write that fails). */
    let current = dest;
    const onEntry = (rel: string, type: string | null): boolean => {
      // Docker leaves the destination directory's own metadata alone.
      if (rel === "") return false;
      const crel = key === "" ? rel : `${key}/${rel}`;
      current = `/${crel}`;
      if (binds.has(crel)) throw internal(`unlinkat /${crel}: device or resource busy`);
      if (spec.noOverwriteDirNonDir) {
        const existing = root.lstatNoFollow(crel);
        if (existing?.isDirectory() && type !== "directory") throw internal(`cannot overwrite directory "/${crel}" with non-directory "${dest}"`);
        if (existing && !existing.isDirectory() && type === "directory") throw internal(`cannot overwrite non-directory "/${crel}" with directory "${dest}"`);
      }
      if (owner) written.push(crel);
      return true;
    };
    const idMap = spec.idMap;
    // The destination as the directory resolved above (held open), never as a path: a
    // container sharing a volume cannot swap it, or anything below it, for a symlink.
    const destFd = r.name === "" ? reopenDir(r.dirFd) : openDirAt(r.dirFd, r.name);
    try {
      await extractCopy(body, destFd, { onEntry, ...(idMap ? { idMap } : {}) });
    } catch (e) {
      throw unpackError(e, current, dest);
    } finally {
      closeQuietly(destFd);
    }
    if (owner) {
      const host = idMap ? idMap.toHost(owner) : owner;
      root.lchownAll(written, host.uid, host.gid);
    }
  } finally {
    r.close();
  }
}

/**
 * Docker's checkWritablePath: a destination inside a mount point may be written
 * only when that mount is read-write (the deepest mount point holding it decides,
 * as it is the one mounted there); outside every mount point, only when the root
 * filesystem is not read-only.
 */
export function checkWritable(mountPoints: readonly WritableMount[], readonlyRootfs: boolean, dest: string): void {
  let holder: WritableMount | undefined;
  for (const m of mountPoints) {
    const d = goClean(m.destination);
    if (!(d === "/" || dest === d || dest.startsWith(`${d}/`))) continue;
    if (holder === undefined || d.length > goClean(holder.destination).length) holder = m;
  }
  if (holder) {
    if (!holder.rw) throw invalid("mounted volume is marked read-only");
    return;
  }
  if (readonlyRootfs) throw invalid("container rootfs is marked read-only");
}

// --- details ------------------------------------------------------------------------

/**
 * Any failure once the tar is being unpacked is dockerd's unpack helper's:
 * "Error processing tar file(exit status 1): <its error>", worded as Go's tar
 * reader and Docker's Unpack word it, naming paths in the container, never the host's.
 * dockerd answers 500; Berth answers 400 where the request is at fault (a broken or
 * hostile tar, a write the container's mounts refuse, a client that went away), as
 * every bad input gets a 4xx here (docs/security.md), and 500 only for the host's own
 * failures (a full disk, an I/O error).
 */
function unpackError(e: unknown, containerPath: string, dest: string): Error {
  const message = `Error processing tar file(exit status 1): ${unpackReason(e, containerPath, dest)}`;
  const errno: unknown = isEngineError(e) ? e.cause : e;
  const code = typeof errno === "object" && errno !== null && "code" in errno ? String(errno.code) : "";
  return HOST_FAULTS.has(code) ? internal(message, e) : invalid(message);
}

/** Errors that are the host's, not the request's. */
const HOST_FAULTS = new Set(["ENOSPC", "EDQUOT", "EIO", "ENOMEM", "EMFILE", "ENFILE"]);

function unpackReason(e: unknown, containerPath: string, dest: string): string {
  const errno: unknown = isEngineError(e) ? e.cause : e;
  if (typeof errno === "object" && errno !== null && "syscall" in errno && "code" in errno) {
    // A write the kernel refused (a read-only mount nested in the destination, a full disk).
    // Node's "EROFS: read-only file system, open '<host path>'": the description is strerror's, as Go's.
    const what = /^[A-Z0-9]+: ([^,]+)/.exec(messageOf(errno))?.[1] ?? String(errno.code);
    const call = ["mkdir", "symlink", "link"].includes(String(errno.syscall)) ? String(errno.syscall) : "open";
    return `${call} ${containerPath}: ${what}`;
  }
  const m = messageOf(e);
  const tar = goTarReason(m.replace(/^invalid layer tar: /, ""));
  if (tar !== undefined) return tar;
  const outside = /^invalid tar entry "(.*)": path contains "\.\."$/.exec(m);
  if (outside) return `${JSON.stringify(outside[1] ?? "")} is outside of ${JSON.stringify(dest)}`;
  // dockerd's mknod in the container is refused; Berth never creates device files there.
  if (m.startsWith("device files are not allowed")) return "operation not permitted";
  return m;
}

/** The tar reader's (tar-stream's) words for a stream that is not a whole tar, as Go's archive/tar says them. */
export function goTarReason(m: string): string | undefined {
  if (m.startsWith("Unexpected end of data")) return "unexpected EOF";
  if (m.startsWith("Invalid tar header")) return "archive/tar: invalid tar header";
  return undefined;
}

function resolveIn(root: ScopedRoot, p: string, followFinal: boolean, idOrName: string): ResolvedPath {
  try {
    return root.resolve(p, followFinal);
  } catch (e) {
    throw fsError(e, p, idOrName);
  }
}

function fileNotFound(p: string, idOrName: string): Error {
  return notFound(`Could not find the file ${p} in container ${idOrName}`);
}

function fsError(e: unknown, p: string, idOrName: string): unknown {
  if (e instanceof ScopeError) {
    if (e.code === "ENOENT") return fileNotFound(p, idOrName);
    return internal(`lstat ${p}: ${e.code === "ENOTDIR" ? "not a directory" : "too many levels of symbolic links"}`);
  }
  if (isEngineError(e)) return e;
  return internal(`${p}: ${messageOf(e)}`, e);
}

/**
 * The files bind-mounted over the container's /etc/resolv.conf, /etc/hostname and
 * /etc/hosts, by their resolved location in the root (relative, "etc/hosts").
 */
function bindFiles(root: ScopedRoot, etc: readonly EtcFile[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [dest, src] of etc) {
    if (!src || !fss.existsSync(src)) continue;
    let r: ResolvedPath;
    try {
      r = root.resolve(dest, true);
    } catch {
      continue;
    }
    try {
      if (r.stat === undefined || r.stat.isFile()) out.set(r.parts.join("/"), src);
    } finally {
      r.close();
    }
  }
  return out;
}

/** Docker's path stat of a resolved path; a missing one is Docker's 404, a trailing "/" on a non-directory ENOTDIR. */
function pathStat(root: ScopedRoot, r: ResolvedPath, binds: Map<string, string>, name: string, evalPath: string, p: string, idOrName: string): PathStat {
  const host = binds.get(r.parts.join("/"));
  const st = host !== undefined ? fss.statSync(host, { bigint: true }) : r.stat;
  if (st === undefined) throw fileNotFound(p, idOrName);
  if (followsFinal(p) && !st.isDirectory()) throw internal(`lstat ${p}: not a directory`);
  return {
    name,
    size: Number(st.size),
    mode: goFileMode(st),
    mtime: goTime(st.mtimeNs),
    linkTarget: host === undefined && st.isSymbolicLink() ? root.evalSymlinks(evalPath) : "",
  };
}

/** A trailing "/" or a final "." makes the kernel follow (and require) a final directory. */
function followsFinal(p: string): boolean {
  const b = goBase(p);
  return p.endsWith("/") || b === "." || b === "..";
}

/** Go's filepath.Base. */
export function goBase(p: string): string {
  if (p === "") return ".";
  const s = p.replace(/\/+$/, "");
  if (s === "") return "/";
  return s.slice(s.lastIndexOf("/") + 1);
}

/** Go's filepath.Clean for an absolute path. */
export function goClean(p: string): string {
  const out: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return `/${out.join("/")}`;
}

/** Docker's archive.PreserveTrailingDotOrSeparator. */
export function preserveTrailingDotOrSeparator(cleaned: string, original: string): string {
  let out = cleaned;
  if (goBase(out) !== "." && goBase(original) === ".") {
    if (!out.endsWith("/")) out += "/";
    out += ".";
  }
  if (!out.endsWith("/") && original.endsWith("/")) out += "/";
  return out;
}

/** Go's time.Time JSON: RFC 3339 with trimmed nanoseconds, in the daemon's local zone. */
export function goTime(ns: bigint): string {
  const s = 1_000_000_000n;
  let sec = ns / s;
  let frac = ns % s;
  if (frac < 0n) {
    frac += s;
    sec -= 1n;
  }
  const ms = Number(sec) * 1000;
  const offMin = -new Date(ms).getTimezoneOffset();
  const d = new Date(ms + offMin * 60_000);
  const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
  const fracStr = frac === 0n ? "" : `.${frac.toString().padStart(9, "0").replace(/0+$/, "")}`;
  const zone = offMin === 0 ? "Z" : `${offMin > 0 ? "+" : "-"}${pad(Math.floor(Math.abs(offMin) / 60))}:${pad(Math.abs(offMin) % 60)}`;
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fracStr}${zone}`;
}
