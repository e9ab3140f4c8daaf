/**
 * berthd behind a proxy, with registry mirrors and certs.d, driven by the real
 * docker CLI. All traffic stays on 127.0.0.1: registry names ending in ".test"
 * resolve nowhere, so only the test's counting proxy (which maps them to
 * 127.0.0.1) can reach them; Docker Hub is "reached" only as far as that
 * proxy, which answers 502 for any other name.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import dns from "node:dns/promises";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import bcrypt from "bcryptjs";
import { type RegistryHandle, startRegistry } from "../../src/registry/index.js";
import { type TestProxy, startTestProxy } from "../../src/registry/testproxy.js";
import { makeTestPki } from "../../src/registry/testpki.js";
import { DOCKER, Daemon, type RunResult, busyboxTarFile, run } from "./harness.js";

const PROXY_USER = "puser:p@ss";
const proxyAuth = `Basic ${Buffer.from(PROXY_USER).toString("base64")}`;

describe("proxies, registry mirrors and certs.d", { timeout: 240_000 }, () => {
  const d = new Daemon();
  let tmp: string;
  let proxy: TestProxy;
  let mirror1: RegistryHandle;
  let mirror2: RegistryHandle;
  let plain: RegistryHandle;
  let secure: RegistryHandle;
  let files: http.Server;
  let filesPort: number;
  /** A name of this machine that resolves to loopback without DNS (/etc/hosts), if it has one. */
  let localName: string | undefined;

  const ok = async (args: string[]): Promise<string> => {
    const r = await d.docker(args, { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const seenSince = (n: number): string[] => proxy.seen.slice(n).map((s) => `${s.method} ${s.target}`);

  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "berth-regnet-"));
    proxy = await startTestProxy({ auth: PROXY_USER });
    mirror1 = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "m1") });
    mirror2 = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "m2") });
    plain = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "plain") });
    const pki = await makeTestPki(path.join(tmp, "pki"), ["secure.test", "untrusted.test"]);
    const htpasswd = path.join(tmp, "htpasswd");
    await fs.writeFile(htpasswd, `alice:${bcrypt.hashSync("wonderland", 5)}\n`);
    secure = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "secure"), htpasswd, tlsCert: pki.serverCert, tlsKey: pki.serverKey });
    // certs.d: the test CA for secure.test only; hosts.toml sends k8s.test pulls to mirror1.
    const certs = path.join(tmp, "certs.d");
    await fs.mkdir(path.join(certs, `secure.test:${secure.port}`), { recursive: true });
    await fs.copyFile(pki.caCert, path.join(certs, `secure.test:${secure.port}`, "ca.crt"));
    await fs.mkdir(path.join(certs, "k8s.test"), { recursive: true });
    await fs.writeFile(path.join(certs, "k8s.test", "hosts.toml"), `server = "https://k8s.test"\n\n[host."http://127.0.0.1:${mirror1.port}"]\n  capabilities = ["pull", "resolve"]\n`);
    // A plain file server for docker import URL.
    const tar = await fs.readFile(await busyboxTarFile());
    files = http.createServer((req, res) => {
      if (req.url === "/dir/file.txt") return void res.writeHead(200, { "Last-Modified": "Wed, 21 Oct 2015 07:28:00 GMT" }).end("hello\n");
      if (req.url === "/dir/") return void res.writeHead(200, { "Content-Disposition": 'attachment; filename="cd.txt"' }).end("cd\n");
      if (req.url === "/nodisp/") return void res.writeHead(200).end("x\n");
      if (req.url === "/missing") return void res.writeHead(404).end("nope");
      res.writeHead(200, { "Content-Length": tar.length }).end(tar);
    });
    await new Promise<void>((r) => files.listen(0, "127.0.0.1", r));
    filesPort = (files.address() as net.AddressInfo).port;

    const name = os.hostname();
    const addrs = await dns.lookup(name, { all: true }).catch(() => []);
    if (name !== "localhost" && addrs.length > 0 && addrs.every((a) => a.address.startsWith("127."))) localName = name;

    const proxyUrl = `http://${encodeURIComponent("puser")}:${encodeURIComponent("p@ss")}@127.0.0.1:${proxy.port}`;
    await d.start(
      [
        "--registry-mirror",
        `http://127.0.0.1:${mirror1.port}`,
        "--registry-mirror",
        `http://127.0.0.1:${mirror2.port}`,
        "--certs-dir",
        certs,
        "--insecure-registry",
        `plain.test:${plain.port}`,
        ...(localName ? ["--insecure-registry", `${localName}:${plain.port}`] : []),
      ],
      { HTTP_PROXY: proxyUrl, HTTPS_PROXY: proxyUrl, NO_PROXY: localName ?? "nothing.invalid", http_proxy: undefined, https_proxy: undefined, no_proxy: undefined },
    );
    await d.loadBusybox();
    // Mirror 1 has library/x and pause; mirror 2 has library/y. Pushes to 127.0.0.1 go direct (loopback).
    for (const ref of [`127.0.0.1:${mirror1.port}/library/x:1`, `127.0.0.1:${mirror1.port}/pause:3`, `127.0.0.1:${mirror2.port}/library/y:1`]) {
      await ok(["tag", "busybox:latest", ref]);
      await ok(["push", ref]);
      await ok(["rmi", ref]);
    }
  });

  after(async () => {
    await d.destroy();
    await proxy.close();
    for (const r of [mirror1, mirror2, plain, secure]) await r.close();
    files.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  it("docker info shows the proxies with credentials masked, and the mirrors", async () => {
    const out = await ok(["info", "--format", "{{json .HTTPProxy}} {{json .HTTPSProxy}} {{json .NoProxy}} {{json .RegistryConfig.Mirrors}} {{json (index .RegistryConfig.IndexConfigs \"docker.io\").Mirrors}}"]);
    const masked = `http://xxxxx:xxxxx@127.0.0.1:${proxy.port}`;
    const mirrors = JSON.stringify([`http://127.0.0.1:${mirror1.port}/`, `http://127.0.0.1:${mirror2.port}/`]);
    assert.equal(out.trim(), `${JSON.stringify(masked)} ${JSON.stringify(masked)} ${JSON.stringify(localName ?? "nothing.invalid")} ${mirrors} ${mirrors}`);
    const text = await ok(["info"]);
    assert.match(text, new RegExp(` Registry Mirrors:\\n  http://127\\.0\\.0\\.1:${mirror1.port}/\\n  http://127\\.0\\.0\\.1:${mirror2.port}/\\n`));
    assert.doesNotMatch(text, /p@ss|p%40ss/);
  });

  it("pulls a Docker Hub name from the first mirror that has it, keeping the name as written", async () => {
    const n = proxy.seen.length;
    await ok(["pull", "x:1"]);
    await ok(["pull", "y:1"]); // not on mirror 1: mirror 2
    // The same image as busybox:latest: what the pull adds is the tag and a digest under the name as written.
    for (const name of ["x", "y"]) {
      const [tags, digests] = (await ok(["image", "inspect", "-f", "{{json .RepoTags}}\t{{json .RepoDigests}}", `${name}:1`])).trim().split("\t");
      assert.ok((JSON.parse(tags ?? "") as string[]).includes(`${name}:1`), tags);
      assert.ok((JSON.parse(digests ?? "") as string[]).some((r) => r.startsWith(`${name}@sha256:`)), digests);
    }
    assert.deepEqual(seenSince(n), [], "Docker Hub itself was not asked");
  });

  it("falls back to Docker Hub, through the proxy, when no mirror has the image", async () => {
    const n = proxy.seen.length;
    const r = await d.docker(["pull", "z:1"], { timeoutMs: 90_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Error response from daemon: Get "https:\/\/registry-1\.docker\.io\/v2\/": Bad Gateway/);
    assert.ok(seenSince(n).includes("CONNECT registry-1.docker.io:443"), seenSince(n).join(", "));
  });

  it("login, push and pull through a CONNECT tunnel, trusting the registry's CA from certs.d", async () => {
    const host = `secure.test:${secure.port}`;
    const n = proxy.seen.length;
    const login = await d.docker(["login", "-u", "alice", "--password-stdin", host], { input: "wonderland\n" });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    await ok(["tag", "busybox:latest", `${host}/bb:1`]);
    await ok(["push", `${host}/bb:1`]);
    await ok(["rmi", `${host}/bb:1`]);
    await ok(["pull", `${host}/bb:1`]);
    const seen = proxy.seen.slice(n);
    assert.ok(seen.length > 0 && seen.every((s) => s.method === "CONNECT" && s.target === host && s.auth === proxyAuth), JSON.stringify(seen));
  });

  it("refuses a registry whose certificate no certs.d CA vouches for", async () => {
    const r = await d.docker(["pull", `untrusted.test:${secure.port}/bb:1`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`Get "https://untrusted\\.test:${secure.port}/v2/": x509: certificate signed by unknown authority`));
  });

  it("reaches an insecure registry by name: https tunnelled first, then plain http as absolute-URI requests", async () => {
    const host = `plain.test:${plain.port}`;
    const n = proxy.seen.length;
    await ok(["tag", "busybox:latest", `${host}/bb:1`]);
    await ok(["push", `${host}/bb:1`]);
    await ok(["rmi", `${host}/bb:1`]);
    await ok(["pull", `${host}/bb:1`]);
    const seen = seenSince(n);
    assert.equal(seen[0], `CONNECT ${host}`);
    assert.ok(seen.includes(`GET http://${host}/v2/`), seen.join(", "));
    assert.ok(seen.some((s) => s.startsWith(`PUT http://${host}/v2/bb/manifests/1`)), seen.join(", "));
  });

  it("goes direct to NO_PROXY hosts", async (t) => {
    if (localName === undefined) {
      t.skip("this machine's host name does not resolve to loopback through /etc/hosts");
      return;
    }
    const host = `${localName}:${plain.port}`;
    const n = proxy.seen.length;
    await ok(["pull", `${host}/bb:1`]);
    assert.deepEqual(seenSince(n), []);
  });

  it("pulls another registry's names from its hosts.toml mirror; push goes to the origin", async () => {
    const n = proxy.seen.length;
    await ok(["pull", "k8s.test/pause:3"]);
    const digests = (await ok(["image", "inspect", "-f", "{{json .RepoDigests}}", "k8s.test/pause:3"])).trim();
    assert.ok((JSON.parse(digests) as string[]).some((r) => r.startsWith("k8s.test/pause@sha256:")), digests);
    assert.deepEqual(seenSince(n), [], "the mirror is on loopback: nothing through the proxy");
    const push = await d.docker(["push", "k8s.test/pause:3"]);
    assert.equal(push.code, 1);
    // The proxy hangs up (nothing listens on 127.0.0.1:443): dockerd 20.10 says the same through this proxy.
    assert.match(push.stderr, /Get "https:\/\/k8s\.test\/v2\/": unexpected EOF/);
    assert.deepEqual(seenSince(n), ["CONNECT k8s.test:443"]);
  });

  it("build FROM pulls through the mirrors too, and --build-arg HTTPS_PROXY reaches RUN without entering the history", async () => {
    await ok(["rmi", "y:1"]);
    const ctx = path.join(tmp, "ctx");
    await fs.mkdir(ctx, { recursive: true });
    await fs.writeFile(path.join(ctx, "Dockerfile"), 'FROM y:1\nRUN echo "proxy=$HTTPS_PROXY" > /proxy.txt\n');
    const n = proxy.seen.length;
    const r = await run(DOCKER, ["build", "--build-arg", "HTTPS_PROXY=http://build-proxy.test:3128", "-t", "built:1", ctx], { env: { ...d.env, DOCKER_BUILDKIT: "0" }, timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(seenSince(n), [], "y:1 came from mirror 2, not through the proxy");
    assert.equal((await ok(["run", "--rm", "built:1", "cat", "/proxy.txt"])).trim(), "proxy=http://build-proxy.test:3128");
    assert.doesNotMatch(await ok(["history", "--no-trunc", "built:1"]), /build-proxy/);
  });

  it("build ADD <url> downloads through the proxy as dockerd's builder: named by the URL or Content-Disposition, 0600, Last-Modified, never unpacked", async () => {
    const ctx = path.join(tmp, "ctx-add");
    await fs.mkdir(ctx, { recursive: true });
    const base = `http://files.test:${filesPort}`;
    const build = (dockerfile: string, tag: string): Promise<RunResult> =>
      fs.writeFile(path.join(ctx, "Dockerfile"), dockerfile).then(() => run(DOCKER, ["build", "-t", tag, ctx], { env: { ...d.env, DOCKER_BUILDKIT: "0" }, timeoutMs: 90_000 }));
    const n = proxy.seen.length;
    const r = await build(`FROM busybox\nADD ${base}/dir/file.txt /a/\nADD ${base}/dir/file.txt /b\nADD ${base}/rootfs.tar /c/\nADD ${base}/dir/ /d/\nADD ${base}/nodisp/ /n\n`, "addurl:1");
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(seenSince(n), ["/dir/file.txt", "/dir/file.txt", "/rootfs.tar", "/dir/", "/nodisp/"].map((p) => `GET ${base}${p}`));
    // Listing as dockerd 20.10's image shows it (reference run with the same server).
    const ls = await ok(["run", "--rm", "--network", "none", "addurl:1", "stat", "-c", "%n %a %u:%g %s %Y", "/a/file.txt", "/b", "/c/rootfs.tar", "/d/cd.txt", "/n"]);
    const tarSize = (await fs.stat(await busyboxTarFile())).size;
    assert.equal(ls, `/a/file.txt 600 0:0 6 1445412480\n/b 600 0:0 6 1445412480\n/c/rootfs.tar 600 0:0 ${tarSize} 0\n/d/cd.txt 600 0:0 3 0\n/n 600 0:0 2 0\n`);
    assert.match(await ok(["history", "--no-trunc", "--format", "{{.CreatedBy}}", "addurl:1"]), /^\/bin\/sh -c #\(nop\) ADD [0-9a-f]{64} in \/n $/m);

    const noName = await build(`FROM busybox\nADD ${base}/nodisp/ /n/\n`, "addurl:2");
    assert.equal(noName.code, 1);
    assert.match(noName.stderr, new RegExp(`ADD failed: cannot determine filename for source ${base}/nodisp/`));
    const missing = await build(`FROM busybox\nADD ${base}/missing /m\n`, "addurl:3");
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`ADD failed: failed to GET ${base}/missing with status 404 Not Found: nope`));
  });

  it("docker import URL goes through the proxy", async () => {
    const n = proxy.seen.length;
    await ok(["import", `http://files.test:${filesPort}/rootfs.tar`, "imported:1"]);
    assert.deepEqual(seenSince(n), [`GET http://files.test:${filesPort}/rootfs.tar`]);
    assert.equal(proxy.seen.at(-1)?.auth, proxyAuth);
  });
});
