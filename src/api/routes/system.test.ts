import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { Events } from "../../engine/index.js";
import { makeLogger } from "../../util/log.js";
import { Router, createApiServer } from "../server.js";
import { type SystemBackend, systemRoutes } from "./system.js";

/** The system routes over a real event bus and nothing else of the engine (their backend is that narrow). */
async function serve(events: Events): Promise<{ get(p: string): Promise<{ status: number; body: string }>; close(): void }> {
  const backend: SystemBackend = {
    system: {
      version: () => ({}),
      info: () => ({}),
      check: () => Promise.resolve({ problems: [], checked: {} }),
    },
    events,
  };
  const r = new Router();
  systemRoutes(r, backend);
  const server = createApiServer(r, makeLogger("error", () => undefined));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    get: (p) =>
      new Promise((resolve, reject) => {
        http.request({ host: "127.0.0.1", port, path: p, agent: false }, (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (body += c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        }).on("error", reject).end();
      }),
    close: () => server.close(),
  };
}

const actors = (body: string): string[] => body.split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { Actor: { ID: string } }).Actor.ID);
const query = (filters: Record<string, string[]>, since: string): string => `/v1.47/events?since=${encodeURIComponent(since)}&until=${Date.now() / 1000}&filters=${encodeURIComponent(JSON.stringify(filters))}`;

test("GET /events takes a Go duration such as 1h30m for since (dockerd's GetTimestamp) and refuses a value that is no time", async () => {
  const events = new Events();
  events.emit("container", "create", "c1");
  const api = await serve(events);
  try {
    const ok = await api.get(query({}, "1h30m"));
    assert.equal(ok.status, 200);
    assert.deepEqual(actors(ok.body), ["c1"]);
    const bad = await api.get(query({}, "yesterday"));
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { message: 'strconv.ParseInt: parsing "yesterday": invalid syntax' });
  } finally {
    api.close();
  }
});

test("GET /events' label filter matches the actor's own attributes: key, key=value, all of them; never inherited names", async () => {
  const events = new Events();
  events.emit("container", "create", "web", { app: "web", tier: "front" });
  events.emit("container", "create", "db", { app: "db" });
  const api = await serve(events);
  try {
    const since = "10m";
    assert.deepEqual(actors((await api.get(query({ label: ["app=web"] }, since))).body), ["web"]);
    assert.deepEqual(actors((await api.get(query({ label: ["app"] }, since))).body), ["web", "db"]);
    assert.deepEqual(actors((await api.get(query({ label: ["app", "tier=front"] }, since))).body), ["web"]);
    assert.deepEqual(actors((await api.get(query({ label: ["constructor"] }, since))).body), []);
  } finally {
    api.close();
  }
});
