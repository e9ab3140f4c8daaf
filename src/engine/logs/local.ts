/**
 * Reading dockerd's "local" log format (also the dual-logging cache of syslog):
 * [u32 BE size][protobuf LogEntry][u32 BE size] entries, written by the
 * container's monitor; rotated files FILE.N or FILE.N.gz, oldest first.
 * Hand-written: a four-field protobuf message does not warrant a protobuf
 * library, and the reader must stop cleanly at a torn last entry.
 */
import type { PassThrough, Readable } from "node:stream";
import { streamLog } from "./files.js";
import { type LogReadOptions, detailsPrefix, frame, put } from "./jsonfile.js";

export interface LocalEntry {
  source: string;
  timeNano: bigint;
  line: Buffer;
  partial: boolean;
}

function varint(b: Buffer, pos: number): [bigint, number] {
  let v = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= b.length) throw new Error("truncated varint");
    const c = b[pos++] as number;
    v |= BigInt(c & 0x7f) << shift;
    if (!(c & 0x80)) return [v, pos];
    shift += 7n;
  }
}

/** One LogEntry message (unknown fields skipped, as protobuf readers do). */
export function decodeEntry(m: Buffer): LocalEntry {
  const e: LocalEntry = { source: "", timeNano: 0n, line: Buffer.alloc(0), partial: false };
  let pos = 0;
  while (pos < m.length) {
    const [key, p1] = varint(m, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = varint(m, p1);
      if (field === 2) e.timeNano = BigInt.asIntN(64, v);
      if (field === 4) e.partial = v !== 0n;
      pos = p2;
    } else if (wire === 2) {
      const [len, p2] = varint(m, p1);
      const end = p2 + Number(len);
      if (end > m.length) throw new Error("truncated field");
      if (field === 1) e.source = m.subarray(p2, end).toString("utf8");
      if (field === 3) e.line = m.subarray(p2, end);
      pos = end;
    } else if (wire === 1) pos = p1 + 8;
    else if (wire === 5) pos = p1 + 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  return e;
}

/** The complete entries of a buffer and how many bytes they used (a torn tail is left for later). */
export function decodeEntries(b: Buffer): { entries: LocalEntry[]; used: number } {
  const entries: LocalEntry[] = [];
  let pos = 0;
  while (pos + 4 <= b.length) {
    const n = b.readUInt32BE(pos);
    if (pos + 8 + n > b.length) break;
    if (b.readUInt32BE(pos + 4 + n) !== n) throw new Error("corrupt local log entry (size mismatch)");
    entries.push(decodeEntry(b.subarray(pos + 4, pos + 4 + n)));
    pos += 8 + n;
  }
  return { entries, used: pos };
}

/** RFC 3339 with nanoseconds, as Docker prints --timestamps. */
export function nanoTime(ns: bigint): string {
  const sec = ns / 1_000_000_000n;
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}.${frac}Z`;
}

/**
 * One entry of the local format or the journal as `docker logs` sends it:
 * `[time ][attrs ]line[\n]` (no newline after a partial line), framed when muxed.
 */
export function entryBytes(opts: LogReadOptions, isErr: boolean, timeNano: bigint, attrs: Record<string, string> | undefined, line: Buffer, partial: boolean): Buffer {
  const body = partial ? line : Buffer.concat([line, Buffer.from("\n")]);
  const head = (opts.timestamps ? `${nanoTime(timeNano)} ` : "") + (opts.details ? detailsPrefix(attrs) : "");
  const payload = head ? Buffer.concat([Buffer.from(head), body]) : body;
  return opts.mux ? frame(isErr ? 2 : 1, payload) : payload;
}

/** Stream a local-format log as GET /containers/{id}/logs does (same options as the json-file reader). */
export function readLocalLogs(file: string, opts: LogReadOptions): Readable {
  /** false once past --until (or the reader is gone). */
  const emit = async (e: LocalEntry, out: PassThrough): Promise<boolean> => {
    const isOut = e.source !== "stderr";
    if (isOut ? !opts.stdout : !opts.stderr) return true;
    const t = Number(e.timeNano) / 1e9;
    if (opts.since > 0 && t < opts.since) return true;
    if (opts.until > 0 && t > opts.until) return false;
    // --details: the local format keeps no attrs, so dockerd prints only the separating space
    await put(out, entryBytes(opts, !isOut, e.timeNano, undefined, e.line, e.partial));
    return !out.destroyed;
  };
  return streamLog(file, opts, decodeEntries, emit);
}
