/**
 * HEALTHCHECK: probes a running container's health with exec, as Docker does
 * (interval, timeout, start period, retries), keeps State.Health with the last
 * five results, and emits `health_status: <status>` events on changes.
 */
import { Duplex } from "node:stream";
import { messageOf } from "../util/errors.js";
import { bestEffort } from "../util/besteffort.js";
import type { Logger } from "../util/log.js";
import type { Events } from "./events.js";
import type { ExecService } from "./exec.js";
import type { ContainerRecord } from "./types.js";

/** What health checks need of the container service (the members called; the service keeps these names). */
export interface HealthContainers {
  find(idOrName: string): ContainerRecord | undefined;
  setHealth(id: string, health: HealthState, changed?: boolean, announce?: boolean): Promise<void>;
}

/** Probes run as execs. */
type HealthExecs = Pick<ExecService, "create" | "start" | "inspect">;

const NS = 1_000_000; // API durations are nanoseconds; timers take milliseconds
const DEFAULT_INTERVAL = 30_000;
const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_RETRIES = 3;
const MAX_OUTPUT = 4096;
const LOG_ENTRIES = 5;

export interface HealthLogEntry {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

export interface HealthState {
  Status: "starting" | "healthy" | "unhealthy";
  FailingStreak: number;
  Log: HealthLogEntry[];
}

/** The probe command, or undefined when the container has no (or a disabled) healthcheck. */
export function probeCommand(rec: ContainerRecord): string[] | undefined {
  const test = rec.Config.Healthcheck?.Test;
  if (!test || test.length === 0) return undefined;
  const [kind, ...rest] = test;
  switch (kind) {
    case "NONE":
      return undefined;
    case "CMD":
      return rest.length > 0 ? rest : undefined;
    case "CMD-SHELL":
      return [...(rec.Config.Shell ?? ["/bin/sh", "-c"]), rest.join(" ")];
    default:
      return undefined;
  }
}

/** Collects what the exec writes (Docker-framed stdout/stderr) and offers no stdin. */
class CaptureClient extends Duplex {
  private chunks: Buffer[] = [];
  private size = 0;
  override _read(): void {
    // no stdin
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.size < 64 * 1024) {
      this.chunks.push(chunk);
      this.size += chunk.length;
    }
    cb();
  }
  /** The payload of the multiplexed frames, stdout and stderr together. */
  text(): string {
    const buf = Buffer.concat(this.chunks);
    const parts: Buffer[] = [];
    let i = 0;
    while (i + 8 <= buf.length) {
      const len = buf.readUInt32BE(i + 4);
      parts.push(buf.subarray(i + 8, i + 8 + len));
      i += 8 + len;
    }
    return Buffer.concat(parts).toString("utf8").slice(0, MAX_OUTPUT);
  }
}

export class HealthMonitor {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly containers: HealthContainers,
    private readonly execs: HealthExecs,
    events: Events,
    private readonly log: Logger,
  ) {
    events.subscribe((e) => {
      if (e.Type !== "container") return;
      if (e.Action === "start") {
        const rec = containers.find(e.Actor.ID);
        if (rec) this.watch(rec);
      } else if (e.Action === "die" || e.Action === "destroy") this.unwatch(e.Actor.ID);
    });
  }

  /** Start probing (at start, and for containers found running when berthd starts). */
  watch(rec: ContainerRecord): void {
    this.unwatch(rec.Id);
    if (!probeCommand(rec)) return;
    if (!rec.State.Health || rec.State.StartedAt !== this.startedAt.get(rec.Id)) {
      void this.containers.setHealth(rec.Id, { Status: "starting", FailingStreak: 0, Log: [] }, true, false).catch(bestEffort("resetting the health state"));
      this.startedAt.set(rec.Id, rec.State.StartedAt);
    }
    this.schedule(rec, this.firstDelay(rec));
  }

  private readonly startedAt = new Map<string, string>();

  unwatch(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  shutdown(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private interval(rec: ContainerRecord): number {
    const v = rec.Config.Healthcheck?.Interval;
    return v ? v / NS : DEFAULT_INTERVAL;
  }

  private firstDelay(rec: ContainerRecord): number {
    // During the start period Docker probes at StartInterval (default 5 s) if given.
    const si = rec.Config.Healthcheck?.StartInterval;
    const sp = rec.Config.Healthcheck?.StartPeriod ?? 0;
    return si && sp > 0 ? si / NS : this.interval(rec);
  }

  private schedule(rec: ContainerRecord, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => void this.probe(rec.Id), ms);
    t.unref();
    this.timers.set(rec.Id, t);
  }

  private async probe(id: string): Promise<void> {
    const rec = this.containers.find(id);
    if (!rec || !rec.State.Running || this.stopped) return;
    const cmd = probeCommand(rec);
    if (!cmd) return;
    const hc = rec.Config.Healthcheck ?? {};
    const timeout = hc.Timeout ? hc.Timeout / NS : DEFAULT_TIMEOUT;
    const retries = hc.Retries || DEFAULT_RETRIES;
    const start = new Date();
    let exitCode: number;
    let output: string;
    try {
      const { Id } = await this.execs.create(id, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
      const client = new CaptureClient();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), timeout)));
      const res = await Promise.race([this.execs.start(Id, { muxed: true }, client).then(() => "done" as const), timedOut]);
      if (timer) clearTimeout(timer);
      if (res === "timeout") {
        exitCode = -1;
        output = `Health check exceeded timeout (${Math.round(timeout / 1000)}s)`;
      } else {
        const info = this.execs.inspect(Id) as { ExitCode: number | null };
        exitCode = info.ExitCode ?? -1;
        output = client.text();
      }
    } catch (e) {
      exitCode = -1;
      output = messageOf(e);
    }
    const cur = this.containers.find(id);
    if (!cur || !cur.State.Running) return;
    const prev: HealthState = (cur.State.Health as HealthState | undefined) ?? { Status: "starting", FailingStreak: 0, Log: [] };
    const entry: HealthLogEntry = { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: exitCode, Output: output };
    const inStartPeriod = Date.now() - Date.parse(cur.State.StartedAt) < (hc.StartPeriod ?? 0) / NS;
    let next: HealthState;
    if (exitCode === 0) next = { Status: "healthy", FailingStreak: 0, Log: [] };
    else if (inStartPeriod && prev.Status === "starting") next = { ...prev, Log: [] }; // failures in the start period don't count
    else {
      const streak = prev.FailingStreak + 1;
      next = { Status: streak >= retries ? "unhealthy" : prev.Status, FailingStreak: streak, Log: [] };
    }
    next.Log = [...prev.Log, entry].slice(-LOG_ENTRIES);
    try {
      await this.containers.setHealth(id, next, next.Status !== prev.Status);
    } catch (e) {
      this.log.warn(`health of ${id.slice(0, 12)}: ${messageOf(e)}`);
    }
    const delay = inStartPeriod && hc.StartInterval ? hc.StartInterval / NS : this.interval(cur);
    if (this.containers.find(id)?.State.Running) this.schedule(cur, delay);
  }
}
