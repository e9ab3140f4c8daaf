import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { ContentStore } from "./content.js";
import type { Digest } from "../util/digest.js";
import { suiteTempDir } from "../util/testfixtures.js";

const tmp = suiteTempDir("berth-content-");

test("a stream of many small chunks (gathered into writev batches) is stored byte for byte under its digest", async () => {
  const store = new ContentStore(path.join(tmp, "c1"));
  await store.init();
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += 1000 + (off % 7) * 3000) chunks.push(data.subarray(off, off + 1000 + (off % 7) * 3000));
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
  let hashed: { digest: Digest; size: number } | undefined;
  const info = await store.write(Readable.from(chunks), digest, undefined, (i) => (hashed = i));
  assert.deepEqual(info, { digest, size: data.length });
  assert.deepEqual(hashed, info, "the digest is known before the blob is renamed into place");
  assert.ok((await store.read(digest)).equals(data));
  assert.deepEqual(await fs.readdir(path.join(tmp, "c1", "ingest")), []);
});

test("a stream that does not hash to the expected digest is refused and leaves nothing behind", async () => {
  const store = new ContentStore(path.join(tmp, "c2"));
  await store.init();
  let hashed = false;
  await assert.rejects(
    store.write(Readable.from([randomBytes(100_000), randomBytes(5000)]), `sha256:${"1".repeat(64)}` as Digest, undefined, () => (hashed = true)),
    /digest mismatch/,
  );
  assert.equal(hashed, false, "no digest is announced for a blob that will not be kept");
  assert.deepEqual(await store.list(), []);
  assert.deepEqual(await fs.readdir(path.join(tmp, "c2", "ingest")), []);
});
