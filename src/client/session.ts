/**
 * A hijacked attach/exec connection as a session: write the process's stdin,
 * half-close it at EOF, and read its output demultiplexed (or raw with a tty).
 */
import type { Socket } from "node:net";
import { demux } from "./stdcopy.js";
import type { Hijacked } from "./http.js";

export interface OutputChunk {
  stream: "stdout" | "stderr";
  data: Buffer;
}

export class HijackedSession {
  readonly socket: Socket;
  /** Whether the output uses the stdout/stderr framing (no tty). */
  readonly multiplexed: boolean;

  constructor(h: Hijacked, tty: boolean) {
    this.socket = h.socket;
    // Daemons before API 1.42 always say raw-stream; the tty setting decides then.
    this.multiplexed = h.contentType.includes("multiplexed") || !tty;
    this.socket.setNoDelay(true);
  }

  /** Send bytes to the process's stdin. */
  write(data: Buffer | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(data, (e) => (e ? reject(e) : resolve())));
  }

  /** Half-close: the process sees EOF on stdin, its output keeps flowing. */
  endStdin(): void {
    this.socket.end();
  }

  /** The output until the process ends (or the connection does). */
  async *output(): AsyncGenerator<OutputChunk> {
    const src = this.socket as AsyncIterable<Buffer>;
    if (this.multiplexed) {
      yield* demux(src);
      return;
    }
    for await (const data of src) yield { stream: "stdout", data };
  }

  /** Read all output as text. */
  async collect(): Promise<{ stdout: string; stderr: string }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    for await (const c of this.output()) (c.stream === "stderr" ? err : out).push(c.data);
    return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
  }

  close(): void {
    this.socket.destroy();
  }
}
