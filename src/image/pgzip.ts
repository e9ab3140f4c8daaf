/**
 * Parallel gzip (the way pigz does it), for pushing layers: the input is cut
 * into blocks, each block is deflated on its own in node's zlib threadpool
 * (several at once, so a single large layer uses every core), primed with the
 * last 32 KiB of the block before it as its dictionary, and ended with a sync
 * flush so that the blocks' raw deflate outputs concatenate into ONE deflate
 * stream; one gzip header before it and one trailer (CRC-32 of all the input,
 * its length) after it make a single ordinary gzip member that any gunzip
 * reads. Blocks leave in order as soon as they are ready: the compressed bytes
 * stream while later blocks are still being compressed. A block whose samples
 * do not compress (random or already-compressed data) is stored rather than
 * deflated: deflate would emit it stored after a futile match search.
 *
 * Hand-written because node's zlib only compresses one stream on one thread
 * and no maintained package does block-parallel gzip over node's own zlib;
 * the deflate work itself is zlib's.
 */
import { availableParallelism } from "node:os";
import { Transform, type TransformCallback } from "node:stream";
import { promisify } from "node:util";
import { constants as zc, crc32, deflateRaw } from "node:zlib";

/** Block size: large enough that the sync-flush marker and the lost matches at block edges cost < 0.1 %. */
export const PGZIP_BLOCK = 1 << 20;
/** Deflate's window: the dictionary handed from one block to the next. */
const WINDOW = 32 * 1024;

export interface ParallelGzipOptions {
  /** zlib level (default Z_DEFAULT_COMPRESSION, what gzip and Go's compress/gzip use). */
  level?: number;
  /** Input bytes per block (default PGZIP_BLOCK). */
  blockSize?: number;
  /** Blocks compressed at once (default: the number of cores + 1, so a core never waits for the next block). */
  concurrency?: number;
}

/** The fixed 10-byte gzip header: no name, no mtime (reproducible bytes), OS = Unix. */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);

const deflateRawP = promisify(deflateRaw);

/**
 * Blocks compressing at once in this process: one per core, and never all of
 * node's threadpool (file reads and writes of the same push share it, and a
 * read queued behind a row of deflate jobs would stall the pipeline).
 */
const POOL = Math.max(1, Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE ?? 4) - 1));
let running = 0;
const queued: (() => void)[] = [];
async function poolSlot(): Promise<() => void> {
  if (running >= POOL) await new Promise<void>((r) => queued.push(r));
  else running++;
  return () => {
    const next = queued.shift();
    if (next) next();
    else running--;
  };
}

/** Probe: three 32 KiB samples of a block (start, middle, end), deflated at level 1. */
const PROBE = 32 * 1024;
/** A block whose probe does not shrink below this share is stored, not deflated. */
const INCOMPRESSIBLE = 0.98;

/**
 * Whether a block is not worth deflating (already compressed data, random
 * bytes): deflate would search it for matches and then emit it as stored
 * blocks anyway. Storing it directly gives the same size (to within a few
 * bytes per 64 KiB) at a fraction of the cost.
 */
async function incompressible(block: Buffer): Promise<boolean> {
  if (block.length < 8 * PROBE) return false;
  const mid = (block.length >> 1) - (PROBE >> 1);
  const sample = Buffer.concat([block.subarray(0, PROBE), block.subarray(mid, mid + PROBE), block.subarray(block.length - PROBE)]);
  const out = await deflateRawP(sample, { level: 1, chunkSize: 2 * sample.length });
  return out.length >= sample.length * INCOMPRESSIBLE;
}

async function deflateBlock(block: Buffer, dict: Buffer | undefined, level: number, last: boolean): Promise<Buffer> {
  const release = await poolSlot();
  try {
    const stored = level !== zc.Z_NO_COMPRESSION && (await incompressible(block));
    return await deflateRawP(block, {
      level: stored ? zc.Z_NO_COMPRESSION : level,
      // One threadpool job per block (the default 16 KiB would take a main-thread round trip per 16 KiB of output).
      chunkSize: Math.max(64 * 1024, block.length + (block.length >> 3) + 1024),
      // Back-references may reach into the previous block (a stored block has none).
      ...(dict && !stored ? { dictionary: dict } : {}),
      // Not the last block: end byte-aligned and without the final-block bit, so the next block's output follows on.
      ...(last ? {} : { finishFlush: zc.Z_SYNC_FLUSH }),
    });
  } finally {
    release();
  }
}

/**
 * A Transform that gzips what is written to it, compressing blocks in
 * parallel. The output is one gzip member; for the same input and options it
 * is always the same bytes (the block boundaries do not depend on how the
 * input was chunked).
 */
export class ParallelGzip extends Transform {
  private readonly level: number;
  private readonly blockSize: number;
  private readonly concurrency: number;
  private parts: Buffer[] = [];
  private partLen = 0;
  private prevTail: Buffer | undefined;
  private crc = 0;
  private total = 0;
  /** Blocks being compressed, oldest first. */
  private readonly inflight: Promise<Buffer>[] = [];
  private headerSent = false;

  constructor(opts: ParallelGzipOptions = {}) {
    super({ readableHighWaterMark: 1 << 20 });
    this.level = opts.level ?? zc.Z_DEFAULT_COMPRESSION;
    this.blockSize = opts.blockSize ?? PGZIP_BLOCK;
    this.concurrency = Math.max(1, opts.concurrency ?? availableParallelism() + 1);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.addInput(chunk).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.finishAll().then(() => cb(), cb);
  }

  private async addInput(chunk: Buffer): Promise<void> {
    this.crc = crc32(chunk, this.crc);
    this.total += chunk.length;
    let rest = chunk;
    while (this.partLen + rest.length >= this.blockSize) {
      const need = this.blockSize - this.partLen;
      this.parts.push(rest.subarray(0, need));
      rest = rest.subarray(need);
      // A copy (concat always copies): the block outlives this call, the caller's buffer may not.
      const block = Buffer.concat(this.parts, this.blockSize);
      this.parts = [];
      this.partLen = 0;
      // Backpressure: at most `concurrency` blocks in the threadpool; the oldest leaves first.
      if (this.inflight.length >= this.concurrency) await this.emitOldest();
      this.startBlock(block, false);
    }
    if (rest.length > 0) {
      // The caller may reuse its buffer once we call back: keep a copy of what waits for the next block.
      this.parts.push(Buffer.from(rest));
      this.partLen += rest.length;
    }
  }

  private startBlock(block: Buffer, last: boolean): void {
    const dict = this.prevTail;
    this.prevTail = block.length >= WINDOW ? block.subarray(block.length - WINDOW) : Buffer.concat([dict ?? Buffer.alloc(0), block]).subarray(-WINDOW);
    const p = deflateBlock(block, dict, this.level, last);
    p.catch(() => undefined); // surfaced when it is its turn
    this.inflight.push(p);
  }

  private async emitOldest(): Promise<void> {
    const p = this.inflight.shift();
    if (!p) return;
    const out = await p;
    if (!this.headerSent) {
      this.headerSent = true;
      this.push(HEADER);
    }
    this.push(out);
  }

  private async finishAll(): Promise<void> {
    const tail = Buffer.concat(this.parts, this.partLen);
    this.parts = [];
    this.partLen = 0;
    this.startBlock(tail, true);
    while (this.inflight.length > 0) await this.emitOldest();
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.total % 2 ** 32, 4);
    this.push(trailer);
  }
}
