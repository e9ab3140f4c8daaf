/**
 * Layer tar handling: safe extraction of (possibly hostile) layer tars into a
 * directory, and deterministic tar creation from a directory.
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
import fss, { promises as fs, constants as fsc, type BigIntStats } from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { Readable, pipeline } from "node:stream";
import { createGunzip, type Gunzip } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import { extract as tarExtract, type Header as TarHeader, type Extract as TarExtract } from "tar-stream";
import { BULK_CHUNK, coalesce } from "../util/chunks.js";
import { EngineError, errnoCode, internal, invalid, isEngineError, messageOf } from "../util/errors.js";
import type { Digest } from "../util/digest.js";
import type { IdMap } from "../util/idmap.js";
import { at, closeQuietly, lstatAt, openDirAt, procAt, readdirAt, removeAt, reopenDir } from "../util/fdpath.js";

export interface ExtractOptions {
  /** Apply OCI whiteouts as overlayfs whiteouts (`.wh.x` → char device 0:0 named x; `.wh..wh..opq` → xattr trusted.overlay.opaque=y on the dir). Default true. When false, whiteouts delete the named paths (flattening). */
  overlayWhiteouts?: boolean;
  /** Keep uid/gid from the archive (lchown). Default true. */
  preserveOwners?: boolean;
  /**
   * User-namespace remapping: the archive's (container) ids are written as host ids,
   * and directories the archive implies get the container root's host ids. An id
   * outside the mapping fails the extraction.
   */
  idMap?: IdMap;
  /**
   * Interpret whiteouts at all. Default true. When false (docker cp: Docker's
   * Untar does not), `.wh.*` names are ordinary files and a 0:0 char device is
   * refused like any other device.
   */
  whiteouts?: boolean;
  /**
   * Called before each entry is applied, with its normalized relative path ("" for
   * the root) and tar type. Returning false skips the entry; throwing aborts the
   * extraction with that error.
   */
  onEntry?: (rel: string, type: string | null) => boolean | void;
  /**
   * Called with every decoded (uncompressed) tar chunk, in order, before it is parsed
   * (tar-split recording); a returned promise is awaited before the next chunk.
   */
  onData?: (chunk: Buffer) => void | Promise<void>;
  /**
   * Accept a stream that stops right after its last entry's data, without the
   * padding and end blocks (the docker CLI sends such a build context when the
   * Dockerfile lives outside the context). Never for image layers.
   */
  padFinalEntry?: boolean;
  /**
   * Read an absolute entry name (or hard link target) as relative to the root, as
   * Docker's Untar does for docker cp ("/abs" lands in <dest>/abs). Never for image layers.
   */
  absoluteNames?: boolean;
  signal?: AbortSignal;
}

export interface ExtractResult {
  diffId: Digest;
  /** Uncompressed tar bytes. */
  size: number;
  /** Tar entries processed (PAX/GNU long-name headers not counted). */
  entries: number;
  /** Bytes of its files and symlink targets: what dockerd (overlay2) reports as a layer's size. */
  contentSize: number;
}

/** Largest entry size accepted (1 TiB); anything above is treated as a corrupt/hostile header. */
const MAX_ENTRY_SIZE = 2 ** 40;
const WH_PREFIX = ".wh.";
const WH_META_PREFIX = ".wh..wh.";
const WH_OPAQUE = ".wh..wh..opq";
const EXEC_TIMEOUT_MS = 60_000;

/** Errors raised by the caller's input stream are passed through untouched. */
const sourceErrors = new WeakSet<object>();

/**
 * Extract a layer tar (plain, gzip or zstd, detected by magic bytes; other
 * compressions are refused with EngineError "invalid") into target: a trusted
 * directory path, or an open directory descriptor (it stays the caller's). It
 * must exist (empty, or partially filled when flattening several layers).
 *
 * diffId is the sha256 of the uncompressed tar stream: every byte, including
 * the end-of-archive zero blocks and any trailing padding.
 *
 * Any failure rejects: malformed/hostile archives with EngineError("invalid"),
 * local filesystem failures with EngineError("internal"), input stream errors
 * as raised by the stream, abort with the signal's reason. On failure partial
 * content may remain in targetDir; the caller is expected to extract into a
 * temporary directory and delete it.
 */
export async function extractLayer(
  input: NodeJS.ReadableStream | Readable,
  target: string | number,
  opts: ExtractOptions = {},
): Promise<ExtractResult> {
  const signal = opts.signal;
  signal?.throwIfAborted();
  let rootFd: number;
  if (typeof target === "number") rootFd = reopenDir(target);
  else {
    try {
      rootFd = fss.openSync(target, fsc.O_RDONLY | fsc.O_DIRECTORY);
    } catch (e) {
      if (errnoCode(e) === "ENOTDIR") throw invalid(`extraction target ${target} is not a directory`);
      throw e;
    }
  }
  const extractor = new Extractor(rootFd, opts.overlayWhiteouts ?? true, opts.preserveOwners ?? true, opts.whiteouts ?? true, opts.onEntry, opts.idMap, opts.absoluteNames ?? false);
  const hash = createHash("sha256");
  let size = 0;
  let entries = 0;
  let contentSize = 0;

  const it = (input as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  // Destroyed without an error: an error would be emitted on the caller's stream.
  const destroyInput = (): void => {
    const d = (input as { destroy?: () => void }).destroy;
    if (typeof d === "function") d.call(input);
  };
  let gunzip: Gunzip | undefined;
  // allowUnknownFormat: accept V7 headers too (checksums are still verified).
  const ex = tarExtract({ allowUnknownFormat: true } as Parameters<typeof tarExtract>[0]);
  ex.on("error", noop); // errors are collected via the iterator / firstError
  let firstError: unknown;
  const fail = (err: unknown): void => {
    if (firstError === undefined) firstError = err;
    const e = err instanceof Error ? err : new Error(String(err));
    ex.destroy(e);
    gunzip?.destroy(e);
    destroyInput();
  };
  const onAbort = (): void => fail(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });

  try {
    const head = await peekHead(it, 6);
    const magic = Buffer.concat(head);
    const compression = detectCompression(magic);
    if (compression !== "gzip" && compression !== "zstd" && compression !== "none") throw invalid(`${compression} compressed layers are not supported`);

    async function* raw(): AsyncGenerator<Buffer> {
      yield* head;
      for (;;) {
        let r: IteratorResult<unknown>;
        try {
          r = await it.next();
        } catch (e) {
          if (typeof e === "object" && e !== null) sourceErrors.add(e);
          throw e;
        }
        if (r.done) return;
        yield toBuffer(r.value);
      }
    }

    // Big chunks (~1 MiB) all the way down: each chunk costs a zlib threadpool
    // round trip, a tar parser step and a write call, whatever its size.
    const input = coalesce(raw(), BULK_CHUNK);
    let decoded: AsyncIterable<Buffer>;
    if (compression === "gzip") {
      gunzip = createGunzip({ chunkSize: BULK_CHUNK });
      gunzip.on("error", noop);
      decoded = pipeline(Readable.from(input, { objectMode: false, highWaterMark: BULK_CHUNK }), gunzip, () => {
        /* errors surface through iteration of gunzip */
      }) as Gunzip as AsyncIterable<Buffer>;
    } else if (compression === "zstd") {
      decoded = zstdDecode(input);
    } else {
      decoded = input;
    }
    const onData = opts.onData;

    // Pump decoded bytes into the tar parser, hashing on the way.
    const pump = (async () => {
      try {
        for await (const chunk of decoded) {
          hash.update(chunk);
          size += chunk.length;
          const recorded = onData?.(chunk);
          if (recorded) await recorded;
          if (!ex.write(chunk)) {
            // streamx emits "close" synchronously when `destroyed` becomes true,
            // so checking first means drained() cannot miss it.
            if (ex.destroyed) return;
            await drained(ex);
          }
          if (ex.destroying || ex.destroyed) return;
        }
        // (Less than one header block is a cut header, not a cut entry: the parser says so.)
        if (opts.padFinalEntry && size > 512 && size % 512 !== 0 && !(ex.destroying || ex.destroyed)) ex.write(Buffer.alloc(512 - (size % 512)));
        (ex as unknown as { end(): void }).end();
      } catch (e) {
        fail(e);
      }
    })();

    try {
      for await (const entry of ex as unknown as AsyncIterable<TarEntry>) {
        signal?.throwIfAborted();
        entries++;
        // overlay2's layer size: the bytes of its files plus its symlinks' targets (dockerd's directory.Size of the diff).
        contentSize += entry.header.type === "symlink" ? Buffer.byteLength(entry.header.linkname ?? "") : entry.header.type === "file" || entry.header.type === "contiguous-file" ? (entry.header.size ?? 0) : 0;
        await extractor.entry(entry);
      }
    } catch (e) {
      fail(e);
    }
    await pump;
    if (firstError !== undefined) throw firstError;
    await extractor.finish();
    signal?.throwIfAborted();
  } catch (e) {
    fail(e);
    throw classify(firstError ?? e, signal);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    extractor.close();
    closeQuietly(rootFd);
  }

  return { diffId: `sha256:${hash.digest("hex")}` as Digest, size, entries, contentSize };
}

/** Streaming zstd decompression (fzstd: pure JS, so no native build is needed). */
async function* zstdDecode(src: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let out: Buffer[] = [];
  const dec = new ZstdDecompress((data) => {
    if (data.length > 0) out.push(Buffer.from(data));
  });
  for await (const chunk of src) {
    try {
      dec.push(chunk);
    } catch (e) {
      throw invalid(`invalid zstd layer: ${messageOf(e)}`);
    }
    if (out.length > 0) {
      const ready = out;
      out = [];
      yield* ready;
    }
  }
  try {
    dec.push(new Uint8Array(0), true);
  } catch (e) {
    throw invalid(`invalid zstd layer: ${messageOf(e)}`);
  }
  yield* out;
}

function noop(): void {
  /* swallow: the error is reported through the promise */
}

function classify(e: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (isEngineError(e)) return e;
  if (typeof e === "object" && e !== null && sourceErrors.has(e)) return e;
  if (typeof e === "object" && e !== null && "syscall" in e) return internal(`extracting layer: ${messageOf(e)}`, e);
  return new EngineError("invalid", `invalid layer tar: ${messageOf(e)}`, { cause: e });
}

function toBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === "string") return Buffer.from(v, "latin1");
  throw invalid("layer input stream yielded a non-binary chunk");
}

async function peekHead(it: AsyncIterator<unknown>, want: number): Promise<Buffer[]> {
  const head: Buffer[] = [];
  let n = 0;
  while (n < want) {
    let r: IteratorResult<unknown>;
    try {
      r = await it.next();
    } catch (e) {
      if (typeof e === "object" && e !== null) sourceErrors.add(e);
      throw e;
    }
    if (r.done) break;
    const b = toBuffer(r.value);
    head.push(b);
    n += b.length;
  }
  return head;
}

type Compression = "none" | "gzip" | "zstd" | "bzip2" | "xz";

function detectCompression(b: Buffer): Compression {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b.length >= 4 && b.readUInt32BE(0) === 0x28b52ffd) return "zstd";
  if (b.length >= 3 && b.toString("latin1", 0, 3) === "BZh") return "bzip2";
  if (b.length >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  return "none";
}

/** Resolve when a streamx writable drains, or when it is closed/destroyed. */
function drained(w: TarExtract): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off("drain", done);
      w.off("close", done);
      w.off("error", done);
      resolve();
    };
    w.on("drain", done);
    w.on("close", done);
    w.on("error", done);
  });
}

// ---------------------------------------------------------------------------
// Entry application

/** Normalize a tar entry name to a relative path ("" = the root itself). */
function normalizeName(raw: string, what = "tar entry", absoluteInside = false): string {
  if (raw === "") throw invalid(`invalid ${what} "": empty name`);
  if (raw.includes("\0")) throw invalid(`invalid ${what} ${JSON.stringify(raw)}: NUL in name`);
  if (raw.startsWith("/") && !absoluteInside) throw invalid(`invalid ${what} "${raw}": absolute path`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalid(`invalid ${what} "${raw}": path contains ".."`);
  return parts.join("/");
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf("/") + 1);
}

function joinRel(dir: string, name: string): string {
  return dir === "" ? name : `${dir}/${name}`;
}

/** One entry as yielded by tar-stream's extract iterator. */
type TarEntry = AsyncIterable<Buffer> & { header: TarHeader };

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
 * Open directories of the target, by relative path, so that every entry is
 * written through a descriptor of its parent directory: the root's descriptor
 * is the only thing ever addressed from outside, and each directory below it was
 * opened with O_NOFOLLOW from its own parent's descriptor. A directory renamed or
 * swapped for a symlink afterwards (a running container sharing a volume) keeps
 * receiving what belongs in it, wherever it now is; nothing is ever written
 * through the symlink. At most MAX_OPEN_DIRS are held (least recently used go).
 */
class DirFds {
  private readonly fds = new Map<string, number>();

  constructor(readonly rootFd: number) {}

  /** The cached descriptor of rel ("" = the root), refreshed as most recently used. */
  cached(rel: string): number | undefined {
    if (rel === "") return this.rootFd;
    const fd = this.fds.get(rel);
    if (fd !== undefined) {
      this.fds.delete(rel);
      this.fds.set(rel, fd);
    }
    return fd;
  }

  add(rel: string, fd: number): void {
    const old = this.fds.get(rel);
    if (old !== undefined) closeQuietly(old);
    this.fds.delete(rel);
    this.fds.set(rel, fd);
    for (const [k, v] of this.fds) {
      if (this.fds.size <= MAX_OPEN_DIRS) break;
      this.fds.delete(k);
      closeQuietly(v);
    }
  }

  /** Close and forget rel and everything below it. */
  forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const [k, v] of this.fds) {
      if (k === rel || k.startsWith(prefix)) {
        this.fds.delete(k);
        closeQuietly(v);
      }
    }
  }

  closeAll(): void {
    for (const v of this.fds.values()) closeQuietly(v);
    this.fds.clear();
  }
}

const MAX_OPEN_DIRS = 128;

/**
 * Applies entries to the target directory. Filesystem calls are synchronous on
 * purpose: per-entry metadata syscalls take microseconds, while a threadpool
 * round trip per call made extraction ~10x slower. The event loop still
 * regains control between stream chunks, so the daemon stays responsive.
 */
class Extractor {
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

/** Run a helper binary; a missing binary gives a clear error naming the package. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: EXEC_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err === null) return resolve();
      if (errnoCode(err) === "ENOENT") {
        const pkg = cmd === "setfattr" || cmd === "getfattr" ? "attr" : "coreutils";
        return reject(internal(`${cmd} not found: install the Debian package "${pkg}"`, err));
      }
      reject(internal(`${cmd} ${args.join(" ")} failed: ${String(stderr).trim() || err.message}`, err));
    });
  });
}

function runOutput(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10 * EXEC_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resolve(String(stdout));
      if (errnoCode(err) === "ENOENT") {
        const pkg = cmd === "setfattr" || cmd === "getfattr" ? "attr" : "coreutils";
        return reject(internal(`${cmd} not found: install the Debian package "${pkg}"`, err));
      }
      reject(internal(`${cmd} failed: ${String(stderr).trim() || err.message}`, err));
    });
  });
}

// ---------------------------------------------------------------------------
// Tar writing

export type TarEntryType = "file" | "directory" | "symlink" | "link" | "character-device" | "block-device" | "fifo";

export interface TarEntryHeader {
  /** Relative path, no leading "./" or "/"; directories without trailing slash (added when encoding). */
  name: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Data size, files only. */
  size?: number;
  /** Symlink target or hard link target name. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

const BLOCK = 512;
const TYPEFLAG: Record<TarEntryType, string> = {
  file: "0",
  link: "1",
  symlink: "2",
  "character-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

/** Two zero blocks: the end-of-archive marker (a fresh buffer each call). */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

/** Zero padding after size bytes of entry data. */
export function tarPadding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rem);
}

function isAsciiPrintable(s: string): boolean {
  return /^[\x20-\x7e]*$/.test(s);
}

/** Split an ASCII name into ustar prefix/name, or undefined if it does not fit. */
function splitUstar(name: string): [string, string] | undefined {
  if (name.length <= 100) return ["", name];
  for (let i = name.indexOf("/"); i >= 0; i = name.indexOf("/", i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length > 155) return undefined;
    if (rest.length <= 100 && rest.length > 0 && prefix.length > 0) return [prefix, rest];
  }
  return undefined;
}

function writeOctal(buf: Buffer, off: number, len: number, value: number): void {
  // len-1 octal digits, NUL terminated.
  buf.write(value.toString(8).padStart(len - 1, "0"), off, len - 1, "ascii");
  buf[off + len - 1] = 0;
}

function fitsOctal(value: number, len: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value < 8 ** (len - 1);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length + bodyLen !== len) len = String(len + 1).length + bodyLen;
  return `${len}${body}`;
}

function ustarBlock(f: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(f.name, 0, 100, "utf8");
  writeOctal(b, 100, 8, f.mode);
  writeOctal(b, 108, 8, f.uid);
  writeOctal(b, 116, 8, f.gid);
  writeOctal(b, 124, 12, f.size);
  writeOctal(b, 136, 12, f.mtime);
  b.write("        ", 148, 8, "ascii");
  b.write(f.typeflag, 156, 1, "ascii");
  b.write(f.linkname, 157, 100, "utf8");
  b.write("ustar\u000000", 257, 8, "ascii");
  writeOctal(b, 329, 8, f.devmajor);
  writeOctal(b, 337, 8, f.devminor);
  b.write(f.prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(sum.toString(8).padStart(6, "0"), 148, 6, "ascii");
  b[154] = 0;
  b[155] = 0x20;
  return b;
}

/** Truncate to at most n bytes of printable ASCII (for fields superseded by PAX records). */
function asciiFallback(s: string, n: number): string {
  return s.replace(/[^\x20-\x7e]/g, "_").slice(0, n);
}

/**
 * Encode one entry's header block(s): a plain ustar header when everything fits,
 * otherwise a PAX extended header (path, linkpath, uid, gid, size, mtime) followed
 * by the ustar header. Deterministic for a given input.
 */
export function encodeTarHeader(h: TarEntryHeader): Buffer {
  const fullName = h.type === "directory" ? `${h.name}/` : h.name;
  const size = h.type === "file" ? (h.size ?? 0) : 0;
  const linkname = h.linkname ?? "";
  const pax: string[] = [];

  let prefix = "";
  let name = fullName;
  const split = isAsciiPrintable(fullName) ? splitUstar(fullName) : undefined;
  if (split) [prefix, name] = split;
  else {
    pax.push(paxRecord("path", fullName));
    name = asciiFallback(fullName, 100);
  }
  let link = linkname;
  if (!isAsciiPrintable(linkname) || linkname.length > 100) {
    pax.push(paxRecord("linkpath", linkname));
    link = asciiFallback(linkname, 100);
  }
  const num = (key: string, v: number, len: number): number => {
    if (fitsOctal(v, len)) return v;
    pax.push(paxRecord(key, String(v)));
    return 0;
  };
  const uid = num("uid", h.uid, 8);
  const gid = num("gid", h.gid, 8);
  const sz = num("size", size, 12);
  const mtime = num("mtime", Math.floor(h.mtime), 12);

  const main = ustarBlock({
    name,
    prefix,
    mode: h.mode & 0o7777,
    uid,
    gid,
    size: sz,
    mtime,
    typeflag: TYPEFLAG[h.type],
    linkname: link,
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
  });
  if (pax.length === 0) return main;
  const body = Buffer.from(pax.join(""), "utf8");
  const paxHeader = ustarBlock({
    name: asciiFallback(`PaxHeaders.0/${baseOf(h.name)}`, 100),
    prefix: "",
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: fitsOctal(Math.floor(h.mtime), 12) ? Math.floor(h.mtime) : 0,
    typeflag: "x",
    linkname: "",
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxHeader, body, tarPadding(body.length), main]);
}

/**
 * Stream a directory as a tar (export/commit/save). Entries: regular files,
 * directories, symlinks (target verbatim), hard links (by dev+inode; the second
 * and later occurrences become link entries), FIFOs and device nodes; sockets
 * are skipped. Full mode bits, uid/gid and mtime (seconds) are recorded. The
 * root directory itself is not an entry; names are relative ("bin/sh").
 *
 * With ociWhiteouts, overlayfs whiteouts become OCI whiteouts: a 0:0 char
 * device `x` → empty file `.wh.x` (mode 0600), and a directory with
 * trusted.overlay.opaque=y gets a `.wh..wh..opq` entry right after it (opaque
 * dirs are found with one `getfattr -R` run; Debian package `attr`).
 *
 * Never follows symlinks; each directory's children are emitted in sorted
 * order, so the same tree yields the same bytes. Intended for quiescent trees
 * (a stopped/paused container's upper dir): a file that shrinks while being
 * read fails the stream. xattrs are not recorded.
 */
export function packDirectory(root: string, opts: { ociWhiteouts?: boolean; idMap?: IdMap } = {}): Readable {
  return Readable.from(packEntries(root, opts.ociWhiteouts ?? false, opts.idMap), { objectMode: false, highWaterMark: 256 * 1024 });
}

const READ_CHUNK = 256 * 1024;
const SMALL_FILE = 64 * 1024;

async function* packEntries(rootIn: string, ociWhiteouts: boolean, idMap: IdMap | undefined): AsyncGenerator<Buffer> {
  const root = path.resolve(rootIn);
  const st = await fs.stat(root);
  if (!st.isDirectory()) throw invalid(`${rootIn} is not a directory`);
  const opaque = ociWhiteouts ? await opaqueDirs(root) : new Set<string>();
  const seen = new Map<string, string>();

  // Synchronous fs calls, as in extraction: a threadpool round trip per small
  // syscall costs far more than the syscall; the generator yields per chunk.
  function* walk(dir: string): Generator<Buffer> {
    const names = fss.readdirSync(dir === "" ? root : path.join(root, dir));
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const n of names) {
      const rel = joinRel(dir, n);
      if (n.includes("\uFFFD"))
        throw new EngineError("notImplemented", `cannot archive non-UTF-8 file name ${JSON.stringify(rel)}`);
      const abs = path.join(root, rel);
      const s = fss.lstatSync(abs, { bigint: true, throwIfNoEntry: false });
      if (s === undefined) continue; // vanished
      const base = {
        name: rel,
        mode: Number(s.mode & 0o7777n),
        uid: idMap ? idMap.containerUid(Number(s.uid)) : Number(s.uid),
        gid: idMap ? idMap.containerGid(Number(s.gid)) : Number(s.gid),
        mtime: Number(s.mtimeNs / 1_000_000_000n) - (s.mtimeNs < 0n && s.mtimeNs % 1_000_000_000n !== 0n ? 1 : 0),
      };
      if (s.isDirectory()) {
        yield encodeTarHeader({ ...base, type: "directory" });
        if (opaque.has(rel)) {
          yield encodeTarHeader({ ...base, name: joinRel(rel, WH_OPAQUE), type: "file", mode: base.mode & 0o777, size: 0 });
        }
        yield* walk(rel);
        continue;
      }
      if (s.isSocket()) continue;
      if (s.isCharacterDevice() || s.isBlockDevice()) {
        const { major, minor } = splitDev(s.rdev);
        if (ociWhiteouts && s.isCharacterDevice() && major === 0 && minor === 0) {
          yield encodeTarHeader({ ...base, name: joinRel(dir, WH_PREFIX + n), type: "file", mode: 0o600, size: 0 });
        } else {
          const type = s.isCharacterDevice() ? "character-device" : "block-device";
          yield encodeTarHeader({ ...base, type, devmajor: major, devminor: minor });
        }
        continue;
      }
      if (s.nlink > 1n) {
        const key = `${s.dev}:${s.ino}`;
        const first = seen.get(key);
        if (first !== undefined) {
          yield encodeTarHeader({ ...base, type: "link", linkname: first });
          continue;
        }
        seen.set(key, rel);
      }
      if (s.isSymbolicLink()) {
        yield encodeTarHeader({ ...base, type: "symlink", linkname: fss.readlinkSync(abs) });
      } else if (s.isFIFO()) {
        yield encodeTarHeader({ ...base, type: "fifo" });
      } else if (s.isFile()) {
        yield* fileEntry(abs, rel, base, s);
      }
    }
  }

  yield* walk("");
  yield tarEnd();
}

function* fileEntry(abs: string, rel: string, base: Omit<TarEntryHeader, "type">, s: BigIntStats): Generator<Buffer> {
  const size = Number(s.size);
  const fd = fss.openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    const fst = fss.fstatSync(fd, { bigint: true });
    if (fst.ino !== s.ino || fst.dev !== s.dev) throw internal(`file ${rel} changed while archiving`);
    const header = encodeTarHeader({ ...base, type: "file", size });
    // Small files: header, data and padding in one chunk.
    if (size <= SMALL_FILE) {
      const total = header.length + size + tarPadding(size).length;
      const buf = Buffer.alloc(total);
      header.copy(buf, 0);
      readFully(fd, buf, header.length, size, 0, rel);
      yield buf;
      return;
    }
    yield header;
    let done = 0;
    while (done < size) {
      const want = Math.min(READ_CHUNK, size - done);
      const buf = Buffer.allocUnsafe(want);
      readFully(fd, buf, 0, want, done, rel);
      done += want;
      yield buf;
    }
    const pad = tarPadding(size);
    if (pad.length > 0) yield pad;
  } finally {
    fss.closeSync(fd);
  }
}

function readFully(fd: number, buf: Buffer, off: number, len: number, pos: number, rel: string): void {
  let got = 0;
  while (got < len) {
    const n = fss.readSync(fd, buf, off + got, len - got, pos + got);
    if (n === 0) throw internal(`file ${rel} shrank while archiving`);
    got += n;
  }
}

function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** Relative paths of directories under root with trusted.overlay.opaque=y (one getfattr run). */
async function opaqueDirs(root: string): Promise<Set<string>> {
  const out = await runOutput("getfattr", [
    "-R",
    "-P",
    "--absolute-names",
    "-m",
    "^trusted\\.overlay\\.opaque$",
    "-d",
    "-e",
    "text",
    "--",
    root,
  ]);
  const result = new Set<string>();
  let current: string | undefined;
  for (const line of out.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = unquoteGetfattr(line.slice("# file: ".length));
    } else if (current !== undefined && line === 'trusted.overlay.opaque="y"') {
      if (current === root) result.add("");
      else if (current.startsWith(`${root}/`)) result.add(current.slice(root.length + 1));
    }
  }
  result.delete(""); // the root itself is not an entry
  return result;
}

/** getfattr escapes backslash, newline and CR in file names as \ooo (bytes). */
function unquoteGetfattr(s: string): string {
  if (!s.includes("\\")) return s;
  const bytes: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? 0;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.toString("latin1", i + 1, i + 4))) {
      bytes.push(parseInt(raw.toString("latin1", i + 1, i + 4), 8));
      i += 3;
    } else {
      bytes.push(c);
    }
  }
  return Buffer.from(bytes).toString("utf8");
}
