import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { crc32, gunzipSync, gzipSync, inflateRawSync } from "node:zlib";
import { ParallelGzip, type ParallelGzipOptions } from "./pgzip.js";
import { ContentStore } from "./content.js";
import { compressLayer } from "./layercompress.js";
import type { Digest } from "../util/digest.js";
import { suiteTempDir } from "../util/testfixtures.js";

const tmp = suiteTempDir("berth-pgzip-");

/** Feed `data` in pieces of the given sizes (cycled) and collect the gzip output. */
async function pgzip(data: Buffer, pieces: number[], opts: ParallelGzipOptions = {}): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let off = 0, k = 0; off < data.length; k++) {
    const n = pieces[k % pieces.length] as number;
    parts.push(data.subarray(off, off + n));
    off += n;
  }
  const gz = new ParallelGzip(opts);
  Readable.from(parts).pipe(gz);
  const out: Buffer[] = [];
  for await (const c of gz as AsyncIterable<Buffer>) out.push(c);
  return Buffer.concat(out);
}

/** Mixed content: incompressible runs and repetitive text, so blocks take unequal times to compress. */
function sample(n: number): Buffer {
  const out = Buffer.alloc(n);
  const text = Buffer.from("berth layer tar entry /usr/lib/x86_64-linux-gnu/libc.so.6 ");
  for (let off = 0; off < n; ) {
    const len = Math.min(n - off, 5000 + ((off * 7919) % 20000));
    if ((off / 4096) % 3 < 1) randomBytes(len).copy(out, off);
    else for (let i = 0; i < len; i++) out[off + i] = text[(off + i) % text.length] as number;
    off += len;
  }
  return out;
}

/** The deflate body of a single-member gzip, checked to be exactly one deflate stream followed by its trailer. */
function singleMember(gz: Buffer, data: Buffer): void {
  assert.deepEqual([...gz.subarray(0, 3)], [0x1f, 0x8b, 8], "gzip magic and deflate method");
  const body = gz.subarray(10, gz.length - 8);
  const r = inflateRawSync(body, { info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
  assert.ok(r.buffer.equals(data), "the deflate body inflates to the input");
  assert.equal(r.engine.bytesWritten, body.length, "one deflate stream, ending (final block) exactly before the trailer");
  assert.equal(gz.readUInt32LE(gz.length - 8), crc32(data) >>> 0, "trailer CRC-32 of all the input");
  assert.equal(gz.readUInt32LE(gz.length - 4), data.length % 2 ** 32, "trailer ISIZE");
}

test("parallel gzip output gunzips to the input for empty, tiny, block-edge and multi-block inputs", async () => {
  const block = 64 * 1024;
  for (const n of [0, 1, 100, block - 1, block, block + 1, 3 * block, 7 * block + 12345]) {
    const data = sample(n);
    const gz = await pgzip(data, [4096, 65536 + 7], { blockSize: block });
    assert.ok(gunzipSync(gz).equals(data), `round trip of ${n} bytes`);
    singleMember(gz, data);
  }
});

test("parallel gzip output is one gzip member that the gzip tool reads and verifies", async () => {
  const data = sample(5 * 1024 * 1024 + 77);
  const gz = await pgzip(data, [1 << 20]);
  singleMember(gz, data);
  const file = path.join(tmp, "x.gz");
  await fs.writeFile(file, gz);
  execFileSync("gzip", ["-t", file]);
  assert.ok(execFileSync("gzip", ["-dc", file], { maxBuffer: 64 << 20 }).equals(data));
});

test("parallel gzip bytes do not depend on how the input is chunked or how many blocks run at once", async () => {
  const data = sample(600 * 1024 + 3);
  const opts = { blockSize: 32 * 1024 };
  // One-byte writes are slow: the first 40 KiB (two blocks) show that tiny writes give the same bytes.
  const small = data.subarray(0, 40 * 1024);
  const s1 = await pgzip(small, [1], { ...opts, concurrency: 1 });
  const s2 = await pgzip(small, [40 * 1024], { ...opts, concurrency: 8 });
  assert.ok(s1.equals(s2), "same bytes whatever the chunking");
  const b = await pgzip(data, [777, 65536], { ...opts, concurrency: 1 });
  const c = await pgzip(data, [1 << 20], { ...opts, concurrency: 6 });
  assert.ok(b.equals(c), "same bytes whatever the concurrency");
  assert.ok(gunzipSync(b).equals(data));
  assert.equal(createHash("sha256").update(b).digest("hex"), createHash("sha256").update(c).digest("hex"));
});

test("each block is primed with the previous block's window: repetitive data across block edges compresses as well as one stream", async () => {
  // 256 KiB of a 1000-byte random pattern: everything after the first 1000 bytes is a back-reference,
  // also across every 16 KiB block boundary when the dictionary is handed on.
  const unit = randomBytes(1000);
  const data = Buffer.concat(Array.from({ length: 262 }, () => unit));
  const gz = await pgzip(data, [1 << 20], { blockSize: 16 * 1024 });
  singleMember(gz, data);
  const whole = gzipSync(data);
  // 16 blocks: each adds a sync marker (5 bytes) and a few bytes of block header; without dictionaries
  // every block would re-send the 1000 random bytes (~16 KB more).
  assert.ok(gz.length < whole.length + 16 * 40, `parallel ${gz.length} bytes vs one stream ${whole.length}`);
});

test("a compressed layer's digest is the sha256 of the streamed bytes and of the blob kept in the content store", async () => {
  const content = new ContentStore(path.join(tmp, "content-ok"));
  await content.init();
  const tar = sample(3 * 1024 * 1024 + 5);
  const diffId = `sha256:${createHash("sha256").update(tar).digest("hex")}` as Digest;
  let seen = 0;
  const c = compressLayer(content, Readable.from([tar]), diffId, { onTarBytes: (n) => (seen = n) });
  const streamed: Buffer[] = [];
  for await (const x of c.stream as AsyncIterable<Buffer>) streamed.push(x);
  const bytes = Buffer.concat(streamed);
  const hashed = await c.hashed;
  const stored = await c.stored;
  const want = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  assert.equal(hashed.digest, want);
  assert.equal(hashed.size, bytes.length);
  assert.deepEqual(stored, hashed);
  assert.ok((await content.read(stored.digest)).equals(bytes), "the kept blob is the streamed bytes");
  assert.ok(gunzipSync(bytes).equals(tar));
  assert.equal(seen, tar.length, "progress saw every tar byte");
});

test("a layer whose tar does not match its diffId is refused and leaves no blob in the content store", async () => {
  const content = new ContentStore(path.join(tmp, "content-bad"));
  await content.init();
  const tar = sample(2 * 1024 * 1024);
  const c = compressLayer(content, Readable.from([tar]), `sha256:${"0".repeat(64)}` as Digest);
  const drained = (async () => {
    for await (const _ of c.stream as AsyncIterable<Buffer>) void _;
  })().then(
    () => "ended",
    (e: unknown) => e,
  );
  await assert.rejects(c.hashed, /cannot be reproduced exactly/);
  await assert.rejects(c.stored, /cannot be reproduced exactly/);
  assert.ok((await drained) instanceof Error, "the upload stream fails too");
  assert.deepEqual(await content.list(), []);
  assert.deepEqual(await fs.readdir(path.join(tmp, "content-bad", "ingest")), []);
});

test("giving up on the upload stream stops the compression and keeps nothing", async () => {
  const content = new ContentStore(path.join(tmp, "content-abort"));
  await content.init();
  const tar = sample(4 * 1024 * 1024);
  const diffId = `sha256:${createHash("sha256").update(tar).digest("hex")}` as Digest;
  const c = compressLayer(content, Readable.from([tar.subarray(0, 1 << 20), tar.subarray(1 << 20)]), diffId);
  for await (const _ of c.stream as AsyncIterable<Buffer>) break; // the first chunk, then the consumer leaves
  await assert.rejects(c.stored);
  await assert.rejects(c.hashed);
  assert.deepEqual(await content.list(), []);
});

test("incompressible blocks are stored and compressible ones deflated: random bytes cost < 0.1 % extra, text still shrinks", async () => {
  const random = randomBytes(3 * 1024 * 1024);
  const text = Buffer.from("layer text that deflate shrinks a lot, layer text that deflate shrinks a lot\n".repeat(30_000));
  const data = Buffer.concat([random, text]);
  const gz = await pgzip(data, [1 << 20]);
  singleMember(gz, data);
  const textAlone = gzipSync(text).length;
  assert.ok(gz.length < random.length * 1.001 + textAlone * 2 + 4096, `${gz.length} bytes for ${random.length} random + ${text.length} text (text alone gzips to ${textAlone})`);
});
