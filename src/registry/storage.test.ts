import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { type Digest, sha256 } from "../util/digest.js";
import { RegistryError } from "./errors.js";
import { FsRegistryStorage, UploadSink, copyInto } from "./storage.js";
import { suiteTempDir } from "../util/testfixtures.js";

const tmp = suiteTempDir("berth-storage-test-");

/**
 * A source that yields `parts`, one per tick, then fails (or ends when `fail` is
 * false). No read-ahead: it fails only once its consumer took every part.
 */
function source(parts: Buffer[], fail = true): Readable {
  let i = 0;
  return new Readable({
    highWaterMark: 0,
    read() {
      setImmediate(() => {
        if (i < parts.length) this.push(parts[i++]);
        else if (fail) this.destroy(new Error("connection reset"));
        else this.push(null);
      });
    },
  });
}

const chunks = (n: number, size: number) => Array.from({ length: n }, () => randomBytes(size));

describe("upload write path", () => {
  test("UploadSink writes every chunk in order (batched), hashes them, and syncs in the background", async () => {
    const file = path.join(tmp, "sink-order");
    const fh = await fs.open(file, "a");
    const hash = createHash("sha256");
    const parts = chunks(50, 10_000);
    // A small buffer and sync threshold so batching and background syncs both happen.
    const sink = new UploadSink(fh, hash, undefined, 64 * 1024, 100_000);
    let syncs = 0;
    const datasync = fh.datasync.bind(fh);
    fh.datasync = () => {
      syncs++;
      return datasync();
    };
    let batches = 0;
    const orig = sink._writev.bind(sink);
    sink._writev = (c, cb) => {
      batches++;
      orig(c, cb);
    };
    try {
      await copyInto(source(parts, false), sink);
      await sink.flushed();
    } finally {
      await fh.close();
    }
    const all = Buffer.concat(parts);
    assert.equal(sink.written, all.length);
    assert.equal(sink.hashedBytes, all.length);
    assert.deepEqual(await fs.readFile(file), all);
    assert.equal(`sha256:${hash.digest("hex")}`, sha256(all));
    assert.ok(batches > 0, "queued chunks went out in writev batches");
    assert.ok(syncs >= 1 && syncs <= 5, `background syncs: ${syncs}`);
  });

  test("UploadSink refuses bytes beyond maxBytes with SIZE_INVALID, keeping the ones before", async () => {
    const file = path.join(tmp, "sink-max");
    const fh = await fs.open(file, "a");
    const parts = chunks(4, 1000);
    const sink = new UploadSink(fh, createHash("sha256"), 2500);
    try {
      await assert.rejects(copyInto(source(parts, false), sink), (e: unknown) => e instanceof RegistryError && e.code === "SIZE_INVALID");
      await sink.flushed();
    } finally {
      await fh.close();
    }
    assert.deepEqual(await fs.readFile(file), Buffer.concat(parts.slice(0, 2)));
    assert.equal(sink.written, 2000);
  });

  test("copyInto writes what arrived before the source failed, then throws its error", async () => {
    const parts = chunks(20, 4096);
    const got: Buffer[] = [];
    // A slow sink with a tiny buffer: chunks queue up when the source breaks.
    const sink = new Writable({
      highWaterMark: 8192,
      write(c: Buffer, _e, cb) {
        setTimeout(() => {
          got.push(c);
          cb();
        }, 2);
      },
    });
    await assert.rejects(copyInto(source(parts), sink), /connection reset/);
    assert.deepEqual(Buffer.concat(got), Buffer.concat(parts));
  });

  test("a cut upload keeps every received byte, resumes, and commits with the running hash or a re-hash", async () => {
    const s = new FsRegistryStorage(path.join(tmp, "root1"));
    await s.init();
    const parts = chunks(8, 300_000);
    const all = Buffer.concat(parts);
    const d = sha256(all);
    for (const rehash of [false, true]) {
      const u = await s.createUpload("lib/x");
      const entries = await fs.readdir(path.join(s.root, "uploads", u.id));
      assert.deepEqual(entries.sort(), ["data", "info.json"], "no temp files next to the session");
      await assert.rejects(s.appendUpload(u.id, source(parts.slice(0, 5))), /connection reset/);
      const mid = await s.getUpload(u.id);
      assert.equal(mid?.size, 5 * 300_000);
      // A restarted server has no running hash: commit re-hashes the file.
      const again = rehash ? new FsRegistryStorage(s.root) : s;
      const after = await again.appendUpload(u.id, source(parts.slice(5), false), { offset: mid?.size ?? -1 });
      assert.equal(after.size, all.length);
      assert.deepEqual(await again.commitUpload(u.id, d, { linkTo: "lib/x" }), { digest: d, size: all.length });
      assert.ok(await again.hasBlobLink("lib/x", d));
      assert.deepEqual(await again.readBlobBytes(d), all);
      assert.equal(await again.getUpload(u.id), undefined);
      await assert.rejects(fs.stat(path.join(s.root, "uploads", u.id)), /ENOENT/);
    }
  });

  test("a wrong digest leaves neither a blob nor a link, and ends the session", async () => {
    const s = new FsRegistryStorage(path.join(tmp, "root2"));
    await s.init();
    const data = randomBytes(100_000);
    const lie = sha256("something else") as Digest;
    const u = await s.createUpload("lib/y");
    const body = new PassThrough();
    body.end(data);
    await s.appendUpload(u.id, body);
    await assert.rejects(s.commitUpload(u.id, lie, { linkTo: "lib/y" }), (e: unknown) => e instanceof RegistryError && e.code === "DIGEST_INVALID");
    assert.equal(await s.hasBlobLink("lib/y", lie), false);
    assert.equal(await s.statBlob(lie), undefined);
    assert.equal(await s.statBlob(sha256(data)), undefined);
    assert.equal(await s.getUpload(u.id), undefined);
  });
});
