/**
 * Exec backend: processes started inside running containers (`docker exec`),
 * each supervised by its own berth-monitor in exec mode. This file keeps the
 * records (create, inspect, resize, clean-up); execstart.ts starts and follows
 * them, execrecord.ts holds the record, the request schemas and the environment.
 *
 * Exec records live in memory, as in Docker: a container lists its created and
 * running execs (inspect's ExecIDs); an exec that ended keeps its record (for
 * GET /exec/{id}/json) until the container stops or the periodic clean-up takes
 * it. The monitor's state dir of an exec is removed once its exit is recorded.
 */
import type { Duplex } from "node:stream";
import { EngineError, conflict, invalid, notFound } from "../util/errors.js";
import { bestEffort } from "../util/besteffort.js";
import type { Logger } from "../util/log.js";
import type { Events } from "./events.js";
import { type ExecCreateBody, type ExecRecord, containerEnv, parseDetachKeysForExec, replaceOrAppendEnv } from "./execrecord.js";
import { type ExecContainers, type Launched, ExecLauncher } from "./execstart.js";
import { newId } from "./names.js";
import type { ContainerRecord } from "./types.js";

export { type ExecCreateBody, type ExecStartBody, ExecCreateSchema, ExecStartSchema, replaceOrAppendEnv } from "./execrecord.js";

export interface ExecServiceOptions {
  containers: ExecContainers;
  events: Events;
  log: Logger;
}

/** Docker's exec garbage collection period. */
const GC_MS = 5 * 60_000;

export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();
  private readonly gc: NodeJS.Timeout;
  private readonly launcher: ExecLauncher;

  constructor(private readonly o: ExecServiceOptions) {
    this.launcher = new ExecLauncher(o);
    // Docker forgets a container's execs when it stops.
    o.events.subscribe((e) => {
      if (e.Type === "container" && (e.Action === "die" || e.Action === "destroy")) this.forgetContainer(e.Actor.ID);
    });
    this.gc = setInterval(() => this.collect(), GC_MS);
    this.gc.unref();
  }

  shutdown(): void {
    clearInterval(this.gc);
  }

  /** Ids of a container's execs that have not ended (inspect's ExecIDs; null when none, as Docker). */
  idsOf(containerId: string): string[] | null {
    const ids = [...this.execs.values()].filter((x) => x.containerId === containerId && x.exitCode === null).map((x) => x.id);
    return ids.length > 0 ? ids : null;
  }

  // --- create -------------------------------------------------------------------

  async create(idOrName: string, body: ExecCreateBody): Promise<{ Id: string }> {
    const cmd = body.Cmd ?? [];
    if (cmd.length === 0) throw invalid("No exec command specified");
    const rec = this.activeContainer(idOrName);
    const user = body.User || rec.Config.User || "";
    // An unknown user is not an error here: dockerd 20.10 creates the exec and its start fails
    // (the message in the stream, exit code 126).
    const detachKeys = body.DetachKeys ? parseDetachKeysForExec(body.DetachKeys) : Buffer.alloc(0);
    const tty = body.Tty ?? false;
    let markStarted!: () => void;
    const started = new Promise<void>((r) => (markStarted = r));
    const cs = body.ConsoleSize;
    const ex: ExecRecord = {
      id: newId(),
      containerId: rec.Id,
      entrypoint: cmd[0] as string,
      args: cmd.slice(1),
      tty,
      openStdin: body.AttachStdin ?? false,
      openStdout: body.AttachStdout ?? false,
      openStderr: body.AttachStderr ?? false,
      privileged: body.Privileged ?? false,
      user,
      workingDir: body.WorkingDir || rec.Config.WorkingDir || "",
      env: replaceOrAppendEnv(containerEnv(rec, tty), body.Env ?? []),
      detachKeys,
      consoleSize: cs && cs[0] !== undefined && cs[1] !== undefined ? [cs[0], cs[1]] : undefined,
      running: false,
      exitCode: null,
      pid: 0,
      canRemove: false,
      started,
      markStarted,
    };
    this.execs.set(ex.id, ex);
    void this.sweep(rec).catch(bestEffort("sweeping lost exec state"));
    this.o.containers.emit(rec, `exec_create: ${[ex.entrypoint, ...ex.args].join(" ")}`, { execID: ex.id });
    return { Id: ex.id };
  }

  // --- start ----------------------------------------------------------------------

  /** The checks Docker makes before it answers (404 unknown exec, 409 container not running). */
  checkStartable(id: string): void {
    this.startable(id);
  }

  /**
   * Run the exec. With a client (the hijacked connection) its stdio is attached
   * and the connection is closed when the process ended and its exit code is
   * recorded (or when the client detaches); failures are written into the stream
   * as Docker does. Without a client (Detach) it resolves once the process runs.
   */
  async start(id: string, opts: { consoleSize?: [number, number] | undefined; muxed: boolean }, client?: Duplex): Promise<void> {
    if (!client) {
      await this.launcher.launch(this.startable(id), opts.consoleSize);
      return;
    }
    let ex: ExecRecord;
    let launched: Launched;
    try {
      ex = this.startable(id);
      launched = await this.launcher.launch(ex, opts.consoleSize, client);
    } catch (e) {
      this.launcher.fail(id, e, client, opts.muxed);
      return;
    }
    await this.launcher.follow(ex, launched, client);
  }

  /** 404 for an unknown exec, 409 when its container is not running (Docker's getExecConfig). */
  private startable(id: string): ExecRecord {
    const ex = this.execs.get(id);
    if (!ex) throw notFound(`No such exec instance: ${id}`);
    const rec = this.o.containers.find(ex.containerId);
    if (!rec) throw notFound(`No such container: ${id}`);
    this.checkRunning(rec);
    return ex;
  }

  /**
   * Remove state dirs of execs berthd lost track of (they ran across a daemon
   * restart) once their monitors are gone.
   */
  private async sweep(rec: ContainerRecord): Promise<void> {
    const { runtime } = this.o.containers.execTarget(rec.Id);
    await runtime.container(rec.Id).sweepExecs([...this.execs.values()].filter((x) => x.containerId === rec.Id).map((x) => x.id));
  }

  // --- inspect, resize ----------------------------------------------------------------

  inspect(id: string): Record<string, unknown> {
    const ex = this.execs.get(id);
    if (!ex || !this.o.containers.find(ex.containerId)) throw notFound(`No such exec instance: ${id}`);
    return {
      ID: ex.id,
      Running: ex.running,
      ExitCode: ex.exitCode,
      ProcessConfig: { tty: ex.tty, entrypoint: ex.entrypoint, arguments: ex.args, privileged: ex.privileged, ...(ex.user ? { user: ex.user } : {}) }, // omitempty, as dockerd
      OpenStdin: ex.openStdin,
      OpenStderr: ex.openStderr,
      OpenStdout: ex.openStdout,
      CanRemove: ex.canRemove,
      ContainerID: ex.containerId,
      // []byte in Docker: base64 in JSON.
      DetachKeys: ex.detachKeys.toString("base64"),
      Pid: ex.pid,
    };
  }

  async resize(id: string, height: number, width: number): Promise<void> {
    const ex = this.startable(id);
    const ready = await Promise.race([ex.started.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref())]);
    if (!ready) throw new EngineError("internal", "timeout waiting for exec session ready");
    // dockerd 20.10 asks containerd to resize the exec's process; once it ended, containerd has none: 404 "no such exec".
    const gone = (): EngineError => notFound("no such exec");
    if (!ex.running) throw gone();
    if (!ex.tty || !ex.process) return;
    await ex.process.resize(height, width).catch((e: unknown) => {
      throw ex.running ? e : gone();
    });
  }

  // --- helpers ------------------------------------------------------------------------

  private activeContainer(idOrName: string): ContainerRecord {
    const rec = this.o.containers.get(idOrName);
    this.checkRunning(rec, idOrName);
    return rec;
  }

  private checkRunning(rec: ContainerRecord, name = rec.Id): void {
    if (rec.State.Restarting) throw conflict(`Container ${rec.Id} is restarting, wait until the container is running`);
    if (!rec.State.Running) throw conflict(`container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict(`Container ${name} is paused, unpause the container before exec`);
  }

  /** Docker unregisters a container's execs when it stops (inspect then says "No such exec instance"). */
  private forgetContainer(containerId: string): void {
    for (const [id, ex] of this.execs) if (ex.containerId === containerId) this.execs.delete(id);
  }

  /** Docker's GC: an ended exec is flagged on one pass and dropped on the next. */
  private collect(): void {
    for (const [id, ex] of this.execs) {
      if (ex.canRemove) this.execs.delete(id);
      else if (ex.exitCode !== null && !ex.running) ex.canRemove = true;
    }
  }
}
