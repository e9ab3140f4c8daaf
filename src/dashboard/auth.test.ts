import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { type Gate, check, loadToken } from "./auth.js";

const TOKEN = "t".repeat(43);
const gate = (readOnly = false): Gate => ({ token: TOKEN, readOnly, hosts: new Set(["127.0.0.1:8080", "localhost:8080"]), scheme: "http" });
const req = (method: string, headers: Record<string, string>): http.IncomingMessage => ({ method, headers: { host: "127.0.0.1:8080", ...headers } }) as unknown as http.IncomingMessage;
const auth = { authorization: `Bearer ${TOKEN}` };
const own = { origin: "http://127.0.0.1:8080" };

describe("dashboard request checks", () => {
  it("lets a same-origin request with the token through, reads and writes", () => {
    assert.equal(check(gate(), req("GET", auth), "api", false), undefined);
    assert.equal(check(gate(), req("POST", { ...auth, ...own }), "api", true), undefined);
  });

  it("refuses an API request without the token or with another one (401)", () => {
    assert.equal(check(gate(), req("GET", {}), "api", false)?.status, 401);
    assert.equal(check(gate(), req("GET", { authorization: `Bearer ${TOKEN}x` }), "api", false)?.status, 401);
    assert.equal(check(gate(), req("GET", { authorization: "Basic abc" }), "api", false)?.status, 401);
  });

  it("refuses a state-changing request from another origin or without an Origin (403), even with the token", () => {
    assert.deepEqual(check(gate(), req("POST", { ...auth, origin: "http://evil.example" }), "api", true), { status: 403, message: "dashboard: cross-origin request refused (Origin http://evil.example)" });
    assert.equal(check(gate(), req("DELETE", auth), "api", true)?.status, 403);
    assert.equal(check(gate(), req("POST", { ...auth, origin: "null" }), "api", true)?.status, 403);
    // Another port on the same host is another origin.
    assert.equal(check(gate(), req("POST", { ...auth, origin: "http://127.0.0.1:8081" }), "api", true)?.status, 403);
  });

  it("refuses a Host header that is not the dashboard's (DNS rebinding, 421), static files included", () => {
    assert.equal(check(gate(), req("GET", { ...auth, host: "evil.example:8080" }), "api", false)?.status, 421);
    assert.equal(check(gate(), req("GET", { host: "evil.example:8080" }), "static", false)?.status, 421);
    assert.equal(check(gate(), req("GET", { host: "localhost:8080" }), "static", false), undefined);
  });

  it("takes the token from the WebSocket subprotocol and needs the Origin on every handshake", () => {
    const proto = { "sec-websocket-protocol": `berth, berth-token.${TOKEN}` };
    assert.equal(check(gate(), req("GET", { ...proto, ...own }), "websocket", false), undefined);
    assert.equal(check(gate(), req("GET", proto), "websocket", false)?.status, 403);
    assert.equal(check(gate(), req("GET", { "sec-websocket-protocol": "berth", ...own }), "websocket", false)?.status, 401);
  });

  it("read-only mode refuses every write (403) and still serves reads", () => {
    assert.deepEqual(check(gate(true), req("POST", { ...auth, ...own }), "api", true), { status: 403, message: "dashboard: read-only mode" });
    assert.equal(check(gate(true), req("GET", { ...auth, ...own }), "websocket", true)?.status, 403);
    assert.equal(check(gate(true), req("GET", auth), "api", false), undefined);
  });
});

describe("dashboard token", () => {
  it("is made once, kept 0600 in its file and read back on the next start", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dash-tok-"));
    const file = path.join(dir, "dashboard.token");
    const a = await loadToken(file);
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal(await loadToken(file), a);
    await fs.writeFile(file, "short\n");
    assert.notEqual(await loadToken(file), "short", "a file without a usable token gets a new one");
    assert.notEqual(await loadToken(undefined), await loadToken(undefined));
    await fs.rm(dir, { recursive: true });
  });
});
