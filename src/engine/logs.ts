import { createReadStream, promises as fs, watch } from "node:fs";
import { createInterface } from "node:readline";
import { PassThrough, type Readable } from "node:stream";

/** One json-file log line, as Docker's json-file driver writes it. */
export interface LogEntry {
  log: string;
  stream: "stdout" | "stderr";
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

/** Files of a rotated log, oldest first: path.N … path.1, path. */
async function logFiles(file: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i < 100; i++) {
    try {
      await fs.access(`${file}.${i}`);
      out.unshift(`${file}.${i}`);
    } catch {
      break;
    }
  }
  out.push(file);
  return out;
}

/**
 * Stream a container's json-file log as Docker's GET /containers/{id}/logs does.
 * Follow mode polls the file for growth (inotify where available) and stops when
 * `stopWhen` resolves and the file has been read to its end.
 */
export function readLogs(file: string, opts: LogReadOptions): Readable {
  const out = new PassThrough();
  /** false once past --until. */
  const emit = async (e: LogEntry): Promise<boolean> => {
    if (e.stream === "stdout" ? !opts.stdout : !opts.stderr) return true;
    const t = timeSeconds(e.time);
    if (opts.since > 0 && t < opts.since) return true;
    if (opts.until > 0 && t > opts.until) return false;
    const text = (opts.timestamps ? `${e.time} ` : "") + e.log;
    const payload = Buffer.from(text, "utf8");
    await put(out, opts.mux ? frame(e.stream === "stdout" ? 1 : 2, payload) : payload);
    return !out.destroyed;
  };
  const parse = (line: string): LogEntry | undefined => {
    if (line === "") return undefined;
    try {
      return JSON.parse(line) as LogEntry;
    } catch {
      return undefined; // a torn last line while the writer is mid-write
    }
  };

  void (async () => {
    let offset = 0;
    try {
      const files = await logFiles(file);
      let entries: LogEntry[] = [];
      for (const f of files) {
        let text: string;
        try {
          text = await fs.readFile(f, "utf8");
        } catch {
          continue;
        }
        if (f === file) {
          // Only complete lines; a partial last line is read again in follow mode.
          const lastNl = text.lastIndexOf("\n");
          offset = Buffer.byteLength(text.slice(0, lastNl + 1));
          text = text.slice(0, lastNl + 1);
        }
        for (const line of text.split("\n")) {
          const e = parse(line);
          if (e) entries.push(e);
        }
      }
      if (opts.tail !== "all") entries = opts.tail <= 0 ? [] : entries.slice(-opts.tail);
      for (const e of entries) if (!(await emit(e))) {
        out.end();
        return;
      }
      entries = [];
      if (!opts.follow || !opts.stopWhen) {
        out.end();
        return;
      }
      let stopped = false;
      void opts.stopWhen.then(() => (stopped = true));
      let wake: (() => void) | undefined;
      let watcher: ReturnType<typeof watch> | undefined;
      try {
        watcher = watch(file, () => wake?.());
      } catch {
        watcher = undefined;
      }
      out.on("close", () => {
        stopped = true;
        wake?.();
      });
      for (;;) {
        const wasStopped = stopped;
        const st = await fs.stat(file).catch(() => undefined);
        if (st && st.size < offset) offset = 0; // rotated
        if (st && st.size > offset) {
          const rl = createInterface({ input: createReadStream(file, { start: offset, end: st.size - 1 }) });
          let consumed = 0;
          for await (const line of rl) {
            const bytes = Buffer.byteLength(line) + 1;
            const e = parse(line);
            if (!e) break;
            consumed += bytes;
            if (!(await emit(e))) {
              stopped = true;
              break;
            }
          }
          offset += consumed;
        }
        if (wasStopped || out.destroyed) break;
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 250);
        });
      }
      watcher?.close();
      out.end();
    } catch (e) {
      out.destroy(e as Error);
    }
  })();
  return out;
}
