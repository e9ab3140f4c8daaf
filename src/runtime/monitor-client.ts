/**
 * Client side of berth-monitor (src/runtime/monitor/berth-monitor.c), the small
 * per-container C process that owns a container's (or exec's) process, stdio
 * and json-file log so that containers outlive berthd.
 *
 * State directory layout (all created by the monitor):
 *   monitor.pid  monitor.log  ctl.sock  attach.sock  pid  exit
 *
 * ctl.sock speaks a line protocol (start | resize R C | close-stdin | kill SIG |
 * wait); attach.sock takes one flag byte and then streams Docker-multiplexed
 * frames (raw bytes with a tty) and accepts stdin bytes.
 */
import { spawn } from "node:child_process";
import { constants as fsConstants, promises as fs } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { EngineError, errnoCode, internal, messageOf } from "../util/errors.js";
import { readJson } from "../util/fsutil.js";

export interface MonitorOptions {
  id: string;
  runtime: string;
  runtimeRoot: string;
  stateDir: string;
  bundle?: string;
  execProcessFile?: string;
  logPath?: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  /** Where else the output goes and in which file format (the log driver's part that runs in the monitor). */
  logSinks?: LogSinks;
  tty?: boolean;
  stdin?: boolean;
  loopbackUp?: boolean;
  /** The container's memory.oom_control (v1) / memory.events (v2): the monitor reports its oom_kill count. */
  oomFile?: string;
}

/** The monitor's log sinks: file format of logPath, syslog and journald (see monitor/logsinks.h). */
export interface LogSinks {
  /** "local": dockerd's protobuf-framed format; default json-file lines. */
  format?: "json" | "local";
  /** json-file: the "attrs" object of every line (labels, env, tag), as JSON. */
  jsonAttrs?: string;
  /** gzip rotated files (FILE.N.gz), local and json-file. */
  compress?: boolean;
  /** address: "local" (/dev/log), unix://, unixgram://, udp://IP:port, tcp://IP:port (numeric IPs). */
  syslog?: { address: string; format: "" | "rfc3164" | "rfc5424" | "rfc5424micro"; tag: string; hostname: string; facility: number };
  journald?: { socket: string; fields: Record<string, string> };
}

export function logSinkArgs(s: LogSinks | undefined): string[] {
  if (!s) return [];
  const args: string[] = [];
  if (s.format) args.push("--log-format", s.format);
  if (s.compress) args.push("--log-compress", "true");
  if (s.jsonAttrs) args.push("--log-json-attrs", s.jsonAttrs);
  if (s.syslog) {
    const y = s.syslog;
    args.push("--syslog-address", y.address, "--syslog-facility", String(y.facility), "--syslog-tag", y.tag || "-", "--syslog-hostname", y.hostname || "-");
    if (y.format) args.push("--syslog-format", y.format);
  }
  if (s.journald) {
    args.push("--journald-socket", s.journald.socket);
    for (const [k, v] of Object.entries(s.journald.fields)) args.push("--journald-field", `${k}=${v.replace(/\n/g, " ")}`);
  }
  return args;
}

export interface ExitStatus {
  exitCode: number;
  finishedAt: string;
  /** The container's memory cgroup counted an OOM kill (create mode with an oomFile only). */
  oomKilled?: boolean;
}

/** Absolute path of the monitor binary (dist/berth-monitor); env BERTH_MONITOR overrides. */
export function monitorBinary(): string {
  const fromEnv = process.env.BERTH_MONITOR;
  if (fromEnv) return path.resolve(fromEnv);
  // dist/src/runtime/monitor-client.js -> dist/berth-monitor
  return fileURLToPath(new URL("../../berth-monitor", import.meta.url));
}

function monitorArgs(opts: MonitorOptions): string[] {
  const args = [
    "--id", opts.id,
    "--runtime", opts.runtime.includes("/") ? path.resolve(opts.runtime) : opts.runtime,
    "--runtime-root", path.resolve(opts.runtimeRoot),
    "--state-dir", path.resolve(opts.stateDir),
  ];
  if (opts.bundle !== undefined) args.push("--bundle", path.resolve(opts.bundle));
  if (opts.execProcessFile !== undefined) args.push("--exec", path.resolve(opts.execProcessFile));
  if (opts.logPath !== undefined) args.push("--log-path", path.resolve(opts.logPath));
  if (opts.logMaxSize !== undefined && opts.logMaxSize > 0) args.push("--log-max-size", String(Math.floor(opts.logMaxSize)));
  if (opts.logMaxFiles !== undefined && opts.logMaxFiles > 0) args.push("--log-max-files", String(Math.floor(opts.logMaxFiles)));
  args.push(...logSinkArgs(opts.logSinks));
  if (opts.tty) args.push("--tty");
  if (opts.stdin) args.push("--stdin");
  if (opts.loopbackUp) args.push("--loopback-up");
  if (opts.oomFile !== undefined) args.push("--oom-file", opts.oomFile);
  return args;
}

interface SyncLine {
  ok: boolean;
  monitorPid?: number;
  pid?: number;
  error?: string;
}

/**
 * Start a monitor for opts (create mode unless execProcessFile is set). Resolves
 * once the container is created (create mode) or the monitor is ready (exec
 * mode; pid is 0 until `start`). Rejects with EngineError("internal") carrying
 * the runtime's error message; a failed start leaves nothing running.
 */
export async function spawnMonitor(opts: MonitorOptions): Promise<{ monitorPid: number; pid: number }> {
  if (opts.bundle === undefined && opts.execProcessFile === undefined) {
    throw internal("spawnMonitor: bundle or execProcessFile is required");
  }
  const bin = monitorBinary();
  const child = spawn(bin, monitorArgs(opts), {
    detached: true,
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  child.unref();
  const sync = child.stdio[3] as net.Socket | null;
  const stderr = child.stderr;
  let syncText = "";
  let errText = "";
  return new Promise((resolve, reject) => {
    let settled = false;
    let exitInfo: string | undefined;
    let syncEnded = false;
    const finish = (err: Error | undefined, value?: { monitorPid: number; pid: number }): void => {
      if (settled) return;
      settled = true;
      sync?.destroy();
      stderr?.destroy();
      if (err) reject(err);
      else if (value) resolve(value);
    };
    const tryLine = (): boolean => {
      if (settled) return true;
      const nl = syncText.indexOf("\n");
      if (nl < 0) return false;
      let msg: SyncLine;
      try {
        msg = JSON.parse(syncText.slice(0, nl)) as SyncLine;
      } catch (e) {
        finish(internal(`berth-monitor sent a malformed start-up line: ${messageOf(e)}`));
        return true;
      }
      if (msg.ok && typeof msg.monitorPid === "number" && typeof msg.pid === "number") {
        finish(undefined, { monitorPid: msg.monitorPid, pid: msg.pid });
      } else {
        // The monitor cleans up before reporting; let it finish exiting so that
        // nothing of this attempt is left running when we reject.
        const err = internal(msg.error || "berth-monitor failed without a message");
        const pid = msg.monitorPid;
        if (typeof pid === "number" && pid > 0) {
          settled = true;
          sync?.destroy();
          stderr?.destroy();
          void waitGone(pid, 2000).then(() => {
            reject(err);
          });
        } else finish(err);
      }
      return true;
    };
    const noLine = (): void => {
      // fd 3 closed without a line: the monitor died early.
      if (!syncEnded || exitInfo === undefined) return;
      const detail = errText.trim() || exitInfo;
      finish(internal(`berth-monitor failed to start: ${detail}`));
    };
    child.once("error", (e) => {
      finish(internal(`cannot run berth-monitor (${bin}): ${messageOf(e)}`, e));
    });
    child.once("exit", (code, signal) => {
      exitInfo = signal ? `killed by ${signal}` : `exit status ${code === null ? "?" : String(code)}`;
      noLine();
    });
    stderr?.setEncoding("utf8");
    stderr?.on("data", (d: string) => {
      if (errText.length < 16384) errText += d;
    });
    stderr?.on("error", () => undefined);
    if (!sync) {
      finish(internal("berth-monitor: no sync pipe"));
      return;
    }
    sync.setEncoding("utf8");
    sync.on("data", (d: string) => {
      syncText += d;
      tryLine();
    });
    sync.on("error", () => undefined);
    sync.on("close", () => {
      if (!tryLine()) {
        syncEnded = true;
        noLine();
      }
    });
  });
}

/** True while pid exists and is not a zombie. */
export async function processRunning(pid: number): Promise<boolean> {
  try {
    const stat = await fs.readFile(`/proc/${String(pid)}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while ((await processRunning(pid)) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

function ctlPath(stateDir: string): string {
  return path.join(stateDir, "ctl.sock");
}

/** Longest unix socket path the kernel accepts (sun_path is 108 bytes with the NUL). */
const SUN_PATH_MAX = 107;

/**
 * Connect to a unix socket. Paths too long for sun_path (deep state dirs) are
 * reached through a descriptor on their directory: /proc/self/fd/N/NAME, the
 * same way the monitor binds them.
 */
async function connectUnix(file: string): Promise<net.Socket> {
  if (Buffer.byteLength(file) <= SUN_PATH_MAX) return connectPath(file);
  const dir = await fs.open(path.dirname(file), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
  try {
    return await connectPath(`/proc/self/fd/${String(dir.fd)}/${path.basename(file)}`);
  } finally {
    await dir.close();
  }
}

function connectPath(file: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(file);
    const onError = (e: Error): void => {
      s.destroy();
      reject(e);
    };
    s.once("error", onError);
    s.once("connect", () => {
      s.off("error", onError);
      // A peer reset must never become an unhandled 'error' event: the socket still
      // emits 'close', which every user of these sockets listens to.
      s.on("error", () => undefined);
      resolve(s);
    });
  });
}

/** Reads reply lines from a socket; one pending reader at a time. */
class LineReader {
  private buf = "";
  private lines: string[] = [];
  private waiter: { resolve: (l: string) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;

  constructor(sock: net.Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf("\n")) >= 0) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
      this.pump();
    });
    const end = (e?: Error): void => {
      if (this.ended) return;
      const err: Error & { code?: string } = new Error(
        e ? `monitor connection failed: ${e.message}` : "monitor connection closed",
      );
      err.code = errnoCode(e) ?? "ECONNRESET";
      this.ended = err;
      this.pump();
    };
    sock.on("error", end);
    sock.on("close", () => {
      end();
    });
  }

  next(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    const line = this.lines.shift();
    if (line !== undefined) {
      this.waiter = undefined;
      w.resolve(line);
    } else if (this.ended) {
      this.waiter = undefined;
      w.reject(this.ended);
    }
  }
}

function parseExitLine(line: string): ExitStatus | undefined {
  const m = /^exit (-?\d+) (\S+)( oom)?$/.exec(line);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return { exitCode: Number(m[1]), finishedAt: m[2], ...(m[3] ? { oomKilled: true } : {}) };
}

const GONE = new Set(["ENOENT", "ECONNREFUSED", "ECONNRESET", "EPIPE"]);

/** One ctl.sock connection. Commands are serialized; wait() uses its own connection. */
export class MonitorControl {
  private readonly reader: LineReader;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly waitSockets = new Set<net.Socket>();

  private constructor(
    private readonly stateDir: string,
    private readonly sock: net.Socket,
  ) {
    this.reader = new LineReader(sock);
  }

  /** Rejects with the errno error (code ENOENT / ECONNREFUSED) when the monitor is gone. */
  static async connect(stateDir: string): Promise<MonitorControl> {
    const sock = await connectUnix(ctlPath(stateDir));
    return new MonitorControl(stateDir, sock);
  }

  private command(line: string): Promise<string> {
    const run = async (): Promise<string> => {
      if (this.closed) throw internal("monitor connection is closed");
      const reply = this.reader.next();
      this.sock.write(`${line}\n`);
      const r = await reply;
      if (r === "ok" || r.startsWith("ok ")) return r.slice(3);
      if (r.startsWith("err ")) throw new EngineError("internal", r.slice(4));
      throw internal(`unexpected reply from monitor: ${JSON.stringify(r)}`);
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined); // the caller gets the failure through p; the chain only orders requests
    return p;
  }

  /** Start the process (create mode: `runtime start`; exec mode: `runtime exec`). Returns its pid. */
  async start(): Promise<number> {
    const r = await this.command("start");
    const pid = Number(r);
    if (!Number.isInteger(pid) || pid <= 0) throw internal(`unexpected start reply from monitor: ${JSON.stringify(r)}`);
    return pid;
  }

  /** Set the terminal size (tty only). No-op once the process has exited. */
  async resize(rows: number, cols: number): Promise<void> {
    const r = String(Math.max(0, Math.floor(rows)));
    const c = String(Math.max(0, Math.floor(cols)));
    await this.ignoreIfExited(this.command(`resize ${r} ${c}`));
  }

  /** Close the process's stdin pipe. No-op once the process has exited. */
  async closeStdin(): Promise<void> {
    await this.ignoreIfExited(this.command("close-stdin"));
  }

  /** Signal the process. No-op once the process has exited. */
  async kill(signal: number): Promise<void> {
    await this.ignoreIfExited(this.command(`kill ${String(Math.floor(signal))}`));
  }

  /**
   * A command racing with the monitor's exit loses its connection; when the
   * exit status is recorded, the process is gone and the command moot.
   */
  private async ignoreIfExited(p: Promise<string>): Promise<void> {
    try {
      await p;
    } catch (e) {
      if (!(e instanceof EngineError) && GONE.has(errnoCode(e) ?? "") && (await readExitFile(this.stateDir))) return;
      throw e;
    }
  }

  /**
   * Resolves when the process exited and its output was drained. Works after the
   * monitor is gone too (reads STATEDIR/exit).
   */
  async wait(): Promise<ExitStatus> {
    if (this.closed) throw internal("monitor connection is closed");
    let sock: net.Socket;
    try {
      sock = await connectUnix(ctlPath(this.stateDir));
    } catch (e) {
      if (!GONE.has(errnoCode(e) ?? "")) throw e;
      return this.exitFromFile(e);
    }
    this.waitSockets.add(sock);
    try {
      const reader = new LineReader(sock);
      const reply = reader.next();
      sock.write("wait\n");
      let line: string;
      try {
        line = await reply;
      } catch (e) {
        if (this.isClosed()) throw internal("monitor connection is closed");
        return await this.exitFromFile(e);
      }
      const st = parseExitLine(line);
      if (!st) throw internal(`unexpected wait reply from monitor: ${JSON.stringify(line)}`);
      return st;
    } finally {
      this.waitSockets.delete(sock);
      sock.destroy();
    }
  }

  private async exitFromFile(cause: unknown): Promise<ExitStatus> {
    const st = await readExitFile(this.stateDir);
    if (st) return st;
    throw internal(`monitor in ${this.stateDir} is gone and left no exit status`, cause);
  }

  private isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
    for (const s of this.waitSockets) s.destroy();
    this.waitSockets.clear();
  }
}

/**
 * Attach to the process's stdio. Without a tty the socket carries Docker's
 * multiplexed frames; with a tty raw bytes. Writes go to the process's stdin
 * (if it asked for stdin). Attaching before `start` guarantees all output.
 */
export async function attachMonitor(
  stateDir: string,
  flags: { stdin: boolean; stdout: boolean; stderr: boolean; stdinOnce: boolean },
): Promise<net.Socket> {
  const sock = await connectUnix(path.join(stateDir, "attach.sock"));
  const b = (flags.stdin ? 1 : 0) | (flags.stdout ? 2 : 0) | (flags.stderr ? 4 : 0) | (flags.stdinOnce ? 8 : 0);
  await new Promise<void>((resolve, reject) => {
    sock.write(Buffer.from([b]), (err) => {
      if (err) {
        sock.destroy();
        reject(err);
      } else resolve();
    });
  });
  return sock;
}

/** The recorded exit status (STATEDIR/exit), undefined if the process has not exited. */
export async function readExitFile(stateDir: string): Promise<ExitStatus | undefined> {
  let v: unknown;
  try {
    v = await readJson<unknown>(path.join(stateDir, "exit"));
  } catch (e) {
    if (e instanceof SyntaxError) return undefined; // torn write cannot happen (atomic rename), be lenient
    throw e;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as { exitCode?: unknown; finishedAt?: unknown; oomKilled?: unknown };
  if (typeof o.exitCode !== "number" || typeof o.finishedAt !== "string") return undefined;
  return { exitCode: o.exitCode, finishedAt: o.finishedAt, ...(o.oomKilled === true ? { oomKilled: true } : {}) };
}

/** True if STATEDIR/monitor.pid names a live monitor for this state dir. */
export async function isMonitorAlive(stateDir: string): Promise<boolean> {
  let text: string;
  try {
    text = await fs.readFile(path.join(stateDir, "monitor.pid"), "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return false;
    throw e;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if (errnoCode(e) !== "EPERM") return false;
  }
  // Guard against pid reuse: the process must be a monitor for this state dir.
  try {
    const cmdline = await fs.readFile(`/proc/${String(pid)}/cmdline`, "utf8");
    const argv = cmdline.split("\0");
    const i = argv.indexOf("--state-dir");
    return i >= 0 && argv[i + 1] !== undefined && path.resolve(argv[i + 1] as string) === path.resolve(stateDir);
  } catch {
    return false;
  }
}
