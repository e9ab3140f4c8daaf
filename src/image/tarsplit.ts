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
 * Limitation: a layer tar that writes the same file twice cannot be replayed
 * (the first contents are gone); the replay then fails its diffId check.
 */
import fss, { constants as fsc } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import { internal, invalid } from "../util/errors.js";

const MAGIC = Buffer.from("BTS1");
const RAW = 1;
const FILE = 2;
const BLOCK = 512;

type Mode = "header" | "meta" | "file" | "raw-payload" | "pad";

export class TarSplitRecorder {
  private readonly out: Buffer[] = [MAGIC];
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

  push(chunk: Buffer): void {
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
          if (this.mode === "meta") this.meta.push(Buffer.from(part));
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

  /** The recorded tar-split (gzip'ed). */
  finish(): Buffer {
    if (this.mode === "header" && this.hdrLen > 0) this.addRaw(this.hdr.subarray(0, this.hdrLen));
    this.flushRaw();
    return gzipSync(Buffer.concat(this.out), { level: 6 });
  }

  private addRaw(b: Buffer): void {
    if (b.length === 0) return;
    this.raw.push(Buffer.from(b));
    this.rawLen += b.length;
    if (this.rawLen >= 1 << 20) this.flushRaw();
  }

  private flushRaw(): void {
    if (this.rawLen === 0) return;
    const head = Buffer.alloc(5);
    head[0] = RAW;
    head.writeUInt32BE(this.rawLen, 1);
    this.out.push(head, ...this.raw);
    this.raw = [];
    this.rawLen = 0;
  }

  private onHeader(h: Buffer): void {
    this.addRaw(h);
    if (h.every((b) => b === 0)) return; // end-of-archive block (or padding)
    const type = String.fromCharCode(h[156] ?? 0);
    let size = parseSize(h.subarray(124, 136));
    const isMeta = type === "x" || type === "g" || type === "L" || type === "K";
    if (!isMeta && this.paxSize !== undefined) size = this.paxSize;
    this.padAfter = (BLOCK - (size % BLOCK)) % BLOCK;
    if (isMeta) {
      this.metaType = type;
      this.meta = [];
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
    if (this.mode === "meta") {
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

/**
 * Replay a tar-split over an unpacked layer directory: the original layer tar.
 * The caller verifies the result's digest against the layer's diffId.
 */
export function replayTarSplit(diffDir: string, split: Buffer): Readable {
  const data = gunzipSync(split);
  if (!data.subarray(0, 4).equals(MAGIC)) throw invalid("not a tar-split");
  async function* gen(): AsyncGenerator<Buffer> {
    let off = 4;
    while (off < data.length) {
      const kind = data[off];
      if (kind === RAW) {
        const len = data.readUInt32BE(off + 1);
        yield data.subarray(off + 5, off + 5 + len);
        off += 5 + len;
      } else if (kind === FILE) {
        const plen = data.readUInt16BE(off + 1);
        const rel = data.toString("utf8", off + 3, off + 3 + plen);
        const size = Number(data.readBigUInt64BE(off + 3 + plen));
        off += 3 + plen + 8;
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
      } else throw invalid("corrupt tar-split");
    }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: 256 * 1024 });
}
