/**
 * Two-phase layer registration (pull): unpack into a private temp dir without
 * the parent, commit in order; the compressed blob verified by the content
 * store before anything becomes visible.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { type Digest, sha256 } from "../util/digest.js";
import { ImageStore, chainIdOf } from "./index.js";
import { LayerStore } from "./layers.js";
import { encodeTarHeader, tarEnd, tarPadding } from "./tar.js";
import { suiteTempDir } from "../util/testfixtures.js";

const skip = process.getuid?.() === 0 ? false : "needs root (layers keep owners, whiteouts are device nodes)";
const tmp = suiteTempDir("berth-unpack-");

let n = 0;
const dir = (): string => path.join(tmp, `s${n++}`);

/** A layer tar: files (name → content) and whiteouts (`.wh.<name>` entries). */
function layerTar(files: Record<string, string | Buffer>, whiteouts: string[] = []): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of Object.entries(files)) {
    const data = typeof body === "string" ? Buffer.from(body) : body;
    parts.push(encodeTarHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, size: data.length }), data, tarPadding(data.length));
  }
  for (const w of whiteouts) parts.push(encodeTarHeader({ name: `.wh.${w}`, type: "file", mode: 0o600, uid: 0, gid: 0, mtime: 1_600_000_000, size: 0 }));
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

/** Entries of the layers directory that are not committed layers. */
async function leftovers(layersDir: string): Promise<string[]> {
  return (await fs.readdir(layersDir)).filter((name) => !/^[a-f0-9]{64}$/.test(name));
}

/** Split a buffer into small chunks, as a network stream would deliver it. */
function chunked(b: Buffer, size = 1000): Readable {
  const parts: Buffer[] = [];
  for (let off = 0; off < b.length; off += size) parts.push(b.subarray(off, off + size));
  return Readable.from(parts);
}

test("a layer unpacks without its parent and becomes visible only when committed on top of it", { skip }, async () => {
  const store = new LayerStore(dir());
  await store.init();
  const childTar = layerTar({ "b.txt": "child\n" }, ["a.txt"]);
  const child = await store.unpack(chunked(childTar));
  assert.equal(child.diffId, sha256(childTar));
  assert.equal(child.size, childTar.length);
  assert.deepEqual(await store.list(), []); // not visible: only a tmp- dir
  assert.equal((await leftovers(store.layersDir)).length, 1);

  const base = await store.register(chunked(layerTar({ "a.txt": "base\n" })), null);
  const info = await child.commit(base.chainId);
  assert.equal(info.chainId, chainIdOf(base.chainId, child.diffId));
  assert.equal(info.parent, base.chainId);
  assert.deepEqual(await store.chain(info.chainId), [info.chainId, base.chainId]);
  assert.equal(await fs.readFile(path.join(store.diffDir(info.chainId), "b.txt"), "utf8"), "child\n");
  assert.ok(fss.lstatSync(path.join(store.diffDir(info.chainId), "a.txt")).isCharacterDevice(), "the whiteout is stored as an overlay whiteout");
  assert.deepEqual(await leftovers(store.layersDir), []);
  // The original tar is still reproducible from the layer (push, save).
  const replay: Buffer[] = [];
  for await (const c of (await store.layerTar(info.chainId)) as AsyncIterable<Buffer>) replay.push(c);
  assert.ok(Buffer.concat(replay).equals(childTar));
});

test("commit keeps a layer committed meanwhile, fails on a missing parent, and never leaves temp dirs", { skip }, async () => {
  const store = new LayerStore(dir());
  await store.init();
  const tar = layerTar({ "f": randomBytes(3000) });
  const first = await store.unpack(chunked(tar));
  const second = await store.unpack(chunked(tar));
  const a = await first.commit(null);
  const b = await second.commit(null);
  assert.deepEqual(b, a);
  assert.equal((await store.list()).length, 1);
  await assert.rejects(second.discard(), /twice/);

  const orphan = await store.unpack(chunked(layerTar({ g: "x" })));
  await assert.rejects(orphan.commit(sha256("no such layer")), /parent layer .* not found/);
  const dropped = await store.unpack(chunked(layerTar({ h: "y" })));
  await dropped.discard();
  assert.deepEqual(await leftovers(store.layersDir), []);
  assert.equal((await store.list()).length, 1);

  // A broken tar: the unpack fails and cleans up after itself.
  await assert.rejects(store.unpack(chunked(Buffer.concat([tar.subarray(0, 700), Buffer.alloc(100, 0x41)]))));
  assert.deepEqual(await leftovers(store.layersDir), []);
});

test("unpackCompressedLayer: blob verified before it is visible, layer visible only on commit, blob recorded for push", { skip }, async () => {
  const s = new ImageStore(dir());
  await s.init();
  const tar = layerTar({ "data.bin": randomBytes(300_000), "etc/hostname": "x\n" });
  const blob = gzipSync(tar);
  const desc = { digest: sha256(blob), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", size: blob.length };
  const diffId = sha256(tar);

  const pending = await s.unpackCompressedLayer(desc, chunked(blob, 4096), diffId, { source: "reg.example/app" });
  assert.equal(pending.diffId, diffId);
  assert.ok(await s.content.has(desc.digest), "the verified blob is in the content store");
  assert.deepEqual(await s.layers.list(), [], "the layer is not visible before commit");
  const info = await pending.commit(null);
  assert.equal(info.chainId, diffId);
  assert.ok(await s.layers.has(diffId));
  assert.deepEqual(
    s.blobs.forDiffId(diffId).map((b) => b.digest),
    [desc.digest],
  );
  assert.deepEqual(
    s.sources.forDiffId(diffId).map((b) => [b.digest, b.repos]),
    [[desc.digest, ["reg.example/app"]]],
  );
  assert.deepEqual(await leftovers(s.layers.layersDir), []);

  // Without a stream the blob is read back from the content store.
  const again = await s.unpackCompressedLayer(desc, undefined, diffId);
  await again.discard();
  assert.deepEqual(await leftovers(s.layers.layersDir), []);
});

test("unpackCompressedLayer: a forged blob or a layer that is not the config's leaves nothing behind", { skip }, async () => {
  const s = new ImageStore(dir());
  await s.init();
  const tar = layerTar({ "a": randomBytes(200_000) });
  const blob = gzipSync(tar);
  const forged = gzipSync(layerTar({ "a": randomBytes(200_000) }));
  const desc = { digest: sha256(blob), mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: blob.length };

  await assert.rejects(s.unpackCompressedLayer(desc, chunked(forged, 8192), sha256(tar)), /digest mismatch/);
  assert.deepEqual(await s.content.list(), []);
  assert.deepEqual(await fs.readdir(path.join(s.layers.layersDir, "..", "content", "ingest")), []);
  assert.deepEqual(await fs.readdir(s.layers.layersDir), []);

  const wrongDiff = sha256("another layer") as Digest;
  await assert.rejects(s.unpackCompressedLayer(desc, chunked(blob, 8192), wrongDiff), /don't match image configuration/);
  assert.deepEqual(await fs.readdir(s.layers.layersDir), []);
  assert.deepEqual(s.blobs.list(), []);
});
