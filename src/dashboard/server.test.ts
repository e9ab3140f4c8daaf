import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { makeDashboardServer, parseAddr } from "./server.js";
import { makeUpstream } from "./upstream.js";
import { startDashboard } from "./index.js";

const TOKEN = "k".repeat(43);

function get(port: number, p: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: p, method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("dashboard server", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "dash-srv-"));
  const seen: string[] = [];
  const engine = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(req.url?.startsWith("/containers/missing") ? 404 : 200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(req.url?.startsWith("/containers/missing") ? { message: "No such container: missing" } : [{ Id: "x" }]));
  });
  const sock = path.join(dir, "api.sock");
  let port = 0;
  let srv: ReturnType<typeof makeDashboardServer>;
  before(async () => {
    mkdirSync(path.join(dir, "ui", "assets"), { recursive: true });
    writeFileSync(path.join(dir, "ui", "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(path.join(dir, "secret.txt"), "no");
    await new Promise<void>((r) => engine.listen(sock, r));
    const hosts = new Set<string>();
    srv = makeDashboardServer({ gate: { token: TOKEN, readOnly: false, hosts, scheme: "http" }, upstream: makeUpstream({ socketPath: sock }), assets: path.join(dir, "ui") });
    await new Promise<void>((r) => srv.server.listen(0, "127.0.0.1", r));
    port = (srv.server.address() as AddressInfo).port;
    hosts.add(`127.0.0.1:${port}`);
  });
  after(() => {
    srv.close();
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const auth = () => ({ Authorization: `Bearer ${TOKEN}` });

  it("serves the UI with a strict Content-Security-Policy, and nothing outside its folder", async () => {
    const r = await get(port, "/");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-security-policy"]), /default-src 'self'/);
    assert.equal(r.headers["x-frame-options"], "DENY");
    assert.equal((await get(port, "/../secret.txt")).status, 404);
    assert.equal((await get(port, "/assets/..%2f..%2fsecret.txt")).status, 404);
  });

  it("proxies an allowed route with its query, and passes the engine's status and message on", async () => {
    const ok = await get(port, "/api/containers/json?all=1", { headers: auth() });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), [{ Id: "x" }]);
    assert.equal(ok.headers["cache-control"], "no-store");
    assert.ok(seen.includes("GET /containers/json?all=1"));
    const missing = await get(port, "/api/containers/missing/json", { headers: auth() });
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body).message, "No such container: missing");
  });

  it("answers 404 for a route it does not proxy, without asking the engine", async () => {
    const before = seen.length;
    const r = await get(port, "/api/containers/create", { method: "POST", headers: { ...auth(), Origin: `http://127.0.0.1:${port}` } });
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).message, "dashboard: POST /containers/create is not available through the dashboard");
    assert.equal(seen.length, before);
  });

  it("tells the page whether it is read-only and which registry it shows (none: the registry routes answer 404)", async () => {
    const r = await get(port, "/api/_dashboard", { headers: auth() });
    assert.deepEqual(JSON.parse(r.body), { readOnly: false, registry: null });
    const reg = await get(port, "/api/_registry/repositories", { headers: auth() });
    assert.equal(reg.status, 404);
    assert.equal(JSON.parse(reg.body).message, "dashboard: no registry is set (--dashboard-registry)");
  });
});

describe("dashboard start-up", () => {
  it("refuses a registry that is not a loopback http(s)://HOST:PORT, or carries credentials in its URL", async () => {
    for (const bad of ["http://10.0.0.1:5000", "ftp://127.0.0.1:5000", "http://u:p@127.0.0.1:5000", "http://127.0.0.1:5000/v2/", "127.0.0.1:5000"]) {
      await assert.rejects(startDashboard({ addr: "127.0.0.1:0", readOnly: false, upstream: { socketPath: "/nonexistent" }, registry: bad }), /invalid dashboard registry/, bad);
    }
  });

  it("refuses a non-loopback address without TLS, and a malformed one, with a clear message", async () => {
    await assert.rejects(startDashboard({ addr: "0.0.0.0:0", readOnly: false, upstream: { socketPath: "/nonexistent" } }), /refusing to serve the dashboard on 0\.0\.0\.0:0 without TLS: a non-loopback address needs --tlscert and --tlskey/);
    assert.throws(() => parseAddr("8080"), /invalid dashboard address "8080": use HOST:PORT/);
    assert.throws(() => parseAddr("127.0.0.1:70000"), /invalid dashboard address/);
    assert.deepEqual(parseAddr("[::1]:80"), { host: "::1", port: 80 });
  });
});
