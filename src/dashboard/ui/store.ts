/**
 * The page's live state, fed by the dashboard's one WebSocket (events, batched stats) and by the
 * Engine API lists it re-reads when an event says they changed (coalesced: one read per burst).
 * Components subscribe with useStore(); renders are batched to one per animation frame.
 */
import type { Sample } from "../sample.js";
import { useEffect, useState } from "preact/hooks";
import { api, socket } from "./api.js";

export interface Port {
  IP?: string;
  PrivatePort: number;
  PublicPort?: number;
  Type: string;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  ImageID: string;
  State: string;
  Status: string;
  Created: number;
  Ports: Port[];
  Mounts: { Type: string; Name?: string; Source: string; Destination: string }[];
  NetworkSettings?: { Networks?: Record<string, unknown> };
}

export interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
  timeNano?: number;
}

/** The server's stats sample (one definition, shared with the server; a type only, erased by the bundler). */
export type { Sample };

/** The last samples of one container (a ring of HISTORY). */
export interface Series {
  t: number[];
  cpu: number[];
  mem: number[];
  /** Network bytes per second (rx + tx), from successive samples. */
  net: number[];
  last?: Sample;
}

const HISTORY = 60;
const MAX_EVENTS = 1000;

export const state = {
  containers: [] as ContainerSummary[],
  series: new Map<string, Series>(),
  events: [] as EngineEvent[],
  connected: false,
  statsStreams: 0,
  error: "",
  /** Measurements the load test reads: when stats batches arrived and when they were on screen. */
  perf: { batches: 0, samples: 0, lastLatencyMs: 0, latencies: [] as number[] },
  version: 0,
};

const listeners = new Set<() => void>();
let scheduled = false;
let pendingBatchAt: number[] = [];

function changed(): void {
  state.version++;
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    for (const l of listeners) l();
    // After this frame's render: how long the samples took from the engine's read to the screen.
    const now = Date.now();
    for (const t of pendingBatchAt) {
      state.perf.lastLatencyMs = now - t;
      state.perf.latencies.push(now - t);
      if (state.perf.latencies.length > 500) state.perf.latencies.shift();
    }
    pendingBatchAt = [];
  });
}

export function useStore(): number {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set(state.version);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return state.version;
}

let refreshing: Promise<void> | undefined;
let again = false;

/** Re-read the container list; calls during a read make one more read after it. */
export function refreshContainers(): Promise<void> {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      state.containers = await api<ContainerSummary[]>("GET", "/containers/json?all=1");
      state.error = "";
    } catch (e) {
      state.error = e instanceof Error ? e.message : String(e);
    }
    changed();
  })().finally(() => {
    refreshing = undefined;
    if (again) {
      again = false;
      setTimeout(() => void refreshContainers(), 200);
    }
  });
  return refreshing;
}

const eventListeners = new Set<(e: EngineEvent) => void>();
export function onEngineEvent(l: (e: EngineEvent) => void): () => void {
  eventListeners.add(l);
  return () => void eventListeners.delete(l);
}

function addSample(s: Sample): void {
  let ser = state.series.get(s.id);
  if (!ser) state.series.set(s.id, (ser = { t: [], cpu: [], mem: [], net: [] }));
  const prev = ser.last;
  const dt = prev ? (s.t - prev.t) / 1000 : 0;
  ser.t.push(s.t / 1000);
  ser.cpu.push(s.cpu);
  ser.mem.push(s.mem);
  ser.net.push(prev && dt > 0 ? Math.max(0, (s.rx + s.tx - prev.rx - prev.tx) / dt) : 0);
  ser.last = s;
  if (ser.t.length > HISTORY) for (const a of [ser.t, ser.cpu, ser.mem, ser.net]) a.shift();
}

export function connectFeed(): void {
  const ws = socket("/ws/feed");
  ws.onopen = () => {
    state.connected = true;
    void refreshContainers();
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data)) as { type: string; event?: EngineEvent; events?: EngineEvent[]; samples?: Sample[]; statsStreams?: number };
    if (msg.statsStreams !== undefined) state.statsStreams = msg.statsStreams;
    if (msg.type === "history" && msg.events) {
      // The recent events (oldest first) under the live ones that came meanwhile; an event in both once.
      const seen = new Set(state.events.map(eventKey));
      const older = msg.events.filter((e) => !seen.has(eventKey(e))).reverse();
      state.events = [...state.events, ...older].slice(0, MAX_EVENTS);
    } else if (msg.type === "event" && msg.event) {
      state.events.unshift(msg.event);
      if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
      for (const l of eventListeners) l(msg.event);
      if (msg.event.Type === "container") void refreshContainers();
    } else if (msg.type === "stats" && msg.samples) {
      let oldest = Infinity;
      for (const s of msg.samples) {
        addSample(s);
        oldest = Math.min(oldest, s.t);
      }
      state.perf.batches++;
      state.perf.samples += msg.samples.length;
      if (Number.isFinite(oldest)) pendingBatchAt.push(oldest);
    }
    changed();
  };
  ws.onclose = () => {
    state.connected = false;
    changed();
    setTimeout(connectFeed, 2000);
  };
}

function eventKey(e: EngineEvent): string {
  return `${e.timeNano ?? e.time}|${e.Type}|${e.Action}|${e.Actor.ID}`;
}

export function containerName(c: ContainerSummary): string {
  return (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, "");
}

(window as unknown as { __berth: typeof state }).__berth = state;
