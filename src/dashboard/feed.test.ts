import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { WebSocket } from "ws";
import { Feed } from "./feed.js";
import { makeUpstream } from "./upstream.js";

/** A fake Engine API: a container list, an /events stream the test writes to, stats streams it counts. */
class FakeEngine extends EventEmitter {
  server: http.Server;
  sock: string;
  dir = mkdtempSync(path.join(os.tmpdir(), "dash-feed-"));
  stats = new Map<string, number>();
  events: http.ServerResponse[] = [];
  constructor() {
    super();
    this.sock = path.join(this.dir, "api.sock");
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (url.pathname === "/containers/json") return res.end(JSON.stringify([{ Id: "a" }, { Id: "b" }]));
      if (url.pathname === "/events") {
        res.writeHead(200, { "Content-Type": "application/json" });
        // Recent events (since and until): the answer ends, as the engine's does.
        if (url.searchParams.has("until")) return res.end(Array.from({ length: 3 }, (_, i) => JSON.stringify({ Type: "container", Action: "create", time: i }) + "\n").join(""));
        res.flushHeaders();
        this.events.push(res);
        this.emit("change");
        return;
      }
      const m = url.pathname.match(/^\/containers\/(\w+)\/stats$/);
      if (m) {
        const id = m[1] as string;
        res.writeHead(200, { "Content-Type": "application/json" });
        this.stats.set(id, (this.stats.get(id) ?? 0) + 1);
        this.emit("change");
        let n = 0;
        const timer = setInterval(() => res.write(JSON.stringify({ read: new Date().toISOString(), cpu_stats: { cpu_usage: { total_usage: n++ } }, memory_stats: { usage: 100 } }) + "\n"), 10);
        res.on("close", () => {
          clearInterval(timer);
          this.stats.set(id, (this.stats.get(id) ?? 1) - 1);
          this.emit("change");
        });
        return;
      }
      res.writeHead(404).end();
    });
  }
  open(): number {
    return [...this.stats.values()].reduce((a, b) => a + b, 0);
  }
  event(e: unknown): void {
    for (const r of this.events) r.write(JSON.stringify(e) + "\n");
  }
  /** Resolves once `cond` holds, checked at each change of the fake's connections. */
  waitFor(cond: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5000);
      const check = () => {
        if (!cond()) return;
        clearTimeout(timer);
        this.off("change", check);
        resolve();
      };
      this.on("change", check);
      check();
    });
  }
}

/** Enough of a ws WebSocket for the feed: what it was sent, and a close. */
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  sent: { type: string; samples?: { id: string }[]; event?: unknown }[] = [];
  send(text: string): void {
    this.sent.push(JSON.parse(text));
    this.emit("sent");
  }
  close(): void {
    this.readyState = 3;
    this.emit("close");
  }
  next(type: string): Promise<{ samples?: { id: string }[]; event?: unknown }> {
    return new Promise((resolve) => {
      const f = () => {
        const m = this.sent.find((x) => x.type === type);
        if (!m) return;
        this.sent = [];
        this.off("sent", f);
        resolve(m);
      };
      this.on("sent", f);
    });
  }
}

describe("dashboard feed", () => {
  const fake = new FakeEngine();
  before(() => new Promise<void>((r) => fake.server.listen(fake.sock, r)));
  after(() => {
    fake.server.closeAllConnections();
    fake.server.close();
    rmSync(fake.dir, { recursive: true, force: true });
  });

  it("shares one stats stream per running container among sessions, follows start and die, and closes them with the last session", async () => {
    const feed = new Feed(makeUpstream({ socketPath: fake.sock }), { tickMs: 20 });
    const s1 = new FakeSocket();
    const s2 = new FakeSocket();
    feed.add(s1 as unknown as WebSocket);
    feed.add(s2 as unknown as WebSocket);
    await fake.waitFor(() => fake.stats.get("a") === 1 && fake.stats.get("b") === 1 && fake.events.length === 1, "one stream per container, one events stream");
    const batch = await s2.next("stats");
    assert.ok((batch.samples ?? []).length >= 1);
    assert.equal(feed.statsStreams, 2);

    fake.event({ Type: "container", Action: "start", Actor: { ID: "c" } });
    await fake.waitFor(() => fake.stats.get("c") === 1, "a stream for the started container");
    const ev = await s1.next("event");
    assert.deepEqual(ev.event, { Type: "container", Action: "start", Actor: { ID: "c" } });
    fake.event({ Type: "container", Action: "die", Actor: { ID: "a" } });
    await fake.waitFor(() => fake.stats.get("a") === 0, "the died container's stream closed");

    s1.close();
    assert.equal(fake.open(), 2, "one session left: streams stay");
    s2.close();
    await fake.waitFor(() => fake.open() === 0, "every stream closed with the last session");
    feed.close();
  });

  it("sends a new session the recent events (since an hour ago, until now), at most maxHistory of the newest", async () => {
    const feed = new Feed(makeUpstream({ socketPath: fake.sock }), { tickMs: 20, maxHistory: 2 });
    const s = new FakeSocket();
    feed.add(s as unknown as WebSocket);
    const h = (await s.next("history")) as { events?: { time: number }[] };
    assert.deepEqual(h.events?.map((e) => e.time), [1, 2]);
    s.close();
    feed.close();
    await fake.waitFor(() => fake.open() === 0, "closed");
  });

  it("opens at most maxStreams stats streams, and skips stats (not events) for a session that cannot keep up", async () => {
    const feed = new Feed(makeUpstream({ socketPath: fake.sock }), { tickMs: 20, maxStreams: 1, maxBuffered: 1000 });
    const slow = new FakeSocket();
    slow.bufferedAmount = 5000;
    const fast = new FakeSocket();
    feed.add(slow as unknown as WebSocket);
    feed.add(fast as unknown as WebSocket);
    await fake.waitFor(() => fake.open() === 1 && fake.events.length >= 1, "one stats stream");
    await fast.next("stats");
    await fast.next("stats");
    assert.equal(slow.sent.filter((m) => m.type === "stats").length, 0, "no stats queued for the slow session");
    fake.event({ Type: "container", Action: "start", Actor: { ID: "d" } });
    await slow.next("event");
    assert.equal(fake.open(), 1, "the bound holds after a start event");
    feed.close();
    await fake.waitFor(() => fake.open() === 0, "closed");
  });
});
