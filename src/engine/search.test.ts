import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Transport, startTestProxy } from "../registry/index.js";
import { searchImages } from "./search.js";

/** A v1 index on loopback: /v1/_ping answers, /v1/search returns three results and records what it was asked. */
let server: http.Server;
let host = "";
const asked: string[] = [];
const RESULTS = [
  { name: "team/app", description: "an app", star_count: 12, is_official: false, is_automated: true },
  { name: "base", description: "official", star_count: 300, is_official: true, is_automated: false },
  { name: "team/tool", description: "", star_count: 1, is_official: false, is_automated: false },
];

before(async () => {
  server = http.createServer((req, res) => {
    asked.push(req.url ?? "");
    if (req.url === "/v1/_ping") return void res.end("true");
    if (req.url?.startsWith("/v1/search?") && !req.url.includes("q=nosearch")) return void res.end(JSON.stringify({ num_results: 3, query: "x", results: RESULTS }));
    res.statusCode = 404;
    res.end("404 page not found");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const search = (term: string, limit = 25, filters: Record<string, string[]> = {}) => searchImages({ term, limit, filters, insecure: [] });

test("search asks a loopback registry's v1 index over HTTP (HTTPS fails first) with the remote name and limit", async () => {
  asked.length = 0;
  const r = await search(`${host}/team`, 10);
  assert.deepEqual(r.map((x) => x.name), ["team/app", "base", "team/tool"]);
  assert.deepEqual(asked, ["/v1/_ping", "/v1/search?q=team&n=10"]);
  assert.deepEqual(Object.keys(r[0] ?? {}), ["star_count", "is_official", "name", "is_automated", "description"]);
});

test("search filters the index's answer by is-official, is-automated and stars (the highest stars value)", async () => {
  assert.deepEqual((await search(`${host}/x`, 25, { "is-official": ["true"] })).map((x) => x.name), ["base"]);
  assert.deepEqual((await search(`${host}/x`, 25, { "is-automated": ["true"] })).map((x) => x.name), ["team/app"]);
  assert.deepEqual((await search(`${host}/x`, 25, { stars: ["2", "20"] })).map((x) => x.name), ["base"]);
});

test("search rejects unknown or malformed filters and a limit outside [1, 100] with dockerd's messages, before any request", async () => {
  asked.length = 0;
  await assert.rejects(search(`${host}/x`, 25, { bogus: ["1"] }), { kind: "invalid", message: "Invalid filter 'bogus'" });
  await assert.rejects(search(`${host}/x`, 25, { "is-official": ["yes"] }), { kind: "invalid", message: "Invalid filter 'is-official=[yes]'" });
  await assert.rejects(search(`${host}/x`, 25, { stars: ["many"] }), { kind: "invalid", message: "Invalid filter 'stars=many'" });
  await assert.rejects(search(`${host}/x`, 0), { kind: "invalid", message: "Limit 0 is outside the range of [1, 100]" });
  await assert.rejects(search(`${host}/x`, 101), { kind: "invalid", message: "Limit 101 is outside the range of [1, 100]" });
  assert.deepEqual(asked, []);
});

test("a registry without the v1 search API is an internal error \"Unexpected status code 404\", as dockerd says", async () => {
  await assert.rejects(search(`${host}/nosearch`), { kind: "internal", message: "Unexpected status code 404" });
});

test("search goes through the proxy: a CONNECT for the HTTPS attempt, then the v1 calls as absolute-URI requests", async () => {
  const port = (server.address() as AddressInfo).port;
  const proxy = await startTestProxy();
  try {
    const transport = new Transport({ proxies: { httpProxy: proxy.url, httpsProxy: proxy.url } });
    const r = await searchImages({ term: `index.test:${port}/team`, limit: 5, filters: {}, insecure: [`index.test:${port}`], transport });
    assert.deepEqual(r.map((x) => x.name), ["team/app", "base", "team/tool"]);
    assert.deepEqual(
      proxy.seen.map((s) => `${s.method} ${s.target}`),
      [`CONNECT index.test:${port}`, `GET http://index.test:${port}/v1/_ping`, `GET http://index.test:${port}/v1/search?q=team&n=5`],
    );
  } finally {
    await proxy.close();
  }
});
