/**
 * Detach keys and the stdin pipe of attach and exec: a client's bytes go to the monitor until the
 * detach sequence (ctrl-p ctrl-q by default) is typed on a TTY.
 */
import { type Duplex, Transform, type TransformCallback } from "node:stream";
import { invalid } from "../util/errors.js";

/** ctrl-p, ctrl-q: Docker's default detach sequence. */
export const DEFAULT_DETACH_KEYS: Buffer = Buffer.from([16, 17]);

const CTRL_KEYS = "@abcdefghijklmnopqrstuvwxyz[\\]^_";

/**
 * Docker's key-sequence syntax (moby/term ToBytes): comma-separated keys, each a
 * single character, `ctrl-<c>` for c in @, a-z, [, \, ], ^, _ or `DEL`.
 */
export function parseDetachKeys(keys: string): Buffer {
  const out: number[] = [];
  for (const key of keys.split(",")) {
    if (key.length === 1) {
      out.push(key.charCodeAt(0) & 0xff);
      continue;
    }
    const m = /^ctrl-(.)$/.exec(key);
    const i = m?.[1] !== undefined ? CTRL_KEYS.indexOf(m[1]) : -1;
    if (i >= 0) out.push(i);
    else if (key === "DEL") out.push(127);
    else throw invalid(`Invalid detach keys (${keys}) provided`);
  }
  return Buffer.from(out);
}

/**
 * Passes stdin through, withholding bytes that may start the detach sequence;
 * when the whole sequence arrived it calls onDetach and forwards nothing more
 * (the sequence itself never reaches the process). A partial match that turns
 * out to be ordinary input is forwarded as it was typed.
 */
export class DetachScanner extends Transform {
  private pos = 0;
  private detached = false;

  constructor(
    private readonly keys: Buffer,
    private readonly onDetach: () => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.detached || this.keys.length === 0) {
      if (!this.detached) this.push(chunk);
      cb();
      return;
    }
    const first = this.keys[0] as number;
    if (this.pos === 0 && !chunk.includes(first)) {
      this.push(chunk);
      cb();
      return;
    }
    const out: Buffer[] = [];
    let from = 0; // start of the pending pass-through run in chunk
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      if (b === this.keys[this.pos]) {
        if (this.pos === 0 && i > from) out.push(chunk.subarray(from, i));
        this.pos++;
        from = i + 1;
        if (this.pos === this.keys.length) {
          this.detached = true;
          for (const o of out) this.push(o);
          cb();
          this.onDetach();
          return;
        }
        continue;
      }
      if (this.pos > 0) {
        // Not the sequence after all: what was held back is ordinary input.
        out.push(this.keys.subarray(0, this.pos));
        this.pos = 0;
        from = i;
        if (b === first) {
          this.pos = 1;
          from = i + 1;
          if (this.keys.length === 1) {
            this.detached = true;
            for (const o of out) this.push(o);
            cb();
            this.onDetach();
            return;
          }
        }
      }
    }
    if (this.pos === 0 && from < chunk.length) out.push(chunk.subarray(from));
    for (const o of out) this.push(o);
    cb();
  }

  override _flush(cb: TransformCallback): void {
    if (!this.detached && this.pos > 0) this.push(this.keys.subarray(0, this.pos));
    cb();
  }
}

/**
 * Pipe a client's stdin into the process's attach socket. With a terminal the
 * detach sequence ends the attach (Docker scans only TTY input); the callback
 * runs once when it does.
 */
export function pipeStdin(client: Duplex, mon: Duplex, tty: boolean, keys: Buffer, onDetach: () => void): void {
  if (!tty) {
    client.pipe(mon);
    return;
  }
  const scanner = new DetachScanner(keys.length > 0 ? keys : DEFAULT_DETACH_KEYS, () => {
    client.unpipe(scanner);
    scanner.unpipe(mon);
    onDetach();
  });
  scanner.on("error", () => undefined);
  client.pipe(scanner).pipe(mon);
}

