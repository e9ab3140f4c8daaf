/**
 * GET /distribution/{name}/json: the descriptor and platforms of an image in a
 * registry (a Berth registry on loopback), as dockerd 20.10 answers them; the
 * expected shapes and messages were recorded from the reference with the same
 * manifests and names.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { type RegistryHandle, startRegistry } from "../../src/registry/index.js";
import { withDaemon } from "./harness.js";
import { api, json } from "./rawapi.js";

function put(url: string, body: Buffer, contentType: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "PUT", headers: { "Content-Type": contentType, "Content-Length": body.length } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("GET /distribution/{name}/json", () => {
  const d = withDaemon({
    prepare: async () => {
      reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "reg") });
    },
  });
  const tmp = mkdtempSync("/tmp/bt-dist-");
  let reg: RegistryHandle;
  let digest = "";
  before(async () => {
    assert.equal((await d.docker(["tag", "busybox", `${reg.addr}/bb:1`])).code, 0);
    const push = await d.docker(["push", `${reg.addr}/bb:1`]);
    assert.equal(push.code, 0, push.stderr);
    digest = /digest: (sha256:[0-9a-f]{64})/.exec(push.stdout)?.[1] ?? "";
    assert.notEqual(digest, "");
  });
  after(async () => {
    await new Promise((r) => reg.server.close(r));
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it("describes an image manifest and the platform of its config", async () => {
    const r = await api(d.sock, "GET", `/v1.41/distribution/${reg.addr}/bb:1/json`);
    assert.equal(r.status, 200, r.body);
    const body = json<{ Descriptor: { mediaType: string; digest: string; size: number }; Platforms: unknown[] }>(r);
    assert.equal(body.Descriptor.mediaType, "application/vnd.docker.distribution.manifest.v2+json");
    assert.equal(body.Descriptor.digest, digest);
    assert.ok(body.Descriptor.size > 0);
    assert.deepEqual(body.Platforms, [{ architecture: "amd64", os: "linux" }]);
  });

  it("describes an index with the platforms of its entries", async () => {
    const man = json<{ Descriptor: { mediaType: string; digest: string; size: number } }>(await api(d.sock, "GET", `/v1.41/distribution/${reg.addr}/bb:1/json`)).Descriptor;
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          { ...man, platform: { architecture: "amd64", os: "linux" } },
          { ...man, platform: { architecture: "arm", os: "linux", variant: "v7" } },
        ],
      }),
    );
    assert.equal(await put(`${reg.url}/v2/bb/manifests/multi`, index, "application/vnd.oci.image.index.v1+json"), 201);
    const r = await api(d.sock, "GET", `/v1.41/distribution/${reg.addr}/bb:multi/json`);
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(json(r), {
      Descriptor: { mediaType: "application/vnd.oci.image.index.v1+json", digest: `sha256:${createHash("sha256").update(index).digest("hex")}`, size: index.length },
      Platforms: [
        { architecture: "amd64", os: "linux" },
        { architecture: "arm", os: "linux", variant: "v7" },
      ],
    });
  });

  it("answers unknown tags and repositories, and unreachable registries, with dockerd's messages", async () => {
    for (const name of [`${reg.addr}/bb`, `${reg.addr}/bb:nosuch`, `${reg.addr}/nosuch`]) {
      const r = await api(d.sock, "GET", `/v1.41/distribution/${name}/json`);
      assert.equal(r.status, 404, name);
      assert.deepEqual(json(r), { message: "manifest unknown: manifest unknown" }, name);
    }
    const down = await api(d.sock, "GET", "/v1.41/distribution/127.0.0.1:1/x/json");
    assert.equal(down.status, 500);
    assert.deepEqual(json(down), { message: 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused' });
  });
});
