/**
 * Registry storage: a small interface (so an S3 backend can be added) and its
 * filesystem implementation, laid out like docker/distribution's:
 *
 *   <root>/blobs/sha256/<ab>/<hex>                       blob bytes, shared by all repositories
 *   <root>/uploads/<uuid>/data, info.json                 upload sessions in progress
 *   <root>/repositories/<name>/_layers/sha256/<hex>       the blob is part of <name> (link file)
 *   <root>/repositories/<name>/_manifests/revisions/sha256/<hex>   a manifest of <name> ({"mediaType"})
 *   <root>/repositories/<name>/_manifests/tags/<tag>      the digest the tag points at
 *   <root>/repositories/<name>/_referrers/<subject-hex>/<hex>      descriptor of a manifest whose subject is that digest
 *
 * Blobs are written to an upload file, hashed, fsynced, and renamed into blobs/
 * only when the digest matches: a wrong or half-written blob is never visible.
 * Links and tags are small files replaced by temp+rename, so concurrent pushes of
 * the same blob or tag leave one complete file. A killed upload leaves only its
 * upload directory, which gc (or the server's TTL sweep) removes.
 */
import { createHash, randomUUID, type Hash } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import path from "node:path";
import { Transform, Writable, type Readable } from "node:stream";
import { finished } from "node:stream/promises";
import { BULK_CHUNK } from "../util/chunks.js";
import { type Digest, hexOf, isDigest } from "../util/digest.js";
import { errnoCode } from "../util/errors.js";
import { atomicWriteFile, mkdirp, syncDir } from "../util/fsutil.js";
import { KeyedMutex } from "../util/lock.js";
import { RegistryError, regErr } from "./errors.js";
import { bestEffort } from "../util/besteffort.js";

export interface AppendOptions {
  /** The chunk must start here (Content-Range). */
  offset?: number;
  /** The chunk is at most this long (SIZE_INVALID past it). */
  maxBytes?: number;
  /** The whole upload may not grow past `total` bytes: `error()` is thrown instead (checked under the session's lock). */
  cap?: { total: number; error: () => Error };
}

export interface UploadInfo {
  id: string;
  repo: string;
  /** Bytes received so far. */
  size: number;
  startedAt: string;
  /** Last time bytes arrived (or the session started). */
  updatedAt: Date;
}

export interface ManifestLink {
  digest: Digest;
  mediaType: string;
}

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

export interface RegistryStorage {
  init(): Promise<void>;

  /** Blobs (content-addressed, shared by every repository). */
  statBlob(d: Digest): Promise<{ size: number; mtime: Date } | undefined>;
  readBlob(d: Digest, range?: ByteRange): Readable;
  readBlobBytes(d: Digest): Promise<Buffer>;
  /** Store small content (a manifest) whose digest we compute. */
  putBlobBytes(data: Uint8Array): Promise<Digest>;
  deleteBlob(d: Digest): Promise<void>;
  listBlobs(): Promise<Digest[]>;

  /** Upload sessions. Operations on one session are serialized. */
  createUpload(repo: string): Promise<UploadInfo>;
  getUpload(id: string): Promise<UploadInfo | undefined>;
  /**
   * Append a chunk. With `offset`, the chunk must start where the upload ends or
   * RANGE_INVALID (416) is thrown. Bytes that arrived before a broken connection
   * are kept (the upload's size says how many), so a client can resume.
   */
  appendUpload(id: string, src: Readable, opts?: AppendOptions): Promise<UploadInfo>;
  /**
   * Verify the digest and make the blob visible; the session ends either way.
   * With `linkTo`, the blob is also linked into that repository (only once verified).
   */
  commitUpload(id: string, expected: Digest, opts?: { linkTo?: string }): Promise<{ digest: Digest; size: number }>;
  /** With `idleBefore`, only when no bytes arrived since then and no request is using it (checked under the session's lock). */
  deleteUpload(id: string, opts?: { idleBefore?: Date }): Promise<boolean>;
  listUploads(): Promise<UploadInfo[]>;
  /** How many upload sessions exist (cheap: no per-session reads). */
  countUploads(): Promise<number>;

  /** Per-repository links. */
  linkBlob(repo: string, d: Digest): Promise<void>;
  unlinkBlob(repo: string, d: Digest): Promise<boolean>;
  hasBlobLink(repo: string, d: Digest): Promise<boolean>;
  listBlobLinks(repo: string): Promise<Digest[]>;

  putManifestLink(repo: string, link: ManifestLink): Promise<void>;
  getManifestLink(repo: string, d: Digest): Promise<ManifestLink | undefined>;
  deleteManifestLink(repo: string, d: Digest): Promise<boolean>;
  listManifestLinks(repo: string): Promise<ManifestLink[]>;

  setTag(repo: string, tag: string, d: Digest): Promise<void>;
  getTag(repo: string, tag: string): Promise<Digest | undefined>;
  deleteTag(repo: string, tag: string): Promise<boolean>;
  /** Sorted ("ASCIIbetical"). */
  listTags(repo: string): Promise<string[]>;

  putReferrer(repo: string, subject: Digest, desc: Record<string, unknown> & { digest: string }): Promise<void>;
  deleteReferrer(repo: string, subject: Digest, d: Digest): Promise<void>;
  listReferrers(repo: string, subject: Digest): Promise<(Record<string, unknown> & { digest: string })[]>;

  repoExists(repo: string): Promise<boolean>;
  /** Sorted repository names. */
  listRepos(): Promise<string[]>;
}

const HEX64 = /^[a-f0-9]{64}$/;
const UUID_RE = /^[a-f0-9-]{36}$/;

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return undefined;
    throw e;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if (errnoCode(e) === "ENOENT" || errnoCode(e) === "ENOTDIR") return [];
    throw e;
  }
}

async function rmFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return false;
    throw e;
  }
}

/** Create `file` (it must not exist), write it and fsync it. */
async function writeSynced(file: string, data: string): Promise<void> {
  const fh = await fs.open(file, "wx");
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Hash a file from the start. */
async function hashFile(file: string): Promise<{ digest: Digest; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest("hex")}` as Digest, size };
}

/** How much of an upload body may wait in memory while the previous write is on its way to disk. */
export const UPLOAD_BUFFER_BYTES = 4 * BULK_CHUNK;

/** Bytes of an upload after which a write-back starts in the background. */
export const UPLOAD_SYNC_EVERY = 8 * BULK_CHUNK;

/** Write all of `bufs` at the end of the file (O_APPEND), however the kernel splits it. */
async function appendAll(fh: FileHandle, bufs: Buffer[], total: number): Promise<void> {
  let left = total;
  let rest = bufs;
  for (;;) {
    const { bytesWritten } = await fh.writev(rest);
    left -= bytesWritten;
    if (left <= 0) return;
    if (bytesWritten <= 0) throw new Error("short write to upload file");
    let skip = bytesWritten;
    const next: Buffer[] = [];
    for (const b of rest) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      next.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
    rest = next;
  }
}

/**
 * The sink of an upload body: the socket's chunks queue up while the previous
 * write is in flight and go to the file in one writev, so reading, hashing and
 * writing overlap (one write per socket chunk, each awaited before the next chunk
 * was read, kept the socket idle half the time). The running hash is updated in
 * order as chunks are handed to the file; `hashedBytes === written` once every
 * write landed.
 */
export class UploadSink extends Writable {
  /** Bytes in the file. */
  written = 0;
  /** Bytes passed to the hash (and to the file). */
  hashedBytes = 0;
  private inflight: Promise<void> = Promise.resolve();
  private syncing: Promise<void> | undefined;
  private syncedUpTo = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly hash: Hash | undefined,
    private readonly maxBytes: number | undefined,
    highWaterMark = UPLOAD_BUFFER_BYTES,
    private readonly syncEvery = UPLOAD_SYNC_EVERY,
  ) {
    super({ highWaterMark });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.writeChunks([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.writeChunks(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  private writeChunks(all: Buffer[], cb: (e?: Error | null) => void): void {
    const bufs: Buffer[] = [];
    let n = 0;
    let tooLong: Error | undefined;
    for (const b of all) {
      if (this.maxBytes !== undefined && this.hashedBytes + n + b.length > this.maxBytes) {
        tooLong = regErr("SIZE_INVALID", { max: this.maxBytes }, `chunk is longer than the ${this.maxBytes} bytes announced`);
        break;
      }
      bufs.push(b);
      n += b.length;
    }
    for (const b of bufs) this.hash?.update(b);
    this.hashedBytes += n;
    const p = n === 0 ? Promise.resolve() : appendAll(this.fh, bufs, n).then(() => {
      this.written += n;
      this.maybeStartSync();
    });
    this.inflight = p.catch(() => undefined); // the chain only orders writes: `p`'s failure reaches the writer through cb
    p.then(() => cb(tooLong), cb);
  }

  /**
   * Start writing back what has landed so far while more arrives (at most one
   * sync at a time), so the fsync before the response only has the tail left.
   */
  private maybeStartSync(): void {
    if (this.syncing || this.syncEvery <= 0 || this.written - this.syncedUpTo < this.syncEvery) return;
    this.syncedUpTo = this.written;
    this.syncing = this.fh.datasync().then(
      () => {
        this.syncing = undefined;
      },
      () => {
        // The fsync that counts (before the response) reports any error.
        this.syncing = undefined;
      },
    );
  }

  /** Settles once no write or background sync is in flight (also after an error or destroy). */
  async flushed(): Promise<void> {
    await this.inflight;
    while (this.syncing) await this.syncing;
  }
}

/** `src` as is, failing with `error()` instead of passing on the byte past `room` (those are dropped). */
function capped(src: Readable, room: number, error: () => Error): Readable {
  let n = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > room) cb(error());
      else cb(null, chunk);
    },
  });
  src.on("error", (e) => t.destroy(e));
  src.pipe(t);
  return t;
}

/**
 * Copy `src` into `sink` with backpressure. If `src` fails (the client went
 * away), what already arrived is still written before the error is thrown, so a
 * resumed upload continues after it. A sink error (chunk too long, disk) ends the copy.
 */
export async function copyInto(src: Readable, sink: Writable): Promise<void> {
  let srcErr: unknown;
  let failed = false;
  // The sink's error is read from its state by finished() below; until then it must not go unhandled.
  const ignore = () => undefined;
  sink.on("error", ignore);
  try {
    for await (const chunk of src as AsyncIterable<Buffer>) {
      // Once destroyed (it failed), 'close' may already have been emitted: do not wait for it.
      if (!sink.write(chunk) && !sink.destroyed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            sink.off("drain", done);
            sink.off("close", done);
            resolve();
          };
          sink.on("drain", done);
          sink.on("close", done);
        });
      }
      if (sink.destroyed) break;
    }
  } catch (e) {
    srcErr = e;
    failed = true;
  }
  if (!sink.destroyed) sink.end();
  try {
    await finished(sink);
  } finally {
    sink.off("error", ignore);
  }
  if (failed) throw srcErr;
}

export class FsRegistryStorage implements RegistryStorage {
  readonly root: string;
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  private readonly reposDir: string;
  private readonly uploadLock = new KeyedMutex();
  /** Running hash of uploads appended by this process (re-hashed from the file otherwise). */
  private readonly hashes = new Map<string, { hash: Hash; size: number }>();

  constructor(root: string) {
    this.root = path.resolve(root);
    this.blobsDir = path.join(this.root, "blobs", "sha256");
    this.uploadsDir = path.join(this.root, "uploads");
    this.reposDir = path.join(this.root, "repositories");
  }

  async init(): Promise<void> {
    await mkdirp(this.blobsDir);
    await mkdirp(this.uploadsDir);
    await mkdirp(this.reposDir);
  }

  // ---- blobs ----

  private blobPath(d: Digest): string {
    const hex = hexOf(d);
    return path.join(this.blobsDir, hex.slice(0, 2), hex);
  }

  async statBlob(d: Digest): Promise<{ size: number; mtime: Date } | undefined> {
    try {
      const st = await fs.stat(this.blobPath(d));
      return { size: st.size, mtime: st.mtime };
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw e;
    }
  }

  readBlob(d: Digest, range?: ByteRange): Readable {
    return createReadStream(this.blobPath(d), range ? { start: range.start, end: range.end } : {});
  }

  async readBlobBytes(d: Digest): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(d));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw regErr("BLOB_UNKNOWN", { digest: d });
      throw e;
    }
  }

  async putBlobBytes(data: Uint8Array): Promise<Digest> {
    const d = `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
    if (await this.statBlob(d)) return d;
    const file = this.blobPath(d);
    await mkdirp(path.dirname(file));
    await atomicWriteFile(file, data);
    return d;
  }

  async deleteBlob(d: Digest): Promise<void> {
    await rmFile(this.blobPath(d));
    await fs.rmdir(path.dirname(this.blobPath(d))).catch(() => undefined); // another blob may share the folder: ENOTEMPTY is normal
  }

  async listBlobs(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const pre of (await readdirOrEmpty(this.blobsDir)).sort()) {
      if (!/^[a-f0-9]{2}$/.test(pre)) continue;
      for (const hex of (await readdirOrEmpty(path.join(this.blobsDir, pre))).sort()) {
        if (HEX64.test(hex)) out.push(`sha256:${hex}` as Digest);
      }
    }
    return out;
  }

  // ---- uploads ----

  private uploadDir(id: string): string {
    if (!UUID_RE.test(id)) throw regErr("BLOB_UPLOAD_UNKNOWN");
    return path.join(this.uploadsDir, id);
  }

  async createUpload(repo: string): Promise<UploadInfo> {
    const id = randomUUID();
    const dir = this.uploadDir(id);
    // Under the session's lock, so a concurrent stale-upload sweep waits for the files.
    return this.uploadLock.run(id, async () => {
      await fs.mkdir(dir, { recursive: true });
      const startedAt = new Date().toISOString();
      // The directory is new and its id known to no client yet, so info.json needs
      // no temp+rename: a torn one (crash) reads as no session and is swept as stale.
      await Promise.all([fs.writeFile(path.join(dir, "data"), "", { flag: "wx" }), writeSynced(path.join(dir, "info.json"), JSON.stringify({ repo, startedAt }))]);
      await syncDir(dir);
      this.hashes.set(id, { hash: createHash("sha256"), size: 0 });
      return { id, repo, size: 0, startedAt, updatedAt: new Date() };
    });
  }

  private async uploadInfoUnlocked(id: string): Promise<UploadInfo | undefined> {
    const dir = this.uploadDir(id);
    const text = await readText(path.join(dir, "info.json"));
    if (text === undefined) return undefined;
    let info: { repo: string; startedAt: string };
    try {
      info = JSON.parse(text) as { repo: string; startedAt: string };
    } catch {
      return undefined;
    }
    try {
      const st = await fs.stat(path.join(dir, "data"));
      return { id, repo: info.repo, startedAt: info.startedAt, size: st.size, updatedAt: st.mtime };
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return undefined;
      throw e;
    }
  }

  async getUpload(id: string): Promise<UploadInfo | undefined> {
    if (!UUID_RE.test(id)) return undefined;
    return this.uploadLock.run(id, () => this.uploadInfoUnlocked(id));
  }

  async appendUpload(id: string, src: Readable, opts: AppendOptions = {}): Promise<UploadInfo> {
    return this.uploadLock.run(id, async () => {
      const info = await this.uploadInfoUnlocked(id);
      if (!info) {
        src.resume();
        throw regErr("BLOB_UPLOAD_UNKNOWN");
      }
      if (opts.offset !== undefined && opts.offset !== info.size) {
        src.resume();
        throw new RegistryError("RANGE_INVALID", { message: `chunk starts at ${opts.offset}, upload is at ${info.size}`, detail: { size: info.size } });
      }
      let state = this.hashes.get(id);
      if (state && state.size !== info.size) state = undefined;
      if (!state) this.hashes.delete(id);
      const fh = await fs.open(path.join(this.uploadDir(id), "data"), "a");
      const sink = new UploadSink(fh, state?.hash, opts.maxBytes);
      try {
        await copyInto(opts.cap ? capped(src, opts.cap.total - info.size, opts.cap.error) : src, sink);
        await sink.flushed();
        await fh.sync();
      } catch (e) {
        // Bytes that reached the file stay (the size says how many) so the client can resume.
        await sink.flushed().catch(bestEffort("flush a cut upload"));
        throw e;
      } finally {
        await fh.close();
        // The running hash covers every byte handed to the file; if some did not
        // land, it no longer matches and commit re-hashes the file instead.
        if (state) {
          if (sink.hashedBytes === sink.written) state.size += sink.written;
          else this.hashes.delete(id);
        }
      }
      const written = sink.written;
      return { ...info, size: info.size + written, updatedAt: new Date() };
    });
  }

  async commitUpload(id: string, expected: Digest, opts: { linkTo?: string } = {}): Promise<{ digest: Digest; size: number }> {
    return this.uploadLock.run(id, async () => {
      const info = await this.uploadInfoUnlocked(id);
      if (!info) throw regErr("BLOB_UPLOAD_UNKNOWN");
      const dir = this.uploadDir(id);
      const data = path.join(dir, "data");
      const state = this.hashes.get(id);
      const got =
        state && state.size === info.size
          ? { digest: `sha256:${state.hash.copy().digest("hex")}` as Digest, size: state.size }
          : await hashFile(data);
      if (got.digest !== expected) {
        await this.removeUploadUnlocked(id);
        throw regErr("DIGEST_INVALID", { expected, actual: got.digest });
      }
      // Verified: the blob and its repository link may now appear. The link can be
      // written alongside (a link whose blob is missing is not served, and any
      // blob that later appears under this digest has this content).
      const link = opts.linkTo !== undefined ? this.linkBlob(opts.linkTo, expected) : undefined;
      const place = async () => {
        if (!(await this.statBlob(expected))) {
          const file = this.blobPath(expected);
          await mkdirp(path.dirname(file));
          // Identical content from a concurrent push may land first: rename replaces it atomically.
          await fs.rename(data, file);
          await syncDir(path.dirname(file));
        }
        await this.removeUploadUnlocked(id);
      };
      const [placed, linked] = await Promise.allSettled([place(), link]);
      if (placed.status === "rejected") throw placed.reason;
      if (linked.status === "rejected") throw linked.reason;
      return got;
    });
  }

  private async removeUploadUnlocked(id: string): Promise<boolean> {
    this.hashes.delete(id);
    const dir = this.uploadDir(id);
    try {
      await fs.access(dir);
    } catch {
      return false;
    }
    await fs.rm(dir, { recursive: true, force: true });
    return true;
  }

  async deleteUpload(id: string, opts: { idleBefore?: Date } = {}): Promise<boolean> {
    if (!UUID_RE.test(id)) return false;
    // A session with a request in progress is not idle (and a sweep must not wait on a slow client).
    if (opts.idleBefore !== undefined && this.uploadLock.busy(id)) return false;
    return this.uploadLock.run(id, async () => {
      if (opts.idleBefore !== undefined) {
        const info = await this.uploadInfoUnlocked(id).catch(() => undefined);
        if (info && info.updatedAt.getTime() >= opts.idleBefore.getTime()) return false;
      }
      return this.removeUploadUnlocked(id);
    });
  }

  async countUploads(): Promise<number> {
    return (await readdirOrEmpty(this.uploadsDir)).filter((id) => UUID_RE.test(id)).length;
  }

  async listUploads(): Promise<UploadInfo[]> {
    const out: UploadInfo[] = [];
    for (const id of await readdirOrEmpty(this.uploadsDir)) {
      if (!UUID_RE.test(id)) continue;
      const info = await this.uploadInfoUnlocked(id).catch(() => undefined);
      if (info) {
        out.push(info);
        continue;
      }
      // A directory without a readable info/data (killed while being created): report it as stale.
      const st = await fs.stat(path.join(this.uploadsDir, id)).catch(() => undefined);
      if (st) out.push({ id, repo: "", size: 0, startedAt: st.mtime.toISOString(), updatedAt: st.mtime });
    }
    return out;
  }

  // ---- repositories ----

  private repoDir(repo: string): string {
    return path.join(this.reposDir, ...repo.split("/"));
  }

  private layerLink(repo: string, d: Digest): string {
    return path.join(this.repoDir(repo), "_layers", "sha256", hexOf(d));
  }

  private revisionLink(repo: string, d: Digest): string {
    return path.join(this.repoDir(repo), "_manifests", "revisions", "sha256", hexOf(d));
  }

  private tagFile(repo: string, tag: string): string {
    return path.join(this.repoDir(repo), "_manifests", "tags", tag);
  }

  private referrerDir(repo: string, subject: Digest): string {
    return path.join(this.repoDir(repo), "_referrers", hexOf(subject));
  }

  private async writeSmall(file: string, text: string): Promise<void> {
    await mkdirp(path.dirname(file));
    await atomicWriteFile(file, text);
  }

  async linkBlob(repo: string, d: Digest): Promise<void> {
    if (await readText(this.layerLink(repo, d)) === d) return;
    await this.writeSmall(this.layerLink(repo, d), d);
  }

  async unlinkBlob(repo: string, d: Digest): Promise<boolean> {
    return rmFile(this.layerLink(repo, d));
  }

  async hasBlobLink(repo: string, d: Digest): Promise<boolean> {
    return (await readText(this.layerLink(repo, d))) !== undefined;
  }

  async listBlobLinks(repo: string): Promise<Digest[]> {
    const names = await readdirOrEmpty(path.join(this.repoDir(repo), "_layers", "sha256"));
    return names.filter((n) => HEX64.test(n)).map((n) => `sha256:${n}` as Digest);
  }

  async putManifestLink(repo: string, link: ManifestLink): Promise<void> {
    await this.writeSmall(this.revisionLink(repo, link.digest), JSON.stringify({ mediaType: link.mediaType }));
  }

  async getManifestLink(repo: string, d: Digest): Promise<ManifestLink | undefined> {
    const text = await readText(this.revisionLink(repo, d));
    if (text === undefined) return undefined;
    try {
      const v = JSON.parse(text) as { mediaType?: string };
      return { digest: d, mediaType: v.mediaType ?? "" };
    } catch {
      return { digest: d, mediaType: "" };
    }
  }

  async deleteManifestLink(repo: string, d: Digest): Promise<boolean> {
    return rmFile(this.revisionLink(repo, d));
  }

  async listManifestLinks(repo: string): Promise<ManifestLink[]> {
    const names = await readdirOrEmpty(path.join(this.repoDir(repo), "_manifests", "revisions", "sha256"));
    const out: ManifestLink[] = [];
    for (const n of names.sort()) {
      if (!HEX64.test(n)) continue;
      const l = await this.getManifestLink(repo, `sha256:${n}` as Digest);
      if (l) out.push(l);
    }
    return out;
  }

  async setTag(repo: string, tag: string, d: Digest): Promise<void> {
    await this.writeSmall(this.tagFile(repo, tag), d);
  }

  async getTag(repo: string, tag: string): Promise<Digest | undefined> {
    const text = (await readText(this.tagFile(repo, tag)))?.trim();
    return text !== undefined && isDigest(text) ? text : undefined;
  }

  async deleteTag(repo: string, tag: string): Promise<boolean> {
    return rmFile(this.tagFile(repo, tag));
  }

  async listTags(repo: string): Promise<string[]> {
    const names = await readdirOrEmpty(path.join(this.repoDir(repo), "_manifests", "tags"));
    return names.filter((n) => !n.startsWith(".")).sort();
  }

  async putReferrer(repo: string, subject: Digest, desc: Record<string, unknown> & { digest: string }): Promise<void> {
    if (!isDigest(desc.digest)) return;
    await this.writeSmall(path.join(this.referrerDir(repo, subject), hexOf(desc.digest)), JSON.stringify(desc));
  }

  async deleteReferrer(repo: string, subject: Digest, d: Digest): Promise<void> {
    await rmFile(path.join(this.referrerDir(repo, subject), hexOf(d)));
  }

  async listReferrers(repo: string, subject: Digest): Promise<(Record<string, unknown> & { digest: string })[]> {
    const dir = this.referrerDir(repo, subject);
    const out: (Record<string, unknown> & { digest: string })[] = [];
    for (const n of (await readdirOrEmpty(dir)).sort()) {
      if (!HEX64.test(n)) continue;
      const text = await readText(path.join(dir, n));
      if (text === undefined) continue;
      try {
        out.push(JSON.parse(text) as Record<string, unknown> & { digest: string });
      } catch {
        // a torn file cannot exist (atomic writes); skip anything unreadable
      }
    }
    return out;
  }

  async repoExists(repo: string): Promise<boolean> {
    try {
      const st = await fs.stat(path.join(this.repoDir(repo), "_manifests"));
      if (st.isDirectory()) return true;
    } catch {
      // fall through
    }
    try {
      return (await fs.stat(path.join(this.repoDir(repo), "_layers"))).isDirectory();
    } catch {
      return false;
    }
  }

  async listRepos(): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, prefix: string[], depth: number): Promise<void> => {
      if (depth > 64) return;
      const names = await readdirOrEmpty(dir);
      if (prefix.length > 0 && names.includes("_manifests")) out.push(prefix.join("/"));
      for (const n of names) {
        if (n.startsWith("_") || n.startsWith(".")) continue;
        const p = path.join(dir, n);
        const st = await fs.lstat(p).catch(() => undefined);
        if (st?.isDirectory()) await walk(p, [...prefix, n], depth + 1);
      }
    };
    await walk(this.reposDir, [], 0);
    return out.sort();
  }
}
