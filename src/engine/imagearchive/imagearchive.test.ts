import { test } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { sha256 } from "../../util/digest.js";
import { EngineError } from "../../util/errors.js";
import { makeLogger } from "../../util/log.js";
import { ImageStore } from "../../image/index.js";
import { ImageArchiveService } from "./index.js";
import { Events } from "../events.js";
import type { ProgressMessage } from "../progress.js";
import { suiteTempDir } from "../../util/testfixtures.js";
import { buildTar, readTar } from "../../util/testtar.js";

const skip = process.getuid?.() === 0 ? false : "needs root (layers keep owners)";
const log = makeLogger("error");
const tmp = suiteTempDir("berth-save-");

let n = 0;
async function setup(): Promise<{ store: ImageStore; svc: ImageArchiveService }> {
  const root = path.join(tmp, `s${n++}`);
  const store = new ImageStore(path.join(root, "image"));
  await store.init();
  const svc = new ImageArchiveService({ store, events: new Events(), log, tmpRoot: path.join(root, "tmp") });
  await svc.init();
  return { store, svc };
}

type Entry = { name: string; body?: Buffer | string; type?: "file" | "symlink" | "directory"; linkname?: string };
const tarOf = (entries: Entry[]): Promise<Buffer> => buildTar(entries, { mtime: new Date(1_600_000_000_000) });

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

test("save then load into another store keeps ids and tags; a retag is announced", { skip }, async () => {
  const a = await setup();
  const id = await a.store.importRootfs(Readable.from([await tarOf([{ name: "etc/x", body: "1\n" }])]));
  await a.store.tag(id, "one:latest");
  await a.store.tag(id, "one:v1");
  const plan = a.svc.plan(["one"]);
  assert.deepEqual(plan, [{ id, tags: ["one:latest", "one:v1"] }]);
  const archive = await collect(a.svc.save(plan));

  const b = await setup();
  const other = await b.store.importRootfs(Readable.from([await tarOf([{ name: "other", body: "2\n" }])]));
  await b.store.tag(other, "one:latest");
  const msgs: ProgressMessage[] = [];
  await b.svc.load(Readable.from([archive]), { quiet: true }, (m) => msgs.push(m));
  assert.deepEqual(
    msgs.map((m) => m["stream"]),
    [`The image one:latest already exists, renaming the old one with ID ${other} to empty string\n`, "Loaded image: one:latest\n", "Loaded image: one:v1\n"],
  );
  assert.equal(b.store.resolve("one:v1"), id);
  // By id: no names.
  const c = await setup();
  const byId = await collect(a.svc.save(a.svc.plan([id.slice(7, 19)])));
  const out: ProgressMessage[] = [];
  await c.svc.load(Readable.from([gzipSync(byId)]), { quiet: false }, (m) => out.push(m));
  assert.ok(out.some((m) => m["status"] === "Loading layer"));
  assert.equal(out.at(-1)?.["stream"], `Loaded image ID: ${id}\n`);
});

test("loads a pre-25 docker archive whose duplicate layer is a symlink", { skip }, async () => {
  const l1 = await tarOf([{ name: "a", body: "a\n" }]);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(l1), sha256(l1)] } }));
  const archive = await tarOf([
    { name: "aaa/", type: "directory" },
    { name: "aaa/layer.tar", body: l1 },
    { name: "aaa/VERSION", body: "1.0" },
    { name: "bbb/", type: "directory" },
    { name: "bbb/layer.tar", type: "symlink", linkname: "../aaa/layer.tar" },
    { name: `${sha256(config).slice(7)}.json`, body: config },
    { name: "manifest.json", body: JSON.stringify([{ Config: `${sha256(config).slice(7)}.json`, RepoTags: ["old:1"], Layers: ["aaa/layer.tar", "bbb/layer.tar"] }]) },
  ]);
  const s = await setup();
  await s.svc.load(Readable.from([archive]), { quiet: true }, () => undefined);
  assert.equal(s.store.resolve("old:1"), sha256(config));
});

test("loads an OCI layout (gzip layers, nested index, name in annotations) and refuses escapes", { skip }, async () => {
  const layer = await tarOf([{ name: "hello", body: "oci\n" }]);
  const gz = gzipSync(layer);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha256(layer)] } }));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha256(gz), size: gz.length }] }));
  const inner = Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: sha256(manifest), size: manifest.length, platform: { os: "linux", architecture: "amd64" } }] }));
  const blob = (b: Buffer): Entry => ({ name: `blobs/sha256/${sha256(b).slice(7)}`, body: b });
  const archive = await tarOf([
    { name: "oci-layout", body: '{"imageLayoutVersion":"1.0.0"}' },
    blob(gz),
    blob(config),
    blob(manifest),
    blob(inner),
    { name: "index.json", body: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.index.v1+json", digest: sha256(inner), size: inner.length, annotations: { "io.containerd.image.name": "docker.io/library/ocitest:2" } }] }) },
  ]);
  const s = await setup();
  const msgs: ProgressMessage[] = [];
  await s.svc.load(Readable.from([archive]), { quiet: true }, (m) => msgs.push(m));
  assert.deepEqual(msgs, [{ stream: "Loaded image: ocitest:2\n" }]);
  assert.equal(s.store.resolve("ocitest:2"), sha256(config));

  const evil = await tarOf([
    { name: "x", type: "symlink", linkname: "../../../etc/passwd" },
    { name: "manifest.json", body: JSON.stringify([{ Config: "x", RepoTags: [], Layers: [] }]) },
  ]);
  await assert.rejects(s.svc.load(Readable.from([evil]), { quiet: true }, () => undefined), /points outside/);
  await assert.rejects(s.svc.load(Readable.from([Buffer.from("not a tar at all, really not")]), { quiet: true }, () => undefined), /Error processing tar file\(exit status 1\): unexpected EOF$/);
  assert.equal((await fs.readdir(path.join(tmp, `s${n - 1}`, "tmp"))).length, 0);
});

test("save names a missing image as dockerd does: a tag or digest is a reference, a name alone an image, a malformed name by the parser's message", async () => {
  const { svc } = await setup();
  const fails = (name: string, kind: string, message: string): void =>
    assert.throws(() => svc.plan([name]), (e: unknown) => e instanceof EngineError && e.kind === kind && e.message === message, name);
  fails("nosuch:1", "notFound", "reference does not exist");
  fails(`nosuch@sha256:${"a".repeat(64)}`, "notFound", "reference does not exist");
  fails("nosuch", "notFound", "No such image: nosuch");
  fails("1234567", "notFound", "No such image: 1234567");
  fails("sha256:abc", "notFound", "No such image: sha256:abc");
  fails("Bad Name", "invalid", "invalid reference format: repository name must be lowercase");
});

test("save names a parent saved with its child (children first, as dockerd) and load links them again; alone, no parent", { skip }, async () => {
  const a = await setup();
  const base = await a.store.importRootfs(Readable.from([await tarOf([{ name: "etc/x", body: "1\n" }])]));
  const baseCfg = await a.store.config(base);
  const step = { created: "2026-01-01T00:00:00Z", created_by: "/bin/sh -c #(nop)  ENV A=1", empty_layer: true };
  const child = await a.store.addImage({ ...baseCfg, config: { Env: ["A=1"] }, history: [...(baseCfg.history ?? []), step] }, { parent: base });
  // Not a child by history (two entries more): never linked on load.
  const stray = await a.store.addImage({ ...baseCfg, comment: "stray", history: [...(baseCfg.history ?? []), step, step] }, { parent: base });
  await a.store.tag(child, "kid:1");
  const both = await collect(a.svc.save(a.svc.plan(["kid:1", base.slice(7), stray.slice(7)])));
  const manifest = await readTarEntry(both, "manifest.json");
  const entries = JSON.parse(manifest) as { Config: string; Parent?: string }[];
  assert.equal(entries.find((e) => e.Config.endsWith(child.slice(7)))?.Parent, base);

  const b = await setup();
  await b.svc.load(Readable.from([both]), { quiet: true }, () => undefined);
  assert.equal(b.store.index.get(child)?.parent, base);
  assert.equal(b.store.index.get(stray)?.parent, undefined);
  assert.equal(b.store.index.get(base)?.parent, undefined);

  const alone = await collect(a.svc.save(a.svc.plan(["kid:1"])));
  assert.equal((JSON.parse(await readTarEntry(alone, "manifest.json")) as { Parent?: string }[])[0]?.Parent, undefined);
});

async function readTarEntry(archive: Buffer, name: string): Promise<string> {
  const found = (await readTar(Readable.from([archive]))).findLast((e) => e.header.name === name)?.body.toString("utf8");
  assert.ok(found !== undefined, `${name} in the archive`);
  return found;
}
