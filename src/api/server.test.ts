import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { Router, createApiServer } from "./server.js";
import { makeLogger } from "../util/log.js";

function get(port: number, p: string, method = "GET"): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http.request({ host: "127.0.0.1", port, path: p, method, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    }).on("error", reject).end();
  });
}

test("while the engine starts, /_ping answers at once and other requests wait for the engine's routes", async () => {
  let ready: (r: Router) => void = () => undefined;
  const routes = new Promise<Router>((resolve) => (ready = resolve));
  const server = createApiServer(routes, makeLogger("error", () => undefined));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  try {
    const ping = await get(port, "/v1.41/_ping");
    assert.equal(ping.status, 200);
    assert.equal(ping.body, "OK");
    assert.equal(ping.headers["api-version"], "1.47");
    assert.equal((await get(port, "/_ping", "HEAD")).status, 200);

    let answered = false;
    const list = get(port, "/v1.41/containers/json").then((r) => ((answered = true), r));
    // The request has reached the server (a ping on another connection came back after it was sent) and still waits.
    await get(port, "/_ping");
    await new Promise((r) => setImmediate(r));
    assert.equal(answered, false, "a request that needs the engine must wait for it");
    ready(new Router().get("/containers/json", async (ctx) => ctx.json(200, [{ Id: "x" }])));
    const r = await list;
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), [{ Id: "x" }]);
    // Once ready, unknown paths are the full router's 404, as before.
    assert.equal((await get(port, "/v1.41/nope")).status, 404);
  } finally {
    server.close();
  }
});

test("a version the daemon does not support is refused at once, even while the engine starts", async () => {
  const server = createApiServer(new Promise<Router>(() => undefined), makeLogger("error", () => undefined));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await get(port, "/v9.99/containers/json");
    assert.equal(r.status, 400);
    assert.match(r.body, /client version 9.99 is too new/);
  } finally {
    server.close();
  }
});
