/**
 * Applying tar entries to a directory (the Extractor behind extractLayer in
 * tar-extract.ts): safe on (possibly hostile) layer tars.
 *
 * Extraction runs as root on untrusted input, into trees that someone else may
 * change at the same time (docker cp into a volume a running container shares),
 * so it never follows a symlink and never addresses anything below the target
 * by a path string: each directory is opened from its parent's descriptor with
 * O_DIRECTORY|O_NOFOLLOW (util/fdpath.ts) and every entry is created through the
 * descriptor of its parent, so a directory swapped for a symlink midway keeps
 * receiving its entries wherever it moved, never the symlink's target.
 * Existing entries are unlinked before being replaced, and files are opened
 * with O_CREAT|O_EXCL|O_NOFOLLOW. Symlink targets are stored verbatim and never
 * resolved. Hard link targets must be already-extracted paths inside the target.
 *
 * Entry kinds:
 * - files, dirs, symlinks, hard links: created with full mode (incl.
 *   setuid/setgid/sticky), uid/gid (lchown, unless preserveOwners=false) and
 *   mtime. Directory metadata is applied in a final pass, after all entries.
 * - FIFOs: created with `mkfifo` (coreutils, one spawn per FIFO; they are rare).
 * - char/block devices: refused, except a 0:0 char device, which is an
 *   overlay-form whiteout and is treated exactly like `.wh.<name>`.
 * - OCI whiteouts: `.wh.<name>` → 0:0 char device `<name>` (`mknod`), and
 *   `.wh..wh..opq` → xattr trusted.overlay.opaque=y on the directory
 *   (`setfattr`, Debian package `attr`). With overlayWhiteouts=false they
 *   delete lower content instead (flattening layers into one directory).
 *   Other `.wh..wh.*` entries (AUFS metadata) are skipped.
 * - PAX `SCHILY.xattr.*` records are ignored (tar-stream decodes PAX values as
 *   UTF-8, which would corrupt binary values such as security.capability).
 *
 * Limitations: names are decoded as UTF-8; non-UTF-8 byte names are not
 * preserved. A stream that ends exactly on a header boundary without the
 * end-of-archive zero blocks is accepted (like Go's archive/tar and Docker).
 */
import fss, { constants as fsc } from "node:fs";
import type { Header as TarHeader } from "tar-stream";
import { EngineError, errnoCode, internal, invalid, isEngineError } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import { run as exec } from "../util/exec.js";
import { DirFds } from "./dirfds.js";
import { at, baseOf, closeQuietly, joinRel, parentOf, lstatAt, openDirAt, procAt, readdirAt, removeAt } from "../util/fdpath.js";

/** Largest entry size accepted (1 TiB); anything above is treated as a corrupt/hostile header. */
const MAX_ENTRY_SIZE = 2 ** 40;
const WH_PREFIX = ".wh.";
const WH_META_PREFIX = ".wh..wh.";
const WH_OPAQUE = ".wh..wh..opq";


/** Normalize a tar entry name to a relative path ("" = the root itself). */
function normalizeName(raw: string, what = "tar entry", absoluteInside = false): string {
  if (raw === "") throw invalid(`invalid ${what} "": empty name`);
  if (raw.includes("\0")) throw invalid(`invalid ${what} ${JSON.stringify(raw)}: NUL in name`);
  if (raw.startsWith("/") && !absoluteInside) throw invalid(`invalid ${what} "${raw}": absolute path`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalid(`invalid ${what} "${raw}": path contains ".."`);
  return parts.join("/");
}




/** One entry as yielded by tar-stream's extract iterator. */
export type TarEntry = AsyncIterable<Buffer> & { header: TarHeader };

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

interface Meta extends DirMeta {
  name: string;
}


/**
 * Applies entries to the target directory. Filesystem calls are synchronous on
 * purpose: per-entry metadata syscalls take microseconds, while a threadpool
 * round trip per call made extraction ~10x slower. The event loop still
 * regains control between stream chunks, so the daemon stays responsive.
 */
export class Extractor {
  private readonly dirs: DirFds;
  /** Deferred directory metadata, applied after all entries. */
  private readonly dirMeta = new Map<string, DirMeta>();
  /** Paths created by this layer (flatten mode only, for opaque whiteouts). */
  private readonly unpacked = new Set<string>();

  constructor(
    rootFd: number,
    private readonly overlay: boolean,
    private readonly owners: boolean,
    private readonly whiteouts = true,
    private readonly onEntry?: (rel: string, type: string | null) => boolean | void,
    private readonly idMap?: IdMap,
    private readonly absoluteNames = false,
  ) {
    this.dirs = new DirFds(rootFd);
  }

  close(): void {
    this.dirs.closeAll();
  }

  async entry(entry: TarEntry): Promise<void> {
    await this.apply(entry, entry.header);
    // Drain whatever was not consumed (non-file entries may carry data).
    for await (const _ of entry) {
      /* discard */
    }
  }

  private async apply(entry: TarEntry, h: TarHeader): Promise<void> {
    const rawName = h.name;
    const rel = normalizeName(rawName, "tar entry", this.absoluteNames);
    const pax = (h.pax ?? {}) as Record<string, string>;
    const meta: Meta = {
      name: rawName,
      mode: (h.mode ?? 0) & 0o7777,
      uid: paxInt(pax.uid) ?? h.uid ?? 0,
      gid: paxInt(pax.gid) ?? h.gid ?? 0,
      mtime: paxTime(pax.mtime) ?? h.mtime ?? new Date(0),
    };
    const size = h.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ENTRY_SIZE)
      throw invalid(`invalid tar entry "${rawName}": absurd size ${size}`);
    if (!Number.isSafeInteger(meta.uid) || meta.uid < 0 || meta.uid > 0xfffffffe)
      throw invalid(`invalid tar entry "${rawName}": bad uid`);
    if (!Number.isSafeInteger(meta.gid) || meta.gid < 0 || meta.gid > 0xfffffffe)
      throw invalid(`invalid tar entry "${rawName}": bad gid`);
    if (Number.isNaN(meta.mtime.getTime())) meta.mtime = new Date(0);
    if (this.idMap && this.owners) {
      meta.uid = this.idMap.hostUid(meta.uid);
      meta.gid = this.idMap.hostGid(meta.gid);
    }

    const type = h.type as string | null;
    if (this.onEntry?.(rel, type) === false) return;
    if (rel === "") {
      if (type !== "directory") throw invalid(`invalid tar entry "${rawName}": the root must be a directory`);
      this.dirMeta.set("", meta);
      return;
    }

    const base = baseOf(rel);
    if (this.whiteouts && base === WH_OPAQUE) return this.opaque(parentOf(rel));
    // AUFS metadata (.wh..wh.plnk, .wh..wh.aufs, ...) and anything below it is skipped.
    if (this.whiteouts && (rel.startsWith(WH_META_PREFIX) || rel.includes(`/${WH_META_PREFIX}`))) return;
    if (this.whiteouts && base.startsWith(WH_PREFIX)) {
      const dir = parentOf(rel);
      const target = base.slice(WH_PREFIX.length);
      if (target === "" || target === "." || target === "..") throw invalid(`invalid tar entry "${rawName}": bad whiteout name`);
      return this.whiteout(joinRel(dir, target), meta);
    }

    switch (type) {
      case "file":
      case "contiguous-file":
        return this.file(rel, meta, size, entry);
      case "directory":
        return this.directory(rel, meta);
      case "symlink":
        return this.symlink(rel, meta, h.linkname ?? "");
      case "link":
        return this.hardlink(rel, h.linkname ?? "");
      case "fifo":
        return this.fifo(rel, meta);
      case "character-device":
        if (this.whiteouts && (h.devmajor ?? 0) === 0 && (h.devminor ?? 0) === 0) return this.whiteout(rel, meta);
        throw invalid(`device files are not allowed: ${rawName}`);
      case "block-device":
        throw invalid(`device files are not allowed: ${rawName}`);
      default:
        throw invalid(`invalid tar entry "${rawName}": unsupported entry type`);
    }
  }

  // -- path safety ----------------------------------------------------------

  /**
   * The open directory rel (a real directory, never reached through a symlink).
   * Missing components are created (0755, the container root's) when create is
   * set; otherwise undefined when one is missing. what names the entry in errors.
   */
  private dir(rel: string, create: boolean, what = rel): number | undefined {
    const hit = this.dirs.cached(rel);
    if (hit !== undefined) return hit;
    const parentRel = parentOf(rel);
    const parent = this.dir(parentRel, create, what);
    if (parent === undefined) return undefined;
    const name = baseOf(rel);
    let st = lstatAt(parent, name);
    if (st === undefined) {
      if (!create) return undefined;
      this.implicitDir(parent, name);
      if (!this.overlay) this.unpacked.add(rel);
      st = lstatAt(parent, name);
    }
    if (st?.isSymbolicLink()) throw invalid(`path ${what} escapes through symlink ${rel}`);
    if (st !== undefined && !st.isDirectory()) throw invalid(`invalid tar entry "${what}": parent ${rel} is not a directory`);
    let fd: number;
    try {
      fd = openDirAt(parent, name);
    } catch (e) {
      const c = errnoCode(e);
      // Replaced between the look and the open (someone else writes here too): never follow it.
      if (c === "ELOOP") throw invalid(`path ${what} escapes through symlink ${rel}`);
      if (c === "ENOTDIR") throw invalid(`invalid tar entry "${what}": parent ${rel} is not a directory`);
      if (c === "ENOENT" && !create) return undefined;
      throw e;
    }
    this.dirs.add(rel, fd);
    return fd;
  }

  /** The open parent directory of rel (see dir). */
  private parent(rel: string, create: boolean): number | undefined {
    return this.dir(parentOf(rel), create, rel);
  }

  /** A directory the archive implies but does not list: 0755, owned by the (container) root. */
  private implicitDir(parent: number, name: string): void {
    try {
      fss.mkdirSync(at(parent, name), 0o755);
    } catch (e) {
      if (errnoCode(e) === "EEXIST") return; // someone else made it: dir() looks at what it is
      throw e;
    }
    const fd = openDirAt(parent, name);
    try {
      fss.fchmodSync(fd, 0o755);
      if (this.idMap && this.owners) fss.fchownSync(fd, this.idMap.root.uid, this.idMap.root.gid);
    } finally {
      closeQuietly(fd);
    }
  }

  /** Remove whatever exists at name in parent (rel's parent). Never follows symlinks. */
  private remove(parent: number, rel: string): void {
    this.dirs.forget(rel);
    const prefix = `${rel}/`;
    for (const d of this.dirMeta.keys()) if (d === rel || d.startsWith(prefix)) this.dirMeta.delete(d);
    removeAt(parent, baseOf(rel));
  }

  /** Run op to create rel in parent; if something is in the way, remove it and retry once. */
  private create<T>(parent: number, rel: string, op: (p: string) => T): T {
    const p = at(parent, baseOf(rel));
    let result: T;
    try {
      result = op(p);
    } catch (e) {
      if (errnoCode(e) !== "EEXIST") throw e;
      this.remove(parent, rel);
      result = op(p);
    }
    if (!this.overlay) this.unpacked.add(rel);
    return result;
  }

  // -- entry kinds ------------------------------------------------------------

  private async file(rel: string, meta: Meta, size: number, entry: TarEntry): Promise<void> {
    const parent = this.parent(rel, true) as number;
    const fd = this.create(parent, rel, (p) => fss.openSync(p, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600));
    try {
      let written = 0;
      for await (const chunk of entry) {
        let off = 0;
        while (off < chunk.length) {
          const n = fss.writeSync(fd, chunk, off, chunk.length - off);
          if (n <= 0) throw internal(`short write to ${rel}`);
          off += n;
        }
        written += chunk.length;
      }
      if (written !== size) throw invalid(`invalid tar entry "${meta.name}": truncated file data`);
      if (this.owners) fss.fchownSync(fd, meta.uid, meta.gid);
      fss.fchmodSync(fd, meta.mode);
      fss.futimesSync(fd, meta.mtime, meta.mtime);
    } finally {
      fss.closeSync(fd);
    }
  }

  private directory(rel: string, meta: Meta): void {
    const parent = this.parent(rel, true) as number;
    const name = baseOf(rel);
    const st = lstatAt(parent, name);
    if (st === undefined || !st.isDirectory()) {
      if (st !== undefined) this.remove(parent, rel);
      fss.mkdirSync(at(parent, name), 0o700);
    }
    // Held from now on: whatever happens to the name, the entries below go into this directory.
    this.dir(rel, false);
    if (!this.overlay) this.unpacked.add(rel);
    this.dirMeta.set(rel, meta);
  }

  private symlink(rel: string, meta: Meta, target: string): void {
    if (target === "") throw invalid(`invalid tar entry "${meta.name}": empty symlink target`);
    if (target.includes("\0")) throw invalid(`invalid tar entry "${meta.name}": NUL in symlink target`);
    const parent = this.parent(rel, true) as number;
    this.create(parent, rel, (p) => fss.symlinkSync(target, p));
    const p = at(parent, baseOf(rel));
    if (this.owners) fss.lchownSync(p, meta.uid, meta.gid);
    fss.lutimesSync(p, meta.mtime, meta.mtime);
  }

  private hardlink(rel: string, linkname: string): void {
    const targetRel = normalizeName(linkname, "hard link target", this.absoluteNames);
    const bad = (why: string): EngineError => invalid(`invalid hard link "${rel}" -> "${linkname}": ${why}`);
    if (targetRel === "") throw bad("target is the root");
    if (targetRel === rel) throw bad("links to itself");
    if (targetRel.startsWith(`${rel}/`)) throw bad("target is inside the link path");
    const targetParent = this.parent(targetRel, false);
    if (targetParent === undefined) throw bad("target does not exist");
    const st = lstatAt(targetParent, baseOf(targetRel));
    if (st === undefined) throw bad("target does not exist");
    if (st.isDirectory()) throw bad("target is a directory");
    const targetPath = at(targetParent, baseOf(targetRel));
    const parent = this.parent(rel, true) as number;
    // link(2) does not follow a symlink target: the new name is another link to the symlink itself.
    this.create(parent, rel, (p) => fss.linkSync(targetPath, p));
  }

  private async fifo(rel: string, meta: Meta): Promise<void> {
    const parent = this.parent(rel, true) as number;
    const name = baseOf(rel);
    this.remove(parent, rel);
    await run("mkfifo", ["-m", "0600", "--", procAt(parent, name)]);
    if (!this.overlay) this.unpacked.add(rel);
    // Opened without following and without waiting for a writer: the metadata goes to this FIFO only.
    const fd = fss.openSync(at(parent, name), fsc.O_RDONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW);
    try {
      if (!fss.fstatSync(fd).isFIFO()) throw internal(`mkfifo did not create a FIFO at ${rel}`);
      if (this.owners) fss.fchownSync(fd, meta.uid, meta.gid);
      fss.fchmodSync(fd, meta.mode);
      fss.futimesSync(fd, meta.mtime, meta.mtime);
    } finally {
      closeQuietly(fd);
    }
  }

  private async whiteout(rel: string, meta: Meta): Promise<void> {
    if (this.overlay) {
      const parent = this.parent(rel, true) as number;
      this.remove(parent, rel);
      await run("mknod", ["-m", "0", "--", procAt(parent, baseOf(rel)), "c", "0", "0"]);
      if (this.owners) fss.lchownSync(at(parent, baseOf(rel)), meta.uid, meta.gid);
      return;
    }
    const parent = this.parent(rel, false);
    if (parent === undefined) return; // nothing to delete
    this.remove(parent, rel);
  }

  private async opaque(dir: string): Promise<void> {
    if (this.overlay) {
      const fd = this.realDir(dir, true) as number;
      // The fd link itself is followed: it is the directory we hold, nothing else.
      await run("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", "--", procAt(fd)]);
      return;
    }
    const fd = this.realDir(dir, false);
    if (fd === undefined) return;
    this.clearNotUnpacked(fd, dir);
  }

  /** The open directory dir (created 0755 when missing and create is set); undefined if missing or not a directory. */
  private realDir(dir: string, create: boolean): number | undefined {
    const parent = this.parent(dir, create);
    if (parent === undefined) return undefined;
    if (dir !== "") {
      const st = lstatAt(parent, baseOf(dir));
      if (st?.isSymbolicLink()) throw invalid(`path ${dir} escapes through symlink ${dir}`);
      if (st !== undefined && !st.isDirectory()) {
        if (!create) return undefined;
        throw invalid(`invalid opaque whiteout: ${dir} is not a directory`);
      }
    }
    return this.dir(dir, create);
  }

  /** Flatten mode: remove everything under dir (an open real dir) not created by this layer. */
  private clearNotUnpacked(fd: number, dir: string): void {
    for (const name of readdirAt(fd)) {
      const rel = joinRel(dir, name);
      if (!this.unpacked.has(rel)) this.remove(fd, rel);
      else if (lstatAt(fd, name)?.isDirectory()) {
        const child = this.dir(rel, false);
        if (child !== undefined) this.clearNotUnpacked(child, rel);
      }
    }
  }

  /** Final pass: directory metadata (after contents, so mtimes stick), through each directory's own descriptor. */
  finish(): void {
    for (const [rel, meta] of this.dirMeta) {
      let fd: number | undefined;
      try {
        fd = this.dir(rel, false);
      } catch {
        continue; // replaced meanwhile by something that is not ours to change
      }
      if (fd === undefined) continue;
      if (this.owners) fss.fchownSync(fd, meta.uid, meta.gid);
      fss.fchmodSync(fd, meta.mode);
      fss.futimesSync(fd, meta.mtime, meta.mtime);
    }
  }
}

function paxInt(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

function paxTime(v: string | undefined): Date | undefined {
  if (v === undefined || !/^-?\d+(\.\d+)?$/.test(v)) return undefined;
  return new Date(Math.floor(Number(v)) * 1000);
}

/** Run a helper binary (util/exec); a missing binary gives a clear error naming the Debian package. */
async function run(cmd: string, args: string[]): Promise<void> {
  try {
    await exec(cmd, args);
  } catch (e) {
    if (isEngineError(e) && errnoCode(e.cause) === "ENOENT") {
      const pkg = cmd === "setfattr" ? "attr" : "coreutils";
      throw internal(`${cmd} not found: install the Debian package "${pkg}"`, e);
    }
    throw e;
  }
}
