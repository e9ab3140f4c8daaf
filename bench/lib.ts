/**
 * Small, dependency-free helpers for the benchmark: bounded process execution,
 * bounded waiting, statistics, /proc scanning, mount clean-up and table output.
 *
 * Every wait in here is bounded both in attempts and in time.
 */
import { spawn } from "node:child_process";
import { promises as fs, readFileSync } from "node:fs";
import http from "node:http";
import type { Readable } from "node:stream";

// ---------------------------------------------------------------- timing

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** A wall-clock budget for the whole run. */
export class Deadline {
  private readonly end: number;
  constructor(readonly totalMs: number) {
    this.end = Date.now() + totalMs;
  }
  remainingMs(): number {
    return Math.max(0, this.end - Date.now());
  }
  expired(): boolean {
    return this.remainingMs() <= 0;
  }
  /** min(wanted, remaining), but never below `floor` so clean-up steps still get a chance. */
  cap(wantedMs: number, floorMs = 0): number {
    return Math.max(floorMs, Math.min(wantedMs, this.remainingMs()));
  }
}

// ---------------------------------------------------------------- processes

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface ExecOptions {
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Data written to stdin (a stream is piped). Without it stdin is /dev/null. */
  input?: string | Buffer | Readable;
  cwd?: string;
}

const MAX_CAPTURE = 1 << 20; // keep at most 1 MiB of each output stream

export class CommandError extends Error {
  constructor(
    readonly cmd: string,
    readonly result: ExecResult,
  ) {
    const why = result.timedOut
      ? `timed out after ${Math.round(result.ms)} ms`
      : result.signal !== null
        ? `killed by ${result.signal}`
        : `exit ${String(result.code)}`;
    const detail = (result.stderr.trim() || result.stdout.trim()).slice(-800);
    super(`${cmd}: ${why}${detail ? `: ${detail}` : ""}`);
    this.name = "CommandError";
  }
}

/** Run a command to completion with a hard timeout (SIGKILL). Never rejects. */
export function exec(cmd: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve) => {
    const t0 = nowMs();
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    let settled = false;
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, Math.max(1, opts.timeoutMs));
    const finish = (r: Omit<ExecResult, "ms" | "stdout" | "stderr" | "timedOut">): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...r, stdout, stderr, timedOut, ms: nowMs() - t0 });
    };
    child.stdout?.setEncoding("utf8");
    child.stderr?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += d;
    });
    child.stderr?.on("data", (d: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += d;
    });
    child.on("error", (e) => {
      stderr += `${e.message}\n`;
      finish({ code: null, signal: null });
    });
    child.on("close", (code, signal) => finish({ code, signal }));
    if (opts.input !== undefined && child.stdin) {
      const stdin = child.stdin;
      stdin.on("error", () => undefined); // EPIPE if the child exits early
      if (typeof opts.input === "string" || Buffer.isBuffer(opts.input)) stdin.end(opts.input);
      else opts.input.pipe(stdin);
    }
  });
}

/** Like exec, but throws CommandError unless the command exited 0. */
export async function execOk(cmd: string, args: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0 || r.timedOut) throw new CommandError([cmd, ...args].join(" "), r);
  return r;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Alive and not a zombie waiting to be reaped. */
export function processRunning(pid: number): boolean {
  return pidAlive(pid) && !isZombie(pid);
}

/** Send a signal, ignoring ESRCH. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** Poll until `pid` is gone; returns true if it exited within the time. */
export async function waitExit(pid: number, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const maxAttempts = Math.ceil(timeoutMs / intervalMs) + 1;
  const t0 = Date.now();
  for (let i = 0; i < maxAttempts && Date.now() - t0 <= timeoutMs; i++) {
    if (!pidAlive(pid) || isZombie(pid)) return true;
    await sleep(intervalMs);
  }
  return !pidAlive(pid) || isZombie(pid);
}

function isZombie(pid: number): boolean {
  const st = readStatSync(pid);
  return st?.state === "Z";
}

/** Poll `probe` until it returns true; bounded in attempts and time. */
export async function waitFor(
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs: number },
): Promise<boolean> {
  const maxAttempts = Math.ceil(opts.timeoutMs / opts.intervalMs) + 1;
  const t0 = Date.now();
  for (let i = 0; i < maxAttempts && Date.now() - t0 <= opts.timeoutMs; i++) {
    if (await probe()) return true;
    await sleep(opts.intervalMs);
  }
  return false;
}

/** Run `fn` over `items` with at most `limit` in flight; collects settled results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      const item = items[i] as T;
      try {
        out[i] = { status: "fulfilled", value: await fn(item, i) };
      } catch (reason) {
        out[i] = { status: "rejected", reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

// ---------------------------------------------------------------- HTTP over unix socket

/** GET /_ping on a unix socket; true on HTTP 200. */
export function ping(socketPath: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: "/_ping", timeout: timeoutMs }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => {
      req.destroy();
      resolve(false);
    });
    req.on("error", () => resolve(false));
  });
}

// ---------------------------------------------------------------- statistics

export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? NaN;
  const b = sorted[hi] ?? NaN;
  return a + (b - a) * (pos - lo);
}

export function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

export function summary(xs: readonly number[]): { n: number; median: number; p25: number; p75: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    p25: quantile(s, 0.25),
    p75: quantile(s, 0.75),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
  };
}

// ---------------------------------------------------------------- /proc

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
  argv: string[];
  rssKiB: number;
  /** Start time in clock ticks since boot: (pid, starttime) identifies a process across pid reuse. */
  starttime: number;
}

function readStatSync(pid: number): { ppid: number; comm: string; state: string; starttime: number } | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return undefined;
  }
}

function parseStat(stat: string): { ppid: number; comm: string; state: string; starttime: number } | undefined {
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  if (open < 0 || close < 0) return undefined;
  const rest = stat.slice(close + 2).split(" "); // rest[0] is field 3 (state)
  return {
    comm: stat.slice(open + 1, close),
    state: rest[0] ?? "?",
    ppid: Number(rest[1] ?? 0),
    starttime: Number(rest[19] ?? 0),
  };
}

/** A snapshot of all processes (pid, ppid, argv, VmRSS). Processes that vanish mid-scan are skipped. */
export async function listProcs(): Promise<ProcInfo[]> {
  const names = await fs.readdir("/proc");
  const out: ProcInfo[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const pid = Number(n);
    try {
      const [stat, cmdline, status] = await Promise.all([
        fs.readFile(`/proc/${n}/stat`, "utf8"),
        fs.readFile(`/proc/${n}/cmdline`, "utf8"),
        fs.readFile(`/proc/${n}/status`, "utf8"),
      ]);
      const st = parseStat(stat);
      if (!st) continue;
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      out.push({
        pid,
        ppid: st.ppid,
        comm: st.comm,
        state: st.state,
        argv: cmdline.split("\0").filter((s) => s.length > 0),
        rssKiB: m ? Number(m[1]) : 0,
        starttime: st.starttime,
      });
    } catch {
      /* raced with exit */
    }
  }
  return out;
}

/** Proportional set size (shared pages split between their users), from smaps_rollup; 0 if unreadable. */
export async function pssKiB(pid: number): Promise<number> {
  try {
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(await fs.readFile(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** All descendants of the given roots (not including the roots). */
export function descendants(procs: readonly ProcInfo[], roots: Iterable<number>): Set<number> {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const seen = new Set<number>();
  const stack = [...roots];
  for (let guard = 0; stack.length > 0 && guard < 1_000_000; guard++) {
    const pid = stack.pop() as number;
    for (const c of children.get(pid) ?? []) {
      if (!seen.has(c)) {
        seen.add(c);
        stack.push(c);
      }
    }
  }
  return seen;
}

/**
 * Whether a process refers to `dir`: in its argv, its working directory or its
 * environment. Used to attribute helpers (monitors, shims) to one private
 * daemon without touching anybody else's processes.
 */
export async function refersTo(p: ProcInfo, dir: string): Promise<boolean> {
  if (p.argv.some((a) => a.includes(dir))) return true;
  try {
    const cwd = await fs.readlink(`/proc/${p.pid}/cwd`);
    if (cwd === dir || cwd.startsWith(`${dir}/`)) return true;
  } catch {
    /* gone or no access */
  }
  try {
    const env = await fs.readFile(`/proc/${p.pid}/environ`, "utf8");
    if (env.includes(dir)) return true;
  } catch {
    /* gone or no access */
  }
  return false;
}

/** Send `sig` only if `pid` is still the same process (same start time), never to a reused pid. */
export function signalSame(p: Pick<ProcInfo, "pid" | "starttime">, sig: NodeJS.Signals): void {
  const st = readStatSync(p.pid);
  if (st && st.starttime === p.starttime && st.state !== "Z") signal(p.pid, sig);
}

export function basename0(p: ProcInfo): string {
  const a0 = p.argv[0] ?? p.comm;
  return a0.slice(a0.lastIndexOf("/") + 1);
}

// ---------------------------------------------------------------- mounts

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points at or below `prefix`, deepest first. */
export async function mountsUnder(prefix: string): Promise<string[]> {
  const text = await fs.readFile("/proc/self/mountinfo", "utf8");
  const pts: string[] = [];
  for (const line of text.split("\n")) {
    const mp = line.split(" ")[4];
    if (mp === undefined) continue;
    const p = unescapeMount(mp);
    if (p === prefix || p.startsWith(`${prefix}/`)) pts.push(p);
  }
  return pts.sort((a, b) => b.length - a.length);
}

/** Lazily unmount everything below `prefix` (bounded passes). Returns what was still mounted at the end. */
export async function unmountUnder(prefix: string): Promise<string[]> {
  for (let pass = 0; pass < 5; pass++) {
    const pts = await mountsUnder(prefix);
    if (pts.length === 0) return [];
    for (const p of pts) await exec("umount", ["-l", p], { timeoutMs: 10_000 });
  }
  return mountsUnder(prefix);
}

// ---------------------------------------------------------------- output

export function pad(s: string, width: number, align: "left" | "right"): string {
  if (s.length >= width) return s;
  const fill = " ".repeat(width - s.length);
  return align === "left" ? s + fill : fill + s;
}

/** An aligned plain-text table. The first column is left-aligned, the others right-aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => pad(c, widths[i] ?? 0, i === 0 ? "left" : "right")).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const esc = (s: string): string => s.replace(/\|/g, "\\|");
  const line = (cells: readonly string[]): string => `| ${cells.map(esc).join(" | ")} |`;
  const sep = `|${header.map((_h, i) => (i === 0 ? " --- " : " ---: ")).join("|")}|`;
  return [line(header), sep, ...rows.map(line)].join("\n");
}

export function oneLine(s: string, max = 300): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------- Engine API over the unix socket

export interface ApiResponse {
  status: number;
  body: string;
}

/**
 * One request to the Engine API on a unix socket, on a new connection (as
 * curl makes one); rejects on a transport error or after `timeoutMs`.
 */
export function apiRequest(socketPath: string, method: string, urlPath: string, body: unknown, timeoutMs: number): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        agent: false,
        headers: payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${urlPath}: no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(payload);
  });
}

/** Like apiRequest, but throws unless the status is 2xx; returns the parsed JSON body (or undefined if empty). */
export async function apiOk(socketPath: string, method: string, urlPath: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const r = await apiRequest(socketPath, method, urlPath, body, timeoutMs);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${urlPath}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  return r.body.trim() === "" ? undefined : (JSON.parse(r.body) as unknown);
}
