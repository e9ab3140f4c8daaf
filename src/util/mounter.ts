/**
 * mount(2) / umount2(2) for the daemon through one long-lived
 * `berth-monitor --mount-server` child (src/runtime/monitor/mountsrv.h), so a
 * container's overlay mount and unmount cost no process spawn: node forks the
 * whole daemon for every spawn, and that fork grows with the daemon's memory.
 * The same helper creates a container's network namespace and runs `ip -batch`
 * in it (its fork of a small static process is cheap).
 * Requests are serialized; a server that died or stopped answering is replaced
 * on the next request. It exits when berthd's pipe closes or berthd dies.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import type { Socket } from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { EngineError } from "./errors.js";

const TIMEOUT_MS = 30_000;

interface Pending {
  resolve: () => void;
  reject: (e: Error) => void;
  what: string;
}

/** The monitor binary, as runtime/monitor-client.ts finds it (env BERTH_MONITOR overrides). */
function helperBinary(): string {
  const fromEnv = process.env.BERTH_MONITOR;
  if (fromEnv) return path.resolve(fromEnv);
  // dist/src/util/mounter.js -> dist/berth-monitor
  return fileURLToPath(new URL("../../berth-monitor", import.meta.url));
}

export class Mounter {
  private child: ChildProcessWithoutNullStreams | undefined;
  private out = "";
  private pending: Pending | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly bin = helperBinary()) {}

  /** mount(source, target, type, 0, data), relative paths in data resolved against cwd. */
  mount(type: string, source: string, target: string, data: string, cwd = ""): Promise<void> {
    return this.request(["mount", type, source, target, data, cwd], `mount ${type} on ${target}`);
  }

  /** umount2(target, detach ? MNT_DETACH : 0). */
  umount(target: string, detach = false): Promise<void> {
    return this.request(["umount", target, detach ? "detach" : ""], `umount ${target}`);
  }

  /**
   * `unshare --net=file ip -batch -` with `batch` on ip's stdin, run by the helper
   * (file must exist); rejects with ip's stderr.
   */
  netns(file: string, ip: string, batch: string): Promise<void> {
    return this.request(["netns", file, ip, batch], ip);
  }

  private request(fields: string[], what: string): Promise<void> {
    if (fields.some((f) => f.includes("\0"))) return Promise.reject(new EngineError("invalid", `${what}: NUL byte in an argument`));
    const next = this.chain.then(() => this.exec(fields, what));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn(this.bin, ["--mount-server"], { stdio: ["pipe", "pipe", "pipe"] });
    this.out = "";
    child.stdout.on("data", (b: Buffer) => {
      this.out += b.toString();
      const nl = this.out.indexOf("\n");
      if (nl < 0) return;
      const line = this.out.slice(0, nl);
      this.out = this.out.slice(nl + 1);
      this.answer(line);
    });
    child.stderr.resume();
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => this.fail(child, e));
    child.on("exit", (code, signal) => this.fail(child, new Error(`mount helper exited (${code ?? signal})`)));
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
    (child.stdout as unknown as Partial<Socket>).ref?.();
  }

  private exec(fields: string[], what: string): Promise<void> {
    if (!this.child) this.child = this.start();
    const child = this.child;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(child, new Error(`mount helper did not answer within ${TIMEOUT_MS} ms`));
        child.kill("SIGKILL");
      }, TIMEOUT_MS);
      this.pending = {
        what,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.busy(child);
      child.stdin.write(fields.map((f) => `${f}\0`).join(""));
    });
  }

  private answer(line: string): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    if (this.child) this.idle(this.child);
    if (line === "0") return p.resolve();
    const m = /^(\d+) (.*)$/.exec(line);
    p.reject(new EngineError("internal", `${p.what}: ${m ? m[2] : line}`));
  }

  private fail(child: ChildProcessWithoutNullStreams, e: Error): void {
    if (this.child !== child) return;
    this.child = undefined;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(new EngineError("internal", `${p.what}: ${e.message}`));
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

/**
 * Whether another filesystem (an overlay, a tmpfs, an nsfs) is mounted at p: its
 * device differs from its parent directory's. Two stat calls instead of reading and
 * parsing /proc/self/mountinfo, which grows with every container's mounts. Not for
 * bind mounts within one filesystem (same device).
 */
export async function mountedOver(p: string): Promise<boolean> {
  try {
    const [a, b] = await Promise.all([fs.stat(p), fs.stat(path.dirname(p))]);
    return a.dev !== b.dev;
  } catch {
    return false;
  }
}

let shared: Mounter | undefined;

/** The process-wide helper. */
export function mounter(): Mounter {
  shared ??= new Mounter();
  return shared;
}
