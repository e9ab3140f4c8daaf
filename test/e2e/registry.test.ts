/**
 * docker pull / push / login / save / load / system df / image prune with the
 * real docker CLI against berthd, and registries on 127.0.0.1 only: the berth
 * registry (in-process) and Debian's docker-registry (distribution 2.x) when
 * installed. Nothing here contacts another host.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { gzipSync } from "node:zlib";
import bcrypt from "bcryptjs";
import { type RegistryHandle, startRegistry } from "../../src/registry/index.js";
import { buildTar, raw } from "../../src/registry/testimage.js";
import { sha256 } from "../../src/util/digest.js";
import { BERTH, Daemon, run, withDaemon } from "./harness.js";
import { freePort, startDebianRegistry } from "./debregistry.js";

async function duBytes(dir: string): Promise<number> {
  const r = await run("du", ["-sb", dir]);
  return Number(r.stdout.split(/\s/)[0]);
}

/**
 * A deliberately broken registry: serves a multi-arch index (arm64 first, then
 * amd64) of a good image, and a second repository whose layer blob has the
 * wrong bytes for its digest.
 */
async function startFakeRegistry(): Promise<{ server: http.Server; host: string; goodIndexDigest: string; goodConfigDigest: string }> {
  const layerTar = await buildTar({ "hello.txt": "hello from a fake registry\n" });
  const layer = gzipSync(layerTar);
  const layerDigest = sha256(layer);
  const mkConfig = (arch: string): Buffer =>
    Buffer.from(JSON.stringify({ architecture: arch, os: "linux", created: "2024-01-01T00:00:00Z", config: { Cmd: ["/hello"] }, rootfs: { type: "layers", diff_ids: [sha256(layerTar)] } }));
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { type: string; body: Buffer }>();
  const mkManifest = (config: Buffer, layerBlobDigest: string, layerSize: number): Buffer =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: sha256(config) },
        layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: layerSize, digest: layerBlobDigest }],
      }),
    );
  const cfgAmd = mkConfig("amd64");
  const cfgArm = mkConfig("arm64");
  blobs.set(sha256(cfgAmd), cfgAmd);
  blobs.set(sha256(cfgArm), cfgArm);
  blobs.set(layerDigest, layer);
  const mAmd = mkManifest(cfgAmd, layerDigest, layer.length);
  const mArm = mkManifest(cfgArm, layerDigest, layer.length);
  const MT_M = "application/vnd.docker.distribution.manifest.v2+json";
  manifests.set(sha256(mAmd), { type: MT_M, body: mAmd });
  manifests.set(sha256(mArm), { type: MT_M, body: mArm });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
      manifests: [
        { mediaType: MT_M, size: mArm.length, digest: sha256(mArm), platform: { architecture: "arm64", os: "linux", variant: "v8" } },
        { mediaType: MT_M, size: mAmd.length, digest: sha256(mAmd), platform: { architecture: "amd64", os: "linux" } },
      ],
    }),
  );
  manifests.set("multi:latest", { type: "application/vnd.docker.distribution.manifest.list.v2+json", body: index });
  // The broken repository: the layer blob is served with other bytes of the same length.
  const evil = Buffer.from(layer);
  evil[evil.length - 20] = (evil[evil.length - 20] ?? 0) ^ 0xff;
  const mBad = mkManifest(cfgAmd, layerDigest, layer.length);
  manifests.set("broken:latest", { type: MT_M, body: mBad });

  const server = http.createServer((req, res) => {
    const url = req.url ?? "";
    const send = (status: number, body: Buffer | string, type = "application/json", extra: Record<string, string> = {}): void => {
      const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
      res.writeHead(status, { "Content-Type": type, "Content-Length": b.length, ...extra });
      res.end(req.method === "HEAD" ? undefined : b);
    };
    if (url === "/v2/") return send(200, "{}");
    let m = /^\/v2\/(multi|broken)\/manifests\/(.+)$/.exec(url);
    if (m) {
      const key = m[2]?.startsWith("sha256:") ? m[2] : `${m[1]}:${m[2]}`;
      const man = manifests.get(key ?? "");
      if (!man) return send(404, JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
      return send(200, man.body, man.type, { "Docker-Content-Digest": sha256(man.body) });
    }
    m = /^\/v2\/(multi|broken)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(url);
    if (m) {
      const blob = m[1] === "broken" && m[2] === layerDigest ? evil : blobs.get(m[2] ?? "");
      if (!blob) return send(404, JSON.stringify({ errors: [{ code: "BLOB_UNKNOWN", message: "blob unknown" }] }));
      return send(200, blob, "application/octet-stream");
    }
    send(404, JSON.stringify({ errors: [{ code: "NAME_UNKNOWN", message: "repository name not known to registry" }] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return { server, host: `127.0.0.1:${port}`, goodIndexDigest: sha256(index), goodConfigDigest: sha256(cfgAmd) };
}

describe("docker push / pull / login / save / load / df / prune against berthd", () => {
  const d = withDaemon({
    teardown: async () => {
      if (process.env["BERTH_TEST_LOG"]) console.log((await d.log()).split("\n").slice(-80).join("\n"));
    },
  });
  const tmp = mkdtempSync("/tmp/bt-reg-");
  let reg: RegistryHandle;
  let authReg: RegistryHandle;
  let deb: { proc: ChildProcess; host: string } | undefined;
  let fake: Awaited<ReturnType<typeof startFakeRegistry>>;
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Date.now() - t0;
    }
  };
  const ok = async (args: string[], timeoutMs = 120_000): Promise<string> => {
    const r = await d.docker(args, { timeoutMs });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}\n${r.stdout}`);
    return r.stdout;
  };
  const idOf = async (ref: string): Promise<string> => (await ok(["image", "inspect", "-f", "{{.Id}}", ref])).trim();

  before(async () => {
    reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "reg") });
    const htpasswd = path.join(tmp, "htpasswd");
    await fs.writeFile(htpasswd, `alice:${bcrypt.hashSync("wonderland", 4).replace(/^\$2b\$/, "$2y$")}\n`);
    authReg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "authreg"), htpasswd });
    deb = await startDebianRegistry(path.join(tmp, "deb"));
    fake = await startFakeRegistry();
  });
  after(async () => {
    await reg?.close();
    await authReg?.close();
    deb?.proc.kill("SIGTERM");
    fake?.server.close();
    await fs.rm(tmp, { recursive: true, force: true });
    if (Object.keys(timings).length > 0) console.log(`# timings (ms): ${JSON.stringify(timings)}`);
  });

  it("push → rmi → pull gives the same image id, RepoDigests, and a runnable image (berth registry)", async () => {
    const ref = `${reg.addr}/bb:1`;
    const bbId = await idOf("busybox");
    await ok(["tag", "busybox", ref]);
    const push = await ok(["push", ref]);
    assert.match(push, new RegExp(`The push refers to repository \\[${reg.addr}/bb\\]`)); // reference: dockerd 20.10
    assert.match(push, /: Pushed$/m);
    const m = /^1: digest: (sha256:[a-f0-9]{64}) size: (\d+)$/m.exec(push);
    assert.ok(m, push);
    const digest = m[1] as string;
    assert.equal((await ok(["image", "inspect", "-f", "{{json .RepoDigests}}", ref])).trim(), JSON.stringify([`${reg.addr}/bb@${digest}`]));
    // A second push finds everything there.
    assert.match(await ok(["push", ref]), /Layer already exists/); // reference: dockerd 20.10

    await ok(["rmi", ref]);
    await ok(["rmi", "busybox"]);
    assert.equal((await d.docker(["image", "inspect", ref])).code, 1);
    const pull = await ok(["pull", ref]);
    assert.match(pull, /^1: Pulling from bb$/m);
    assert.match(pull, /: Pull complete$/m);
    assert.match(pull, new RegExp(`^Digest: ${digest}$`, "m"));
    assert.match(pull, new RegExp(`^Status: Downloaded newer image for ${ref.replace(/\./g, "\\.")}$`, "m")); // reference: dockerd 20.10
    assert.equal(await idOf(ref), bbId);
    assert.equal((await ok(["run", "--rm", ref, "echo", "ok"])).trim(), "ok");
    // Pulling again: nothing to do.
    assert.match(await ok(["pull", ref]), /Status: Image is up to date for/);
    await ok(["tag", ref, "busybox"]);
  });

  it("pushes the same digests to Debian's docker-registry and pulls the same image back", async (t) => {
    if (!deb) {
      t.skip("Debian's docker-registry is not installed (apt-get install docker-registry)");
      return;
    }
    const ref = `${deb.host}/bb:1`;
    const mine = `${reg.addr}/bb:1`;
    await ok(["tag", "busybox", ref]);
    const push = await ok(["push", ref]);
    const digest = /^1: digest: (sha256:[a-f0-9]{64}) size: 527$/m.exec(push)?.[1];
    assert.ok(digest, push);
    const theirs = (await ok(["image", "inspect", "-f", "{{json .RepoDigests}}", "busybox"])).trim();
    assert.ok(theirs.includes(`${reg.addr}/bb@${digest}`), `same manifest digest on both registries: ${theirs} vs ${digest}`);
    const id = await idOf("busybox");
    await ok(["rmi", ref]);
    await ok(["rmi", mine]);
    await ok(["rmi", "busybox"]);
    await ok(["pull", ref]);
    assert.equal(await idOf(ref), id);
    assert.equal((await ok(["run", "--rm", ref, "echo", "ok"])).trim(), "ok");
    await ok(["tag", ref, "busybox"]);
  });

  it("round-trips a 3-layer ~60 MB image (import + two commits) with identical ids and contents", async () => {
    // Layer 1 is busybox (import); layers 2 and 3 are commits of 28 MB of random data each.
    await ok(["run", "--name", "big1", "busybox", "sh", "-c", "dd if=/dev/urandom of=/r1 bs=1M count=28 2>/dev/null; md5sum /r1 > /sum1"]);
    await ok(["commit", "big1", "big:1"]);
    await ok(["run", "--name", "big2", "big:1", "sh", "-c", "dd if=/dev/urandom of=/r2 bs=1M count=28 2>/dev/null; rm /sum1; md5sum /r1 /r2 > /sums"]);
    await ok(["commit", "big2", "big:2"]);
    await ok(["rm", "big1", "big2"]);
    const ref = `${reg.addr}/big:2`;
    await ok(["tag", "big:2", ref]);
    const id = await idOf(ref);
    assert.equal((await ok(["image", "inspect", "-f", "{{len .RootFS.Layers}}", ref])).trim(), "3");
    const push = await timed("push 60MB", () => ok(["push", ref]));
    // busybox's layer may be in the registry already (another repository): pushed or mounted.
    assert.equal((push.match(/: (Pushed|Mounted from \S+|Layer already exists)$/gm) ?? []).length, 3, push);
    // Pushing to another repository of the same registry mounts the blobs.
    await ok(["tag", "big:2", `${reg.addr}/other:2`]);
    assert.match(await ok(["push", `${reg.addr}/other:2`]), /Mounted from big/);

    await ok(["rmi", ref, `${reg.addr}/other:2`, "big:2", "big:1"]);
    const pull = await timed("pull 60MB", () => ok(["pull", ref]));
    assert.match(pull, /Already exists/); // busybox's layer
    assert.equal((pull.match(/: Pull complete$/gm) ?? []).length, 2, pull);
    assert.equal(await idOf(ref), id);
    const check = await ok(["run", "--rm", ref, "md5sum", "-c", "/sums"]);
    assert.match(check, /\/r1: OK\n\/r2: OK/);
  });

  it("docker save | docker load, and save -o / load -i into a second daemon (started with --insecure-registry)", async () => {
    const id = await idOf("busybox");
    const piped = await timed("save|load busybox", () => run("sh", ["-c", "docker save busybox | docker load"], { env: d.env }));
    assert.equal(piped.code, 0, piped.stderr);
    assert.match(piped.stdout, /^Loaded image: busybox:latest$/m); // reference: dockerd 20.10

    const file = path.join(tmp, "imgs.tar");
    const bigRef = `${reg.addr}/big:2`;
    const bigPiped = await timed("save|load 60MB", () => run("sh", ["-c", `docker save ${bigRef} | docker load`], { env: d.env, timeoutMs: 120_000 }));
    assert.equal(bigPiped.code, 0, bigPiped.stderr);
    await timed("save -o 60MB", () => ok(["save", "-o", file, "busybox", bigRef]));
    const list = (await run("tar", ["tf", file])).stdout;
    // reference: dockerd 20.10 saves the legacy layout only (manifest.json, repositories, <id>.json); Berth writes moby 25+'s
    // OCI layout around it (index.json, oci-layout, blobs/), which 20.10's docker load reads too.
    for (const f of ["manifest.json", "index.json", "oci-layout", "repositories"]) assert.match(list, new RegExp(`^${f}$`, "m"));
    const d2 = new Daemon();
    try {
      await d2.start(["--insecure-registry", "registry.example:5000", "--insecure-registry", "10.99.0.0/16"]);
      const info = await d2.docker(["info", "--format", "{{json .RegistryConfig}}"]);
      assert.match(info.stdout, /"registry\.example:5000"/);
      assert.match(info.stdout, /"10\.99\.0\.0\/16"/);
      const load = await timed("load -i 60MB", () => d2.docker(["load", "-i", file], { timeoutMs: 120_000 }));
      assert.equal(load.code, 0, load.stderr);
      assert.match(load.stdout, /Loaded image: busybox:latest/);
      assert.match(load.stdout, new RegExp(`Loaded image: ${bigRef.replace(/\./g, "\\.")}`));
      assert.equal((await d2.docker(["image", "inspect", "-f", "{{.Id}}", "busybox"])).stdout.trim(), id);
      assert.equal((await d2.docker(["image", "inspect", "-f", "{{.Id}}", bigRef])).stdout.trim(), await idOf(bigRef));
      const r = await d2.docker(["run", "--rm", bigRef, "md5sum", "-c", "/sums"]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await d2.destroy();
    }
  });

  it("docker login checks credentials against an htpasswd registry; push needs them", async () => {
    const ref = `${authReg.addr}/secret:1`;
    await ok(["tag", "busybox", ref]);
    const anon = await d.docker(["push", ref]);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /^no basic auth credentials$/m); // reference: dockerd 20.10
    const bad = await d.docker(["login", "-u", "alice", "--password-stdin", authReg.addr], { input: "wrong\n" });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, new RegExp(`login attempt to http://${authReg.addr}/v2/ failed with status: 401 Unauthorized`)); // reference: dockerd 20.10
    const good = await d.docker(["login", "-u", "alice", "--password-stdin", authReg.addr], { input: "wonderland\n" });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /Login Succeeded/); // reference: dockerd 20.10
    assert.match(await ok(["push", ref]), /1: digest: sha256:/);
    await ok(["rmi", ref]);
    await ok(["pull", ref]);
    await ok(["logout", authReg.addr]);
    const denied = await d.docker(["pull", ref]);
    assert.notEqual(denied.code, 0);
  });

  it("berth registry serve --tls-cert/--tls-key with htpasswd: login, push and pull through berthd over HTTPS; {SHA} users and DELETE refused", async () => {
    const dir = path.join(tmp, "tlsreg");
    await fs.mkdir(dir, { recursive: true });
    const cert = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    const gen = await run("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert]);
    assert.equal(gen.code, 0, gen.stderr);
    const htpasswd = path.join(dir, "htpasswd");
    const sha = createHash("sha1").update("s3cret").digest("base64");
    await fs.writeFile(htpasswd, `alice:${bcrypt.hashSync("wonderland", 5).replace(/^\$2b\$/, "$2y$")}\nbob:{SHA}${sha}\n`);
    // Basic auth over plain HTTP on all interfaces: refused before listening.
    const plain = await d.berth(["registry", "serve", "--addr", `0.0.0.0:${await freePort()}`, "--root", path.join(dir, "plain"), "--htpasswd", htpasswd]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /refusing to serve basic auth over plain HTTP on 0\.0\.0\.0:\d+: passwords would cross the network in clear text \(use --tls-cert and --tls-key, or a loopback address\)/);

    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const serve = spawn(process.execPath, [BERTH, "registry", "serve", "--addr", host, "--root", path.join(dir, "root"), "--htpasswd", htpasswd, "--tls-cert", cert, "--tls-key", key], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    serve.stderr.on("data", (b: Buffer) => (err += b.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        serve.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("listening on")) resolve();
        });
        serve.once("exit", (code) => reject(new Error(`registry serve exited ${code}: ${err}`)));
      });
      assert.match(out, new RegExp(`^berth registry listening on ${host.replace(/\./g, "\\.")} \\(TLS\\)`, "m"));
      // dockerd-style log line (msg is JSON-quoted): the refused entry, with its file and line.
      assert.match(err, /level=warn msg="registry: htpasswd \S+:2: user \\"bob\\" ignored: only bcrypt hashes are accepted \(htpasswd -B\)"/);
      assert.ok(err.includes(`htpasswd ${htpasswd}:2:`), err);
      const bob = await d.docker(["login", "-u", "bob", "--password-stdin", host], { input: "s3cret\n" });
      assert.notEqual(bob.code, 0);
      // The https:// in the message: berthd spoke TLS to it (a loopback registry: verification skipped, as dockerd).
      assert.match(bob.stderr, new RegExp(`login attempt to https://${host.replace(/\./g, "\\.")}/v2/ failed with status: 401 Unauthorized`));
      const good = await d.docker(["login", "-u", "alice", "--password-stdin", host], { input: "wonderland\n" });
      assert.equal(good.code, 0, good.stderr);
      const ref = `${host}/secure:1`;
      await ok(["tag", "busybox", ref]);
      const digest = /^1: digest: (sha256:[a-f0-9]{64}) /m.exec(await ok(["push", ref]))?.[1];
      assert.ok(digest);
      await ok(["rmi", ref]);
      await ok(["pull", ref]);
      assert.equal((await ok(["run", "--rm", ref, "echo", "over tls"])).trim(), "over tls");
      // Verified against the certificate as CA, the registry serves the manifest and refuses to delete it.
      const ca = await fs.readFile(cert);
      const auth = { Authorization: `Basic ${Buffer.from("alice:wonderland").toString("base64")}` };
      assert.equal((await raw(`https://${host}`, "HEAD", `/v2/secure/manifests/${digest}`, { ca, headers: auth })).status, 200);
      const del = await raw(`https://${host}`, "DELETE", `/v2/secure/manifests/${digest}`, { ca, headers: auth });
      assert.equal(del.status, 405);
      assert.deepEqual(JSON.parse(del.body.toString()), { errors: [{ code: "UNSUPPORTED", message: "The operation is unsupported." }] });
      assert.equal((await raw(`https://${host}`, "HEAD", `/v2/secure/manifests/${digest}`, { ca, headers: auth })).status, 200);
      await ok(["rmi", ref]);
      await ok(["logout", host]);
    } finally {
      serve.kill("SIGTERM");
      if (serve.exitCode === null) await new Promise((r) => serve.once("exit", r));
    }
  });

  it("pull --all-tags pulls every tag of the repository, with docker and with berth alike", async () => {
    const repo = `${reg.addr}/alltags`;
    await ok(["tag", "busybox", `${repo}:one`]);
    await ok(["tag", "busybox", `${repo}:two`]);
    await ok(["push", "--all-tags", repo]);
    for (const cli of ["docker", "berth"] as const) {
      await ok(["rmi", `${repo}:one`, `${repo}:two`]);
      const r = cli === "docker" ? await d.docker(["pull", "--all-tags", repo], { timeoutMs: 120_000 }) : await d.berth(["pull", "-a", repo], { timeoutMs: 120_000 });
      assert.equal(r.code, 0, `${cli} pull -a: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /Using default tag/);
      assert.match(r.stdout, /^one: Pulling from alltags$/m);
      assert.match(r.stdout, /^two: Pulling from alltags$/m);
      assert.equal(r.stdout.trim().split("\n").at(-1), repo, `${cli} prints the name it pulled`);
      assert.deepEqual((await ok(["images", "--format", "{{.Tag}}", repo])).trim().split("\n").sort(), ["one", "two"]);
    }
    const tagged = await d.berth(["pull", "-a", `${repo}:one`]);
    assert.equal(tagged.code, 1);
    assert.match(tagged.stderr, /tag can't be used with --all-tags\/-a/); // reference: docker CLI 28
    await ok(["rmi", `${repo}:one`, `${repo}:two`]);
  });

  it("pull/push errors: a missing tag, no such local image, an unreachable registry (fast), a blob with the wrong digest", async () => {
    const missing = await d.docker(["pull", `${reg.addr}/bb:nope`]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), `Error response from daemon: manifest for ${reg.addr}/bb:nope not found: manifest unknown: manifest unknown`); // reference: dockerd 20.10

    const noImage = await d.docker(["push", `${reg.addr}/never-tagged`]);
    assert.equal(noImage.code, 1);
    // As dockerd: the stream names the repository, then reports the error in-band (no "Error response from daemon").
    assert.equal(noImage.stdout, `Using default tag: latest\nThe push refers to repository [${reg.addr}/never-tagged]\n`);
    assert.equal(noImage.stderr, `An image does not exist locally with the tag: ${reg.addr}/never-tagged\n`);

    const port = await freePort();
    const t0 = Date.now();
    const down = await d.docker(["pull", `127.0.0.1:${port}/x:1`]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`Error response from daemon: Get "https?://127\\.0\\.0\\.1:${port}/v2/": dial tcp 127\\.0\\.0\\.1:${port}: connect: connection refused`)); // reference: dockerd 20.10
    assert.ok(Date.now() - t0 < 10_000);

    const broken = await d.docker(["pull", `${fake.host}/broken:latest`]);
    assert.equal(broken.code, 1, broken.stdout);
    assert.match(broken.stderr + broken.stdout, /filesystem layer verification failed for digest sha256:[a-f0-9]{64}/);
    assert.equal((await d.docker(["image", "inspect", `${fake.host}/broken:latest`])).code, 1);
  });

  it("chooses linux/amd64 from a multi-arch index and records the index digest", async () => {
    await ok(["pull", `${fake.host}/multi:latest`]);
    const out = (await ok(["image", "inspect", "-f", "{{.Id}} {{.Architecture}} {{json .RepoDigests}}", `${fake.host}/multi:latest`])).trim();
    assert.equal(out, `${fake.goodConfigDigest} amd64 ${JSON.stringify([`${fake.host}/multi@${fake.goodIndexDigest}`])}`);
    await ok(["rmi", `${fake.host}/multi:latest`]);
  });

  it("describes a remote image without pulling it (GET /distribution/{name}/json): descriptor and platforms", async () => {
    const get = (p: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = http.request({ socketPath: d.sock, path: p, headers: { "X-Registry-Auth": "e30=" } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        });
        req.on("error", reject);
        req.end();
      });
    const multi = await get(`/v1.41/distribution/${fake.host}/multi:latest/json`);
    assert.equal(multi.status, 200, multi.body);
    const m = JSON.parse(multi.body) as { Descriptor: { digest: string; mediaType: string; size: number }; Platforms: { architecture: string; os: string }[] };
    assert.equal(m.Descriptor.digest, fake.goodIndexDigest);
    assert.ok(m.Platforms.some((p) => p.architecture === "amd64" && p.os === "linux"), multi.body);
    const ref = `${reg.addr}/dist:1`;
    await ok(["tag", "busybox", ref]);
    const pushed = /digest: (sha256:[a-f0-9]{64})/.exec(await ok(["push", ref]))?.[1];
    const one = await get(`/v1.41/distribution/${ref}/json`);
    assert.equal(one.status, 200, one.body);
    assert.deepEqual(JSON.parse(one.body), {
      Descriptor: { mediaType: "application/vnd.docker.distribution.manifest.v2+json", digest: pushed, size: (JSON.parse(one.body) as { Descriptor: { size: number } }).Descriptor.size },
      Platforms: [{ architecture: "amd64", os: "linux" }],
    });
    const missing = await get(`/v1.41/distribution/${reg.addr}/nosuch:1/json`);
    assert.equal(missing.status, 404, missing.body);
    await ok(["rmi", ref]);
  });

  it("docker system df prints images, containers, volumes and build cache", async () => {
    await ok(["create", "--name", "dfuser", "busybox", "true"]);
    const out = await ok(["system", "df"]);
    assert.match(out, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/m); // reference: dockerd 20.10
    assert.match(out, /^Images\s+\d+\s+1\s+\S+/m);
    assert.match(out, /^Containers\s+1\s+0\s+/m);
    assert.match(out, /^Local Volumes\s+/m);
    assert.match(out, /^Build Cache\s+/m);
    const v = await ok(["system", "df", "-v"]);
    assert.match(v, /Images space usage:/);
  });

  it("docker image prune -a removes unused images with their layers and blobs, never one a container uses", async () => {
    const image = path.join(d.dataRoot, "image");
    const before = await duBytes(image);
    const blobsBefore = (await fs.readdir(path.join(image, "content/blobs/sha256"))).length;
    const out = await ok(["image", "prune", "-a", "-f"]);
    assert.match(out, /Total reclaimed space: /);
    const left = (await ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])).trim().split("\n").filter(Boolean);
    // dfuser uses busybox: its image (all its tags) stays; the 60 MB image is gone.
    assert.ok(left.every((r) => !r.includes("big")), left.join(","));
    assert.ok(left.includes("busybox:latest"), left.join(","));
    assert.equal((await ok(["run", "--rm", "busybox", "echo", "still here"])).trim(), "still here");
    const after = await duBytes(image);
    assert.ok(after < before - 50_000_000, `data-root shrank from ${before} to ${after}`);
    const blobsAfter = (await fs.readdir(path.join(image, "content/blobs/sha256"))).length;
    assert.ok(blobsAfter < blobsBefore, `blobs ${blobsBefore} → ${blobsAfter}`);
    await ok(["rm", "dfuser"]);
    const chk = await d.berth(["system", "check"]).catch(() => undefined);
    if (chk) assert.equal(chk.code, 0, chk.stdout + chk.stderr);
  });
});
