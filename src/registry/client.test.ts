import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { sha256 } from "../util/digest.js";
import { MT, RegistryClient, RegistryHttpError, isInsecureRegistry, parseRegistryAuth, registryEndpointHost, selectPlatform, startRegistry, type Descriptor, type RegistryHandle } from "./index.js";
import { makeTestImage } from "./testimage.js";

async function readStream(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; addr: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const a = server.address() as AddressInfo;
  return {
    server,
    addr: `127.0.0.1:${a.port}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

let tmp = "";
let reg: RegistryHandle;
before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-regclient-test-"));
  reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "root") });
});
after(async () => {
  await reg.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

/**
 * A registry behind a token server, like Docker Hub: requests without a token
 * get `401 WWW-Authenticate: Bearer realm=...,service=...,scope=...`; the token
 * endpoint checks basic credentials (or a refresh token) and grants the scopes;
 * granted requests are proxied to the real registry.
 */
async function tokenRegistry(): Promise<{ addr: string; tokenRequests: { method: string; scopes: string[]; user?: string; refresh?: string }[]; close: () => Promise<void> }> {
  const grants = new Map<string, string[]>();
  const tokenRequests: { method: string; scopes: string[]; user?: string; refresh?: string }[] = [];
  let self = "";
  const srv = await listen((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/token") {
      const body: Buffer[] = [];
      req.on("data", (c: Buffer) => body.push(c));
      req.on("end", () => {
        let scopes = url.searchParams.getAll("scope");
        let user: string | undefined;
        let refresh: string | undefined;
        if (req.method === "POST") {
          const form = new URLSearchParams(Buffer.concat(body).toString());
          scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
          refresh = form.get("refresh_token") ?? undefined;
          if (refresh !== "good-refresh-token" || form.get("grant_type") !== "refresh_token") {
            res.writeHead(401).end();
            return;
          }
        } else {
          const auth = req.headers.authorization ?? "";
          const [u, p] = Buffer.from(auth.replace(/^Basic /, ""), "base64").toString().split(":");
          user = u;
          if (u !== "hub" || p !== "pass") {
            res.writeHead(401, { "Content-Type": "application/json" }).end(JSON.stringify({ details: "incorrect username or password" }));
            return;
          }
        }
        tokenRequests.push({ method: req.method ?? "", scopes, ...(user ? { user } : {}), ...(refresh ? { refresh } : {}) });
        const token = `tok-${randomBytes(4).toString("hex")}`;
        grants.set(token, scopes);
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(req.method === "POST" ? { access_token: token, expires_in: 300 } : { token, expires_in: 300 }));
      });
      return;
    }
    const m = /^\/v2\/(.+?)\/(?:blobs|manifests|tags)\//.exec(url.pathname);
    const need = m ? `repository:${m[1]}:${req.method === "GET" || req.method === "HEAD" ? "pull" : "pull,push"}` : undefined;
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const granted = grants.get(token);
    const ok = granted !== undefined && (need === undefined || granted.some((s) => s === need || (need.endsWith(":pull") && s.startsWith(need))));
    if (!ok) {
      req.resume();
      res.writeHead(401, {
        "WWW-Authenticate": `Bearer realm="http://${self}/token",service="test-registry"${need ? `,scope="${need}"` : ""}`,
        "Content-Type": "application/json",
      });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = http.request(new URL(req.url ?? "/", reg.url), { method: req.method, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    req.pipe(up);
  });
  self = srv.addr;
  return { addr: srv.addr, tokenRequests, close: srv.close };
}

describe("registry client", () => {
  test("bearer token flow: 401 challenge, token fetched with basic credentials per scope, request retried", async () => {
    const tr = await tokenRegistry();
    try {
      const img = await makeTestImage("bearer\n");
      const c = new RegistryClient({ host: tr.addr, credentials: { username: "hub", password: "pass" } });
      await c.pushBlob("lib/app", img.layerDigest, img.layer.length, img.layer);
      await c.pushBlob("lib/app", img.configDigest, img.config.length, img.config);
      await c.putManifest("lib/app", "v1", img.manifest, MT.dockerManifest);
      const got = await c.getManifest("lib/app", "v1");
      assert.equal(got.digest, img.manifestDigest);
      assert.deepEqual(await readStream(await c.getBlob("lib/app", img.layerDigest)), img.layer);
      assert.ok(tr.tokenRequests.length >= 2 && tr.tokenRequests.length <= 4, `token requests: ${JSON.stringify(tr.tokenRequests)}`);
      assert.ok(tr.tokenRequests.some((r) => r.scopes.includes("repository:lib/app:pull,push") && r.user === "hub"));
      assert.ok(tr.tokenRequests.some((r) => r.scopes.includes("repository:lib/app:pull")));
      // Anonymous clients get the registry's 401 as an "unauthorized" error.
      const anon = new RegistryClient({ host: tr.addr });
      await assert.rejects(anon.getManifest("lib/app", "v1"), (e: unknown) => e instanceof RegistryHttpError && e.kind === "unauthorized");
      const wrong = new RegistryClient({ host: tr.addr, credentials: { username: "hub", password: "bad" } });
      await assert.rejects(wrong.getManifest("lib/app", "v1"), (e: unknown) => e instanceof RegistryHttpError && e.kind === "unauthorized");
      // An identity token (docker login's refresh token) is exchanged with a POST.
      const idc = new RegistryClient({ host: tr.addr, credentials: { identitytoken: "good-refresh-token" } });
      assert.equal((await idc.getManifest("lib/app", img.manifestDigest)).digest, img.manifestDigest);
      assert.ok(tr.tokenRequests.some((r) => r.method === "POST" && r.refresh === "good-refresh-token" && r.scopes.includes("repository:lib/app:pull")));
    } finally {
      await tr.close();
    }
  });

  test("getBlob errors at the end of the stream when the bytes do not match the digest", async () => {
    const good = Buffer.from("the real blob");
    const d = sha256(good);
    const srv = await listen((req, res) => {
      const body = Buffer.from("a forged blob");
      res.writeHead(200, { "Content-Length": body.length, "Docker-Content-Digest": d });
      res.end(req.method === "HEAD" ? undefined : body);
    });
    try {
      const c = new RegistryClient({ host: srv.addr });
      const s = await c.getBlob("x", d);
      await assert.rejects(readStream(s), /digest mismatch/);
    } finally {
      await srv.close();
    }
  });

  test("getBlob regroups the body into ~1 MiB chunks; verify: false leaves the hash to the caller but still enforces the size", async () => {
    const data = randomBytes(2_500_000);
    const d = sha256(data);
    const srv = await listen((req, res) => {
      const body = req.url?.includes("forged") ? Buffer.from(data).fill(0x41, 0, 10) : req.url?.includes("long") ? Buffer.concat([data, Buffer.from("x")]) : data;
      res.writeHead(200, { "Content-Length": body.length });
      // Many small writes, as a slow network delivers them.
      for (let off = 0; off < body.length; off += 16_384) res.write(body.subarray(off, off + 16_384));
      res.end();
    });
    try {
      const c = new RegistryClient({ host: srv.addr });
      const chunks: Buffer[] = [];
      for await (const chunk of (await c.getBlob("x", d, { size: data.length })) as AsyncIterable<Buffer>) chunks.push(chunk);
      assert.ok(Buffer.concat(chunks).equals(data));
      assert.deepEqual(chunks.map((x) => x.length >= 1 << 20), [true, true, false]);
      // Without verification a forged body is handed out as is (the content store checks it) ...
      const forged = await readStream(await c.getBlob("forged", d, { size: data.length, verify: false }));
      assert.equal(forged.length, data.length);
      assert.equal(forged.subarray(0, 10).toString(), "A".repeat(10));
      await assert.rejects(readStream(await c.getBlob("forged", d, { size: data.length })), /digest mismatch/);
      // ... but never more bytes than the descriptor's size.
      await assert.rejects(readStream(await c.getBlob("long", d, { size: data.length, verify: false })), /larger than/);
    } finally {
      await srv.close();
    }
  });

  test("getBlob resumes a download cut mid-way with a Range request", async () => {
    const data = randomBytes(200_000);
    const d = sha256(data);
    const ranges: string[] = [];
    const srv = await listen((req, res) => {
      const range = req.headers.range;
      ranges.push(range ?? "");
      if (!range) {
        res.writeHead(200, { "Content-Length": data.length });
        res.write(data.subarray(0, 70_000), () => setTimeout(() => res.destroy(), 20));
        return;
      }
      const start = Number(/bytes=(\d+)-/.exec(range)?.[1]);
      res.writeHead(206, { "Content-Length": data.length - start, "Content-Range": `bytes ${start}-${data.length - 1}/${data.length}` });
      res.end(data.subarray(start));
    });
    try {
      const c = new RegistryClient({ host: srv.addr });
      const got = await readStream(await c.getBlob("x", d, { size: data.length }));
      assert.equal(got.length, data.length);
      assert.ok(got.equals(data));
      assert.equal(ranges.length, 2);
      assert.match(ranges[1] as string, /^bytes=\d+-$/);
    } finally {
      await srv.close();
    }
  });

  test("a chunked push resumes from the registry's offset after a rejected chunk", async () => {
    // A proxy that breaks the second PATCH once (answers 500 after storing nothing).
    let patches = 0;
    const srv = await listen((req, res) => {
      if (req.method === "PATCH" && ++patches === 2) {
        req.resume();
        res.writeHead(500).end();
        return;
      }
      const up = http.request(new URL(req.url ?? "/", reg.url), { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      req.pipe(up);
    });
    try {
      const c = new RegistryClient({ host: srv.addr, monolithicMaxBytes: 1000, chunkBytes: 1000 });
      const data = randomBytes(3500);
      await c.pushBlob("resumed", sha256(data), data.length, data);
      assert.ok(patches >= 5);
      const back = await readStream(await new RegistryClient({ host: reg.addr }).getBlob("resumed", sha256(data)));
      assert.ok(back.equals(data));
    } finally {
      await srv.close();
    }
  });

  test("getManifest verifies a manifest fetched by digest", async () => {
    const img = await makeTestImage("verify\n");
    const srv = await listen((_req, res) => {
      res.writeHead(200, { "Content-Type": MT.dockerManifest, "Content-Length": img.manifest.length });
      res.end(img.manifest);
    });
    try {
      const c = new RegistryClient({ host: srv.addr });
      assert.equal((await c.getManifest("x", img.manifestDigest)).digest, img.manifestDigest);
      await assert.rejects(c.getManifest("x", sha256("another manifest")), /verification failed/);
    } finally {
      await srv.close();
    }
  });

  test("X-Registry-Auth headers decode to credentials", () => {
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    assert.deepEqual(parseRegistryAuth(enc({ username: "u", password: "p", serveraddress: "localhost:5000" })), { username: "u", password: "p", serveraddress: "localhost:5000" });
    assert.deepEqual(parseRegistryAuth(enc({ identitytoken: "tok" })), { identitytoken: "tok" });
    assert.deepEqual(parseRegistryAuth(enc({ auth: Buffer.from("a:b:c").toString("base64") })), { username: "a", password: "b:c" });
    assert.equal(parseRegistryAuth(enc({})), undefined);
    assert.equal(parseRegistryAuth(""), undefined);
    assert.equal(parseRegistryAuth("!!!"), undefined);
  });

  test("registry errors carry the spec's code and Docker's wording", async () => {
    const c = new RegistryClient({ host: reg.addr });
    await assert.rejects(c.getManifest("nothing/here", "latest"), (e: unknown) => e instanceof RegistryHttpError && e.kind === "notFound" && e.registryMessage === "manifest unknown: manifest unknown");
  });

  test("HTTPS unless loopback or listed as insecure", () => {
    assert.equal(isInsecureRegistry("localhost:5000"), true);
    assert.equal(isInsecureRegistry("127.0.0.1:5000"), true);
    assert.equal(isInsecureRegistry("[::1]:5000"), true);
    assert.equal(isInsecureRegistry("registry.example.com"), false);
    assert.equal(isInsecureRegistry("registry.example.com:5000", ["registry.example.com:5000"]), true);
    assert.equal(isInsecureRegistry("10.1.2.3:5000", ["10.0.0.0/8"]), true);
    assert.equal(isInsecureRegistry("11.1.2.3:5000", ["10.0.0.0/8"]), false);
    assert.equal(registryEndpointHost("docker.io"), "registry-1.docker.io");
    assert.equal(registryEndpointHost("ghcr.io"), "ghcr.io");
  });

  test("selectPlatform picks linux/amd64 as Docker does, with arm variants and fallbacks", () => {
    const d = (arch: string, variant?: string, os = "linux"): Descriptor => ({
      mediaType: MT.ociManifest,
      digest: `${arch}${variant ?? ""}${os}`,
      size: 1,
      platform: { os, architecture: arch, ...(variant ? { variant } : {}) },
    });
    const idx = { manifests: [d("unknown", undefined, "unknown"), d("arm", "v6"), d("arm", "v7"), d("arm64", "v8"), d("amd64"), d("amd64", undefined, "windows"), d("386")] };
    assert.equal(selectPlatform(idx, { os: "linux", architecture: "amd64" })?.digest, "amd64linux");
    assert.equal(selectPlatform(idx, { os: "linux", architecture: "x86_64" })?.digest, "amd64linux");
    assert.equal(selectPlatform(idx, { os: "linux", architecture: "arm64" })?.digest, "arm64v8linux");
    assert.equal(selectPlatform(idx, { os: "linux", architecture: "arm", variant: "v7" })?.digest, "armv7linux");
    assert.equal(selectPlatform(idx, { os: "linux", architecture: "arm", variant: "v6" })?.digest, "armv6linux");
    assert.equal(selectPlatform(idx, { os: "windows", architecture: "amd64" })?.digest, "amd64windows");
    assert.equal(selectPlatform({ manifests: [d("386")] }, { os: "linux", architecture: "amd64" })?.digest, "386linux");
    assert.equal(selectPlatform({ manifests: [d("arm", "v7")] }, { os: "linux", architecture: "aarch64" })?.digest, "armv7linux");
    assert.equal(selectPlatform({ manifests: [d("arm64")] }, { os: "linux", architecture: "amd64" }), undefined);
    assert.equal(selectPlatform({ manifests: [d("s390x"), d("amd64", "v3")] }, { os: "linux", architecture: "amd64" }), undefined);
  });
});
