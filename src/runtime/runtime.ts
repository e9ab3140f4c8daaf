/**
 * One OCI runtime (runc, crun) with its state root: containers are addressed through
 * `container(id)` (process.ts). The id/state-dir methods below it delegate to those handles
 * and remain only until their callers (engine/containers.ts, check.ts, update.ts, stats.ts,
 * build/builder/builder.ts) move to the handles.
 */
import type { Socket } from "node:net";
import { ensureDir } from "../util/fsutil.js";
import { run } from "../util/exec.js";
import type { ExitStatus, MonitorControl } from "./monitor-client.js";
import { type AttachFlags, type ProcessIO, type RuntimeOptions, ContainerProcess, Monitored } from "./process.js";
import type { OciProcess, OciSpec } from "./spec.js";

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

  /** The container `id` of this runtime (its exec processes through `.exec(execId)`). */
  container(id: string): ContainerProcess {
    return new ContainerProcess(this.opts, id);
  }

  /** Runtime ids the OCI runtime still knows (for leak checks and restart recovery). */
  async list(): Promise<{ id: string; status: string; pid: number }[]> {
    const { stdout } = await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "list", "--format", "json"]);
    const parsed = JSON.parse(stdout.trim() || "[]") as { id: string; status: string; pid: number }[] | null;
    return parsed ?? [];
  }

  // --- by id and state dir: delegations kept for callers not yet on container(id) ---------------

  /** @deprecated container(id).stateDir */
  stateDir(id: string): string {
    return this.container(id).stateDir;
  }

  /** @deprecated container(id).exec(execId).stateDir */
  execStateDir(id: string, execId: string): string {
    return this.container(id).exec(execId).stateDir;
  }

  /** @deprecated container(id).create(spec, io) */
  create(id: string, spec: OciSpec, io: ProcessIO): Promise<{ pid: number; monitorPid: number }> {
    return this.container(id).create(spec, io);
  }

  /** @deprecated container(id).exec(execId).create(proc, io) */
  async createExec(id: string, execId: string, proc: OciProcess, io: ProcessIO): Promise<{ stateDir: string; monitorPid: number }> {
    const ex = this.container(id).exec(execId);
    return { stateDir: ex.stateDir, ...(await ex.create(proc, io)) };
  }

  /** @deprecated container(id).attach(flags) */
  attach(stateDir: string, flags: AttachFlags): Promise<Socket> {
    return this.at(stateDir).attach(flags);
  }

  /** @deprecated container(id).control(fn) */
  control<T>(stateDir: string, fn: (c: MonitorControl) => Promise<T>): Promise<T> {
    return this.at(stateDir).control(fn);
  }

  /** @deprecated container(id).start() */
  start(stateDir: string): Promise<number> {
    return this.at(stateDir).start();
  }

  /** @deprecated container(id).wait() */
  wait(stateDir: string): Promise<ExitStatus> {
    return this.at(stateDir).wait();
  }

  /** @deprecated container(id).kill(signal) */
  kill(id: string, _stateDir: string, signal: number): Promise<void> {
    return this.container(id).kill(signal);
  }

  /** @deprecated container(id).pause() */
  pause(id: string): Promise<void> {
    return this.container(id).pause();
  }

  /** @deprecated container(id).resume() */
  resume(id: string): Promise<void> {
    return this.container(id).resume();
  }

  /** @deprecated container(id).update(resources) */
  update(id: string, resources: Record<string, unknown>): Promise<void> {
    return this.container(id).update(resources);
  }

  /** @deprecated container(id).pids() */
  pids(id: string): Promise<number[]> {
    return this.container(id).pids();
  }

  /** @deprecated container(id).resize(rows, cols) */
  resize(stateDir: string, rows: number, cols: number): Promise<void> {
    return this.at(stateDir).resize(rows, cols);
  }

  /** @deprecated container(id).closeStdin() */
  closeStdin(stateDir: string): Promise<void> {
    return this.at(stateDir).closeStdin();
  }

  /** @deprecated container(id).isAlive() */
  isAlive(stateDir: string): Promise<boolean> {
    return this.at(stateDir).isAlive();
  }

  /** @deprecated container(id).exitStatus() */
  exitStatus(stateDir: string): Promise<ExitStatus | undefined> {
    return this.at(stateDir).exitStatus();
  }

  /** @deprecated container(id).cleanup() */
  cleanup(id: string): Promise<void> {
    return this.container(id).cleanup();
  }

  private at(stateDir: string): Monitored {
    return new Monitored(this.opts, stateDir);
  }
}
