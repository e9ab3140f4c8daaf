import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { hostTls, readCertsFolder } from "./certsd.js";
import { RegistryClient } from "./client.js";
import { type RegistryEndpoint, originEndpoint, parseHostsToml, pullEndpoints } from "./hosts.js";

describe("hosts.toml", () => {
  it("reads containerd's documented keys", () => {
    const cfg = parseHostsToml(
      [
        "# mirror for registry.k8s.io",
        'server = "https://registry.k8s.io"',
        "",
        '[host."http://127.0.0.1:5000"]',
        '  capabilities = ["pull", "resolve"]  # no push',
        "  skip_verify = true",
        '  [host."http://127.0.0.1:5000".header]',
        '    x-mirror = "berth"',
        "[host.'https://mirror.example/prefix']",
        "  override_path = true",
        '  ca = "mirror-ca.crt"',
        "  client = [",
        '    ["client.cert", "client.key"],',
        "  ]",
      ].join("\n"),
    );
    assert.equal(cfg.server, "https://registry.k8s.io");
    assert.equal(cfg.hosts.length, 2);
    assert.deepEqual(cfg.hosts[0], { url: "http://127.0.0.1:5000", capabilities: ["pull", "resolve"], ca: [], client: [], skipVerify: true, overridePath: false, header: { "x-mirror": "berth" } });
    assert.deepEqual(cfg.hosts[1], {
      url: "https://mirror.example/prefix",
      capabilities: ["pull", "resolve", "push"],
      ca: ["mirror-ca.crt"],
      client: [["client.cert", "client.key"]],
      skipVerify: false,
      overridePath: true,
      header: {},
    });
  });

  it("rejects what it does not understand, with the line", () => {
    assert.throws(() => parseHostsToml('server = "x"\n[host."h"]\nmirrors = ["a"]\n', "f.toml"), { message: "f.toml:3: unknown key host.h.mirrors" });
    assert.throws(() => parseHostsToml("server = 5\n", "f.toml"), /f\.toml:1: unsupported value/);
    assert.throws(() => parseHostsToml('[host."h"]\ncapabilities = ["pull", "fly"]\n', "f.toml"), /unknown capability "fly"/);
    assert.throws(() => parseHostsToml('[plugins."x"]\n', "f.toml"), /f\.toml:1: unknown table \[plugins\.x\]/);
    assert.throws(() => parseHostsToml('server = "unterminated\n', "f.toml"), /unterminated string/);
  });
});

describe("pull endpoints and certs.d", () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "berth-hosts-"));
    const k8s = path.join(dir, "berth", "registry.k8s.io");
    await fs.mkdir(k8s, { recursive: true });
    await fs.writeFile(
      path.join(k8s, "hosts.toml"),
      'server = "https://registry.k8s.io"\n[host."http://127.0.0.1:5000"]\ncapabilities = ["pull", "resolve"]\n[host."https://digests.example/v2"]\ncapabilities = ["pull"]\n',
    );
    const mapped = path.join(dir, "berth", "mapped.test");
    await fs.mkdir(mapped, { recursive: true });
    await fs.writeFile(path.join(mapped, "hosts.toml"), 'server = "http://127.0.0.1:6000"\n');
    // A host in both folders: the first folder's wins, alone.
    for (const [d, name] of [
      ["berth", "one.crt"],
      ["docker", "two.crt"],
    ] as const) {
      await fs.mkdir(path.join(dir, d, "both.example:443"), { recursive: true });
      await fs.writeFile(path.join(dir, d, "both.example:443", name), `${d}\n`);
    }
    await fs.mkdir(path.join(dir, "docker", "only-docker.example"), { recursive: true });
    await fs.writeFile(path.join(dir, "docker", "only-docker.example", "ca.crt"), "docker ca\n");
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  const opts = (): { registryMirrors: string[]; certsDirs: string[] } => ({ registryMirrors: ["http://127.0.0.1:5999/", "https://m2.example/"], certsDirs: [path.join(dir, "berth"), path.join(dir, "docker")] });

  it("tries Docker Hub mirrors in order, then registry-1.docker.io", () => {
    const eps = pullEndpoints(opts(), "docker.io", false);
    assert.deepEqual(
      eps.map((e) => [e.base.href, e.mirror, e.fixedScheme]),
      [
        ["http://127.0.0.1:5999/", true, true],
        ["https://m2.example/", true, true],
        ["https://registry-1.docker.io/", false, false],
      ],
    );
    assert.deepEqual(pullEndpoints(opts(), "ghcr.io", false).map((e) => e.base.href), ["https://ghcr.io/"], "registry-mirrors are for Docker Hub only");
  });

  it("uses hosts.toml hosts by capability, then its server; push and login use the server only", () => {
    assert.deepEqual(
      pullEndpoints(opts(), "registry.k8s.io", false).map((e) => `${e.base.href} ${e.apiPath}`),
      ["http://127.0.0.1:5000/ /v2", "https://registry.k8s.io/ /v2"],
      "a pull-only host does not resolve tags",
    );
    assert.deepEqual(
      pullEndpoints(opts(), "registry.k8s.io", true).map((e) => `${e.base.href} ${e.apiPath}`),
      ["http://127.0.0.1:5000/ /v2", "https://digests.example/ /v2", "https://registry.k8s.io/ /v2"],
    );
    const origin = originEndpoint(opts(), "mapped.test");
    assert.equal(origin.base.href, "http://127.0.0.1:6000/");
    assert.equal(origin.mirror, false);
    assert.equal(origin.fixedScheme, true);
  });

  it("reads certs.d as dockerd: *.crt are CAs, the first folder that has the host wins", () => {
    const dirs = opts().certsDirs;
    assert.deepEqual(hostTls(dirs, "both.example:443").ca.map(String), ["berth\n"]);
    assert.deepEqual(hostTls(dirs, "only-docker.example").ca.map(String), ["docker ca\n"]);
    assert.deepEqual(hostTls(dirs, "none.example").ca, []);
    assert.deepEqual(hostTls(dirs, "../docker").ca, [], "no folder outside the certs directories");
  });

  it("refuses a client key without its certificate, and the reverse, in dockerd's words", async () => {
    const a = path.join(dir, "bad-key");
    await fs.mkdir(a);
    await fs.writeFile(path.join(a, "client.key"), "k");
    assert.throws(() => readCertsFolder(a), { message: "missing client certificate client.cert for key client.key" });
    const b = path.join(dir, "bad-cert");
    await fs.mkdir(b);
    await fs.writeFile(path.join(b, "client.cert"), "c");
    assert.throws(() => readCertsFolder(b), { message: "missing key client.key for client certificate client.cert. CA certificates must use the extension .crt" });
  });
});

describe("a hosts.toml host with a path", () => {
  it("sends the API under the host's path (/<path>/v2, or the path itself with override_path), with its headers", async () => {
    const asked: string[] = [];
    const server = http.createServer((req, res) => {
      asked.push(`${req.url} ${req.headers["x-mirror"] ?? ""}`);
      res.writeHead(404, { "Content-Type": "application/json" }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    const dir = mkdtempSync(path.join(os.tmpdir(), "berth-hostpath-"));
    try {
      await fs.mkdir(path.join(dir, "reg.test"));
      await fs.writeFile(
        path.join(dir, "reg.test", "hosts.toml"),
        `[host."http://127.0.0.1:${port}/cache"]\ncapabilities = ["pull", "resolve"]\n[host."http://127.0.0.1:${port}/raw/api"]\noverride_path = true\n[host."http://127.0.0.1:${port}/raw/api".header]\nx-mirror = "yes"\n`,
      );
      const [cache, raw] = pullEndpoints({ certsDirs: [dir] }, "reg.test", false);
      for (const endpoint of [cache, raw]) {
        const c = new RegistryClient({ host: "reg.test", endpoint: endpoint as RegistryEndpoint });
        await assert.rejects(c.getManifest("team/app", "1"), { status: 404 });
      }
      assert.deepEqual(asked, ["/cache/v2/team/app/manifests/1 ", "/raw/api/team/app/manifests/1 yes"]);
    } finally {
      server.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
