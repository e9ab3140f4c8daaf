/**
 * Starting an exec and following it: the process built by runtime/ocispec's execProcess from the
 * container's own spec, its monitor spawned and attached before start (no output is missed), the
 * client's stdio copied until the exit code is recorded or the client detaches, failures written
 * into the stream as dockerd does.
 */
import type { Duplex } from "node:stream";
import { EngineError, conflict, messageOf } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { type ContainerProcess, type ExecProcess, type OciProcess, type OciSpec, type OciUser, type Runtime, execProcess, resolveUser, specHost } from "../runtime/index.js";
import type { ExecRecord } from "./execrecord.js";
import { pipeStdin } from "./stdio.js";
import type { ContainerRecord } from "./types.js";

/** What exec needs of the container service (the members it calls; the service keeps these names). */
export interface ExecContainers {
  get(idOrName: string): ContainerRecord;
  find(idOrName: string): ContainerRecord | undefined;
  execTarget(idOrName: string): { rec: ContainerRecord; runtime: Runtime };
  emit(rec: ContainerRecord, action: string, extra?: Record<string, string>): void;
}

export interface Launched {
  /** Resolves once the exit code is recorded. */
  recorded: Promise<void>;
  mon: Duplex | undefined;
}

/** Output kept for a hijacked exec client after the process ended, at most this long. */
const DRAIN_MS = 2_000;

export class ExecLauncher {
  constructor(private readonly o: { containers: ExecContainers; log: Logger }) {}

  /** Spawn the monitor, attach the client, start the process. */
  async launch(ex: ExecRecord, consoleSize: [number, number] | undefined, client?: Duplex): Promise<Launched> {
    if (ex.exitCode !== null) throw conflict(`exec command ${ex.id} has already run`);
    if (ex.running) throw conflict(`exec command ${ex.id} is already running`);
    ex.running = true;
    let proc: ExecProcess | undefined;
    let monitorPid = 0;
    let mon: Duplex | undefined;
    let started = false;
    try {
      const { rec, runtime } = this.o.containers.execTarget(ex.containerId);
      this.o.containers.emit(rec, `exec_start: ${[ex.entrypoint, ...ex.args].join(" ")}`, { execID: ex.id });
      const ctr = runtime.container(rec.Id);
      const spec = await processOf(ex, rec, ctr, consoleSize ?? ex.consoleSize);
      ex.process = proc = ctr.exec(ex.id);
      monitorPid = (await proc.create(spec, { tty: ex.tty, stdin: ex.openStdin })).monitorPid;
      if (client && (ex.openStdin || ex.openStdout || ex.openStderr)) {
        // Attached before start: no output is missed.
        mon = await proc.attach({ stdin: ex.openStdin, stdout: ex.openStdout, stderr: ex.openStderr, stdinOnce: true });
      }
      try {
        started = true;
        ex.pid = await proc.start();
      } catch (e) {
        throw startError(ex, messageOf(e));
      }
      const recorded = this.recordExit(ex, rec, proc.wait());
      const p = proc;
      void recorded.then(() => this.removeState(ex, p, monitorPid));
      ex.markStarted();
      return { recorded, mon };
    } catch (e) {
      mon?.destroy();
      // A monitor that was never told to start waits for it forever: SIGTERM makes it clean up and go.
      if (monitorPid > 0 && !started) killQuietly(monitorPid);
      ex.running = false;
      if (ex.exitCode === null) ex.exitCode = 126; // Docker's default for an exec that failed to start
      ex.markStarted();
      if (proc !== undefined) await this.removeState(ex, proc, monitorPid);
      throw e;
    }
  }

  /** Copy between client and process until the exit is recorded or the client detaches. */
  async follow(ex: ExecRecord, { recorded, mon }: Launched, client: Duplex): Promise<void> {
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

  /** Write a failure into the client's stream as dockerd does (and log what is the daemon's fault). */
  fail(id: string, e: unknown, client: Duplex, muxed: boolean): void {
    const text = Buffer.from(`${messageOf(e)}\r\n`);
    client.on("error", () => undefined);
    client.end(muxed ? frame(1, text) : text);
    if (!(e instanceof EngineError) || e.kind === "internal") this.o.log.error(`exec ${id.slice(0, 12)}: ${messageOf(e)}`);
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
  private async removeState(ex: ExecRecord, proc: ExecProcess, monitorPid: number): Promise<void> {
    await proc.remove(monitorPid).catch((e: unknown) => this.o.log.warn(`removing exec state ${proc.stateDir}: ${messageOf(e)}`));
    if (ex.process === proc) delete ex.process;
  }
}

/** The exec's process (runtime/ocispec's execProcess) from the container's spec, its user resolved in the container's root. */
async function processOf(ex: ExecRecord, rec: ContainerRecord, ctr: ContainerProcess, consoleSize: [number, number] | undefined): Promise<OciProcess> {
  const spec: OciSpec = await ctr.spec();
  let user: OciUser | undefined;
  if (ex.user !== "") {
    const { home: _home, ...u } = await resolveUser(spec.root.path, ex.user, rec.HostConfig.GroupAdd ?? []);
    user = u;
  }
  return execProcess(spec, { args: [ex.entrypoint, ...ex.args], env: ex.env, cwd: ex.workingDir, tty: ex.tty, consoleSize, ...(user ? { user } : {}), privileged: ex.privileged }, specHost());
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
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

/** A Docker stdcopy frame (1 stdout, 2 stderr). */
function frame(stream: 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}
