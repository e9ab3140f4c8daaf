/**
 * Tar-split (what Docker's layer store keeps beside each unpacked layer): the
 * bytes of a layer tar that are not file contents — headers, PAX/GNU records,
 * padding, the end-of-archive blocks — recorded while the layer is unpacked,
 * plus, for each regular file, its path and size. Replaying them with the file
 * contents read back from the unpacked directory gives the exact original tar,
 * so its sha256 is the layer's diffId: push and save can hand out a layer that
 * matches the image config without keeping a second copy of the data.
 *
 * Format (gzip'ed): "BTS1", then records: 0x01 u32 len + bytes (raw),
 * 0x02 u16 len + utf-8 path + u64 size (file contents).
 *
 * Both directions stream: the recorder gzips into its file as the layer is
 * unpacked (with backpressure), and the replay gunzips and parses the file as
 * it is read, so a layer made of gigabytes of headers, PAX records or zero
 * blocks costs disk, not memory. The format is Berth's own (Docker keeps a
 * JSON tar-split); this file is hand-written because it is.
 *
 * Limitation: a layer tar that writes the same file twice cannot be replayed
 * (the first contents are gone); the replay then fails its diffId check.
 */
import fss, { constants as fsc } from "node:fs";
import { once } from "node:events";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type Gzip, createGunzip, createGzip } from "node:zlib";
import { internal, invalid, messageOf } from "../util/errors.js";

const MAGIC = Buffer.from("BTS1");
const RAW = 1;
const FILE = 2;
const BLOCK = 512;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
/** PAX and GNU long-name records larger than this are not parsed (tar-stream refuses them too). */
const MAX_META = 4 << 20;
/** Raw bytes gathered into one record before it is written out. */
const RAW_FLUSH = 1 << 20;

type Mode = "header" | "meta" | "file" | "raw-payload" | "pad";

export class TarSplitRecorder {
  private out: Buffer[] = [];
  private readonly gz: Gzip;
  private readonly written: Promise<void>;
  private failed: unknown;
  private raw: Buffer[] = [];
  private rawLen = 0;
  private mode: Mode = "header";
  private hdr = Buffer.alloc(BLOCK);
  private hdrLen = 0;
  private remaining = 0;
  private padAfter = 0;
  private metaType = "";
  private meta: Buffer[] = [];
  private paxPath: string | undefined;
  private paxSize: number | undefined;
  private longName: string | undefined;
  private globalPaxPath: string | undefined;
  private metaLen = 0;

  /** Record into `file` (created; it must not exist). */
  constructor(file: string) {
    this.gz = createGzip({ level: 6 });
    this.written = pipeline(this.gz, fss.createWriteStream(file, { flags: "wx" }));
    this.written.catch((e: unknown) => {
      this.failed = e;
    });
    this.out.push(MAGIC);
  }

  /**
   * Record the next bytes of the layer tar. Resolves when the recorded bytes are
   * handed to the compressor; await it before pushing more (backpressure).
   */
  async push(chunk: Buffer): Promise<void> {
    this.parse(chunk);
    await this.drainOut();
  }

  /** Flush everything and close the file. */
  async finish(): Promise<void> {
    if (this.mode === "header" && this.hdrLen > 0) this.addRaw(this.hdr.subarray(0, this.hdrLen));
    this.flushRaw();
    await this.drainOut();
    this.gz.end();
    await this.written;
  }

  /** Stop recording (the file is left for the caller to delete). */
  async abort(): Promise<void> {
    this.gz.destroy();
    // Destroyed on purpose: the write fails, which is the expected end here.
    await this.written.catch(() => undefined);
  }

  private async drainOut(): Promise<void> {
    if (this.out.length === 0) return;
    // One write per input chunk: every write to a zlib stream is a threadpool round trip.
    const out = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
    this.out = [];
    if (this.failed === undefined && !this.gz.write(out)) await Promise.race([once(this.gz, "drain"), this.written]);
    if (this.failed !== undefined) throw internal(`writing the tar-split: ${messageOf(this.failed)}`);
  }

  private parse(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      switch (this.mode) {
        case "header": {
          const take = Math.min(BLOCK - this.hdrLen, chunk.length - off);
          chunk.copy(this.hdr, this.hdrLen, off, off + take);
          this.hdrLen += take;
          off += take;
          if (this.hdrLen === BLOCK) {
            this.hdrLen = 0;
            this.onHeader(Buffer.from(this.hdr));
          }
          break;
        }
        case "meta":
        case "raw-payload":
        case "file": {
          const take = Math.min(this.remaining, chunk.length - off);
          const part = chunk.subarray(off, off + take);
          if (this.mode !== "file") this.addRaw(part);
          if (this.mode === "meta" && this.metaLen <= MAX_META) this.meta.push(Buffer.from(part));
          this.remaining -= take;
          off += take;
          if (this.remaining === 0) this.endPayload();
          break;
        }
        case "pad": {
          const take = Math.min(this.remaining, chunk.length - off);
          this.addRaw(chunk.subarray(off, off + take));
          this.remaining -= take;
          off += take;
          if (this.remaining === 0) this.mode = "header";
          break;
        }
      }
    }
  }

  private addRaw(b: Buffer): void {
    if (b.length === 0) return;
    this.raw.push(Buffer.from(b));
    this.rawLen += b.length;
    if (this.rawLen >= RAW_FLUSH) this.flushRaw();
  }

  private flushRaw(): void {
    if (this.rawLen === 0) return;
    const head = Buffer.alloc(5);
    head[0] = RAW;
    head.writeUInt32BE(this.rawLen, 1);
    this.out.push(head, Buffer.concat(this.raw, this.rawLen));
    this.raw = [];
    this.rawLen = 0;
  }

  private onHeader(h: Buffer): void {
    this.addRaw(h);
    if (h.equals(ZERO_BLOCK)) return; // end-of-archive block (or padding)
    const type = String.fromCharCode(h[156] ?? 0);
    let size = parseSize(h.subarray(124, 136));
    const isMeta = type === "x" || type === "g" || type === "L" || type === "K";
    if (!isMeta && this.paxSize !== undefined) size = this.paxSize;
    this.padAfter = (BLOCK - (size % BLOCK)) % BLOCK;
    if (isMeta) {
      this.metaType = type;
      this.meta = [];
      this.metaLen = size;
      this.startPayload("meta", size);
      return;
    }
    const name = this.paxPath ?? this.longName ?? this.globalPaxPath ?? headerName(h);
    this.paxPath = undefined;
    this.paxSize = undefined;
    this.longName = undefined;
    const regular = type === "0" || type === "\0" || type === "7";
    if (regular && size > 0 && !name.endsWith("/")) {
      const rel = name
        .split("/")
        .filter((p) => p !== "" && p !== ".")
        .join("/");
      this.flushRaw();
      const p = Buffer.from(rel, "utf8");
      const rec = Buffer.alloc(1 + 2 + p.length + 8);
      rec[0] = FILE;
      rec.writeUInt16BE(p.length, 1);
      p.copy(rec, 3);
      rec.writeBigUInt64BE(BigInt(size), 3 + p.length);
      this.out.push(rec);
      this.startPayload("file", size);
      return;
    }
    this.startPayload("raw-payload", size);
  }

  private startPayload(mode: Mode, size: number): void {
    if (size > 0) {
      this.mode = mode;
      this.remaining = size;
    } else {
      this.mode = mode;
      this.remaining = 0;
      this.endPayload();
    }
  }

  private endPayload(): void {
    if (this.mode === "meta" && this.metaLen > MAX_META) this.meta = [];
    else if (this.mode === "meta") {
      const body = Buffer.concat(this.meta);
      this.meta = [];
      if (this.metaType === "x" || this.metaType === "g") {
        const rec = parsePax(body);
        if (this.metaType === "x") {
          if (rec["path"] !== undefined) this.paxPath = rec["path"];
          if (rec["size"] !== undefined && /^\d+$/.test(rec["size"])) this.paxSize = Number(rec["size"]);
        } else if (rec["path"] !== undefined) this.globalPaxPath = rec["path"];
      } else if (this.metaType === "L") {
        const nul = body.indexOf(0);
        this.longName = body.subarray(0, nul < 0 ? body.length : nul).toString("utf8");
      }
    }
    if (this.padAfter > 0) {
      this.mode = "pad";
      this.remaining = this.padAfter;
    } else this.mode = "header";
  }
}

function cstr(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString("utf8");
}

function headerName(h: Buffer): string {
  const name = cstr(h.subarray(0, 100));
  const magic = h.toString("latin1", 257, 263);
  if (magic === "ustar\0") {
    const prefix = cstr(h.subarray(345, 500));
    if (prefix !== "") return `${prefix}/${name}`;
  }
  return name;
}

function parseSize(f: Buffer): number {
  if (((f[0] ?? 0) & 0x80) !== 0) {
    let v = 0n;
    for (let i = 1; i < f.length; i++) v = (v << 8n) | BigInt(f[i] ?? 0);
    return Number(v);
  }
  const s = f.toString("latin1").replace(/[\0 ]+$/g, "").replace(/^[\0 ]+/, "");
  return s === "" ? 0 : parseInt(s, 8) || 0;
}

function parsePax(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < b.length) {
    const sp = b.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(b.toString("latin1", off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > b.length) break;
    const rec = b.subarray(sp + 1, off + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out[rec.toString("utf8", 0, eq)] = rec.toString("utf8", eq + 1);
    off += len;
  }
  return out;
}

/** Open `rel` under `root` for reading without following any symlink on the way. */
function openInside(root: string, rel: string): number {
  const parts = rel.split("/");
  let cur = root;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (p === ".." || p === "" || p === ".") throw invalid(`tar-split: bad path ${JSON.stringify(rel)}`);
    cur = path.join(cur, p);
    const st = fss.lstatSync(cur, { throwIfNoEntry: false });
    if (!st) throw internal(`layer content ${rel} is missing`);
    if (i < parts.length - 1 ? !st.isDirectory() : !st.isFile()) throw internal(`layer content ${rel} is not what the layer tar had`);
  }
  return fss.openSync(cur, fsc.O_RDONLY | fsc.O_NOFOLLOW);
}

/** Reads exact byte counts from a stream of chunks (the gunzipped tar-split). */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Buffer at least n bytes; false at the end of the stream. */
  private async fill(n: number): Promise<boolean> {
    while (this.buf.length < n) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = this.buf.length === 0 ? r.value : Buffer.concat([this.buf, r.value]);
    }
    return true;
  }

  /** The next byte, or undefined at a clean end of the stream. */
  async byte(): Promise<number | undefined> {
    if (!(await this.fill(1))) return undefined;
    const b = this.buf[0] as number;
    this.buf = this.buf.subarray(1);
    return b;
  }

  /** Exactly n (small) bytes. */
  async exact(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw invalid("corrupt tar-split: truncated");
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** The next n bytes, in the pieces they arrive in. */
  async *pieces(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0 && !(await this.fill(1))) throw invalid("corrupt tar-split: truncated");
      const take = Math.min(left, this.buf.length);
      yield this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
    }
  }
}

/**
 * Replay a tar-split file over an unpacked layer directory: the original layer
 * tar, streamed. The caller verifies the result's digest against the layer's diffId.
 */
export function replayTarSplit(diffDir: string, splitFile: string): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    const src = fss.createReadStream(splitFile);
    src.on("error", (e) => gunzip.destroy(e));
    const r = new ByteReader((src.pipe(gunzip) as AsyncIterable<Buffer>)[Symbol.asyncIterator]());
    try {
      if (!(await r.exact(4)).equals(MAGIC)) throw invalid("not a tar-split");
      for (;;) {
        const kind = await r.byte();
        if (kind === undefined) return;
        if (kind === RAW) {
          yield* r.pieces((await r.exact(4)).readUInt32BE(0));
        } else if (kind === FILE) {
          const plen = (await r.exact(2)).readUInt16BE(0);
          const rel = (await r.exact(plen)).toString("utf8");
          yield* fileContents(diffDir, rel, Number((await r.exact(8)).readBigUInt64BE(0)));
        } else throw invalid("corrupt tar-split");
      }
    } finally {
      src.destroy();
      gunzip.destroy();
    }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: 256 * 1024 });
}

function* fileContents(diffDir: string, rel: string, size: number): Generator<Buffer> {
  const fd = openInside(diffDir, rel);
  try {
    let done = 0;
    while (done < size) {
      const buf = Buffer.allocUnsafe(Math.min(256 * 1024, size - done));
      const n = fss.readSync(fd, buf, 0, buf.length, done);
      if (n === 0) throw internal(`layer content ${rel} is shorter than in the layer tar`);
      done += n;
      yield n === buf.length ? buf : buf.subarray(0, n);
    }
  } finally {
    fss.closeSync(fd);
  }
}
