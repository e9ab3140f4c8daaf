/**
 * Docker's multiplexed stdout/stderr framing (moby's stdcopy): an 8-byte header
 * (stream type, three zero bytes, uint32 big-endian payload length) per frame.
 * Used by logs and attach/exec of containers without a tty.
 */
import type { Readable } from "node:stream";
import { StreamError } from "./errors.js";

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
export const STREAM_SYSTEMERR = 3;

export interface Frame {
  stream: number;
  data: Buffer;
}

/** Incremental decoder of the framing. */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    let off = 0;
    while (this.pending.length - off >= 8) {
      const stream = this.pending[off] as number;
      if (stream > 3 || this.pending[off + 1] !== 0 || this.pending[off + 2] !== 0 || this.pending[off + 3] !== 0) {
        throw new StreamError(`Unrecognized input header: ${stream}`);
      }
      const len = this.pending.readUInt32BE(off + 4);
      if (this.pending.length - off - 8 < len) break;
      frames.push({ stream, data: this.pending.subarray(off + 8, off + 8 + len) });
      off += 8 + len;
    }
    this.pending = this.pending.subarray(off);
    return frames;
  }

  /** Bytes of an unfinished frame left at the end of the stream. */
  get remaining(): number {
    return this.pending.length;
  }
}

/** Encode one frame (for tests and tools). */
export function muxFrame(stream: number, data: Buffer | string): Buffer {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(b.length, 4);
  return Buffer.concat([h, b]);
}

/** The frames of a multiplexed stream as an async iterator; a systemerr frame ends it with a StreamError. */
export async function* demux(src: AsyncIterable<Buffer>): AsyncGenerator<{ stream: "stdout" | "stderr"; data: Buffer }> {
  const d = new Demuxer();
  for await (const chunk of src) {
    for (const f of d.push(chunk)) {
      if (f.stream === STREAM_SYSTEMERR) throw new StreamError(`error from daemon in stream: ${f.data.toString("utf8")}`);
      yield { stream: f.stream === STREAM_STDERR ? "stderr" : "stdout", data: f.data };
    }
  }
}

export interface Sink {
  write(chunk: Buffer): unknown;
}

/**
 * Copy a (multiplexed or raw) output stream to stdout/stderr sinks; resolves at
 * the end of the stream. A systemerr frame rejects with its message, as stdcopy does.
 */
export function copyOutput(src: Readable, opts: { mux: boolean; stdout: Sink; stderr: Sink }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const demuxer = opts.mux ? new Demuxer() : undefined;
    let sysErr = "";
    src.on("data", (chunk: Buffer) => {
      if (!demuxer) {
        opts.stdout.write(chunk);
        return;
      }
      let frames: Frame[];
      try {
        frames = demuxer.push(chunk);
      } catch (e) {
        src.destroy();
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      for (const f of frames) {
        if (f.stream === STREAM_STDERR) opts.stderr.write(f.data);
        else if (f.stream === STREAM_SYSTEMERR) sysErr += f.data.toString("utf8");
        else opts.stdout.write(f.data);
      }
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (sysErr !== "") reject(new StreamError(`error from daemon in stream: ${sysErr}`));
      else resolve();
    };
    src.on("end", finish);
    src.on("close", finish);
    src.on("error", (e: NodeJS.ErrnoException) => {
      // A reset after the container ended is a normal end of an attach.
      if (e.code === "ECONNRESET" || e.code === "EPIPE") finish();
      else if (!finished) {
        finished = true;
        reject(e);
      }
    });
  });
}
