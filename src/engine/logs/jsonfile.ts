import type { PassThrough, Readable } from "node:stream";
import { streamLog } from "./files.js";

/** One json-file log line, as Docker's json-file driver writes it. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
  /** labels/env/tag named by --log-opt (dockerd's "attrs"). */
  attrs?: Record<string, string>;
  time: string;
}

export interface LogReadOptions {
  stdout: boolean;
  stderr: boolean;
  /** Keep streaming new lines until `stopWhen` resolves. */
  follow: boolean;
  /** Number of lines from the end, or "all". */
  tail: number | "all";
  /** Unix seconds (fractional allowed); 0 = no bound. */
  since: number;
  until: number;
  timestamps: boolean;
  /** `docker logs --details`: each line after its attrs as `k=v,k2=v2 ` (dockerd's daemon/logs.go). */
  details?: boolean;
  /** Multiplexed framing (non-TTY) or raw bytes (TTY). */
  mux: boolean;
  stopWhen?: Promise<unknown>;
}

/** Write to a log stream, waiting while the reader is behind (a full buffer is not the end of the log). */
export async function put(out: PassThrough, b: Buffer): Promise<void> {
  if (out.write(b) || out.destroyed) return;
  await new Promise<void>((resolve) => {
    const done = () => {
      out.off("drain", done);
      out.off("close", done);
      resolve();
    };
    out.on("drain", done);
    out.on("close", done);
  });
}

export function frame(stream: 1 | 2, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

function timeSeconds(t: string): number {
  // "2026-11-23T12:00:00.123456789Z": Date parses milliseconds; keep the rest.
  const m = t.match(/^(.*?)(\.\d+)?Z$/);
  const base = Date.parse(`${m?.[1] ?? t}Z`) / 1000;
  return base + Number(m?.[2] ?? 0);
}

/** Go's url.QueryEscape: what dockerd applies to each attr key and value for --details. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+");
}

/** The --details prefix of a line: its attrs sorted by key as `k=v,k2=v2`, then a space (a bare space without attrs). */
export function detailsPrefix(attrs: Record<string, string> | undefined): string {
  const keys = Object.keys(attrs ?? {}).sort();
  return `${keys.map((k) => `${queryEscape(k)}=${queryEscape((attrs as Record<string, string>)[k] as string)}`).join(",")} `;
}

/**
 * Stream a container's json-file log as Docker's GET /containers/{id}/logs does.
 * Rotated files (FILE.N, FILE.N.gz) are read oldest first; follow mode is
 * followLog's (across rotations, until `stopWhen` and the end of the file).
 */
export function readLogs(file: string, opts: LogReadOptions): Readable {
  /** false once past --until. */
  const emit = async (e: LogEntry, out: PassThrough): Promise<boolean> => {
    if (e.stream === "stdout" ? !opts.stdout : !opts.stderr) return true;
    const t = timeSeconds(e.time);
    if (opts.since > 0 && t < opts.since) return true;
    if (opts.until > 0 && t > opts.until) return false;
    const text = (opts.timestamps ? `${e.time} ` : "") + (opts.details ? detailsPrefix(e.attrs) : "") + e.log;
    const payload = Buffer.from(text, "utf8");
    await put(out, opts.mux ? frame(e.stream === "stdout" ? 1 : 2, payload) : payload);
    return !out.destroyed;
  };
  return streamLog(file, opts, decodeLines, emit);
}

/** The JSON lines of a buffer: whole lines only (a torn last line is read again once the writer completes it), unless `whole`. */
function decodeLines(b: Buffer, whole: boolean): { entries: LogEntry[]; used: number } {
  const used = whole ? b.length : b.lastIndexOf(10) + 1;
  const entries: LogEntry[] = [];
  for (const line of b.subarray(0, used).toString("utf8").split("\n")) {
    if (line === "") continue;
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      // a torn last line while the writer is mid-write
    }
  }
  return { entries, used };
}
