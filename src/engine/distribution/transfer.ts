/** Transfer plumbing shared by pull and push: a pool of transfer slots, byte counting, linked aborts. */
import { Transform, type Readable } from "node:stream";

/** A fixed-size pool of slots, handed out in request order. */
export class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  tryTake(): boolean {
    if (this.free > 0) {
      this.free--;
      return true;
    }
    return false;
  }
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((r) => this.queue.push(r));
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

/** Counts bytes passing through. */
function counter(onBytes: (total: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

export function pipeCounted(src: Readable, onBytes: (total: number) => void): Readable {
  const c = counter(onBytes);
  c.on("error", () => undefined); // reported by whoever consumes it
  src.on("error", (e) => c.destroy(e));
  // A consumer that gives up (abort, failure) closes the source too: no download left dangling.
  c.on("close", () => {
    if (!src.destroyed) src.destroy();
  });
  return src.pipe(c);
}

/**
 * A controller of one operation's own, also aborted (with the caller's reason) when
 * `signal` is; `release()` stops listening to `signal` once the operation is over.
 */
export function linkedAbort(signal: AbortSignal | undefined): { ac: AbortController; release: () => void } {
  const ac = new AbortController();
  const onAbort = (): void => ac.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  return { ac, release: () => signal?.removeEventListener("abort", onAbort) };
}
