/**
 * The runtime subsystem: OCI bundles executed by a real OCI runtime (runc, or crun)
 * under a small per-container monitor process (berth-monitor) that holds the
 * container's stdio, writes its log and records its exit status, so containers
 * outlive berthd. Other folders import from here only.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Socket } from "node:net";
import { EngineError, errnoCode } from "../util/errors.js";
import { atomicWriteFile, ensureDir, exists, mkdirp, readJson } from "../util/fsutil.js";
import { run } from "../util/exec.js";
import {
  type ExitStatus,
  type LogSinks,
  MonitorControl,
  attachMonitor,
  isMonitorAlive,
  readExitFile,
  spawnMonitor,
} from "./monitor-client.js";
import type { OciMount, OciProcess, OciRlimit, OciSpec } from "./spec.js";
import { oomKillFile } from "./cgroups.js";

export type { ExitStatus, LogSinks, OciSpec, OciProcess, OciMount, OciRlimit };
export { DEFAULT_HOSTS_LINES, DEFAULT_PATH_ENV } from "./spec.js";
export type { IdMapping, OciDevice, OciUser } from "./spec.js";
export * from "./ocispec/index.js";
export { resolveUser, readInRoot } from "./user.js";
export { defaultSeccompProfile, profileFromDockerJson } from "./seccomp.js";
export type { OciSeccomp } from "./seccomp.js";
export {
  CGROUP_ROOT,
  cgroupHostInfo,
  cgroupStats,
  cgroupVersion,
  emptyBlkioStats,
  emptyCpuStats,
  networkStats,
  oomKillFile,
  parseOomKill,
  systemCpuUsage,
} from "./cgroups.js";
export type { CgroupHostInfo, CgroupStats, CgroupVersion, NetworkStats } from "./cgroups.js";
export { blkioWeightToIoWeight, cgroupDirs, cpuSharesToWeight, memorySwapToV2, ownLimitFiles, readCgroupLimits } from "./cgroup-limits.js";
export type { CgroupLimits, Limit } from "./cgroup-limits.js";

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

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};

/** Parse "SIGTERM", "TERM", "15", "SIGRTMIN+3" into a signal number. */
export function parseSignal(s: string): number {
  const t = s.trim().toUpperCase().replace(/^SIG/, "");
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 1 && n <= 64) return n;
  } else if (SIGNALS[t] !== undefined) return SIGNALS[t];
  else {
    const m = t.match(/^RTMIN(?:\+(\d+))?$/) ?? t.match(/^RTMAX(?:-(\d+))?$/);
    if (m) {
      const off = Number(m[1] ?? 0);
      const n = t.startsWith("RTMIN") ? 34 + off : 64 - off;
      if (n >= 34 && n <= 64) return n;
    }
  }
  throw new EngineError("invalid", `Invalid signal: ${s}`);
}

/**
 * JSON for the OCI runtime. An rlimit of -1 stands for RLIM_INFINITY (2^64-1), which
 * a JS number cannot carry exactly (a config.json read back with JSON.parse holds
 * 2^64 instead); both are written out as the exact integer.
 */
export function ociJson(v: OciSpec | OciProcess): string {
  return JSON.stringify(v).replace(/"(soft|hard)":(-1|18446744073709552000)(?=[,}])/g, `"$1":18446744073709551615`);
}

export class Runtime {
  constructor(readonly opts: RuntimeOptions) {}

  async init(): Promise<void> {
    // Root only (dockerd's runtime-runc is 0700); tightened if an older berthd made them wider.
    for (const d of [this.opts.runtimeRoot, this.opts.stateRoot]) await ensureDir(d, 0o700);
  }

  /** The runtime's version line, e.g. "1.1.5+ds1" (fails when the binary is missing). */
  async version(): Promise<string> {
    const { stdout } = await run(this.opts.runtime, ["--version"]);
    const m = stdout.match(/version\s+(\S+)/);
    return m?.[1] ?? stdout.split("\n")[0] ?? "";
  }

  stateDir(id: string): string {
    return path.join(this.opts.stateRoot, id);
  }

  execStateDir(id: string, execId: string): string {
    return path.join(this.opts.stateRoot, id, "exec", execId.slice(0, 16));
  }

  /** Write the bundle and create the container (paused before its process runs). */
  async create(id: string, spec: OciSpec, io: ProcessIO): Promise<{ pid: number; monitorPid: number }> {
    const dir = this.stateDir(id);
    await fs.rm(dir, { recursive: true, force: true });
    await mkdirp(dir, 0o700);
    await atomicWriteFile(path.join(dir, "config.json"), ociJson(spec), 0o600);
    // Runtime state of an earlier run with the same id (a crash) would make create fail.
    if (await exists(path.join(this.opts.runtimeRoot, id))) await this.runtimeDelete(id);
    const netNew = spec.linux.namespaces.some((n) => n.type === "network" && !n.path);
    return spawnMonitor({
      id,
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

  /** Prepare an exec process in a running container; it starts with `start(stateDir)`. */
  async createExec(id: string, execId: string, proc: OciProcess, io: ProcessIO): Promise<{ stateDir: string; monitorPid: number }> {
    const dir = this.execStateDir(id, execId);
    await mkdirp(dir, 0o700);
    const file = path.join(dir, "process.json");
    await atomicWriteFile(file, ociJson(proc), 0o600);
    const res = await spawnMonitor({
      id,
      runtime: this.opts.runtime,
      runtimeRoot: this.opts.runtimeRoot,
      stateDir: dir,
      execProcessFile: file,
      tty: io.tty,
      stdin: io.stdin,
    });
    return { stateDir: dir, monitorPid: res.monitorPid };
  }

  attach(stateDir: string, flags: AttachFlags): Promise<Socket> {
    return attachMonitor(stateDir, flags);
  }

  async control<T>(stateDir: string, fn: (c: MonitorControl) => Promise<T>): Promise<T> {
    const c = await MonitorControl.connect(stateDir);
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  }

  start(stateDir: string): Promise<number> {
    return this.control(stateDir, (c) => c.start());
  }

  /**
   * Wait for the process to end. Resolves from the monitor, or from its exit
   * file when the monitor is already gone (e.g. it ended while berthd was down).
   */
  async wait(stateDir: string): Promise<ExitStatus> {
    // Two ways to learn the exit: the monitor's answer on ctl.sock, and its exit file (or its
    // death). The second guards against a wait that lands while the monitor shuts down.
    const poll = { stopped: false };
    try {
      return await Promise.race([this.waitMonitor(stateDir), this.pollExit(stateDir, poll)]);
    } finally {
      poll.stopped = true;
    }
  }

  private async pollExit(stateDir: string, ctl: { stopped: boolean }): Promise<ExitStatus> {
    for (let i = 0; ; i++) {
      await new Promise((r) => setTimeout(r, i < 10 ? 200 : 1000).unref());
      if (ctl.stopped) return new Promise<ExitStatus>(() => undefined); // the monitor answered
      const st = await readExitFile(stateDir).catch(() => undefined);
      if (st) return st;
      if (!(await isMonitorAlive(stateDir).catch(() => true))) {
        const again = await readExitFile(stateDir).catch(() => undefined);
        if (again) return again;
        throw new EngineError("internal", `container monitor in ${stateDir} is gone and left no exit status`);
      }
    }
  }

  private async waitMonitor(stateDir: string): Promise<ExitStatus> {
    let c: MonitorControl;
    try {
      c = await MonitorControl.connect(stateDir);
    } catch (e) {
      const st = await readExitFile(stateDir);
      if (st) return st;
      throw new EngineError("internal", `container monitor is gone and left no exit status (${errnoCode(e) ?? String(e)})`);
    }
    try {
      return await c.wait();
    } catch (e) {
      const st = await readExitFile(stateDir);
      if (st) return st;
      throw e;
    } finally {
      c.close();
    }
  }

  async kill(id: string, stateDir: string, signal: number): Promise<void> {
    try {
      await this.control(stateDir, (c) => c.kill(signal));
    } catch (e) {
      if (e instanceof EngineError) throw e;
      // Monitor unreachable: ask the runtime directly.
      await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "kill", id, String(signal)]);
    }
  }

  /** Freeze / thaw every process of the container (cgroup freezer). */
  async pause(id: string): Promise<void> {
    await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "pause", id]);
  }

  async resume(id: string): Promise<void> {
    await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "resume", id]);
  }

  /**
   * Change a running (or paused) container's cgroup limits in place (`runc update`):
   * resources are OCI linux.resources fields; the ones left out stay as they are.
   */
  async update(id: string, resources: Record<string, unknown>): Promise<void> {
    const file = path.join(this.stateDir(id), "update.json");
    await atomicWriteFile(file, JSON.stringify(resources), 0o600);
    const args = ["--root", this.opts.runtimeRoot, "update", "--resources", file, id];
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
  async pids(id: string): Promise<number[]> {
    const { stdout } = await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "ps", "--format", "json", id]);
    return (JSON.parse(stdout.trim() || "[]") as number[] | null) ?? [];
  }

  resize(stateDir: string, rows: number, cols: number): Promise<void> {
    return this.control(stateDir, (c) => c.resize(rows, cols));
  }

  closeStdin(stateDir: string): Promise<void> {
    return this.control(stateDir, (c) => c.closeStdin());
  }

  isAlive(stateDir: string): Promise<boolean> {
    return isMonitorAlive(stateDir);
  }

  exitStatus(stateDir: string): Promise<ExitStatus | undefined> {
    return readExitFile(stateDir);
  }

  private async runtimeDelete(id: string): Promise<void> {
    await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "delete", "--force", id]).catch(() => undefined);
  }

  /**
   * Forget a container's runtime state and bundle dir. The monitor deletes the
   * runtime's record when the process ends; only a crash leaves one behind.
   */
  async cleanup(id: string): Promise<void> {
    if (await exists(path.join(this.opts.runtimeRoot, id))) await this.runtimeDelete(id);
    // The bundle's spec knows the cgroup (a --cgroup-parent may have placed it elsewhere).
    const spec = await readJson<{ linux?: { cgroupsPath?: string } }>(path.join(this.stateDir(id), "config.json")).catch(() => undefined);
    await fs.rm(this.stateDir(id), { recursive: true, force: true });
    await removeCgroups(id, spec?.linux?.cgroupsPath);
  }

  /** Runtime ids the OCI runtime still knows (for leak checks and restart recovery). */
  async list(): Promise<{ id: string; status: string; pid: number }[]> {
    const { stdout } = await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "list", "--format", "json"]);
    const parsed = JSON.parse(stdout.trim() || "[]") as { id: string; status: string; pid: number }[] | null;
    return parsed ?? [];
  }
}

/**
 * The errors in an OCI runtime's log-style stderr (`time=… level=error msg="…"`, as
 * runc writes them), one per line; the text as it is when it has none.
 */
export function runtimeErrorText(stderr: string): string {
  const msgs = [...stderr.matchAll(/level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/g)].map((m) => {
    const quoted = m[1] ?? "";
    try {
      return JSON.parse(`"${quoted}"`) as string;
    } catch {
      return quoted;
    }
  });
  return msgs.length > 0 ? msgs.join("\n") : stderr.trim();
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
    await fs.rmdir(path.join(r, cgroupsPath)).catch(() => undefined);
  }
}
