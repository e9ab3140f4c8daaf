import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import bcrypt from "bcryptjs";
import { type Digest, sha256 } from "../util/digest.js";
import { RegistryClient, RegistryHttpError, startRegistry, registryGc, MT, type RegistryHandle } from "./index.js";
import { errorCodes, makeTestImage, raw, type TestImage } from "./testimage.js";

let tmp = "";
let reg: RegistryHandle;
let root = "";
let img: TestImage;

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-registry-test-"));
  root = path.join(tmp, "root");
  reg = await startRegistry({ addr: "127.0.0.1:0", root, delete: true });
  img = await makeTestImage();
});
after(async () => {
  await reg.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

const client = (opts: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) => new RegistryClient({ host: reg.addr, ...opts });

async function pushImage(c: RegistryClient, repo: string, tag: string, image: TestImage = img): Promise<Digest> {
  await c.pushBlob(repo, image.layerDigest, image.layer.length, image.layer);
  await c.pushBlob(repo, image.configDigest, image.config.length, Readable.from([image.config]));
  return c.putManifest(repo, tag, image.manifest, MT.dockerManifest);
}

const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}` });

async function readStream(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

describe("registry server", () => {
  test("GET /v2/ answers 200 with the distribution API version header", async () => {
    const r = await raw(reg.url, "GET", "/v2/");
    assert.equal(r.status, 200);
    assert.equal(r.headers["docker-distribution-api-version"], "registry/2.0");
  });

  test("a monolithic POST ?digest= push makes the blob pullable, with Range support", async () => {
    const data = randomBytes(5000);
    const d = sha256(data);
    const r = await raw(reg.url, "POST", `/v2/mono/blobs/uploads/?digest=${d}`, { body: data, headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(r.status, 201);
    assert.equal(r.headers.location, `/v2/mono/blobs/${d}`);
    assert.equal(r.headers["docker-content-digest"], d);
    const head = await raw(reg.url, "HEAD", `/v2/mono/blobs/${d}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "5000");
    assert.equal(head.headers["docker-content-digest"], d);
    const get = await raw(reg.url, "GET", `/v2/mono/blobs/${d}`);
    assert.deepEqual(get.body, data);
    const part = await raw(reg.url, "GET", `/v2/mono/blobs/${d}`, { headers: { Range: "bytes=100-199" } });
    assert.equal(part.status, 206);
    assert.equal(part.headers["content-range"], "bytes 100-199/5000");
    assert.deepEqual(part.body, data.subarray(100, 200));
    const bad = await raw(reg.url, "GET", `/v2/mono/blobs/${d}`, { headers: { Range: "bytes=6000-" } });
    assert.equal(bad.status, 416);
    // Blobs are per repository.
    assert.equal((await raw(reg.url, "HEAD", `/v2/other/blobs/${d}`)).status, 404);
  });

  test("POST then PUT and a chunked push via the client give back the same bytes", async () => {
    const c = client({ monolithicMaxBytes: 1024, chunkBytes: 1000 });
    const small = randomBytes(700);
    await c.pushBlob("chunky", sha256(small), small.length, small);
    const big = randomBytes(4500);
    await c.pushBlob("chunky", sha256(big), big.length, Readable.from([big.subarray(0, 1234), big.subarray(1234)]));
    assert.deepEqual(await readStream(await c.getBlob("chunky", sha256(small))), small);
    assert.deepEqual(await readStream(await c.getBlob("chunky", sha256(big), { size: big.length })), big);
    assert.deepEqual(await c.blobExists("chunky", sha256(big)), { size: 4500 });
  });

  test("an out-of-order PATCH is refused with 416 and the current Range", async () => {
    const start = await raw(reg.url, "POST", "/v2/order/blobs/uploads/", { headers: { "Content-Length": 0 } });
    assert.equal(start.status, 202);
    const loc = start.headers.location as string;
    assert.match(loc, /^\/v2\/order\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(start.headers.range, "0-0");
    assert.ok(start.headers["docker-upload-uuid"]);
    const p1 = await raw(reg.url, "PATCH", loc, { body: Buffer.alloc(10, 1), headers: { "Content-Range": "0-9", "Content-Type": "application/octet-stream" } });
    assert.equal(p1.status, 202);
    assert.equal(p1.headers.range, "0-9");
    const p2 = await raw(reg.url, "PATCH", loc, { body: Buffer.alloc(10, 2), headers: { "Content-Range": "20-29" } });
    assert.equal(p2.status, 416);
    assert.equal(p2.headers.range, "0-9");
    const del = await raw(reg.url, "DELETE", loc);
    assert.equal(del.status, 204);
    const gone = await raw(reg.url, "GET", loc);
    assert.equal(gone.status, 404);
    assert.deepEqual(errorCodes(gone), ["BLOB_UPLOAD_UNKNOWN"]);
  });

  test("a Docker-style push (one chunked PATCH without Content-Range, then an empty PUT) works", async () => {
    const data = randomBytes(100_000);
    const d = sha256(data);
    const start = await raw(reg.url, "POST", "/v2/dockerish/blobs/uploads/", { headers: { "Content-Length": 0 } });
    const loc = start.headers.location as string;
    const patched = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.request(new URL(loc, reg.url), { method: "PATCH", agent: false, headers: { "Content-Type": "application/octet-stream" } }, resolve);
      req.on("error", reject);
      for (let i = 0; i < data.length; i += 30_000) req.write(data.subarray(i, i + 30_000));
      req.end();
    });
    patched.resume();
    assert.equal(patched.statusCode, 202);
    assert.equal(patched.headers.range, `0-${data.length - 1}`);
    const put = await raw(reg.url, "PUT", `${patched.headers.location}?digest=${d}`, { headers: { "Content-Length": 0 } });
    assert.equal(put.status, 201);
    assert.equal(put.headers["docker-content-digest"], d);
    assert.deepEqual((await raw(reg.url, "GET", `/v2/dockerish/blobs/${d}`)).body, data);
  });

  test("an upload cut mid-PATCH resumes from the offset GET reports", async () => {
    const data = randomBytes(64 * 1024);
    const d = sha256(data);
    const start = await raw(reg.url, "POST", "/v2/resume/blobs/uploads/", { headers: { "Content-Length": 0 } });
    const loc = start.headers.location as string;
    const uuid = start.headers["docker-upload-uuid"] as string;
    const part = 40_000;
    // PATCH announcing the whole blob, send only `part` bytes, then lose the connection.
    const req = http.request(new URL(loc, reg.url), { method: "PATCH", agent: false, headers: { "Content-Length": data.length, "Content-Range": `0-${data.length - 1}` } });
    req.on("error", () => undefined);
    req.write(data.subarray(0, part));
    const dataFile = path.join(root, "uploads", uuid, "data");
    for (let i = 0; i < 200 && (await fs.stat(dataFile)).size < part; i++) await new Promise((r) => setTimeout(r, 10));
    req.destroy();
    const st = await raw(reg.url, "GET", loc);
    assert.equal(st.status, 204);
    assert.equal(st.headers.range, `0-${part - 1}`);
    const rest = await raw(reg.url, "PATCH", st.headers.location as string, { body: data.subarray(part), headers: { "Content-Range": `${part}-${data.length - 1}` } });
    assert.equal(rest.status, 202);
    const put = await raw(reg.url, "PUT", `${rest.headers.location}?digest=${d}`);
    assert.equal(put.status, 201);
    assert.deepEqual((await raw(reg.url, "GET", `/v2/resume/blobs/${d}`)).body, data);
  });

  test("a wrong digest is refused with DIGEST_INVALID and the blob never becomes visible", async () => {
    const data = Buffer.from("real content");
    const lie = sha256("something else");
    const start = await raw(reg.url, "POST", "/v2/liar/blobs/uploads/", { headers: { "Content-Length": 0 } });
    const loc = start.headers.location as string;
    const put = await raw(reg.url, "PUT", `${loc}?digest=${lie}`, { body: data });
    assert.equal(put.status, 400);
    assert.deepEqual(errorCodes(put), ["DIGEST_INVALID"]);
    assert.equal((await raw(reg.url, "HEAD", `/v2/liar/blobs/${lie}`)).status, 404);
    assert.equal((await raw(reg.url, "HEAD", `/v2/liar/blobs/${sha256(data)}`)).status, 404);
    assert.equal((await reg.storage.statBlob(lie)), undefined);
    assert.equal((await reg.storage.statBlob(sha256(data))), undefined);
    const mono = await raw(reg.url, "POST", `/v2/liar/blobs/uploads/?digest=${lie}`, { body: data });
    assert.deepEqual(errorCodes(mono), ["DIGEST_INVALID"]);
    assert.equal((await raw(reg.url, "GET", loc)).status, 404, "the failed session is gone");
    const bad = await raw(reg.url, "PUT", `${loc}?digest=nonsense`);
    assert.equal(bad.status, 400);
  });

  test("images pull by tag and by digest, with Docker-Content-Digest", async () => {
    const c = client();
    const md = await pushImage(c, "team/app", "v1");
    assert.equal(md, img.manifestDigest);
    const byTag = await c.getManifest("team/app", "v1");
    assert.equal(byTag.digest, img.manifestDigest);
    assert.equal(byTag.mediaType, MT.dockerManifest);
    assert.deepEqual(byTag.bytes, img.manifest);
    const byDigest = await c.getManifest("team/app", img.manifestDigest);
    assert.deepEqual(byDigest.bytes, img.manifest);
    const head = await raw(reg.url, "HEAD", `/v2/team/app/manifests/v1`, { headers: { Accept: MT.dockerManifest } });
    assert.equal(head.status, 200);
    assert.equal(head.headers["docker-content-digest"], img.manifestDigest);
    assert.equal(head.headers["content-length"], String(img.manifest.length));
    assert.equal(head.headers["content-type"], MT.dockerManifest);
    const layer = await readStream(await c.getBlob("team/app", img.layerDigest));
    assert.deepEqual(layer, img.layer);
    const missing = await raw(reg.url, "GET", `/v2/team/app/manifests/nope`);
    assert.equal(missing.status, 404);
    assert.deepEqual(errorCodes(missing), ["MANIFEST_UNKNOWN"]);
    await assert.rejects(c.getManifest("team/app", "nope"), (e: unknown) => e instanceof RegistryHttpError && e.status === 404 && e.code === "MANIFEST_UNKNOWN");
  });

  test("content negotiation: an index is served as is, or as the amd64 manifest to clients that cannot read indexes", async () => {
    const c = client();
    const amd = img;
    const arm = await makeTestImage("arm bytes\n", "arm64");
    await pushImage(c, "multi", amd.manifestDigest, amd);
    await pushImage(c, "multi", arm.manifestDigest, arm);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.dockerManifestList,
        manifests: [
          { mediaType: MT.dockerManifest, digest: arm.manifestDigest, size: arm.manifest.length, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
          { mediaType: MT.dockerManifest, digest: amd.manifestDigest, size: amd.manifest.length, platform: { os: "linux", architecture: "amd64" } },
        ],
      }),
    );
    const idxDigest = await c.putManifest("multi", "latest", index, MT.dockerManifestList);
    const full = await c.getManifest("multi", "latest");
    assert.equal(full.mediaType, MT.dockerManifestList);
    assert.equal(full.digest, idxDigest);
    const single = await raw(reg.url, "GET", "/v2/multi/manifests/latest", { headers: { Accept: MT.dockerManifest } });
    assert.equal(single.status, 200);
    assert.equal(single.headers["content-type"], MT.dockerManifest);
    assert.equal(single.headers["docker-content-digest"], process.arch === "arm64" ? arm.manifestDigest : amd.manifestDigest);
    // An OCI-only client asking for a Docker manifest gets 404, like distribution.
    const oci = await raw(reg.url, "GET", `/v2/multi/manifests/${amd.manifestDigest}`, { headers: { Accept: MT.ociManifest } });
    assert.equal(oci.status, 404);
    assert.deepEqual(errorCodes(oci), ["MANIFEST_UNKNOWN"]);
    // q=0 excludes a type; multiple Accept headers are combined.
    const multiAccept = await raw(reg.url, "GET", "/v2/multi/manifests/latest", { headers: { Accept: `${MT.dockerManifestList};q=0, ${MT.dockerManifest}` } });
    assert.equal(multiAccept.headers["content-type"], MT.dockerManifest);
    // OCI manifests and indexes round-trip with their media type.
    const ociManifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: amd.configDigest, size: amd.config.length }, layers: [{ mediaType: MT.ociLayerGzip, digest: amd.layerDigest, size: amd.layer.length }] }));
    const od = await c.putManifest("multi", "oci", ociManifest, MT.ociManifest);
    const ociIndex = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: od, size: ociManifest.length, platform: { os: "linux", architecture: "amd64" } }] }));
    await c.putManifest("multi", "oci-index", ociIndex, MT.ociIndex);
    assert.equal((await c.getManifest("multi", "oci-index")).mediaType, MT.ociIndex);
    const viaIndex = await raw(reg.url, "GET", "/v2/multi/manifests/oci-index", { headers: { Accept: MT.ociManifest } });
    assert.equal(viaIndex.headers["docker-content-digest"], od);
    // Content-Type that contradicts the mediaType field is refused.
    const clash = await raw(reg.url, "PUT", "/v2/multi/manifests/clash", { body: ociManifest, headers: { "Content-Type": MT.dockerManifest } });
    assert.deepEqual(errorCodes(clash), ["MANIFEST_INVALID"]);
    // An index naming a manifest the repository lacks is refused.
    const dangling = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.ociManifest, digest: sha256("x"), size: 1 }] }));
    const dr = await raw(reg.url, "PUT", "/v2/multi/manifests/dangling", { body: dangling, headers: { "Content-Type": MT.ociIndex } });
    assert.deepEqual(errorCodes(dr), ["MANIFEST_BLOB_UNKNOWN"]);
  });

  test("a manifest naming a missing blob is refused with MANIFEST_BLOB_UNKNOWN; bad JSON with MANIFEST_INVALID", async () => {
    const c = client();
    await c.pushBlob("partial", img.configDigest, img.config.length, img.config);
    const r = await raw(reg.url, "PUT", "/v2/partial/manifests/v1", { body: img.manifest, headers: { "Content-Type": MT.dockerManifest } });
    assert.equal(r.status, 400);
    assert.deepEqual(errorCodes(r), ["MANIFEST_BLOB_UNKNOWN"]);
    assert.equal(JSON.parse(r.body.toString()).errors[0].detail, img.layerDigest);
    assert.equal((await raw(reg.url, "GET", "/v2/partial/manifests/v1")).status, 404);
    const bad = await raw(reg.url, "PUT", "/v2/partial/manifests/v1", { body: "{not json", headers: { "Content-Type": MT.dockerManifest } });
    assert.equal(bad.status, 400);
    assert.deepEqual(errorCodes(bad), ["MANIFEST_INVALID"]);
    const wrongDigest = await raw(reg.url, "PUT", `/v2/partial/manifests/${sha256("other")}`, { body: img.manifest, headers: { "Content-Type": MT.dockerManifest } });
    assert.equal(wrongDigest.status, 400);
    // A blob pushed to another repository does not count.
    await c.pushBlob("elsewhere", img.layerDigest, img.layer.length, img.layer);
    const still = await raw(reg.url, "PUT", "/v2/partial/manifests/v1", { body: img.manifest, headers: { "Content-Type": MT.dockerManifest } });
    assert.deepEqual(errorCodes(still), ["MANIFEST_BLOB_UNKNOWN"]);
  });

  test("cross-repository mount answers 201 when the source has the blob, else starts an upload (202)", async () => {
    const c = client();
    await c.pushBlob("mount-src", img.layerDigest, img.layer.length, img.layer);
    const ok = await raw(reg.url, "POST", `/v2/mount-dst/blobs/uploads/?mount=${img.layerDigest}&from=mount-src`);
    assert.equal(ok.status, 201);
    assert.equal(ok.headers.location, `/v2/mount-dst/blobs/${img.layerDigest}`);
    assert.equal((await raw(reg.url, "HEAD", `/v2/mount-dst/blobs/${img.layerDigest}`)).status, 200);
    const no = await raw(reg.url, "POST", `/v2/mount-dst2/blobs/uploads/?mount=${img.layerDigest}&from=nowhere`);
    assert.equal(no.status, 202);
    assert.match(no.headers.location as string, /\/v2\/mount-dst2\/blobs\/uploads\//);
    assert.equal(await c.mountBlob("mount-dst3", img.layerDigest, "mount-src"), true);
    assert.equal(await c.mountBlob("mount-dst4", img.layerDigest, "nowhere"), false);
    assert.equal(await c.ensureBlob("mount-dst5", { digest: img.layerDigest, size: img.layer.length }, () => img.layer, ["mount-src"]), "mounted");
    assert.equal(await c.ensureBlob("mount-dst5", { digest: img.layerDigest, size: img.layer.length }, () => img.layer), "exists");
  });

  test("tags list paginates with n/last and a Link header", async () => {
    const c = client();
    const repo = "paged";
    await pushImage(c, repo, "t0");
    for (const t of ["b", "a", "d", "c"]) await c.putManifest(repo, t, img.manifest, MT.dockerManifest);
    const all = await raw(reg.url, "GET", `/v2/${repo}/tags/list`);
    assert.deepEqual(JSON.parse(all.body.toString()), { name: repo, tags: ["a", "b", "c", "d", "t0"] });
    const p1 = await raw(reg.url, "GET", `/v2/${repo}/tags/list?n=2`);
    assert.deepEqual(JSON.parse(p1.body.toString()).tags, ["a", "b"]);
    assert.equal(p1.headers.link, `</v2/${repo}/tags/list?last=b&n=2>; rel="next"`);
    const p2 = await raw(reg.url, "GET", `/v2/${repo}/tags/list?n=2&last=b`);
    assert.deepEqual(JSON.parse(p2.body.toString()).tags, ["c", "d"]);
    const p3 = await raw(reg.url, "GET", `/v2/${repo}/tags/list?n=2&last=d`);
    assert.deepEqual(JSON.parse(p3.body.toString()).tags, ["t0"]);
    assert.equal(p3.headers.link, undefined);
    const zero = await raw(reg.url, "GET", `/v2/${repo}/tags/list?n=0`);
    assert.deepEqual(JSON.parse(zero.body.toString()).tags, []);
    assert.equal(zero.headers.link, undefined);
    assert.deepEqual(await c.listTags(repo), ["a", "b", "c", "d", "t0"]);
    assert.deepEqual(await c.listTags(repo, { n: 3 }), ["a", "b", "c"]);
    const unknown = await raw(reg.url, "GET", "/v2/never-pushed/tags/list");
    assert.equal(unknown.status, 404);
    assert.deepEqual(errorCodes(unknown), ["NAME_UNKNOWN"]);
  });

  test("_catalog lists repositories, paginated", async () => {
    const c = client();
    for (const r of ["cat/a", "cat/b", "cat/c"]) await pushImage(c, r, "x");
    const all = JSON.parse((await raw(reg.url, "GET", "/v2/_catalog")).body.toString()).repositories as string[];
    for (const r of ["cat/a", "cat/b", "cat/c", "team/app"]) assert.ok(all.includes(r), r);
    assert.deepEqual([...all].sort(), all);
    const p = await raw(reg.url, "GET", "/v2/_catalog?n=2&last=cat/a");
    assert.deepEqual(JSON.parse(p.body.toString()).repositories, ["cat/b", "cat/c"]);
    assert.match(p.headers.link as string, /^<\/v2\/_catalog\?last=cat%2Fc&n=2>; rel="next"$/);
  });

  test("delete: tags, manifests by digest and blob links", async () => {
    const c = client();
    const repo = "deleting";
    await pushImage(c, repo, "keep");
    await c.putManifest(repo, "drop", img.manifest, MT.dockerManifest);
    assert.equal((await raw(reg.url, "DELETE", `/v2/${repo}/manifests/drop`)).status, 202);
    assert.equal((await raw(reg.url, "GET", `/v2/${repo}/manifests/drop`)).status, 404);
    assert.equal((await raw(reg.url, "GET", `/v2/${repo}/manifests/keep`)).status, 200);
    assert.equal((await raw(reg.url, "DELETE", `/v2/${repo}/manifests/${img.manifestDigest}`)).status, 202);
    assert.equal((await raw(reg.url, "GET", `/v2/${repo}/manifests/${img.manifestDigest}`)).status, 404);
    assert.equal((await raw(reg.url, "GET", `/v2/${repo}/manifests/keep`)).status, 404, "tags of a deleted manifest go with it");
    assert.deepEqual(await c.listTags(repo), []);
    assert.equal((await raw(reg.url, "DELETE", `/v2/${repo}/manifests/${img.manifestDigest}`)).status, 404);
    assert.equal((await raw(reg.url, "DELETE", `/v2/${repo}/blobs/${img.layerDigest}`)).status, 202);
    assert.equal((await raw(reg.url, "HEAD", `/v2/${repo}/blobs/${img.layerDigest}`)).status, 404);
    const again = await raw(reg.url, "DELETE", `/v2/${repo}/blobs/${img.layerDigest}`);
    assert.equal(again.status, 404);
    assert.deepEqual(errorCodes(again), ["BLOB_UNKNOWN"]);
  });

  test("referrers: a manifest with a subject is listed, filterable by artifactType", async () => {
    const c = client();
    const repo = "refs";
    const subject = await pushImage(c, repo, "v1");
    const empty = Buffer.from("{}");
    await c.pushBlob(repo, sha256(empty), empty.length, empty);
    const artifact = (type: string, note: string) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          artifactType: type,
          config: { mediaType: MT.ociEmpty, digest: sha256(empty), size: 2 },
          layers: [{ mediaType: MT.ociEmpty, digest: sha256(empty), size: 2 }],
          subject: { mediaType: MT.dockerManifest, digest: subject, size: img.manifest.length },
          annotations: { note },
        }),
      );
    const sbom = artifact("application/vnd.example.sbom.v1", "sbom");
    const sig = artifact("application/vnd.example.signature.v1", "sig");
    const r = await raw(reg.url, "PUT", `/v2/${repo}/manifests/${sha256(sbom)}`, { body: sbom, headers: { "Content-Type": MT.ociManifest } });
    assert.equal(r.status, 201);
    assert.equal(r.headers["oci-subject"], subject);
    await c.putManifest(repo, sha256(sig), sig, MT.ociManifest);
    const all = await raw(reg.url, "GET", `/v2/${repo}/referrers/${subject}`);
    assert.equal(all.status, 200);
    assert.equal(all.headers["content-type"], MT.ociIndex);
    const idx = JSON.parse(all.body.toString()) as { manifests: { digest: string; artifactType: string; annotations: Record<string, string>; size: number }[] };
    assert.deepEqual(idx.manifests.map((m) => m.digest).sort(), [sha256(sbom), sha256(sig)].sort());
    const sbomDesc = idx.manifests.find((m) => m.digest === sha256(sbom));
    assert.equal(sbomDesc?.artifactType, "application/vnd.example.sbom.v1");
    assert.deepEqual(sbomDesc?.annotations, { note: "sbom" });
    assert.equal(sbomDesc?.size, sbom.length);
    const filtered = await raw(reg.url, "GET", `/v2/${repo}/referrers/${subject}?artifactType=${encodeURIComponent("application/vnd.example.signature.v1")}`);
    assert.equal(filtered.headers["oci-filters-applied"], "artifactType");
    assert.deepEqual(JSON.parse(filtered.body.toString()).manifests.map((m: { digest: string }) => m.digest), [sha256(sig)]);
    assert.deepEqual((await c.referrers(repo, sha256("nothing refers"))).manifests, []);
    assert.equal((await raw(reg.url, "GET", `/v2/${repo}/referrers/not-a-digest`)).status, 400);
    // Deleting the referrer removes it from the list.
    await c.deleteManifest(repo, sha256(sig));
    assert.deepEqual((await c.referrers(repo, subject)).manifests.map((m) => m.digest), [sha256(sbom)]);
  });

  test("10 concurrent pushes of the same blob and tag leave one correct blob", async () => {
    const data = randomBytes(256 * 1024);
    const d = sha256(data);
    const c = client({ monolithicMaxBytes: 100 * 1024, chunkBytes: 64 * 1024 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? c.pushBlob("race", d, data.length, data) : client().pushBlob("race", d, data.length, Readable.from([data])))));
    assert.deepEqual(await readStream(await c.getBlob("race", d)), data);
    const dir = path.join(root, "blobs", "sha256", d.slice(7, 9));
    assert.deepEqual((await fs.readdir(dir)).filter((n) => n.startsWith(d.slice(7))), [d.slice(7)]);
    const onDisk = await fs.readFile(path.join(dir, d.slice(7)));
    assert.equal(createHash("sha256").update(onDisk).digest("hex"), d.slice(7));
    assert.deepEqual((await reg.storage.listUploads()).filter((u) => u.repo === "race"), [], "no upload leftovers");
    // Same tag pushed concurrently with different manifests: it ends on one of them, whole.
    await c.pushBlob("race", img.layerDigest, img.layer.length, img.layer);
    await c.pushBlob("race", img.configDigest, img.config.length, img.config);
    const variants = Array.from({ length: 10 }, (_, i) => Buffer.from(JSON.stringify({ ...JSON.parse(img.manifest.toString()), annotations: { n: String(i) } })));
    await Promise.all(variants.map((v) => c.putManifest("race", "same", v, MT.dockerManifest)));
    const got = await c.getManifest("race", "same");
    assert.ok(variants.some((v) => v.equals(got.bytes)));
  });

  test("gc removes an unreferenced blob, keeps referenced ones, and drops stale uploads", async () => {
    const groot = path.join(tmp, "gc-root");
    const g = await startRegistry({ addr: "127.0.0.1:0", root: groot, delete: true });
    try {
      const c = new RegistryClient({ host: g.addr });
      await pushImage(c, "kept", "v1");
      const orphan = Buffer.from("nobody references me");
      await c.pushBlob("kept", sha256(orphan), orphan.length, orphan);
      const stale = await raw(g.url, "POST", "/v2/kept/blobs/uploads/", { headers: { "Content-Length": 0 } });
      const staleId = stale.headers["docker-upload-uuid"] as string;
      const old = new Date(Date.now() - 48 * 3600 * 1000);
      await fs.utimes(path.join(groot, "uploads", staleId, "data"), old, old);
      const dry = await g.gc({ dryRun: true });
      assert.deepEqual(dry.deleted, [sha256(orphan)]);
      assert.ok(await g.storage.statBlob(sha256(orphan)));
      const res = await g.gc();
      assert.deepEqual(res.deleted, [sha256(orphan)]);
      assert.deepEqual(res.uploads, [staleId]);
      assert.equal(res.kept, 3);
      assert.equal((await raw(g.url, "HEAD", `/v2/kept/blobs/${sha256(orphan)}`)).status, 404);
      for (const d of [img.layerDigest, img.configDigest]) assert.equal((await raw(g.url, "HEAD", `/v2/kept/blobs/${d}`)).status, 200);
      assert.equal((await c.getManifest("kept", "v1")).digest, img.manifestDigest);
      // After the manifest is deleted, its blobs are garbage too (registryGc works on a root directly).
      await c.deleteManifest("kept", img.manifestDigest);
      const after = await registryGc(groot);
      assert.deepEqual([...after.deleted].sort(), [img.layerDigest, img.configDigest, img.manifestDigest].sort());
    } finally {
      await g.close();
    }
  });

  test("basic auth: 401 with a Basic challenge, then success with bcrypt htpasswd credentials", async () => {
    const file = path.join(tmp, "htpasswd");
    await fs.writeFile(file, `alice:${bcrypt.hashSync("wonderland", 4).replace(/^\$2b\$/, "$2y$")}\n`);
    const a = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "auth-root"), htpasswd: file, realm: "berth test" });
    try {
      const anon = await raw(a.url, "GET", "/v2/");
      assert.equal(anon.status, 401);
      assert.equal(anon.headers["www-authenticate"], 'Basic realm="berth test"');
      assert.deepEqual(errorCodes(anon), ["UNAUTHORIZED"]);
      assert.equal((await raw(a.url, "GET", "/v2/", { headers: basic("alice", "wonderland") })).status, 200);
      assert.equal((await raw(a.url, "GET", "/v2/", { headers: basic("alice", "wrong") })).status, 401);
      const c = new RegistryClient({ host: a.addr, credentials: { username: "alice", password: "wonderland" } });
      await pushImage(c, "private", "v1");
      assert.equal((await c.getManifest("private", "v1")).digest, img.manifestDigest);
      const nobody = new RegistryClient({ host: a.addr });
      await assert.rejects(nobody.getManifest("private", "v1"), (e: unknown) => e instanceof RegistryHttpError && e.status === 401 && e.kind === "unauthorized");
      const wrong = new RegistryClient({ host: a.addr, credentials: { username: "alice", password: "nope" } });
      await assert.rejects(wrong.ping(), (e: unknown) => e instanceof RegistryHttpError && e.status === 401);
    } finally {
      await a.close();
    }
  });

  test("the standalone entry serves and collects garbage", { timeout: 30_000 }, async () => {
    const main = path.join(path.dirname(fileURLToPath(import.meta.url)), "main.js");
    const sroot = path.join(tmp, "standalone");
    const child = spawn(process.execPath, [main, "serve", "--addr", "127.0.0.1:0", "--root", sroot], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const addr = await new Promise<string>((resolve, reject) => {
        let out = "";
        const t = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 10_000);
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          const m = /listening on (\S+)/.exec(out);
          if (m?.[1]) {
            clearTimeout(t);
            resolve(m[1]);
          }
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const c = new RegistryClient({ host: addr });
      await pushImage(c, "solo", "v1");
      assert.equal((await c.getManifest("solo", "v1")).digest, img.manifestDigest);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
    }
    const gc = spawn(process.execPath, [main, "gc", "--root", sroot], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    gc.stdout.on("data", (b: Buffer) => (out += b.toString()));
    const code = await new Promise((r) => gc.once("exit", r));
    assert.equal(code, 0);
    assert.match(out, /0 blobs deleted, 3 kept/);
  });
});

/** Each hole closed in `berth registry serve`, attacked the way an outsider would. */
describe("registry server hardening", () => {
  const UNSUPPORTED = { errors: [{ code: "UNSUPPORTED", message: "The operation is unsupported." }] };
  const lines: string[] = [];
  const log = { debug: () => undefined, info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };

  test("DELETE of tags, manifests and blobs answers 405 UNSUPPORTED (distribution's body) unless delete is enabled", async () => {
    const r = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "nodelete") });
    try {
      const c = new RegistryClient({ host: r.addr });
      const md = await pushImage(c, "kept", "v1");
      for (const p of ["/v2/kept/manifests/v1", `/v2/kept/manifests/${md}`, `/v2/kept/blobs/${img.layerDigest}`, `/v2/absent/manifests/${sha256("x")}`]) {
        const del = await raw(r.url, "DELETE", p);
        assert.equal(del.status, 405, p);
        assert.deepEqual(JSON.parse(del.body.toString()), UNSUPPORTED, p);
      }
      assert.equal((await c.getManifest("kept", "v1")).digest, md);
      assert.deepEqual(await c.blobExists("kept", img.layerDigest), { size: img.layer.length });
      // Cancelling one's own upload session is not a deletion of content: still allowed.
      const up = await raw(r.url, "POST", "/v2/kept/blobs/uploads/", { headers: { "Content-Length": 0 } });
      assert.equal((await raw(r.url, "DELETE", up.headers.location as string)).status, 204);
    } finally {
      await r.close();
    }
  });

  test("htpasswd: {SHA}, MD5, crypt and plain entries are refused with a log line at load; bcrypt users log in", async () => {
    const file = path.join(tmp, "htpasswd-mixed");
    const sha = createHash("sha1").update("s3cret").digest("base64");
    await fs.writeFile(file, [`alice:${bcrypt.hashSync("wonderland", 4)}`, `bob:{SHA}${sha}`, "carol:$apr1$abcdefgh$0123456789abcdefghijkl", "dave:plain", ""].join("\n"));
    lines.length = 0;
    const a = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "mixed-root"), htpasswd: file, log });
    try {
      assert.equal((await raw(a.url, "GET", "/v2/", { headers: basic("alice", "wonderland") })).status, 200);
      for (const [u, p] of [["bob", "s3cret"], ["bob", `{SHA}${sha}`], ["dave", "plain"]] as const) {
        const r = await raw(a.url, "GET", "/v2/", { headers: basic(u, p) });
        assert.equal(r.status, 401, u);
        assert.deepEqual(errorCodes(r), ["UNAUTHORIZED"]);
      }
      for (const [user, line] of [["bob", 2], ["carol", 3], ["dave", 4]] as const) {
        const hit = lines.filter((l) => l.includes(`user "${user}"`));
        assert.equal(hit.length, 1, lines.join("\n"));
        assert.match(hit[0] as string, new RegExp(`htpasswd-mixed:${line}: user "${user}" ignored: only bcrypt hashes are accepted \\(htpasswd -B\\)`));
      }
      assert.ok(!lines.some((l) => l.includes('"alice"')), lines.join("\n"));
    } finally {
      await a.close();
    }
  });

  test("an unknown user costs a bcrypt comparison like a wrong password (no user enumeration by timing)", { timeout: 60_000 }, async () => {
    const file = path.join(tmp, "htpasswd-timing");
    await fs.writeFile(file, `alice:${bcrypt.hashSync("wonderland", 8)}\n`);
    const a = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "timing-root"), htpasswd: file });
    try {
      const time = async (u: string, p: string): Promise<number> => {
        const t0 = process.hrtime.bigint();
        const r = await raw(a.url, "GET", "/v2/", { headers: basic(u, p) });
        assert.equal(r.status, 401);
        return Number(process.hrtime.bigint() - t0) / 1e6;
      };
      // Interleaved pairs and medians: load on the machine slows both sides alike.
      const unknown: number[] = [];
      const wrong: number[] = [];
      for (let i = 0; i < 15; i++) {
        unknown.push(await time(`mallory${i}`, "guess"));
        wrong.push(await time("alice", `guess${i}`));
      }
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
      const [mu, mw] = [median(unknown), median(wrong)];
      // Without the dummy comparison an unknown name answers ~50x faster (no bcrypt at all).
      assert.ok(mu > mw * 0.5, `unknown user ${mu.toFixed(1)} ms vs wrong password ${mw.toFixed(1)} ms (medians of 15)`);
    } finally {
      await a.close();
    }
  });

  test("TLS: serves HTTPS with the given certificate (verified against it as CA); plain HTTP gets no answer", { timeout: 60_000 }, async () => {
    const dir = await fs.mkdtemp(path.join(tmp, "tls-"));
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    const gen = spawn("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
    assert.equal(await new Promise((r) => gen.once("exit", r)), 0);
    const file = path.join(tmp, "htpasswd-tls");
    await fs.writeFile(file, `alice:${bcrypt.hashSync("wonderland", 4)}\n`);
    // On a non-loopback address: allowed, because the passwords travel inside TLS.
    const t = await startRegistry({ addr: "0.0.0.0:0", root: path.join(tmp, "tls-root"), htpasswd: file, tlsCert: cert, tlsKey: key });
    try {
      assert.equal(t.url, `https://127.0.0.1:${t.port}`);
      const ca = await fs.readFile(cert);
      assert.equal((await raw(t.url, "GET", "/v2/", { ca })).status, 401);
      const ok = await raw(t.url, "GET", "/v2/", { ca, headers: basic("alice", "wonderland") });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers["docker-distribution-api-version"], "registry/2.0");
      // Without the CA the certificate does not verify.
      await assert.rejects(raw(t.url, "GET", "/v2/"), /self[- ]signed certificate/);
      await assert.rejects(raw(`http://127.0.0.1:${t.port}`, "GET", "/v2/", { headers: basic("alice", "wonderland") }));
      // The registry client pushes and pulls through it (loopback: TLS without verification first, as dockerd).
      const c = new RegistryClient({ host: `127.0.0.1:${t.port}`, credentials: { username: "alice", password: "wonderland" } });
      const md = await pushImage(c, "secure", "v1");
      assert.deepEqual(await readStream(await c.getBlob("secure", img.layerDigest)), img.layer);
      assert.equal((await c.getManifest("secure", "v1")).digest, md);
    } finally {
      await t.close();
    }
  });

  test("Basic auth over plain HTTP on a non-loopback address is refused at start; a lone --tls-cert too", async () => {
    const file = path.join(tmp, "htpasswd-plain");
    await fs.writeFile(file, `alice:${bcrypt.hashSync("wonderland", 4)}\n`);
    const refused = async (opts: Parameters<typeof startRegistry>[0], re: RegExp) => {
      const h = await startRegistry(opts).catch((e: unknown) => e);
      if (!(h instanceof Error)) {
        await (h as RegistryHandle).close();
        assert.fail(`${opts.addr} started`);
      }
      assert.match(h.message, re);
    };
    for (const addr of ["0.0.0.0:0", ":0", "[::]:0"]) {
      await refused({ addr, root: path.join(tmp, "plain-root"), htpasswd: file }, /refusing to serve basic auth over plain HTTP on .* \(use --tls-cert and --tls-key, or a loopback address\)/);
    }
    await refused({ addr: "127.0.0.1:0", root: path.join(tmp, "plain-root"), tlsCert: file }, /--tls-cert and --tls-key go together/);
  });

  test("upload sessions are capped (429 TOOMANYREQUESTS with Retry-After) and expire when idle", async () => {
    const uroot = path.join(tmp, "cap-root");
    const r = await startRegistry({ addr: "127.0.0.1:0", root: uroot, maxUploads: 3, uploadTtlMs: 3600_000 });
    try {
      const open = async () => raw(r.url, "POST", "/v2/capped/blobs/uploads/", { headers: { "Content-Length": 0 } });
      const locs: string[] = [];
      for (let i = 0; i < 3; i++) {
        const u = await open();
        assert.equal(u.status, 202);
        locs.push(u.headers.location as string);
      }
      const over = await open();
      assert.equal(over.status, 429);
      assert.deepEqual(errorCodes(over), ["TOOMANYREQUESTS"]);
      assert.match(over.headers["retry-after"] as string, /^\d+$/);
      const data = Buffer.from("monolithic");
      const mono = await raw(r.url, "POST", `/v2/capped/blobs/uploads/?digest=${sha256(data)}`, { body: data });
      assert.equal(mono.status, 429, "a monolithic upload is a session too");
      // Cancelling one frees its place.
      assert.equal((await raw(r.url, "DELETE", locs.pop() as string)).status, 204);
      const again = await open();
      assert.equal(again.status, 202);
      locs.push(again.headers.location as string);
      assert.equal((await open()).status, 429);
      // A session idle longer than the TTL is gone: on its next use, and to make room for a new one.
      const idle = locs.shift() as string;
      const old = new Date(Date.now() - 2 * 3600_000);
      await fs.utimes(path.join(uroot, "uploads", idle.split("/").pop() as string, "data"), old, old);
      const stale = await raw(r.url, "PATCH", idle, { body: "late" });
      assert.equal(stale.status, 404);
      assert.deepEqual(errorCodes(stale), ["BLOB_UPLOAD_UNKNOWN"]);
      const aged = locs.shift() as string;
      await fs.utimes(path.join(uroot, "uploads", aged.split("/").pop() as string, "data"), old, old);
      assert.equal((await open()).status, 202);
      assert.equal((await open()).status, 202);
      assert.equal((await open()).status, 429);
      assert.equal((await raw(r.url, "GET", aged)).status, 404);
    } finally {
      await r.close();
    }
  });

  test("a stalled upload is cut after the idle timeout, keeps what arrived, and its session can go on", { timeout: 30_000 }, async () => {
    const r = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "idle-root"), idleTimeoutMs: 500 });
    try {
      const loc = (await raw(r.url, "POST", "/v2/slow/blobs/uploads/", { headers: { "Content-Length": 0 } })).headers.location as string;
      const data = randomBytes(20);
      // Ten bytes, then silence: the server closes the connection.
      await new Promise<void>((resolve) => {
        const req = http.request(new URL(loc, r.url), { method: "PATCH", agent: false, headers: { "Transfer-Encoding": "chunked" } });
        req.on("error", () => resolve());
        req.on("response", (res) => {
          res.resume();
          resolve();
        });
        req.write(data.subarray(0, 10));
      });
      const st = await raw(r.url, "GET", loc);
      assert.equal(st.status, 204);
      assert.equal(st.headers.range, "0-9");
      const rest = await raw(r.url, "PUT", `${loc}?digest=${sha256(data)}`, { body: data.subarray(10), headers: { "Content-Range": "10-19" } });
      assert.equal(rest.status, 201);
    } finally {
      await r.close();
    }
  });

  test("a blob over the size limit is refused with 413 SIZE_INVALID, declared or streamed, and its session dropped", async () => {
    const r = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "size-root"), maxBlobBytes: 1000 });
    try {
      const sessions = async () => (await r.storage.listUploads()).filter((u) => u.repo === "sized").length;
      const open = async () => (await raw(r.url, "POST", "/v2/sized/blobs/uploads/", { headers: { "Content-Length": 0 } })).headers.location as string;
      const too = (res: { status: number; body: Buffer }) => {
        assert.equal(res.status, 413);
        assert.deepEqual(errorCodes(res as never), ["SIZE_INVALID"]);
        assert.match(JSON.parse(res.body.toString()).errors[0].message, /blob is larger than the registry's limit of 1000 bytes/);
      };
      const big = randomBytes(2000);
      too(await raw(r.url, "POST", `/v2/sized/blobs/uploads/?digest=${sha256(big)}`, { body: big }));
      assert.equal(await sessions(), 0);
      // Declared by Content-Range.
      let loc = await open();
      too(await raw(r.url, "PATCH", loc, { body: big, headers: { "Content-Range": "0-1999" } }));
      assert.equal((await raw(r.url, "GET", loc)).status, 404);
      // Two chunks that pass one by one.
      loc = await open();
      assert.equal((await raw(r.url, "PATCH", loc, { body: big.subarray(0, 600) })).status, 202);
      too(await raw(r.url, "PUT", `${loc}?digest=${sha256(big.subarray(0, 1200))}`, { body: big.subarray(600, 1200) }));
      assert.equal((await raw(r.url, "GET", loc)).status, 404);
      // Streamed without any length.
      loc = await open();
      const streamed = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const req = http.request(new URL(loc, r.url), { method: "PATCH", agent: false, headers: { "Transfer-Encoding": "chunked" } }, (res) => {
          const parts: Buffer[] = [];
          res.on("data", (b: Buffer) => parts.push(b));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        });
        req.on("error", reject);
        req.end(big);
      });
      too(streamed);
      assert.equal((await raw(r.url, "GET", loc)).status, 404);
      assert.equal(await sessions(), 0);
      // Exactly the limit is fine.
      const fits = big.subarray(0, 1000);
      assert.equal((await raw(r.url, "POST", `/v2/sized/blobs/uploads/?digest=${sha256(fits)}`, { body: fits })).status, 201);
    } finally {
      await r.close();
    }
  });
});
