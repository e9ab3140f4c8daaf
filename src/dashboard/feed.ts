/**
 * The dashboard's one live feed: the Engine API's /events stream and one stats stream per running
 * container, fanned in and sent to every browser session over its WebSocket.
 * - Upstream streams exist only while at least one session is connected; a container's stats stream
 *   starts with the container (start, unpause, the initial list) and ends with it (die, destroy) —
 *   shared by all sessions, at most `maxStreams` of them. At most `maxConnecting` are being opened at
 *   once (the rest wait their turn): a burst of 1,000 connects would overflow a Unix socket's listen
 *   backlog (512 on Linux), and the connects beyond it fail with EAGAIN.
 * - Stats are batched: the latest sample per container, sent once per tick; a session that cannot keep
 *   up (its socket's buffer above `maxBuffered`) skips batches rather than queueing them without bound.
 * - A new session first gets the engine's recent events (the last `historySeconds`, at most
 *   `maxHistory` of the newest), read with /events?since=…&until=…, then the live ones.
 */
import type http from "node:http";
import type { WebSocket } from "ws";
import type { Upstream } from "./upstream.js";
import { onJsonLines } from "./lines.js";
import { type Sample, type StatsObject, sampleOf } from "./sample.js";

export interface FeedOptions {
  maxStreams?: number;
  maxConnecting?: number;
  tickMs?: number;
  maxBuffered?: number;
  warn?: (msg: string) => void;
  historySeconds?: number;
  maxHistory?: number;
}

interface EngineEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

export class Feed {
  private readonly clients = new Set<WebSocket>();
  private readonly streams = new Map<string, http.ClientRequest>();
  private pending = new Map<string, Sample>();
  /** Containers whose stats stream waits for a connect slot, and how many connects are under way. */
  private waiting = new Set<string>();
  private connecting = 0;
  private events: http.ClientRequest | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly maxStreams: number;
  private readonly tickMs: number;
  private readonly maxBuffered: number;

  constructor(
    private readonly up: Upstream,
    private readonly opts: FeedOptions = {},
  ) {
    this.maxStreams = opts.maxStreams ?? 1000;
    this.tickMs = opts.tickMs ?? 1000;
    this.maxBuffered = opts.maxBuffered ?? 4 << 20;
  }

  /** Upstream stats streams open now (for tests and the bound). */
  get statsStreams(): number {
    return this.streams.size;
  }

  add(ws: WebSocket): void {
    this.clients.add(ws);
    ws.on("close", () => {
      this.clients.delete(ws);
      if (this.clients.size === 0) this.stop();
    });
    if (!this.running) this.start();
    ws.send(JSON.stringify({ type: "hello", statsStreams: this.streams.size }));
    this.sendHistory(ws);
  }

  private sendHistory(ws: WebSocket): void {
    const now = Math.floor(Date.now() / 1000);
    const max = this.opts.maxHistory ?? 1000;
    const events: unknown[] = [];
    const req = this.up.request("GET", `/events?since=${now - (this.opts.historySeconds ?? 3600)}&until=${now}`);
    // An engine that never ends the answer (no until support) gives no history rather than a held request.
    const timer = setTimeout(() => req.destroy(), 15_000).unref();
    const done = () => {
      clearTimeout(timer);
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ type: "history", events }));
    };
    req.on("response", (res) => {
      if ((res.statusCode ?? 500) >= 400) {
        res.resume();
        return done();
      }
      onJsonLines(res, (v) => {
        events.push(v);
        if (events.length > max) events.shift();
      });
      res.on("end", done);
      res.on("error", done);
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      this.opts.warn?.(`dashboard: reading recent events failed: ${e.message}`);
    });
    req.end();
    ws.once("close", () => req.destroy());
  }

  private broadcast(text: string, droppable: boolean): void {
    for (const ws of this.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (droppable && ws.bufferedAmount > this.maxBuffered) continue;
      ws.send(text);
    }
  }

  private start(): void {
    this.running = true;
    this.openEvents();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.up
      .json<{ Id: string }[]>("GET", "/containers/json")
      .then((list) => {
        for (const c of list) this.startStats(c.Id);
      })
      .catch((e: unknown) => this.opts.warn?.(`dashboard: listing containers failed: ${String(e)}`));
  }

  private openEvents(): void {
    // Events from now on: the UI reads the current state through the API when it connects.
    const since = Math.floor(Date.now() / 1000);
    const req = this.up.request("GET", `/events?since=${since}`);
    this.events = req;
    req.on("response", (res) => {
      onJsonLines(res, (v) => this.onEvent(v as EngineEvent));
      res.on("end", () => this.reopenEvents(req));
      res.on("error", () => this.reopenEvents(req));
    });
    req.on("error", () => this.reopenEvents(req));
    req.end();
  }

  private reopenEvents(req: http.ClientRequest): void {
    if (!this.running || this.events !== req) return;
    this.events = undefined;
    setTimeout(() => {
      if (this.running && this.events === undefined) this.openEvents();
    }, 1000).unref();
  }

  private onEvent(e: EngineEvent): void {
    this.broadcast(JSON.stringify({ type: "event", event: e }), false);
    const id = e.Actor?.ID;
    if (e.Type !== "container" || !id) return;
    if (e.Action === "start" || e.Action === "unpause" || e.Action === "restart") this.startStats(id);
    else if (e.Action === "die" || e.Action === "destroy") this.stopStats(id);
  }

  private startStats(id: string): void {
    if (!this.running || this.streams.has(id) || this.waiting.has(id) || this.streams.size + this.waiting.size >= this.maxStreams) return;
    this.waiting.add(id);
    this.pump();
  }

  private pump(): void {
    const max = this.opts.maxConnecting ?? 32;
    for (const id of this.waiting) {
      if (this.connecting >= max) return;
      this.waiting.delete(id);
      this.openStats(id);
    }
  }

  private openStats(id: string): void {
    const req = this.up.request("GET", `/containers/${encodeURIComponent(id)}/stats?stream=1`);
    this.streams.set(id, req);
    this.connecting++;
    let connected = false;
    const connectDone = () => {
      if (connected) return;
      connected = true;
      this.connecting--;
      if (this.running) this.pump();
    };
    const done = () => {
      connectDone();
      if (this.streams.get(id) === req) this.streams.delete(id);
    };
    req.on("response", (res) => {
      connectDone();
      if ((res.statusCode ?? 500) >= 400) {
        res.resume();
        done();
        return;
      }
      onJsonLines(res, (v) => this.pending.set(id, sampleOf(id, v as StatsObject)));
      res.on("end", done);
      res.on("error", done);
    });
    req.on("error", done);
    req.on("close", connectDone);
    req.end();
  }

  private stopStats(id: string): void {
    this.waiting.delete(id);
    const req = this.streams.get(id);
    if (!req) return;
    this.streams.delete(id);
    req.destroy();
  }

  private tick(): void {
    if (this.pending.size === 0) return;
    const samples = [...this.pending.values()];
    this.pending = new Map();
    this.broadcast(JSON.stringify({ type: "stats", samples, statsStreams: this.streams.size }), true);
  }

  /** Close every upstream stream (the last session left, or the dashboard stops). */
  stop(): void {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.events?.destroy();
    this.events = undefined;
    this.waiting.clear();
    for (const req of this.streams.values()) req.destroy();
    this.streams.clear();
    this.pending.clear();
  }

  close(): void {
    for (const ws of this.clients) ws.close(1001, "dashboard stopping");
    this.clients.clear();
    this.stop();
  }
}
