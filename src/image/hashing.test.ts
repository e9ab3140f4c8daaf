import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { sha256, hexOf } from "../util/digest.js";
import { digestOf, hashThrough } from "./hashing.js";
import { ImageStore } from "./store.js";
import { checkImageStore } from "./check.js";

let tmp = "";
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-hashing-"));
});
after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function collect(r: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of r) out.push(c as Buffer);
  return Buffer.concat(out);
}

test("hashThrough passes every byte on unchanged, counts them as they go, and gives the check the sha256 and size", async () => {
  const data = randomBytes(200_000);
  const chunks = [data.subarray(0, 1), data.subarray(1, 70_000), data.subarray(70_000)];
  const counts: number[] = [];
  let seen: { digest: string; size: number } | undefined;
  const h = hashThrough(
    (digest, size) => {
      seen = { digest, size };
      return undefined;
    },
    (n) => counts.push(n),
  );
  const sink = new PassThrough();
  const got = collect(sink);
  await pipeline(Readable.from(chunks), h, sink);
  assert.ok((await got).equals(data));
  assert.deepEqual(counts, [1, 70_000, 200_000]);
  assert.deepEqual(seen, { digest: sha256(data), size: data.length });
});

test("hashThrough fails the stream with the check's error after the last byte went through", async () => {
  const data = Buffer.from("not the layer you expected\n");
  const h = hashThrough((digest) => new Error(`hashes to ${digest}`));
  const passed: Buffer[] = [];
  h.on("data", (c: Buffer) => passed.push(c));
  await assert.rejects(pipeline(Readable.from([data]), h), new RegExp(`hashes to ${sha256(data)}`));
  assert.ok(Buffer.concat(passed).equals(data));
});

test("digestOf is the sha256 of everything the stream yields (an empty one too)", async () => {
  const data = randomBytes(3 * 65536 + 5);
  assert.equal(await digestOf(Readable.from([data.subarray(0, 10), data.subarray(10)])), sha256(data));
  assert.equal(await digestOf(Readable.from([])), sha256(Buffer.alloc(0)));
});

test("the store check reports a blob whose bytes no longer hash to its name, and only with verifyBlobs", async () => {
  const store = new ImageStore(path.join(tmp, "s1"));
  await store.init();
  const good = await store.content.put(Buffer.from("good blob"));
  const bad = await store.content.put(Buffer.from("blob to be damaged"));
  const file = path.join(tmp, "s1", "content", "blobs", "sha256", hexOf(bad.digest));
  await fs.writeFile(file, "damaged");
  const problems = await checkImageStore(store, { verifyBlobs: true });
  assert.deepEqual(
    problems.filter((p) => p.area === "content"),
    [{ area: "content", id: bad.digest, problem: `blob content hashes to ${hexOf(sha256("damaged"))}` }],
  );
  assert.ok(!problems.some((p) => p.id === good.digest));
  assert.deepEqual((await checkImageStore(store, { verifyBlobs: false })).filter((p) => p.area === "content"), []);
});
