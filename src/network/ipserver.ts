/**
 * A long-lived `ip -o -force -batch -` in the host's network namespace, so
 * host-side link work (a veth onto its bridge, deletions, namespace removal)
 * costs no process spawn. iproute2 flushes each command's output in batch mode;
 * a request is its lines followed by `link show dev lo` (whose line marks the
 * end of stdout) and a command that always fails (whose "Command failed -:<n>"
 * marks the end of stderr: the two pipes are not ordered against each other).
 * Failures are reported by ip on stderr as "Command failed -:<line>", which
 * tells which request they belong to.
 * Requests are serialized; a dead or stuck server is replaced.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import type { Socket } from "node:net";
import { EngineError } from "../util/errors.js";

const MARKER = "link show dev lo";
const MARKER_RE = /^\d+:\s+lo[:@]/m;
const ERR_MARKER = "link show dev berth-end-of-batch0";
const TIMEOUT_MS = 10_000;

interface Pending {
  first: number;
  last: number;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  done: boolean;
  /** The line of the always-failing command that ends this request's stderr. */
  errMarker: number;
}

export class IpServer {
  private child: ChildProcessWithoutNullStreams | undefined;
  private line = 0;
  private out = "";
  private err = "";
  private pending: Pending | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly bin = "ip") {}

  /** Run these lines; rejects with ip's messages when one of them failed. */
  batch(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    const next = this.chain.then(() => this.exec(lines));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.bin, ["-o", "-force", "-batch", "-"], { stdio: ["pipe", "pipe", "pipe"] });
    this.line = 0;
    this.out = "";
    this.err = "";
    const check = (): void => {
      const p = this.pending;
      if (p && !p.done && MARKER_RE.test(this.out) && this.err.includes(`Command failed -:${p.errMarker}\n`)) {
        p.done = true;
        this.finish(p);
      }
    };
    child.stdout.on("data", (b: Buffer) => {
      this.out += b.toString();
      check();
    });
    child.stderr.on("data", (b: Buffer) => {
      this.err += b.toString();
      check();
    });
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => this.fail(e));
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.fail(new Error(`ip -batch exited (${code ?? signal}): ${this.err.trim()}`));
    });
    this.idle(child);
    return child;
  }

  /** Idle, the server must not keep the process alive; busy, it must. */
  private idle(child: ChildProcessWithoutNullStreams): void {
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as Partial<Socket>).unref?.();
  }

  private busy(child: ChildProcessWithoutNullStreams): void {
    child.ref();
    for (const s of [child.stdout, child.stderr]) (s as unknown as Partial<Socket>).ref?.();
  }

  private exec(lines: string[]): Promise<void> {
    if (!this.child) this.child = this.start();
    const child = this.child;
    return new Promise<void>((resolve, reject) => {
      const first = this.line + 1;
      this.line += lines.length + 2;
      this.out = "";
      this.err = "";
      const timer = setTimeout(() => {
        this.fail(new Error(`ip -batch did not answer within ${TIMEOUT_MS} ms`));
        child.kill("SIGKILL");
        if (this.child === child) this.child = undefined;
      }, TIMEOUT_MS);
      this.pending = { first, last: first + lines.length - 1, resolve, reject, timer, done: false, errMarker: first + lines.length + 1 };
      this.busy(child);
      child.stdin.write(`${lines.join("\n")}\n${MARKER}\n${ERR_MARKER}\n`);
    });
  }

  private finish(p: Pending): void {
    if (this.pending !== p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    if (this.child) this.idle(this.child);
    const failed = [...this.err.matchAll(/Command failed -:(\d+)/g)].map((m) => Number(m[1])).filter((n) => n >= p.first && n <= p.last);
    if (failed.length > 0) {
      const msg = this.err
        .split("\n")
        .filter((l) => l.trim() !== "" && !/^Command failed/.test(l) && !l.includes("berth-end-of-batch0"))
        .join("; ");
      p.reject(new EngineError("internal", `ip: ${msg || `line ${failed[0]} failed`}`));
    } else p.resolve();
  }

  private fail(e: Error): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.reject(new EngineError("internal", e.message));
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    if (c) {
      c.stdin.end();
      c.kill();
    }
  }
}

let shared: IpServer | undefined;

/** The process-wide server. */
export function ipServer(): IpServer {
  shared ??= new IpServer();
  return shared;
}
