/**
 * The runtime addressed one way: a container is `runtime.container(id)`, an exec in it
 * `runtime.container(id).exec(execId)`; each knows its monitor's state dir, so callers never
 * pass ids and directories around. Both are processes a berth-monitor supervises (Monitored).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Socket } from "node:net";
import { EngineError, errnoCode, messageOf } from "../util/errors.js";
import { bestEffort } from "../util/besteffort.js";
import { atomicWriteFile, exists, mkdirp, readJson } from "../util/fsutil.js";
import { run } from "../util/exec.js";
import { oomKillFile } from "./cgroups.js";
import { type ExitStatus, type LogSinks, MonitorControl, attachMonitor, isMonitorAlive, processRunning, readExitFile, spawnMonitor } from "./monitor-client.js";
import { ociJson, runtimeErrorText } from "./signals.js";
import type { OciProcess, OciSpec } from "./spec.js";

export interface RuntimeOptions {
  /** Name or path of the OCI runtime binary (runc, crun). */
  runtime: string;
  /** The runtime's state root (`runc --root`). */
  runtimeRoot: string;
  /** Where bundles and monitor state live (under the daemon's exec-root). */
  stateRoot: string;
}

export interface ProcessIO {
  tty: boolean;
  stdin: boolean;
  logPath?: string;
  logMaxSize?: number;
  logMaxFiles?: number;
  logSinks?: LogSinks;
}

export interface AttachFlags {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  stdinOnce: boolean;
}

/** A process supervised by a berth-monitor, addressed by the monitor's state dir. */
export class Monitored {
  constructor(
    protected readonly opts: RuntimeOptions,
    readonly stateDir: string,
  ) {}

  attach(flags: AttachFlags): Promise<Socket> {
    return attachMonitor(this.stateDir, flags);
  }

  async control<T>(fn: (c: MonitorControl) => Promise<T>): Promise<T> {
    const c = await MonitorControl.connect(this.stateDir);
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  }

  /** Let the created process run; resolves with its pid. */
  start(): Promise<number> {
    return this.control((c) => c.start());
  }

  /**
   * Wait for the process to end. Resolves from the monitor, or from its exit
   * file when the monitor is already gone (e.g. it ended while berthd was down).
   */
  async wait(): Promise<ExitStatus> {
    // Two ways to learn the exit: the monitor's answer on ctl.sock, and its exit file (or its
    // death). The second guards against a wait that lands while the monitor shuts down.
    const poll = { stopped: false };
    try {
      return await Promise.race([this.waitMonitor(), this.pollExit(poll)]);
    } finally {
      poll.stopped = true;
    }
  }

  private async pollExit(ctl: { stopped: boolean }): Promise<ExitStatus> {
    for (let i = 0; ; i++) {
      await new Promise((r) => setTimeout(r, i < 10 ? 200 : 1000).unref());
      if (ctl.stopped) return new Promise<ExitStatus>(() => undefined); // the monitor answered
      // Not there yet (or being written): expected while the process runs; the next turn reads it again.
      const st = await readExitFile(this.stateDir).catch(() => undefined);
      if (st) return st;
      if (!(await isMonitorAlive(this.stateDir).catch(() => true))) {
        const again = await readExitFile(this.stateDir).catch(() => undefined);
        if (again) return again;
        throw new EngineError("internal", `container monitor in ${this.stateDir} is gone and left no exit status`);
      }
    }
  }

  private async waitMonitor(): Promise<ExitStatus> {
    let c: MonitorControl;
    try {
      c = await MonitorControl.connect(this.stateDir);
    } catch (e) {
      const st = await readExitFile(this.stateDir);
      if (st) return st;
      throw new EngineError("internal", `container monitor is gone and left no exit status (${errnoCode(e) ?? String(e)})`);
    }
    try {
      return await c.wait();
    } catch (e) {
      const st = await readExitFile(this.stateDir);
      if (st) return st;
      throw e;
    } finally {
      c.close();
    }
  }

  resize(rows: number, cols: number): Promise<void> {
    return this.control((c) => c.resize(rows, cols));
  }

  closeStdin(): Promise<void> {
    return this.control((c) => c.closeStdin());
  }

  isAlive(): Promise<boolean> {
    return isMonitorAlive(this.stateDir);
  }

  exitStatus(): Promise<ExitStatus | undefined> {
    return readExitFile(this.stateDir);
  }
}

/** A container's runtime side: its bundle, its monitor, the OCI runtime's record of it. */
export class ContainerProcess extends Monitored {
  constructor(
    opts: RuntimeOptions,
    readonly id: string,
  ) {
    super(opts, path.join(opts.stateRoot, id));
  }

  /** An exec in this container (its monitor's state dir is below the container's). */
  exec(execId: string): ExecProcess {
    return new ExecProcess(this.opts, path.join(this.stateDir, "exec", execId.slice(0, 16)), this.id);
  }

  /** Write the bundle and create the container (paused before its process runs). */
  async create(spec: OciSpec, io: ProcessIO): Promise<{ pid: number; monitorPid: number }> {
    const dir = this.stateDir;
    await fs.rm(dir, { recursive: true, force: true });
    await mkdirp(dir, 0o700);
    await atomicWriteFile(path.join(dir, "config.json"), ociJson(spec), 0o600);
    // Runtime state of an earlier run with the same id (a crash) would make create fail.
    if (await exists(path.join(this.opts.runtimeRoot, this.id))) await this.runtimeDelete();
    const netNew = spec.linux.namespaces.some((n) => n.type === "network" && !n.path);
    return spawnMonitor({
      id: this.id,
      runtime: this.opts.runtime,
      runtimeRoot: this.opts.runtimeRoot,
      stateDir: dir,
      bundle: dir,
      tty: io.tty,
      stdin: io.stdin,
      loopbackUp: netNew,
      ...(spec.linux.cgroupsPath ? { oomFile: oomKillFile(spec.linux.cgroupsPath) } : {}),
      ...(io.logPath !== undefined ? { logPath: io.logPath } : {}),
      ...(io.logMaxSize ? { logMaxSize: io.logMaxSize } : {}),
      ...(io.logMaxFiles ? { logMaxFiles: io.logMaxFiles } : {}),
      ...(io.logSinks ? { logSinks: io.logSinks } : {}),
    });
  }

  /** The spec the container runs with (the bundle written at create). */
  async spec(): Promise<OciSpec> {
    try {
      return JSON.parse(await fs.readFile(path.join(this.stateDir, "config.json"), "utf8")) as OciSpec;
    } catch (e) {
      throw new EngineError("internal", `cannot read the bundle of container ${this.id}: ${errnoCode(e) ?? messageOf(e)}`);
    }
  }

  async kill(signal: number): Promise<void> {
    try {
      await this.control((c) => c.kill(signal));
    } catch (e) {
      if (e instanceof EngineError) throw e;
      // Monitor unreachable: ask the runtime directly.
      await this.runc("kill", this.id, String(signal));
    }
  }

  /** Freeze / thaw every process of the container (cgroup freezer). */
  async pause(): Promise<void> {
    await this.runc("pause", this.id);
  }

  async resume(): Promise<void> {
    await this.runc("resume", this.id);
  }

  /**
   * Change a running (or paused) container's cgroup limits in place (`runc update`):
   * resources are OCI linux.resources fields; the ones left out stay as they are.
   */
  async update(resources: Record<string, unknown>): Promise<void> {
    const file = path.join(this.stateDir, "update.json");
    await atomicWriteFile(file, JSON.stringify(resources), 0o600);
    const args = ["--root", this.opts.runtimeRoot, "update", "--resources", file, this.id];
    try {
      await run(this.opts.runtime, args);
    } catch (e) {
      // The runtime's own words, without the command line in front of them.
      const prefix = `${this.opts.runtime} ${args.join(" ")}: `;
      const msg = e instanceof Error ? e.message : String(e);
      throw new EngineError("internal", runtimeErrorText(msg.startsWith(prefix) ? msg.slice(prefix.length) : msg), { cause: e });
    } finally {
      await fs.rm(file, { force: true });
    }
  }

  /** Pids of every process in the container (host pid namespace). */
  async pids(): Promise<number[]> {
    const { stdout } = await this.runc("ps", "--format", "json", this.id);
    return (JSON.parse(stdout.trim() || "[]") as number[] | null) ?? [];
  }

  /**
   * Forget the container's runtime state and bundle dir. The monitor deletes the
   * runtime's record when the process ends; only a crash leaves one behind.
   */
  async cleanup(): Promise<void> {
    if (await exists(path.join(this.opts.runtimeRoot, this.id))) await this.runtimeDelete();
    // The bundle's spec knows the cgroup (a --cgroup-parent may have placed it elsewhere).
    const spec = await readJson<{ linux?: { cgroupsPath?: string } }>(path.join(this.stateDir, "config.json")).catch(bestEffort("reading the bundle's cgroup"));
    await fs.rm(this.stateDir, { recursive: true, force: true });
    await removeCgroups(this.id, spec?.linux?.cgroupsPath);
  }

  /** Remove the state dirs of execs not in `known` whose monitors are gone (they ran across a daemon restart). */
  async sweepExecs(known: readonly string[]): Promise<void> {
    const keep = new Set(known.map((x) => path.basename(this.exec(x).stateDir)));
    const root = path.join(this.stateDir, "exec");
    // No exec dir yet: nothing to sweep.
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
      if (keep.has(name)) continue;
      const dir = new ExecProcess(this.opts, path.join(root, name), this.id);
      if (!(await dir.isAlive().catch(() => true))) await fs.rm(dir.stateDir, { recursive: true, force: true }).catch(bestEffort(`removing lost exec state ${dir.stateDir}`));
    }
  }

  private async runtimeDelete(): Promise<void> {
    await this.runc("delete", "--force", this.id).catch(bestEffort(`${this.opts.runtime} delete ${this.id}`));
  }

  private runc(...args: string[]): Promise<{ stdout: string }> {
    return run(this.opts.runtime, ["--root", this.opts.runtimeRoot, ...args]);
  }
}

/** A process started in a running container (`docker exec`), with its own monitor. */
export class ExecProcess extends Monitored {
  constructor(
    opts: RuntimeOptions,
    stateDir: string,
    readonly containerId: string,
  ) {
    super(opts, stateDir);
  }

  /** Prepare the process; it runs at start(). */
  async create(proc: OciProcess, io: ProcessIO): Promise<{ monitorPid: number }> {
    await mkdirp(this.stateDir, 0o700);
    const file = path.join(this.stateDir, "process.json");
    await atomicWriteFile(file, ociJson(proc), 0o600);
    const res = await spawnMonitor({
      id: this.containerId,
      runtime: this.opts.runtime,
      runtimeRoot: this.opts.runtimeRoot,
      stateDir: this.stateDir,
      execProcessFile: file,
      tty: io.tty,
      stdin: io.stdin,
    });
    return { monitorPid: res.monitorPid };
  }

  /** Remove the monitor's state dir once the monitor (monitorPid) is gone: it exits right after it answered the waiters and flushed its clients. */
  async remove(monitorPid: number): Promise<void> {
    for (let i = 0; i < 400 && monitorPid > 0 && (await processRunning(monitorPid)); i++) await new Promise((r) => setTimeout(r, 5));
    await fs.rm(this.stateDir, { recursive: true, force: true });
  }
}

/**
 * Remove the container's (empty) cgroup directories if the runtime left any:
 * `/sys/fs/cgroup/<controller>/berth/<id>` on v1, `/sys/fs/cgroup/berth/<id>` on v2.
 * rmdir only succeeds for cgroups without processes, so this never harms a live one.
 */
export async function removeCgroups(id: string, cgroupsPath = `/berth/${id}`): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(id) || path.posix.basename(cgroupsPath) !== id) return;
  const roots = ["/sys/fs/cgroup", ...(await fs.readdir("/sys/fs/cgroup").catch(() => [] as string[])).map((c) => `/sys/fs/cgroup/${c}`)];
  for (const r of roots) {
    // Most roots never had the cgroup (ENOENT), a busy one is not ours to force: both expected.
    await fs.rmdir(path.join(r, cgroupsPath)).catch(() => undefined);
  }
}
