/**
 * Exec backend: processes started inside running containers (`docker exec`),
 * each supervised by its own berth-monitor in exec mode, plus the detach-key
 * scanning shared with container attach.
 *
 * Exec records live in memory, as in Docker: a container lists its created and
 * running execs (inspect's ExecIDs); an exec that ended keeps its record (for
 * GET /exec/{id}/json) until the container stops or the periodic clean-up takes
 * it. The monitor's state dir of an exec is removed once its exit is recorded.
 */
import { readFileSync, promises as fs } from "node:fs";
import path from "node:path";
import type { Duplex } from "node:stream";
import { z } from "zod";
import { EngineError, conflict, errnoCode, invalid, messageOf, notFound } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { type OciProcess, type OciSpec, type OciUser, type Runtime, DEFAULT_PATH_ENV, execProcess, resolveUser, specHost } from "../runtime/index.js";
import type { ContainerService } from "./containers.js";
import type { Events } from "./events.js";
import { newId } from "./names.js";
import { parseDetachKeys, pipeStdin } from "./stdio.js";
import type { ContainerRecord } from "./types.js";

// --- exec records ---------------------------------------------------------------

const strArr = z.array(z.string());

export const ExecCreateSchema = z.looseObject({
  AttachStdin: z.boolean().nullable().optional(),
  AttachStdout: z.boolean().nullable().optional(),
  AttachStderr: z.boolean().nullable().optional(),
  DetachKeys: z.string().nullable().optional(),
  Tty: z.boolean().nullable().optional(),
  ConsoleSize: z.array(z.number().int().nonnegative()).length(2).nullable().optional(),
  Env: strArr.nullable().optional(),
  // []string in dockerd (not a strslice): a plain string is refused.
  Cmd: strArr.nullable().optional(),
  Privileged: z.boolean().nullable().optional(),
  User: z.string().nullable().optional(),
  WorkingDir: z.string().nullable().optional(),
});
export type ExecCreateBody = z.infer<typeof ExecCreateSchema>;

export const ExecStartSchema = z.looseObject({
  Detach: z.boolean().nullable().optional(),
  Tty: z.boolean().nullable().optional(),
  ConsoleSize: z.array(z.number().int().nonnegative()).length(2).nullable().optional(),
});
export type ExecStartBody = z.infer<typeof ExecStartSchema>;

interface ExecRecord {
  id: string;
  containerId: string;
  entrypoint: string;
  args: string[];
  tty: boolean;
  openStdin: boolean;
  openStdout: boolean;
  openStderr: boolean;
  privileged: boolean;
  /** As given, or the container's user (what inspect shows). */
  user: string;
  workingDir: string;
  env: string[];
  detachKeys: Buffer;
  consoleSize: [number, number] | undefined;
  running: boolean;
  exitCode: number | null;
  pid: number;
  /** Set once the exec ended and nothing refers to it any more (Docker's GC flag). */
  canRemove: boolean;
  /** The monitor's state dir while it exists. */
  stateDir?: string;
  runtime?: Runtime;
  /** Settles when the process started or failed to (resize waits for it). */
  started: Promise<void>;
  markStarted: () => void;
}

export interface ExecServiceOptions {
  containers: ContainerService;
  events: Events;
  log: Logger;
}

/** Output kept for a hijacked exec client after the process ended, at most this long. */
const DRAIN_MS = 2_000;
/** Docker's exec garbage collection period. */
const GC_MS = 5 * 60_000;

export class ExecService {
  private readonly execs = new Map<string, ExecRecord>();
  private readonly gc: NodeJS.Timeout;

  constructor(private readonly o: ExecServiceOptions) {
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
    void this.sweep(rec).catch(() => undefined);
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
      await this.launch(this.startable(id), opts.consoleSize);
      return;
    }
    let ex: ExecRecord;
    let launched: Launched;
    try {
      ex = this.startable(id);
      launched = await this.launch(ex, opts.consoleSize, client);
    } catch (e) {
      const text = Buffer.from(`${messageOf(e)}\r\n`);
      client.on("error", () => undefined);
      client.end(opts.muxed ? frame(1, text) : text);
      if (!(e instanceof EngineError) || e.kind === "internal") this.o.log.error(`exec ${id.slice(0, 12)}: ${messageOf(e)}`);
      return;
    }
    await this.follow(ex, launched, client);
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

  /** Spawn the monitor, attach the client, start the process. */
  private async launch(ex: ExecRecord, consoleSize: [number, number] | undefined, client?: Duplex): Promise<Launched> {
    if (ex.exitCode !== null) throw conflict(`exec command ${ex.id} has already run`);
    if (ex.running) throw conflict(`exec command ${ex.id} is already running`);
    ex.running = true;
    let stateDir: string | undefined;
    let monitorPid = 0;
    let mon: Duplex | undefined;
    let started = false;
    try {
      const { rec, runtime, stateDir: ctrDir } = this.o.containers.execTarget(ex.containerId);
      this.o.containers.emit(rec, `exec_start: ${[ex.entrypoint, ...ex.args].join(" ")}`, { execID: ex.id });
      const proc = await this.processOf(ex, rec, await bundleSpec(rec, ctrDir), consoleSize ?? ex.consoleSize);
      ex.runtime = runtime;
      ex.stateDir = stateDir = runtime.execStateDir(rec.Id, ex.id);
      monitorPid = (await runtime.createExec(rec.Id, ex.id, proc, { tty: ex.tty, stdin: ex.openStdin })).monitorPid;
      if (client && (ex.openStdin || ex.openStdout || ex.openStderr)) {
        // Attached before start: no output is missed.
        mon = await runtime.attach(stateDir, { stdin: ex.openStdin, stdout: ex.openStdout, stderr: ex.openStderr, stdinOnce: true });
      }
      try {
        started = true;
        ex.pid = await runtime.start(stateDir);
      } catch (e) {
        throw startError(ex, messageOf(e));
      }
      const recorded = this.recordExit(ex, rec, runtime.wait(stateDir));
      void recorded.then(() => this.removeState(ex, stateDir as string, monitorPid));
      ex.markStarted();
      return { recorded, mon };
    } catch (e) {
      mon?.destroy();
      // A monitor that was never told to start waits for it forever: SIGTERM makes it clean up and go.
      if (monitorPid > 0 && !started) killQuietly(monitorPid);
      ex.running = false;
      if (ex.exitCode === null) ex.exitCode = 126; // Docker's default for an exec that failed to start
      ex.markStarted();
      if (stateDir !== undefined) await this.removeState(ex, stateDir, monitorPid);
      throw e;
    }
  }

  /** Copy between client and process until the exit is recorded or the client detaches. */
  private async follow(ex: ExecRecord, { recorded, mon }: Launched, client: Duplex): Promise<void> {
    let detach!: () => void;
    const detached = new Promise<"detached">((r) => (detach = () => r("detached")));
    const monEnded = new Promise<void>((r) => {
      if (!mon) return r();
      mon.once("close", () => r());
      mon.once("end", () => r());
    });
    client.on("error", () => mon?.destroy());
    client.once("close", () => mon?.destroy());
    // dockerd ends a terminal session when the client half-closes its stdin: it closes the
    // output at once (what is still on its way is dropped); the process itself goes on.
    if (mon && ex.tty && ex.openStdin) client.once("end", () => detach());
    if (mon) {
      mon.on("error", () => undefined);
      mon.pipe(client, { end: false });
      if (ex.openStdin) {
        pipeStdin(client, mon, ex.tty, ex.detachKeys, () => {
          mon.destroy();
          const rec = this.o.containers.find(ex.containerId);
          if (rec) this.o.containers.emit(rec, "exec_detach", { execID: ex.id });
          detach();
        });
      } else client.resume();
    } else client.resume();
    // The exit code is recorded before the client is let go (the CLI asks for it next);
    // the monitor drains the output before it closes the socket, bounded here too.
    // At the bound, one more turn of the event loop first: after a stall of the daemon the timer runs
    // before the poll phase, which would read output (and its end) that is already waiting.
    const bound = (): Promise<void> => new Promise((r) => setTimeout(() => setImmediate(r), DRAIN_MS).unref());
    const ended = recorded.then(() => Promise.race([monEnded, bound()]));
    await Promise.race([ended, detached]);
    mon?.unpipe(client);
    mon?.destroy();
    client.end(() => client.destroy());
  }

  /** Record the exit code (resolves then) and tell the world. */
  private async recordExit(ex: ExecRecord, rec: ContainerRecord, exited: Promise<{ exitCode: number }>): Promise<void> {
    let code: number;
    try {
      code = (await exited).exitCode;
    } catch (e) {
      this.o.log.warn(`lost track of exec ${ex.id.slice(0, 12)}: ${messageOf(e)}`);
      code = 255;
    }
    ex.exitCode = code;
    ex.running = false;
    this.o.containers.emit(rec, "exec_die", { execID: ex.id, exitCode: String(code) });
  }

  /** Remove the monitor's state dir once the monitor is gone. */
  private async removeState(ex: ExecRecord, stateDir: string, monitorPid: number): Promise<void> {
    // The monitor exits right after it answered the waiters and flushed its clients.
    for (let i = 0; i < 400 && monitorPid > 0 && processAlive(monitorPid); i++) await new Promise((r) => setTimeout(r, 5));
    await fs.rm(stateDir, { recursive: true, force: true }).catch((e: unknown) => this.o.log.warn(`removing exec state ${stateDir}: ${messageOf(e)}`));
    if (ex.stateDir === stateDir) delete ex.stateDir;
  }

  /**
   * Remove state dirs of execs berthd lost track of (they ran across a daemon
   * restart) once their monitors are gone.
   */
  private async sweep(rec: ContainerRecord): Promise<void> {
    const { runtime } = this.o.containers.execTarget(rec.Id);
    const root = path.dirname(runtime.execStateDir(rec.Id, "x"));
    const known = new Set([...this.execs.values()].filter((x) => x.containerId === rec.Id).map((x) => path.basename(runtime.execStateDir(rec.Id, x.id))));
    for (const name of await fs.readdir(root).catch(() => [] as string[])) {
      if (known.has(name)) continue;
      const dir = path.join(root, name);
      if (!(await runtime.isAlive(dir).catch(() => true))) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
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
    if (!ex.tty || !ex.runtime || ex.stateDir === undefined) return;
    await ex.runtime.resize(ex.stateDir, height, width).catch((e: unknown) => {
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

  /** The exec's process (runtime/ocispec's execProcess), its user resolved in the container's root. */
  private async processOf(ex: ExecRecord, rec: ContainerRecord, spec: OciSpec, consoleSize: [number, number] | undefined): Promise<OciProcess> {
    let user: OciUser | undefined;
    if (ex.user !== "") {
      const { home: _home, ...u } = await resolveUser(spec.root.path, ex.user, rec.HostConfig.GroupAdd ?? []);
      user = u;
    }
    return execProcess(spec, { args: [ex.entrypoint, ...ex.args], env: ex.env, cwd: ex.workingDir, tty: ex.tty, consoleSize, ...(user ? { user } : {}), privileged: ex.privileged }, specHost());
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

interface Launched {
  /** Resolves once the exit code is recorded. */
  recorded: Promise<void>;
  mon: Duplex | undefined;
}

/** The container's OCI spec as it runs (the bundle berthd wrote at start, in its state dir). */
async function bundleSpec(rec: ContainerRecord, stateDir: string): Promise<OciSpec> {
  try {
    return JSON.parse(await fs.readFile(path.join(stateDir, "config.json"), "utf8")) as OciSpec;
  } catch (e) {
    throw new EngineError("internal", `cannot read the bundle of container ${rec.Id}: ${errnoCode(e) ?? messageOf(e)}`);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
}

function parseDetachKeysForExec(keys: string): Buffer {
  try {
    return parseDetachKeys(keys);
  } catch {
    throw invalid(`Invalid escape keys (${keys}) provided`);
  }
}

/**
 * Docker's translation of a failed exec start: the runtime's message wrapped as
 * containerd reports it, and the exit code the process would have had
 * (126 cannot be invoked, 127 not found).
 */
function startError(ex: ExecRecord, runtimeMsg: string): EngineError {
  const detail = runtimeMsg.replace(/^runc exec failed: /, "").replace(/^exec failed: /, "");
  const msg = `OCI runtime exec failed: exec failed: ${detail}: unknown`;
  const lower = msg.toLowerCase();
  let code = 128;
  let kind: EngineError["kind"] = "internal";
  if (lower.includes("permission denied")) [code, kind] = [126, "invalid"];
  else if (lower.includes("is a directory")) [code, kind] = [126, "invalid"];
  else if (lower.includes("not a directory")) [code, kind] = [127, "invalid"];
  else if (["executable file not found", "no such file or directory", "system cannot find the file specified"].some((s) => lower.includes(s))) [code, kind] = [127, "invalid"];
  ex.exitCode = code;
  return new EngineError(kind, msg);
}

/** Docker's environment of an exec: PATH, HOSTNAME, TERM (tty), then the container's Env. */
function containerEnv(rec: ContainerRecord, tty: boolean): string[] {
  const base = [DEFAULT_PATH_ENV, `HOSTNAME=${rec.Config.Hostname}`, ...(tty ? ["TERM=xterm"] : [])];
  return replaceOrAppendEnv(base, rec.Config.Env);
}

/** Docker's ReplaceOrAppendEnvValues: override by key, append new keys; a bare NAME unsets. */
export function replaceOrAppendEnv(defaults: string[], overrides: string[]): string[] {
  const out: (string | undefined)[] = [...defaults];
  const index = new Map<string, number>();
  out.forEach((e, i) => index.set((e as string).split("=", 1)[0] as string, i));
  for (const v of overrides) {
    const eq = v.indexOf("=");
    const key = eq < 0 ? v : v.slice(0, eq);
    const i = index.get(key);
    if (eq < 0) {
      if (i !== undefined) out[i] = undefined;
      continue;
    }
    if (i !== undefined && out[i] !== undefined) out[i] = v;
    else {
      index.set(key, out.length);
      out.push(v);
    }
  }
  return out.filter((e): e is string => e !== undefined);
}

/** A Docker stdcopy frame (1 stdout, 2 stderr). */
function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return false;
  }
}
