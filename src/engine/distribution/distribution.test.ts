import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { type Digest, sha256 } from "../../util/digest.js";
import { makeLogger } from "../../util/log.js";
import { ImageStore, chainIds } from "../../image/index.js";
import { MT, RegistryClient, type RegistryHandle, startRegistry } from "../../registry/index.js";
import { DistributionService, describeNetError, goNameserver, registryHostOf } from "./index.js";
import { Events } from "../events.js";
import type { ProgressMessage } from "../progress.js";

const skip = process.getuid?.() === 0 ? false : "needs root (layers keep owners)";
const log = makeLogger("error");
let tmp = "";
let reg: RegistryHandle;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-dist-"));
  reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "reg"), log });
});
after(async () => {
  await reg?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

let n = 0;
async function store(): Promise<{ store: ImageStore; dist: DistributionService }> {
  const s = new ImageStore(path.join(tmp, `store${n++}`));
  await s.init();
  return { store: s, dist: new DistributionService({ store: s, events: new Events(), log }) };
}

/** `tar --format=ustar -cf - a` (a/f = "hello zstd\n") compressed with `zstd -19`. */
const ZSTD_TAR = Buffer.from("KLUv/WQAJyUDACLEDRGw6z/JE5LywyItkbTCGgYdpgfnuZhsLaQ0r9y83SQF88dYU30zz8F/5AkRu9tFFN7rxyj6YAIQIDAvbbEY8QOfwKoFgt0eYkDpkCgF4J1haIDD/3yiPfhDkCCmAOaTcwNnD9wE", "base64");
const ZSTD_DIFF = "sha256:2662e7e948f2c6a402f0129ff28170f1f3c6a1dd6d3eedecd5560231db3ee9a2" as Digest;

function tarOf(name: string, body: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${Buffer.byteLength(body).toString(8).padStart(11, "0")}\0`, 124);
  h.write("14000000000\0", 136);
  h.write("0", 156);
  h.write("ustar\u000000", 257);
  h.fill(" ", 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const data = Buffer.alloc(Math.ceil(Buffer.byteLength(body) / 512) * 512);
  data.write(body);
  return Buffer.concat([h, data, Buffer.alloc(1024)]);
}

test("push → pull into another store gives the same id; pushing the pulled image again sends the same manifest", { skip }, async () => {
  const a = await store();
  const id = await a.store.importRootfs(Readable.from([tarOf("hello.txt", "hello\n")]));
  await a.store.tag(id, `${reg.addr}/unit:1`);
  const pushed: ProgressMessage[] = [];
  await a.dist.push({ name: `${reg.addr}/unit`, tag: "1" }, (m) => pushed.push(m));
  const aux = pushed.find((m) => m["aux"])?.["aux"] as { Digest: string; Size: number; Tag: string };
  assert.equal(aux.Tag, "1");
  assert.ok(pushed.some((m) => m["status"] === "Pushed"));

  const b = await store();
  const pulled: ProgressMessage[] = [];
  await b.dist.pull({ fromImage: `${reg.addr}/unit`, tag: "1" }, (m) => pulled.push(m));
  assert.equal(b.store.resolve(`${reg.addr}/unit:1`), id);
  assert.deepEqual(b.store.index.get(id)?.repoDigests, [`${reg.addr}/unit@${aux.Digest}`]);
  assert.deepEqual(
    pulled.map((m) => m["status"]).filter((s) => typeof s === "string" && !s.startsWith("Downloading") && !s.startsWith("Extracting")),
    ["Pulling from unit", "Pulling fs layer", "Verifying Checksum", "Download complete", "Pull complete", `Digest: ${aux.Digest}`, `Status: Downloaded newer image for ${reg.addr}/unit:1`],
  );

  // The pulled image pushed to another repository: blob mounted, manifest byte-identical.
  await b.store.tag(id, `${reg.addr}/copy:1`);
  const again: ProgressMessage[] = [];
  await b.dist.push({ name: `${reg.addr}/copy`, tag: "1" }, (m) => again.push(m));
  assert.ok(again.some((m) => m["status"] === "Mounted from unit"), JSON.stringify(again));
  assert.equal((again.find((m) => m["aux"])?.["aux"] as { Digest: string }).Digest, aux.Digest);
});

test("a layer's registry sources outlive it: after rmi, gc and a restart, a push of the same layer mounts the blob it was pulled as", { skip }, async () => {
  // The layer is pulled as a blob Berth would not produce itself (gzip level 1), from repository "foreign".
  const tar = tarOf("kept.txt", "sources outlive layers\n");
  const gz = gzipSync(tar, { level: 1 });
  const client = new RegistryClient({ host: reg.addr });
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(tar)] } }));
  await client.pushBlob("foreign", sha256(gz), gz.length, gz);
  await client.pushBlob("foreign", sha256(config), config.length, config);
  const manifest = { schemaVersion: 2, mediaType: MT.dockerManifest, config: { mediaType: MT.dockerConfig, digest: sha256(config), size: config.length }, layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: sha256(gz), size: gz.length }] };
  await client.putManifest("foreign", "1", Buffer.from(JSON.stringify(manifest)), MT.dockerManifest);
  const dir = path.join(tmp, "restarted");
  const first = new ImageStore(dir);
  await first.init();
  await new DistributionService({ store: first, events: new Events(), log }).pull({ fromImage: `${reg.addr}/foreign`, tag: "1" }, () => undefined);
  await first.index.untag(`${reg.addr}/foreign:1`);
  await first.index.delete(sha256(config));
  await first.gc();
  assert.deepEqual(await first.layers.list(), [], "the layer is gone");
  assert.deepEqual(first.blobs.list(), [], "its blob record too");

  // Restart on the same root, import the same tar again (uncompressed, as docker load does) and push it elsewhere.
  const s = new ImageStore(dir);
  await s.init();
  const dist = new DistributionService({ store: s, events: new Events(), log });
  const id = await s.importRootfs(Readable.from([tar]));
  await s.tag(id, `${reg.addr}/mounted:1`);
  const pushed: ProgressMessage[] = [];
  await dist.push({ name: `${reg.addr}/mounted`, tag: "1" }, (m) => pushed.push(m));
  assert.ok(pushed.some((m) => m["status"] === "Mounted from foreign"), JSON.stringify(pushed));
  assert.ok(!pushed.some((m) => m["status"] === "Pushed"), JSON.stringify(pushed));
  const { bytes } = await client.getManifest("mounted", "1");
  assert.equal((JSON.parse(bytes.toString("utf8")) as { layers: { digest: string }[] }).layers[0]?.digest, sha256(gz), "the manifest names the mounted blob");

  // A source that no longer holds the blob is forgotten after its mount fails (dockerd's v2 metadata does the same).
  await s.sources.record({ digest: sha256(gz), mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: gz.length, diffId: sha256(tar) }, `${reg.addr}/never-had-it`);
  await s.tag(id, `${reg.addr}/third:1`);
  await dist.push({ name: `${reg.addr}/third`, tag: "1" }, () => undefined);
  assert.ok(!s.sources.forDiffId(sha256(tar)).some((b) => b.repos.includes(`${reg.addr}/never-had-it`)));
});

test("a zstd layer (OCI manifest) is pulled, unpacked and pushed back with the same digests", { skip }, async () => {
  const client = new RegistryClient({ host: reg.addr });
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [ZSTD_DIFF] } }));
  const layerDigest = sha256(ZSTD_TAR);
  await client.pushBlob("zst", layerDigest, ZSTD_TAR.length, ZSTD_TAR);
  await client.pushBlob("zst", sha256(config), config.length, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: sha256(config), size: config.length },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: layerDigest, size: ZSTD_TAR.length }],
    }),
  );
  const mDigest = await client.putManifest("zst", "latest", manifest, MT.ociManifest);
  const s = await store();
  await s.dist.pull({ fromImage: `${reg.addr}/zst`, tag: "latest" }, () => undefined);
  const id = s.store.resolve(`${reg.addr}/zst`);
  assert.equal(id, sha256(config));
  const top = await s.store.topLayer(id as Digest);
  assert.equal(await fs.readFile(path.join(s.store.layers.diffDir(top as Digest), "a/f"), "utf8"), "hello zstd\n");
  await s.store.tag(id as Digest, `${reg.addr}/zst2:1`);
  const out: ProgressMessage[] = [];
  await s.dist.push({ name: `${reg.addr}/zst2`, tag: "1" }, (m) => out.push(m));
  assert.equal((out.find((m) => m["aux"])?.["aux"] as { Digest: string }).Digest, mDigest);
});

test("gc keeps the compressed blobs of kept images and drops those of removed ones", { skip }, async () => {
  const s = await store();
  await s.dist.pull({ fromImage: `${reg.addr}/unit`, tag: "1" }, () => undefined);
  const id = s.store.resolve(`${reg.addr}/unit:1`) as Digest;
  const before = await s.store.content.list();
  assert.equal(before.length, 3); // config, manifest, layer
  await s.store.gc();
  assert.deepEqual((await s.store.content.list()).sort(), before.sort());
  await s.store.index.untag(`${reg.addr}/unit:1`);
  await s.store.index.delete(id);
  const r = await s.store.gc();
  assert.equal(r.layers, 1);
  assert.deepEqual(await s.store.content.list(), []);
  assert.deepEqual(s.store.blobs.list(), []);
});

test("a missing tag is Docker's 404 text", { skip }, async () => {
  const s = await store();
  await assert.rejects(s.dist.pull({ fromImage: `${reg.addr}/unit`, tag: "nope" }, () => undefined), {
    message: `manifest for ${reg.addr}/unit:nope not found: manifest unknown: manifest unknown`,
  });
});

test("network errors read like Go's net/http; server addresses name registries", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED", address: "127.0.0.1", port: 1 });
  assert.equal(describeNetError(refused, "GET", "http://127.0.0.1:1/v2/"), `Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`);
  const dns = Object.assign(new Error("getaddrinfo ENOTFOUND registry-1.docker.io"), { code: "ENOTFOUND" });
  assert.match(describeNetError(dns, "GET", "https://registry-1.docker.io/v2/") ?? "", /^Get "https:\/\/registry-1\.docker\.io\/v2\/": dial tcp: lookup registry-1\.docker\.io on \S+:53: no such host$/);
  assert.equal(goNameserver("# generated\nsearch example\nnameserver 10.255.255.53\nnameserver 1.1.1.1\n"), "10.255.255.53:53");
  assert.equal(goNameserver("nameserver fe80::1%eth0\n"), "[fe80::1%eth0]:53");
  assert.equal(goNameserver(""), "127.0.0.1:53");
  assert.equal(registryHostOf("https://index.docker.io/v1/"), "docker.io");
  assert.equal(registryHostOf("http://127.0.0.1:5000"), "127.0.0.1:5000");
  assert.equal(registryHostOf("localhost:5000"), "localhost:5000");
  assert.equal(registryHostOf(""), "docker.io");
});

/** Push an image whose layers are these tars (gzip'ed); `diffIds` overrides the config's. */
async function pushLayers(repo: string, tars: Buffer[], diffIds?: Digest[]): Promise<Digest> {
  const client = new RegistryClient({ host: reg.addr });
  const blobs = tars.map((t) => gzipSync(t));
  for (const b of blobs) await client.pushBlob(repo, sha256(b), b.length, b);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds ?? tars.map((t) => sha256(t)) } }));
  await client.pushBlob(repo, sha256(config), config.length, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.dockerManifest,
      config: { mediaType: MT.dockerConfig, digest: sha256(config), size: config.length },
      layers: blobs.map((b) => ({ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: sha256(b), size: b.length })),
    }),
  );
  await client.putManifest(repo, "latest", manifest, MT.dockerManifest);
  return sha256(config);
}

/** Everything in the store's layers dir that is not a committed layer (unpacks in progress, leftovers). */
async function notLayers(s: ImageStore): Promise<string[]> {
  return (await fs.readdir(s.layers.layersDir)).filter((n) => !/^[a-f0-9]{64}$/.test(n));
}

test("a 3-layer pull unpacks the layers as they download and commits them in order, with Docker's per-layer messages", { skip }, async () => {
  const tars = [tarOf("a.txt", "a\n"), tarOf("big.bin", randomBytes(2_500_000).toString("latin1")), tarOf("c.txt", "c\n")];
  const id = await pushLayers("three", tars);
  const s = await store();
  const msgs: ProgressMessage[] = [];
  await s.dist.pull({ fromImage: `${reg.addr}/three`, tag: "latest" }, (m) => msgs.push(m));
  assert.equal(s.store.resolve(`${reg.addr}/three:latest`), id);
  const top = await s.store.topLayer(id);
  const chain = await s.store.layers.chain(top);
  assert.deepEqual(chain.reverse(), chainIds(tars.map((t) => sha256(t))));
  assert.deepEqual(await notLayers(s.store), []);

  const ids = tars.map((t) => sha256(gzipSync(t)).slice(7, 19));
  for (const lid of ids) {
    const seq = msgs.filter((m) => m["id"] === lid).map((m) => String(m["status"]));
    const firsts = seq.filter((x, i) => seq.indexOf(x) === i);
    assert.deepEqual(
      firsts.filter((x) => x !== "Downloading"),
      ["Pulling fs layer", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"],
      `${lid}: ${JSON.stringify(seq)}`,
    );
  }
  const completed = msgs.filter((m) => m["status"] === "Pull complete").map((m) => m["id"]);
  assert.deepEqual(completed, ids, "layers are committed in order");
});

test("a layer that is not the config's fails the pull: nothing above it is committed, no temp dirs are left", { skip }, async () => {
  const tars = [tarOf("one.txt", "1\n"), tarOf("two.txt", "2\n"), tarOf("three.txt", "3\n")];
  const diffIds = tars.map((t) => sha256(t));
  diffIds[1] = sha256("not this layer");
  await pushLayers("wrongdiff", tars, diffIds);
  const s = await store();
  await assert.rejects(s.dist.pull({ fromImage: `${reg.addr}/wrongdiff`, tag: "latest" }, () => undefined), /layers from manifest don't match image configuration/);
  assert.deepEqual(await notLayers(s.store), []);
  const layers = await s.store.layers.list();
  assert.ok(layers.every((l) => l.parent === null), `only the base layer may be there: ${JSON.stringify(layers)}`);
  assert.equal(s.store.resolve(`${reg.addr}/wrongdiff:latest`), undefined);
});
