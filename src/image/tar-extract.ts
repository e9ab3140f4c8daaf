/**
 * extractLayer: a layer tar (plain, gzip or zstd) read, hashed (its diffId) and
 * parsed as a stream, each entry applied by tar-apply.ts. The stream plumbing
 * (peeking the magic bytes, one error path for the source, the decompressor, the
 * parser and the filesystem, abort) is what lives here.
 */
import fss, { constants as fsc } from "node:fs";
import { createHash } from "node:crypto";
import { Readable, pipeline } from "node:stream";
import { createGunzip, type Gunzip } from "node:zlib";
import { Decompress as ZstdDecompress } from "fzstd";
import { extract as tarExtract, type Extract as TarExtract } from "tar-stream";
import { BULK_CHUNK, coalesce } from "../util/chunks.js";
import { EngineError, errnoCode, internal, invalid, isEngineError, messageOf } from "../util/errors.js";
import type { Digest } from "../util/digest.js";
import type { IdMap } from "../util/idmap.js";
import { type TarEntry, Extractor } from "./tar-apply.js";
import { closeQuietly, reopenDir } from "../util/fdpath.js";

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
        const r = await nextFromSource(it);
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

/** The input's next chunk; an error of the input itself is marked to be passed through untouched. */
async function nextFromSource(it: AsyncIterator<unknown>): Promise<IteratorResult<unknown>> {
  try {
    return await it.next();
  } catch (e) {
    if (typeof e === "object" && e !== null) sourceErrors.add(e);
    throw e;
  }
}

async function peekHead(it: AsyncIterator<unknown>, want: number): Promise<Buffer[]> {
  const head: Buffer[] = [];
  let n = 0;
  while (n < want) {
    const r = await nextFromSource(it);
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

// docker cp into a container

export interface CopyInOptions {
  /** See ExtractOptions.onEntry: vet (or skip, by returning false) each entry before it is written. */
  onEntry?: (rel: string, type: string | null) => boolean | void;
  /** User-namespace remapping: the archive's ids are container ids. */
  idMap?: IdMap;
  signal?: AbortSignal;
}

/**
 * Extract a tar (plain or gzip) into dir the way `docker cp` does: whiteout names
 * are ordinary files (Docker's Untar does not interpret them), owners and modes
 * come from the archive, an absolute name is read from the destination. The
 * extraction is extractLayer's: entries with "..", and any write through a
 * symlink, are refused; device files too.
 */
export async function extractCopy(input: NodeJS.ReadableStream | Readable, dir: string | number, opts: CopyInOptions = {}): Promise<{ entries: number }> {
  const res = await extractLayer(input, dir, {
    overlayWhiteouts: false,
    whiteouts: false,
    preserveOwners: true,
    // Go's tar reader, as Docker's Untar uses it, takes "/x" as x under the destination and
    // a stream that ends after its last entry's data (no padding or end blocks) as whole.
    absoluteNames: true,
    padFinalEntry: true,
    ...(opts.idMap ? { idMap: opts.idMap } : {}),
    ...(opts.onEntry ? { onEntry: opts.onEntry } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return { entries: res.entries };
}
