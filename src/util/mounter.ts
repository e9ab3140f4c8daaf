/**
 * mount(2) / umount2(2) for the daemon through one long-lived
 * `berth-monitor --mount-server` child (src/runtime/monitor/mountsrv.h), so a
 * container's overlay mount and unmount cost no process spawn: node forks the
 * whole daemon for every spawn, and that fork grows with the daemon's memory.
 * The same helper creates a container's network namespace and runs `ip -batch`
 * in it (its fork of a small static process is cheap).
 * Requests are serialized; a server that died or stopped answering is replaced
 * on the next request (util/helperproc.ts). It exits when berthd's pipe closes or berthd dies.
 */
import { promises as fs } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { EngineError } from "./errors.js";
import { HelperProcess } from "./helperproc.js";

const TIMEOUT_MS = 30_000;

/** The monitor binary, as runtime/monitor-client.ts finds it (env BERTH_MONITOR overrides). */
function helperBinary(): string {
  const fromEnv = process.env.BERTH_MONITOR;
  if (fromEnv) return path.resolve(fromEnv);
  // dist/src/util/mounter.js -> dist/berth-monitor
  return fileURLToPath(new URL("../../berth-monitor", import.meta.url));
}

export class Mounter {
  private out = "";
  /** What the request in flight is about: the prefix of its error. */
  private what = "";
  private readonly helper: HelperProcess;

  constructor(bin = helperBinary()) {
    this.helper = new HelperProcess({
      name: "mount helper",
      command: bin,
      args: ["--mount-server"],
      timeoutMs: TIMEOUT_MS,
      onStart: () => {
        this.out = "";
      },
      onStdout: (text) => this.read(text),
    });
  }

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

  /** A request is its fields, each ended by a NUL byte; the answer is one line: "0", or "<errno> <message>". */
  private request(fields: string[], what: string): Promise<void> {
    if (fields.some((f) => f.includes("\0"))) return Promise.reject(new EngineError("invalid", `${what}: NUL byte in an argument`));
    return this.helper.request(() => {
      this.what = what;
      return fields.map((f) => `${f}\0`).join("");
    }, what);
  }

  private read(text: string): void {
    this.out += text;
    const nl = this.out.indexOf("\n");
    if (nl < 0) return;
    const line = this.out.slice(0, nl);
    this.out = this.out.slice(nl + 1);
    if (line === "0") return this.helper.finish();
    const m = /^(\d+) (.*)$/.exec(line);
    this.helper.finish(new EngineError("internal", `${this.what}: ${m ? m[2] : line}`));
  }

  close(): void {
    this.helper.close();
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
