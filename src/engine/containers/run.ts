/**
 * A container's run: the start (overlay, network, /etc files, the OCI spec, the
 * runtime and its monitor), following the monitor until the process ends, and the
 * exit's bookkeeping (state, events, clean-up, waiters). What follows an exit —
 * auto-remove or a policy restart — and attach clients held until the start are
 * handed to the roles that own them (wired by the service).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Duplex } from "node:stream";
import { bestEffort } from "../../util/besteffort.js";
import { EngineError, isEngineError, messageOf } from "../../util/errors.js";
import { mkdirp } from "../../util/fsutil.js";
import { type ExitStatus, oomKillFile, parseOomKill } from "../../runtime/index.js";
import { containerLogTarget } from "../logs/index.js";
import type { NetworkAttachment } from "../plugs.js";
import { cgroupsPathOf, containerSpec } from "../runspec.js";
import { type ContainerRecord, ZERO_TIME } from "../types.js";
import { prepareShm, releaseShm, shmPath, writeEtcFiles } from "./hostfiles.js";
import type { ContainerStore } from "./store.js";
import type { AttachOptions, WaitResult } from "./types.js";

/** What the run hands on to the other roles. */
export interface RunHooks {
  /** Connect an attach client that waited for the start. */
  connectAttach(rec: ContainerRecord, client: Duplex, opts: AttachOptions): Promise<void>;
  /** Remove the container (AutoRemove), its lock held. */
  removeUnlocked(rec: ContainerRecord, fromExit: boolean, removeVolumes?: boolean): Promise<void>;
  /** After an exit: restart it if its policy says so. */
  maybeRestart(rec: ContainerRecord, st: ExitStatus): void;
}

export class ContainerRunner {
  constructor(
    private readonly store: ContainerStore,
    private readonly hooks: RunHooks,
  ) {}

  /** Start the container; its lock must be held. On failure, everything set up is undone and the state says why. */
  async startUnlocked(rec: ContainerRecord): Promise<void> {
    const { store } = this;
    const { images } = store.o;
    const proc = store.proc(rec);
    try {
      const idMap = rec.HostConfig.UsernsMode === "host" ? undefined : images.idMap;
      // The overlay and the network are independent: set both up at once. Both settle
      // before an error is thrown, so the clean-up below never races a half-done set-up.
      const [mounted, netUp] = await Promise.allSettled([images.snapshots.mount(rec.Id), store.o.networking?.setUp(rec, { runtimeNetns: idMap !== undefined })]);
      if (mounted.status === "rejected") throw mounted.reason;
      if (netUp.status === "rejected") throw netUp.reason;
      const rootfs = mounted.value;
      const net: NetworkAttachment = netUp.value ?? {};
      await writeEtcFiles(store, rec, net);
      const volumeMounts = (await store.o.storage?.mounts(rec, rootfs)) ?? [];
      const c = rec.Config;
      const spec = await containerSpec({
        rec,
        rootfs,
        net,
        volumeMounts,
        ...(idMap ? { idMap } : {}),
        defaultUlimits: store.o.defaultUlimits ?? [],
        nsTargets: { find: (x) => store.find(x), shmPath: (r) => shmPath(store, r) },
        prepareShm: (r) => prepareShm(store, r),
      });
      const lt = await containerLogTarget(rec, store.dir(rec.Id));
      if (lt.file) await mkdirp(path.dirname(lt.file), 0o700);
      const io = {
        tty: c.Tty,
        stdin: c.OpenStdin,
        ...(lt.file ? { logPath: lt.file } : {}),
        ...(lt.maxSize ? { logMaxSize: lt.maxSize } : {}),
        ...(lt.maxFiles ? { logMaxFiles: lt.maxFiles } : {}),
        ...(lt.sinks ? { logSinks: lt.sinks } : {}),
      };
      const created = await proc.create(spec, io);
      await store.o.storage?.afterCreate(rec);
      await net.afterCreate?.(created.pid);
      // Attach clients that arrived before start get every byte of output.
      const l = store.liveOf(rec.Id);
      for (const p of l.pendingAttach.splice(0)) await this.hooks.connectAttach(rec, p.client, p.opts);
      const pid = await proc.start();
      rec.State = {
        ...rec.State,
        Status: "running",
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: pid || created.pid,
        ExitCode: 0,
        Error: "",
        StartedAt: new Date().toISOString(),
        FinishedAt: ZERO_TIME,
      };
      rec.MonitorPid = created.monitorPid;
      await store.save(rec);
      this.watch(rec);
      store.emit(rec, "start");
    } catch (e) {
      const msg = messageOf(e);
      // Docker's codes for a process the runtime could not start: 127 not found, 126 not executable;
      // 128 for the rest, as for what failed before the runtime (a missing network: "network x not found").
      const before = isEngineError(e) && e.kind !== "internal";
      const code = before ? 128 : /not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128;
      rec.State = { ...rec.State, Status: rec.State.StartedAt === ZERO_TIME ? "created" : "exited", Running: false, Pid: 0, Error: msg, ExitCode: code };
      await proc.cleanup().catch(bestEffort("failed start: runtime state"));
      await store.o.storage?.afterCreate(rec).catch(bestEffort("failed start: volume staging"));
      await store.o.networking?.tearDown(rec).catch(bestEffort("failed start: network"));
      await images.snapshots.unmount(rec.Id).catch(bestEffort("failed start: rootfs"));
      await releaseShm(store, rec);
      await store.save(rec).catch(bestEffort("failed start: record"));
      const l = store.liveOf(rec.Id);
      for (const p of l.pendingAttach.splice(0)) p.client.end();
      for (const w of l.exitWaiters.splice(0)) w({ StatusCode: code, Error: null });
      if (rec.HostConfig.AutoRemove) await this.hooks.removeUnlocked(rec, true).catch(bestEffort("failed start: auto-remove"));
      if (isEngineError(e) && e.kind !== "internal") throw e;
      throw new EngineError(code === 128 ? "internal" : "invalid", `failed to create task for container: ${msg}`);
    }
  }

  /** Follow the monitor until the process ends. */
  watch(rec: ContainerRecord): void {
    const { store } = this;
    const l = store.liveOf(rec.Id);
    const exited = store
      .proc(rec)
      .wait()
      .catch((e: unknown): ExitStatus => {
        store.o.log.warn(`lost track of container ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
        return { exitCode: 255, finishedAt: new Date().toISOString() };
      });
    l.exited = exited;
    void exited.then((st) => {
      if (store.shuttingDown) return;
      void store.lock.run(rec.Id, () => this.onExit(rec, st)).catch((e: unknown) => store.o.log.error(`exit handling for ${rec.Id}: ${messageOf(e)}`));
    });
  }

  /** The exit's bookkeeping; the lock must be held. */
  async onExit(rec: ContainerRecord, st: ExitStatus): Promise<void> {
    const { store } = this;
    const { log } = store.o;
    if (!store.records.has(rec.Id) || !rec.State.Running) return;
    const oom = st.oomKilled ?? oomKilled(rec);
    rec.State = { ...rec.State, Status: "exited", Running: false, Paused: false, Pid: 0, ExitCode: st.exitCode, FinishedAt: st.finishedAt, OOMKilled: oom };
    if (rec.State.Health) rec.State.Health = { ...rec.State.Health, Status: "unhealthy" };
    delete rec.MonitorPid;
    await store.proc(rec).cleanup().catch((e: unknown) => log.warn(`cleanup ${rec.Id}: ${messageOf(e)}`));
    // dockerd's order: oom, die, then the clean-up's network disconnect and volume unmount events.
    if (oom) store.emit(rec, "oom");
    store.emit(rec, "die", { exitCode: String(st.exitCode) });
    await store.o.networking?.tearDown(rec).catch((e: unknown) => log.warn(`network teardown ${rec.Id}: ${messageOf(e)}`));
    await store.o.images.snapshots.unmount(rec.Id).catch((e: unknown) => log.warn(`unmount ${rec.Id}: ${messageOf(e)}`));
    await releaseShm(store, rec);
    await store.save(rec);
    const l = store.liveOf(rec.Id);
    delete l.exited;
    const result: WaitResult = { StatusCode: st.exitCode, Error: null };
    for (const w of l.exitWaiters.splice(0)) w(result);
    if (rec.HostConfig.AutoRemove) {
      await this.hooks.removeUnlocked(rec, true, true).catch((e: unknown) => log.error(`auto-remove ${rec.Id}: ${messageOf(e)}`));
      return;
    }
    this.hooks.maybeRestart(rec, st);
  }
}

/** The oom_kill counter of v1 memory.oom_control / v2 memory.events (gone once the runtime deleted the cgroup). */
function oomKilled(rec: ContainerRecord): boolean {
  try {
    return parseOomKill(readFileSync(oomKillFile(cgroupsPathOf(rec)), "utf8")) > 0;
  } catch {
    return false;
  }
}
