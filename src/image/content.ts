import { createHash, randomBytes } from "node:crypto";
import { createReadStream, promises as fs } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { Writable, type Readable } from "node:stream";
import { BULK_CHUNK } from "../util/chunks.js";
import { type Digest, hexOf, isDigest } from "../util/digest.js";
import { EngineError, errnoCode, invalid, notFound } from "../util/errors.js";
import { ensureDir, syncDir } from "../util/fsutil.js";

export interface ContentInfo {
  digest: Digest;
  size: number;
}

/**
 * Blobs by digest (containerd's content store, simplified). A blob is written to
 * ingest/, hashed while written, fsynced and renamed into blobs/sha256/ only when
 * its digest matches: a half-written or wrong blob is never visible.
 */
export class ContentStore {
  private readonly blobs: string;
  private readonly ingest: string;

  constructor(private readonly root: string) {
    this.blobs = path.join(root, "blobs", "sha256");
    this.ingest = path.join(root, "ingest");
  }

  async init(): Promise<void> {
    // Root only (dockerd's image/ is 0700); an older berthd made these 0755.
    for (const d of [this.root, path.dirname(this.blobs), this.blobs, this.ingest]) await ensureDir(d, 0o700);
    // Ingests left by a crash are garbage: nothing refers to them.
    for (const f of await fs.readdir(this.ingest)) await fs.rm(path.join(this.ingest, f), { force: true, recursive: true });
  }

  pathOf(d: Digest): string {
    return path.join(this.blobs, hexOf(d));
  }

  async info(d: Digest): Promise<ContentInfo> {
    try {
      const st = await fs.stat(this.pathOf(d));
      return { digest: d, size: st.size };
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw notFound(`blob ${d} not found`);
      throw e;
    }
  }

  async has(d: Digest): Promise<boolean> {
    try {
      await fs.access(this.pathOf(d));
      return true;
    } catch {
      return false;
    }
  }

  async read(d: Digest): Promise<Buffer> {
    try {
      return await fs.readFile(this.pathOf(d));
    } catch (e) {
      if (errnoCode(e) === "ENOENT") throw notFound(`blob ${d} not found`);
      throw e;
    }
  }

  reader(d: Digest): Readable {
    return createReadStream(this.pathOf(d), { highWaterMark: BULK_CHUNK });
  }

  /** Store bytes whose digest is computed here (e.g. an image config we made). */
  async put(data: Uint8Array): Promise<ContentInfo> {
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
    if (await this.has(digest)) return { digest, size: data.length };
    const tmp = path.join(this.ingest, randomBytes(8).toString("hex"));
    await fs.writeFile(tmp, data);
    await this.commitTemp(tmp, digest);
    return { digest, size: data.length };
  }

  /**
   * Ingest a stream. When `expected` is given the stream must hash to it, or the
   * write is discarded with an "invalid" error. `onHashed` learns the digest as
   * soon as the stream has ended, before the fsync and rename (a push sends it
   * to the registry meanwhile); the blob is visible only once this resolves.
   */
  async write(src: Readable, expected?: Digest, signal?: AbortSignal, onHashed?: (info: ContentInfo) => void): Promise<ContentInfo> {
    if (expected !== undefined && !isDigest(expected)) throw invalid(`invalid digest ${expected}`);
    const tmp = path.join(this.ingest, randomBytes(8).toString("hex"));
    const hash = createHash("sha256");
    let size = 0;
    const fh = await fs.open(tmp, "wx");
    try {
      await pipeline(
        src,
        new Writable({
          // Chunks that arrive while a write is in flight go out together in one writev
          // (a download comes in 64 KiB socket reads: one threadpool trip each otherwise).
          highWaterMark: BULK_CHUNK,
          write(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            size += chunk.length;
            fh.write(chunk).then(() => cb(), cb);
          },
          writev(chunks: { chunk: Buffer }[], cb) {
            const bufs = chunks.map((c) => c.chunk);
            for (const b of bufs) {
              hash.update(b);
              size += b.length;
            }
            writeAll(fh, bufs).then(() => cb(), cb);
          },
        }),
        ...(signal ? [{ signal }] : []),
      );
      if (onHashed) {
        const got = `sha256:${hash.copy().digest("hex")}` as Digest;
        if (expected === undefined || got === expected) onHashed({ digest: got, size });
      }
      await fh.sync();
    } catch (e) {
      await fh.close();
      await fs.rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    const digest = `sha256:${hash.digest("hex")}` as Digest;
    if (expected !== undefined && digest !== expected) {
      await fs.rm(tmp, { force: true });
      throw new EngineError("invalid", `digest mismatch: expected ${expected}, got ${digest}`);
    }
    await this.commitTemp(tmp, digest);
    return { digest, size };
  }

  private async commitTemp(tmp: string, digest: Digest): Promise<void> {
    await fs.rename(tmp, this.pathOf(digest));
    await syncDir(this.blobs);
  }

  async delete(d: Digest): Promise<void> {
    await fs.rm(this.pathOf(d), { force: true });
  }

  async list(): Promise<Digest[]> {
    const names = await fs.readdir(this.blobs);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}` as Digest);
  }
}

/** fh.writev until every byte is written (writev may write less than asked). */
async function writeAll(fh: fs.FileHandle, bufs: Buffer[]): Promise<void> {
  let rest = bufs;
  while (rest.length > 0) {
    let { bytesWritten } = await fh.writev(rest);
    const next: Buffer[] = [];
    for (const b of rest) {
      if (bytesWritten >= b.length) bytesWritten -= b.length;
      else {
        next.push(bytesWritten > 0 ? b.subarray(bytesWritten) : b);
        bytesWritten = 0;
      }
    }
    rest = next;
  }
}
