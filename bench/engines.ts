/**
 * Private daemons for the benchmark: a dockerd (with its own containerd) and a
 * berthd, each in fresh temporary roots, each reached only through its own
 * unix socket. Both are started in their own process group so a Ctrl-C at the
 * terminal reaches only the benchmark, which then shuts them down in order.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { constants as fsConstants, existsSync, openSync, closeSync, promises as fs } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Log } from "./host.js";
import {
  basename0,
  descendants,
  errMsg,
  execOk,
  listProcs,
  oneLine,
  apiOk,
  nowMs,
  ping,
  refersTo,
  signal,
  signalSame,
  unmountUnder,
  waitExit,
  waitFor,
  type ExecResult,
  type ProcInfo,
} from "./lib.js";

export type EngineName = "dockerd" | "berth";
export const ENGINE_NAMES: readonly EngineName[] = ["dockerd", "berth"];

/**
 * An engine's processes, without the containers' own: the daemon, its
 * helpers that do not belong to one container (dockerd: containerd; berth:
 * whatever berthd keeps running besides monitors), and the per-container
 * ones (dockerd: containerd-shim*; berth: berth-monitor).
 */
export interface EngineProcs {
  daemon: ProcInfo[];
  helpers: ProcInfo[];
  perContainer: ProcInfo[];
}

/** What both engines have in common. */
export abstract class Engine {
  daemonPid: number | undefined;
  version = "?";
  /** Set when the daemon could not be started: every case of this engine is then FAIL. */
  startError: string | undefined;
  protected child: ChildProcess | undefined;
  protected exitInfo: string | undefined;
  private exitPromise: Promise<void> | undefined;
  private spawnedAt = 0;
  /** Spawn until /_ping answered, of the last start. */
  lastStartMs = NaN;

  constructor(
    readonly name: EngineName,
    /** This engine's private temporary directory (roots, socket, log). */
    readonly dir: string,
    protected readonly dockerCli: string,
    protected readonly cliEnv: NodeJS.ProcessEnv,
    protected readonly log: Log,
  ) {}

  get sock(): string {
    return path.join(this.dir, "engine.sock");
  }
  get host(): string {
    return `unix://${this.sock}`;
  }
  get logFile(): string {
    return path.join(this.dir, "daemon.log");
  }
  get dataRoot(): string {
    return path.join(this.dir, "data");
  }
  get execRoot(): string {
    return path.join(this.dir, "exec");
  }
  get pidFile(): string {
    return path.join(this.dir, "daemon.pid");
  }

  /** Run the docker CLI against this engine; throws CommandError unless it exits 0. */
  docker(args: readonly string[], timeoutMs: number): Promise<ExecResult> {
    return execOk(this.dockerCli, ["-H", this.host, ...args], { timeoutMs, env: this.cliEnv });
  }

  /**
   * Run a `sh -c` script in which "$DOCKER" is the docker CLI bound to this
   * engine (`$DOCKER save x | $DOCKER load`); throws unless it exits 0.
   */
  shell(script: string, timeoutMs: number): Promise<ExecResult> {
    const docker = `${this.dockerCli} -H ${this.host}`;
    return execOk("sh", ["-c", script], { timeoutMs, env: { ...this.cliEnv, DOCKER: docker } });
  }

  /** Start the daemon; `extraArgs` apply to this start only (e.g. dockerd `--bridge=none`). */
  abstract start(timeoutMs: number, extraArgs?: readonly string[]): Promise<void>;

  /** One Engine API call on a new connection; throws unless 2xx; parsed JSON body. */
  api(method: string, urlPath: string, body: unknown, timeoutMs: number): Promise<unknown> {
    return apiOk(this.sock, method, urlPath, body, timeoutMs);
  }

  /**
   * Stop the daemon alone (SIGTERM, SIGKILL after `timeoutMs`), as a user
   * stops it; its containers get whatever the engine does on shutdown.
   * Returns a note if it had to be killed.
   */
  async stopDaemon(timeoutMs: number): Promise<string | undefined> {
    const child = this.child;
    const pid = this.daemonPid;
    if (child === undefined || pid === undefined || this.exitInfo !== undefined) return undefined;
    const exited = this.exitPromise ?? Promise.resolve();
    const within = (ms: number): Promise<boolean> =>
      Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    signal(pid, "SIGTERM");
    if (await within(timeoutMs)) return undefined;
    signal(pid, "SIGKILL");
    await within(10_000);
    return `${this.name} (pid ${pid}) ignored SIGTERM for ${timeoutMs} ms: SIGKILL`;
  }

  /** stopDaemon, then start again on the same roots; returns the start's spawn-to-/_ping time. */
  async restart(timeoutMs: number, extraArgs: readonly string[] = []): Promise<number> {
    const note = await this.stopDaemon(timeoutMs);
    if (note !== undefined) this.log(note);
    await this.start(timeoutMs, extraArgs);
    return this.lastStartMs;
  }
  /** Hook for engine-specific graceful shutdown of helpers, before leftovers are SIGKILLed. */
  protected async afterDaemonStopped(): Promise<void> {}
  abstract processes(): Promise<EngineProcs>;

  async logTail(lines = 25): Promise<string> {
    try {
      const text = await fs.readFile(this.logFile, "utf8");
      return text.trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  protected async launch(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<void> {
    await fs.mkdir(this.dataRoot, { recursive: true });
    await fs.mkdir(this.execRoot, { recursive: true });
    const fd = openSync(this.logFile, "a");
    try {
      this.exitInfo = undefined;
      const t0 = nowMs();
      const child = spawn(cmd, args, { detached: true, stdio: ["ignore", fd, fd], env });
      this.child = child;
      this.exitPromise = new Promise<void>((resolve) => {
        child.on("exit", (code, sig) => {
          if (this.child === child) this.exitInfo = sig !== null ? `killed by ${sig}` : `exited with code ${String(code)}`;
          resolve();
        });
        child.on("error", (e) => {
          if (this.child === child) this.exitInfo = `failed to spawn: ${e.message}`;
          resolve();
        });
      });
      this.daemonPid = child.pid;
      this.spawnedAt = t0;
    } finally {
      closeSync(fd);
    }
    const t0 = this.spawnedAt;
    // A short poll interval: start-up is measured with this loop (a refused connect costs microseconds).
    const up = await waitFor(async () => this.exitInfo !== undefined || (await ping(this.sock, 1000)), {
      timeoutMs,
      intervalMs: 5,
    });
    this.lastStartMs = nowMs() - t0;
    if (this.exitInfo !== undefined) {
      throw new Error(`${this.name} ${this.exitInfo} before answering /_ping; log:\n${await this.logTail()}`);
    }
    if (!up) throw new Error(`${this.name} did not answer /_ping within ${timeoutMs} ms; log:\n${await this.logTail()}`);
    this.log(`${this.name} answered /_ping after ${this.lastStartMs.toFixed(0)} ms (pid ${String(this.daemonPid)})`);
    if (this.version !== "?") return;
    try {
      const v = await this.docker(["version", "--format", "{{.Server.Version}}"], 15_000);
      this.version = v.stdout.trim() || "?";
    } catch (e) {
      this.log(`${this.name}: docker version failed: ${errMsg(e)}`);
    }
  }

  /** How the daemon process ended, if it did. */
  get exited(): string | undefined {
    return this.exitInfo;
  }

  /** Whether the daemon process is (still) running. */
  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /** `docker rm -f` everything; bounded. */
  async removeAllContainers(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    const ids = (await this.docker(["ps", "-aq"], Math.min(timeoutMs, 30_000))).stdout.split(/\s+/).filter(Boolean);
    for (let i = 0; i < ids.length; i += 25) {
      await this.docker(["rm", "-f", ...ids.slice(i, i + 25)], timeoutMs);
    }
  }

  /** Processes of this engine: its daemon's descendants, and anything that refers to its directory. */
  protected async ownProcesses(procs: readonly ProcInfo[]): Promise<ProcInfo[]> {
    const tree = this.daemonPid !== undefined ? descendants(procs, [this.daemonPid]) : new Set<number>();
    const out: ProcInfo[] = [];
    for (const p of procs) {
      if (p.pid === process.pid || p.state === "Z") continue;
      if (p.pid === this.daemonPid || tree.has(p.pid) || (await refersTo(p, this.dir))) out.push(p);
    }
    return out;
  }

  /**
   * Stop everything this engine started: containers, daemon (SIGTERM, then
   * SIGKILL), leftover helpers and their children, mounts under its dir.
   * Only processes that descend from our daemon or refer to our private
   * directory are ever signalled. Never throws; returns notes.
   */
  async stop(): Promise<string[]> {
    const notes: string[] = [];
    if (this.running) {
      try {
        await this.removeAllContainers(60_000);
      } catch (e) {
        notes.push(`${this.name}: removing containers before shutdown failed: ${oneLine(errMsg(e))}`);
      }
    }
    // Remember the daemon's process tree now: helpers get reparented once it exits.
    const before = await listProcs();
    const tree = new Map((await this.ownProcesses(before)).map((p) => [p.pid, p.starttime]));
    const pid = this.daemonPid;
    if (pid !== undefined && this.exitInfo === undefined) {
      signal(pid, "SIGTERM");
      if (!(await waitExit(pid, 20_000))) {
        notes.push(`${this.name} (pid ${pid}) ignored SIGTERM for 20 s: SIGKILL`);
        signal(pid, "SIGKILL");
        await waitExit(pid, 5_000);
      }
    }
    await this.afterDaemonStopped();
    // Anything of ours that outlived the daemon: kill it and its children at once.
    for (let pass = 0; pass < 3; pass++) {
      const procs = await listProcs();
      const mine = new Map<number, ProcInfo>();
      for (const p of procs) if (p.state !== "Z" && tree.get(p.pid) === p.starttime) mine.set(p.pid, p);
      for (const p of await this.ownProcesses(procs)) mine.set(p.pid, p);
      if (mine.size === 0) break;
      const kids = descendants(procs, mine.keys());
      for (const p of procs) if (kids.has(p.pid) && p.state !== "Z") mine.set(p.pid, p);
      const names = [...mine.values()].map((p) => `${basename0(p)}[${p.pid}]`);
      notes.push(`${this.name}: killing ${mine.size} leftover process(es): ${names.slice(0, 10).join(", ")}`);
      for (const p of mine.values()) signalSame(p, "SIGKILL");
      for (const p of mine.values()) await waitExit(p.pid, 2_000, 50);
    }
    const stuck = await unmountUnder(this.dir);
    if (stuck.length > 0) notes.push(`${this.name}: still mounted: ${stuck.join(", ")}`);
    return notes;
  }
}

/**
 * containerd 1.6 shims listen on /run/containerd/s/<sha256(address/ns/id)>
 * whatever the roots; a SIGKILLed shim leaves its socket behind. Remove those
 * of the containers under `dockerdDir` (call only once our shims are gone).
 */
export async function removeShimSockets(dockerdDir: string): Promise<number> {
  let ids: string[];
  try {
    ids = (await fs.readdir(path.join(dockerdDir, "data", "containers"))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return 0;
  }
  const addresses = [
    path.join(dockerdDir, "exec", "containerd", "containerd.sock"), // managed by dockerd
    path.join(dockerdDir, "containerd", "containerd.sock"), // BENCH_PRIVATE_CONTAINERD
  ];
  let removed = 0;
  for (const id of ids) {
    for (const a of addresses) {
      const sock = path.join("/run/containerd/s", createHash("sha256").update(`${a}/moby/${id}`).digest("hex"));
      try {
        await fs.unlink(sock);
        removed++;
      } catch {
        /* not there */
      }
    }
  }
  return removed;
}

export class Dockerd extends Engine {
  private privateContainerd: ChildProcess | undefined;
  containerdMode = "managed by dockerd";

  constructor(
    dir: string,
    private readonly dockerdPath: string,
    private readonly bridge: string,
    dockerCli: string,
    cliEnv: NodeJS.ProcessEnv,
    log: Log,
  ) {
    super("dockerd", dir, dockerCli, cliEnv, log);
  }

  async start(timeoutMs: number, extraArgs: readonly string[] = []): Promise<void> {
    const cfg = path.join(this.dir, "daemon.json");
    await fs.writeFile(cfg, "{}\n"); // never read the host's /etc/docker/daemon.json
    const args = [
      "-H",
      this.host,
      "--data-root",
      this.dataRoot,
      "--exec-root",
      this.execRoot,
      "--pidfile",
      this.pidFile,
      "--config-file",
      cfg,
      // Its own bridge (made by the bench) instead of docker0; iptables and
      // ip-forward stay at their defaults (on), as on a real installation.
      ...(extraArgs.some((a) => a.startsWith("--bridge")) ? [] : [`--bridge=${this.bridge}`]),
      ...extraArgs,
      ...(process.env.DOCKERD_ARGS ?? "").split(/\s+/).filter(Boolean),
    ];
    // dockerd 20.10 uses /run/containerd/containerd.sock when it exists (a system
    // containerd); only then do we run a private containerd ourselves.
    if (process.env.BENCH_PRIVATE_CONTAINERD === "1" || existsSync("/run/containerd/containerd.sock")) {
      args.push(`--containerd=${await this.startContainerd(timeoutMs)}`);
    }
    const env = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin` };
    await this.launch(this.dockerdPath, args, env, timeoutMs);
  }

  private async startContainerd(timeoutMs: number): Promise<string> {
    const dir = path.join(this.dir, "containerd");
    const sock = path.join(dir, "containerd.sock");
    const running = this.privateContainerd;
    if (running && running.exitCode === null && running.signalCode === null) return sock; // a dockerd restart
    await fs.mkdir(dir, { recursive: true });
    const cfg = path.join(dir, "config.toml");
    await fs.writeFile(
      cfg,
      [
        "version = 2",
        `root = ${JSON.stringify(path.join(dir, "root"))}`,
        `state = ${JSON.stringify(path.join(dir, "state"))}`,
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        "[grpc]",
        `  address = ${JSON.stringify(sock)}`,
        "[ttrpc]",
        `  address = ${JSON.stringify(`${sock}.ttrpc`)}`,
        "[debug]",
        `  address = ${JSON.stringify(path.join(dir, "debug.sock"))}`,
        "",
      ].join("\n"),
    );
    const fd = openSync(path.join(dir, "containerd.log"), "a");
    try {
      this.privateContainerd = spawn("containerd", ["--config", cfg], { detached: true, stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.containerdMode = `private containerd (pid ${String(this.privateContainerd.pid)})`;
    const ok = await waitFor(
      async () => {
        try {
          await fs.access(sock);
          return true;
        } catch {
          return this.privateContainerd?.exitCode !== null;
        }
      },
      { timeoutMs, intervalMs: 100 },
    );
    if (!ok || this.privateContainerd.exitCode !== null) throw new Error(`private containerd did not start (see ${dir})`);
    return sock;
  }

  async processes(): Promise<EngineProcs> {
    const own = await this.ownProcesses(await listProcs());
    const isShim = (p: ProcInfo): boolean => basename0(p).startsWith("containerd-shim") || p.comm.startsWith("containerd-shim");
    return splitProcs(own, this.daemonPid, isShim);
  }

  override async stop(): Promise<string[]> {
    const notes = await super.stop();
    const n = await removeShimSockets(this.dir);
    if (n > 0) notes.push(`dockerd: removed ${n} stale shim socket(s) from /run/containerd/s`);
    return notes;
  }

  protected override async afterDaemonStopped(): Promise<void> {
    const c = this.privateContainerd;
    if (c?.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      signal(c.pid, "SIGTERM");
      await waitExit(c.pid, 10_000); // what is still alive then is SIGKILLed as a leftover
    }
  }
}

/** Path of the built berthd entry point (dist/src/daemon/main.js; BERTHD_ENTRY overrides it). */
export function berthdEntry(): string {
  const override = process.env.BERTHD_ENTRY;
  if (override !== undefined && override !== "") return path.resolve(override);
  return fileURLToPath(new URL("../src/daemon/main.js", import.meta.url));
}

/** An executable file that starts with #! (the kernel runs its interpreter line). */
async function isScript(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsConstants.X_OK);
    const fh = await fs.open(file, "r");
    try {
      const { bytesRead, buffer } = await fh.read(Buffer.alloc(2), 0, 2, 0);
      return bytesRead === 2 && buffer.toString("latin1") === "#!";
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/**
 * daemon / helpers / per-container processes of an engine; the containers'
 * own processes (descendants of a per-container process) are left out.
 */
function splitProcs(own: readonly ProcInfo[], daemonPid: number | undefined, perCtr: (p: ProcInfo) => boolean): EngineProcs {
  const per = own.filter((p) => p.pid !== daemonPid && perCtr(p));
  const payload = descendants(own, per.map((p) => p.pid));
  return {
    daemon: own.filter((p) => p.pid === daemonPid),
    helpers: own.filter((p) => p.pid !== daemonPid && !perCtr(p) && !payload.has(p.pid)),
    perContainer: per,
  };
}

// `berth-monitor --mount-server` is the daemon's one mount helper, not a container's monitor.
const isMonitor = (p: ProcInfo): boolean =>
  (p.comm.includes("berth-monitor") || p.argv.slice(0, 2).some((a) => a.includes("berth-monitor"))) && !p.argv.includes("--mount-server");

export class Berthd extends Engine {
  constructor(dir: string, dockerCli: string, cliEnv: NodeJS.ProcessEnv, log: Log) {
    super("berth", dir, dockerCli, cliEnv, log);
  }

  async start(timeoutMs: number, extraArgs: readonly string[] = []): Promise<void> {
    const entry = berthdEntry();
    if (!existsSync(entry)) throw new Error(`berthd is not built: ${entry} does not exist (run npm run build)`);
    const extra = (process.env.BERTHD_ARGS ?? "").split(/\s+/).filter(Boolean);
    // Started as a user's `berthd` starts: through the entry's #! line, which carries berthd's memory
    // settings (src/daemon/main.ts); an entry that cannot be executed runs under this node.
    const direct = await isScript(entry);
    const args = [
      ...(direct ? [] : [entry]),
      "-H",
      this.host,
      "--data-root",
      this.dataRoot,
      "--exec-root",
      this.execRoot,
      "--pidfile",
      this.pidFile,
      ...extraArgs,
      ...extra,
    ];
    await this.launch(direct ? entry : process.execPath, args, process.env, timeoutMs);
  }

  /**
   * berth-monitor processes count as ours only if they descend from our berthd
   * or refer to our directories (other berth instances may run on the host).
   */
  async processes(): Promise<EngineProcs> {
    return splitProcs(await this.ownProcesses(await listProcs()), this.daemonPid, isMonitor);
  }
}
