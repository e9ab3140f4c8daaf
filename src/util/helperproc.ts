/**
 * A client of one long-lived helper process that answers requests over its pipes, shared by
 * util/mounter.ts (berth-monitor --mount-server) and network/ipserver.ts (ip -batch).
 * Requests are serialized: one is written, its answer read, then the next. A helper that
 * died (or did not answer within the timeout, then killed) fails the request in flight and
 * is replaced on the next request. Idle, the helper does not keep berthd alive; while a
 * request is pending it does. Hand-written: node has no such client, and the two helpers
 * speak their own framing (the protocol hooks below), not a standard one.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import type { Socket } from "node:net";
import { EngineError } from "./errors.js";

export interface HelperOptions {
  /** How messages name the helper: "mount helper", "ip -batch". */
  name: string;
  command: string;
  args: string[];
  timeoutMs: number;
  /** A new helper started (reset the protocol's framing state). */
  onStart?: () => void;
  /** Output of the current helper; the protocol calls finish() once an answer is complete. */
  onStdout: (text: string) => void;
  onStderr?: (text: string) => void;
  /** Appended to "<name> exited (<code>)" (ip: what it said on stderr). */
  exitDetail?: () => string;
}

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  /** Prefix of the request's errors ("mount tmpfs on /x"), if any. */
  what: string | undefined;
}

export class HelperProcess {
  private child: ChildProcessWithoutNullStreams | undefined;
  private pending: Pending | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly o: HelperOptions) {}

  /**
   * Queue a request: once the helper runs, begin() gives the bytes to write (it may set up
   * the protocol's per-request state). A failure of the helper itself rejects with
   * "<what>: <message>" (or the message alone without what).
   */
  request(begin: () => string, what?: string): Promise<void> {
    const next = this.chain.then(() => this.exec(begin, what));
    // The chain only orders requests: each caller gets its own request's failure.
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** The protocol saw the answer to the request in flight: success, or the request's own error. */
  finish(err?: Error): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (this.child) this.idle(this.child);
    if (err) p.reject(err);
    else p.resolve();
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    if (c) {
      c.stdin.end();
      c.kill();
    }
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.o.command, this.o.args, { stdio: ["pipe", "pipe", "pipe"] });
    this.o.onStart?.();
    child.stdout.on("data", (b: Buffer) => {
      if (this.child === child) this.o.onStdout(b.toString());
    });
    const onStderr = this.o.onStderr;
    if (onStderr) child.stderr.on("data", (b: Buffer) => {
      if (this.child === child) onStderr(b.toString());
    });
    else child.stderr.resume();
    // A write to a helper that just died: its exit event fails the request.
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => this.fail(child, e));
    child.on("exit", (code, signal) => {
      const detail = this.o.exitDetail ? `: ${this.o.exitDetail()}` : "";
      this.fail(child, new Error(`${this.o.name} exited (${code ?? signal})${detail}`));
    });
    this.idle(child);
    return child;
  }

  /** Idle, the helper must not keep the daemon alive; busy, it must. */
  private idle(child: ChildProcessWithoutNullStreams): void {
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Partial<Socket>).unref?.();
  }

  private busy(child: ChildProcessWithoutNullStreams): void {
    child.ref();
    for (const s of [child.stdout, child.stderr]) (s as unknown as Partial<Socket>).ref?.();
  }

  private exec(begin: () => string, what: string | undefined): Promise<void> {
    if (!this.child) this.child = this.start();
    const child = this.child;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(child, new Error(`${this.o.name} did not answer within ${this.o.timeoutMs} ms`));
        child.kill("SIGKILL");
      }, this.o.timeoutMs);
      this.pending = { resolve, reject, timer, what };
      this.busy(child);
      child.stdin.write(begin());
    });
  }

  /** The helper died or hangs: it is dropped (the next request starts a new one) and the request in flight fails. */
  private fail(child: ChildProcessWithoutNullStreams, e: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    p.reject(new EngineError("internal", p.what !== undefined ? `${p.what}: ${e.message}` : e.message));
  }
}
