/**
 * End-to-end harness: starts a private berthd (temp data-root, exec-root and
 * socket) and runs the real `docker` CLI against it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { after, before } from "node:test";
import { existsSync, mkdtempSync, promises as fs, createWriteStream } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BERTHD = path.join(DIST, "src/daemon/main.js");
export const BERTH = path.join(DIST, "src/cli/main.js");
export const DOCKER = existsSync("/usr/local/bin/docker") ? "/usr/local/bin/docker" : "docker";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ")} timed out after ${opts.timeoutMs ?? 60000} ms\nstdout: ${Buffer.concat(out).toString()}\nstderr: ${Buffer.concat(err).toString()}`));
    }, opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on("error", () => undefined);
    child.stdin.end(opts.input);
  });
}

let busyboxTar: string | undefined;
/** The busybox rootfs tar, built once per test process. */
export async function busyboxTarFile(): Promise<string> {
  if (busyboxTar) return busyboxTar;
  const { busyboxRootfsTar } = await import("../../src/image/index.js");
  const dir = mkdtempSync("/tmp/bbx-");
  const file = path.join(dir, "busybox.tar");
  const tar = await busyboxRootfsTar();
  await new Promise<void>((resolve, reject) => {
    const w = createWriteStream(file);
    tar.pipe(w);
    w.on("finish", resolve);
    w.on("error", reject);
    tar.on("error", reject);
  });
  busyboxTar = file;
  return file;
}

export class Daemon {
  readonly dir: string;
  readonly sock: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  proc: ChildProcess | undefined;
  /** Start with --debug (off for tests that set debug in a daemon.json: a key may not be both flag and file). */
  debug = true;
  private logFile: string;

  constructor() {
    this.dir = mkdtempSync("/tmp/bt-");
    this.sock = path.join(this.dir, "b.sock");
    this.dataRoot = path.join(this.dir, "data");
    this.execRoot = path.join(this.dir, "x");
    this.logFile = path.join(this.dir, "berthd.log");
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: `unix://${this.sock}`, DOCKER_CONFIG: path.join(this.dir, "docker-config"), BERTH_HOST: `unix://${this.sock}` };
  }

  /** Start berthd; `env` adds to (or, with undefined values, removes from) the inherited environment. */
  async start(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: "a" });
    await new Promise<void>((r) => log.once("open", () => r()));
    // The host's /etc/berth/daemon.json (the default) must not reach a test's daemon: an empty one of its own.
    const config = extraArgs.includes("--config-file") ? [] : ["--config-file", path.join(this.dir, "none.json")];
    if (config.length > 0) await fs.writeFile(config[1] as string, "{}\n");
    this.proc = spawn(process.execPath, [BERTHD, "-H", `unix://${this.sock}`, "--data-root", this.dataRoot, "--exec-root", this.execRoot, ...(this.debug ? ["--debug"] : []), ...config, ...extraArgs], {
      stdio: ["ignore", log, log],
      env: { ...process.env, ...env },
    });
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`berthd exited with ${this.proc.exitCode}: ${await this.log()}`);
      // /_ping answers while the engine still loads; a request that needs the engine waits until it is ready.
      if ((await this.ping()) && (await this.ping("/version"))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`berthd did not answer within 15 s: ${await this.log()}`);
  }

  ping(p = "/_ping"): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: this.sock, path: p, method: "GET" }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("error", () => resolve(false));
      req.end();
    });
  }

  async log(): Promise<string> {
    return fs.readFile(this.logFile, "utf8").catch(() => "");
  }

  docker(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(DOCKER, args, { env: this.env, ...opts });
  }

  berth(args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<RunResult> {
    return run(process.execPath, ["--", BERTH, ...args], { env: this.env, ...opts }); // "--": node would take a later --env-file as its own
  }

  /** Import the busybox image as busybox:latest. */
  async loadBusybox(): Promise<void> {
    const r = await this.docker(["import", await busyboxTarFile(), "busybox:latest"]);
    if (r.code !== 0) throw new Error(`import failed: ${r.stderr}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (p.exitCode === null) p.kill("SIGKILL");
  }

  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }

  /** Stop the daemon, kill what it left running, and remove every trace. */
  async destroy(): Promise<void> {
    await this.stop();
    // Remove containers the test left running: their monitors and runtime state.
    const runtimeRoot = path.join(this.execRoot, "runtime", "runc");
    if (existsSync(runtimeRoot)) {
      const list = await run("runc", ["--root", runtimeRoot, "list", "-q"]).catch(() => ({ stdout: "" }) as RunResult);
      for (const id of list.stdout.split("\n").filter(Boolean)) await run("runc", ["--root", runtimeRoot, "delete", "-f", id]).catch(() => undefined);
    }
    const mounts = await fs.readFile("/proc/self/mountinfo", "utf8");
    const mine = mounts
      .split("\n")
      .map((l) => l.split(" ")[4])
      .filter((m): m is string => m !== undefined && m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mine) await run("umount", ["-l", m]).catch(() => undefined);
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Mounts, runtime containers and monitor processes that belong to a daemon's dirs. */
export async function leftovers(d: Daemon): Promise<{ mounts: string[]; runtime: string[]; monitors: number[] }> {
  const mounts = (await fs.readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => m !== undefined && m.startsWith(d.dir));
  const runtimeRoot = path.join(d.execRoot, "runtime", "runc");
  const list = existsSync(runtimeRoot) ? (await run("runc", ["--root", runtimeRoot, "list", "-q"])).stdout.split("\n").filter(Boolean) : [];
  const monitors: number[] = [];
  for (const pid of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmd.includes("berth-monitor") && cmd.includes(d.dir)) monitors.push(Number(pid));
  }
  return { mounts, runtime: list, monitors };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll fn every 100 ms until it returns true or ms pass; resolves to whether it did. */
export async function until(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(100);
  }
  return false;
}

/** How withDaemon() starts and stops its berthd. */
export interface DaemonSetup {
  /** berthd's extra arguments (a function: computed when it starts, once prepare has run). */
  args?: string[] | ((d: Daemon) => string[]);
  /** Added to (or, with undefined values, removed from) berthd's environment. */
  env?: NodeJS.ProcessEnv;
  /** --debug (off for tests that set debug in a daemon.json: a key may not be both flag and file). Default true. */
  debug?: boolean;
  /** Import busybox:latest once started. Default true. */
  busybox?: boolean;
  /** Before berthd starts (config files, certificates, …). */
  prepare?: (d: Daemon) => Promise<void>;
  /** After it started (and busybox is in). */
  setup?: (d: Daemon) => Promise<void>;
  /** After the tests, while berthd still runs (removing what the tests made through it). */
  teardown?: (d: Daemon) => Promise<void>;
}

/**
 * The set-up of a describe block: a private berthd (temp roots and socket), started before its
 * tests and destroyed after them (teardown first), with busybox:latest unless told otherwise.
 * Hooks a test file registers after this call run after these: its before after the start,
 * its after once the daemon is gone.
 */
export function withDaemon(o: DaemonSetup = {}): Daemon {
  const d = new Daemon();
  if (o.debug !== undefined) d.debug = o.debug;
  before(async () => {
    await o.prepare?.(d);
    await d.start(typeof o.args === "function" ? o.args(d) : (o.args ?? []), o.env ?? {});
    if (o.busybox ?? true) await d.loadBusybox();
    await o.setup?.(d);
  });
  after(async () => {
    try {
      await o.teardown?.(d);
    } finally {
      await d.destroy();
    }
  });
  return d;
}

/** withDaemon() with its defaults: a private berthd with busybox:latest. */
export function busyboxDaemon(): Daemon {
  return withDaemon();
}
