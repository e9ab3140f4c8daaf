import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { ProxySelector, maskProxyCredentials, parseProxyUrl, proxyConfigFromEnv } from "./proxy.js";
import { Transport } from "./transport.js";
import { type TestProxy, startTestProxy } from "./testproxy.js";
import { makeTestPki } from "./testpki.js";

describe("NO_PROXY matching (Go's httpproxy rules)", () => {
  const sel = new ProxySelector({
    httpProxy: "http://hp:3128",
    httpsProxy: "http://sp:3129",
    noProxy: "foobar.com, .barbaz.net, *.wildcard.com, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64, bar.com:80",
  });
  const proxied = (url: string): boolean => sel.proxyFor(new URL(url)) !== undefined;

  it("never proxies localhost or loopback addresses", () => {
    for (const u of ["http://localhost", "http://127.0.0.1", "http://127.0.0.2:5000", "https://[::1]:443", "http://[::ffff:127.0.0.1]"]) assert.equal(proxied(u), false, u);
    assert.equal(proxied("http://[::2]"), true);
  });

  it("matches IPs, IP:port and CIDRs", () => {
    assert.equal(proxied("http://192.168.1.1"), false);
    assert.equal(proxied("http://192.168.1.2"), true, "port 80 is not 81");
    assert.equal(proxied("http://192.168.1.2:81"), false);
    assert.equal(proxied("http://192.168.1.3"), false, "http's default port is 80");
    assert.equal(proxied("https://192.168.1.3"), true, "https's is 443");
    assert.equal(proxied("http://10.0.0.2"), false);
    assert.equal(proxied("http://10.0.0.4"), true);
    assert.equal(proxied("http://[2001:db8::52:0:1]"), false);
    assert.equal(proxied("http://[2001:db8::52:0:2]"), true);
    assert.equal(proxied("https://[2001:db8::52:0:2]"), false);
    assert.equal(proxied("http://[2001:db8::52:0:3]"), false);
    assert.equal(proxied("http://[2002:db8:a::123]"), false);
    assert.equal(proxied("http://[fe80::424b:c8be:1643:a1b6]"), true);
  });

  it("matches domains: a bare name covers its subdomains, a leading dot or *. only the subdomains", () => {
    assert.equal(proxied("http://foobar.com"), false);
    assert.equal(proxied("http://www.foobar.com"), false);
    assert.equal(proxied("http://foofoobar.com"), true);
    assert.equal(proxied("http://barbaz.net"), true);
    assert.equal(proxied("http://www.barbaz.net"), false);
    assert.equal(proxied("http://wildcard.com"), true);
    assert.equal(proxied("http://www.wildcard.com"), false);
    assert.equal(proxied("http://FOOBAR.com"), false, "case-insensitive");
    assert.equal(proxied("http://bar.com"), false);
    assert.equal(proxied("http://bar.com:8080"), true, "bar.com:80 only");
    assert.equal(proxied("http://www.bar.com"), false);
  });

  it("* turns every proxy off; http and https each use their own variable", () => {
    assert.equal(new ProxySelector({ httpProxy: "http://p:1", noProxy: "example.org, *" }).proxyFor(new URL("http://a.b")), undefined);
    const only = new ProxySelector({ httpProxy: "http://p:1" });
    assert.equal(only.proxyFor(new URL("http://a.b"))?.host, "p:1");
    assert.equal(only.proxyFor(new URL("https://a.b")), undefined, "HTTP_PROXY is not used for https");
    assert.equal(sel.proxyFor(new URL("https://registry-1.docker.io"))?.host, "sp:3129");
    assert.equal(sel.proxyFor(new URL("http://registry-1.docker.io"))?.host, "hp:3128");
  });
});

describe("proxy settings", () => {
  it("reads the upper-case variables before the lower-case ones", () => {
    assert.deepEqual(proxyConfigFromEnv({ HTTP_PROXY: "http://up:1", http_proxy: "http://low:1", https_proxy: "http://low:2", no_proxy: "x" }), {
      httpProxy: "http://up:1",
      httpsProxy: "http://low:2",
      noProxy: "x",
    });
    assert.deepEqual(proxyConfigFromEnv({ HTTP_PROXY: "" }), {});
  });

  it("takes a proxy without a scheme as http://", () => {
    assert.equal(parseProxyUrl("proxy.example:3128").href, "http://proxy.example:3128/");
    assert.equal(parseProxyUrl("https://p.example").protocol, "https:");
  });

  it("masks credentials as dockerd's docker info does", () => {
    assert.equal(maskProxyCredentials("http://user:secret@127.0.0.1:3128"), "http://xxxxx:xxxxx@127.0.0.1:3128");
    assert.equal(maskProxyCredentials("https://u2:pw2@proxy.example:8443"), "https://xxxxx:xxxxx@proxy.example:8443");
    assert.equal(maskProxyCredentials("http://127.0.0.1:3128"), "http://127.0.0.1:3128");
    assert.equal(maskProxyCredentials(undefined), "");
  });
});

function body(t: Transport, url: string, extra: http.RequestOptions = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = t.request(new URL(url), { method: "GET", ...extra }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("Transport through a proxy, with certs.d trust", () => {
  let dir: string;
  let proxy: TestProxy;
  let plain: http.Server;
  let tlsServer: https.Server;
  let plainPort: number;
  let tlsPort: number;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "berth-proxy-"));
    const pki = await makeTestPki(path.join(dir, "pki"), ["secure.test"]);
    proxy = await startTestProxy({ auth: "bob:p@ss" });
    plain = http.createServer((req, res) => res.end(`plain ${req.url} host=${req.headers.host}`));
    await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
    plainPort = (plain.address() as net.AddressInfo).port;
    tlsServer = https.createServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey), ca: readFileSync(pki.caCert), requestCert: true, rejectUnauthorized: true }, (req, res) => res.end(`tls ${req.url}`));
    await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", r));
    tlsPort = (tlsServer.address() as net.AddressInfo).port;
    // certs.d/secure.test:PORT: the CA and a client certificate (the server requires one).
    const host = path.join(dir, "certs.d", `secure.test:${tlsPort}`);
    await fs.mkdir(host, { recursive: true });
    await fs.copyFile(pki.caCert, path.join(host, "ca.crt"));
    await fs.copyFile(pki.clientCert, path.join(host, "client.cert"));
    await fs.copyFile(pki.clientKey, path.join(host, "client.key"));
  });

  after(async () => {
    await proxy.close();
    plain.close();
    tlsServer.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("sends http:// as an absolute-URI request with Proxy-Authorization from the proxy URL", async () => {
    const t = new Transport({ proxies: { httpProxy: `http://bob:p%40ss@127.0.0.1:${proxy.port}` } });
    const r = await body(t, `http://plain.test:${plainPort}/v2/?x=1`);
    assert.equal(r.status, 200);
    assert.equal(r.text, `plain /v2/?x=1 host=plain.test:${plainPort}`);
    assert.deepEqual(proxy.seen.at(-1), { method: "GET", target: `http://plain.test:${plainPort}/v2/?x=1`, auth: `Basic ${Buffer.from("bob:p@ss").toString("base64")}` });
  });

  it("tunnels https:// with CONNECT and verifies the server with the certs.d CA, presenting its client certificate", async () => {
    const t = new Transport({ proxies: { httpsProxy: `http://bob:p%40ss@127.0.0.1:${proxy.port}` }, certsDirs: [path.join(dir, "certs.d")] });
    const n = proxy.seen.length;
    const r = await body(t, `https://secure.test:${tlsPort}/v2/`);
    assert.equal(r.text, "tls /v2/");
    assert.deepEqual(proxy.seen.slice(n), [{ method: "CONNECT", target: `secure.test:${tlsPort}`, auth: `Basic ${Buffer.from("bob:p@ss").toString("base64")}` }]);
  });

  it("fails verification without the certs.d CA", async () => {
    const t = new Transport({ proxies: { httpsProxy: `http://bob:p%40ss@127.0.0.1:${proxy.port}` }, certsDirs: [path.join(dir, "nothing")] });
    await assert.rejects(body(t, `https://secure.test:${tlsPort}/v2/`), /self[- ]signed certificate|unable to (get local issuer|verify)/);
  });

  it("reports a refused CONNECT with the proxy's status text and an unreachable proxy as Go does", async () => {
    const wrong = new Transport({ proxies: { httpsProxy: `http://bob:wrong@127.0.0.1:${proxy.port}` } });
    await assert.rejects(body(wrong, `https://secure.test:${tlsPort}/v2/`), { message: "Proxy Authentication Required" });
    const gone = new Transport({ proxies: { httpsProxy: "http://127.0.0.1:1" } });
    await assert.rejects(body(gone, `https://secure.test:${tlsPort}/v2/`), { message: "proxyconnect tcp: dial tcp 127.0.0.1:1: connect: connection refused" });
  });

  it("goes direct for NO_PROXY hosts", async () => {
    const t = new Transport({ proxies: { httpProxy: `http://127.0.0.1:${proxy.port}`, noProxy: ".test" } });
    const n = proxy.seen.length;
    // The name resolves to loopback for this request only (no DNS query leaves the machine).
    const lookup = ((_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
      o.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4)) as unknown as http.RequestOptions["lookup"];
    const r = await body(t, `http://plain.test:${plainPort}/direct`, { lookup });
    assert.equal(r.text, `plain /direct host=plain.test:${plainPort}`);
    assert.equal(proxy.seen.length, n, "nothing went through the proxy");
  });
});
