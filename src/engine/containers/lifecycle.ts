/**
 * The lifecycle routes: start, kill, stop, restart, pause/unpause, rename and wait,
 * each serialized with the others on the container's lock.
 */
import { bestEffort } from "../../util/besteffort.js";
import { conflict, invalid } from "../../util/errors.js";
import { parseSignal } from "../../runtime/index.js";
import type { ContainerRecord } from "../types.js";
import { NAME_RE } from "../names.js";
import type { RestartPolicies } from "./restart.js";
import type { ContainerRunner } from "./run.js";
import type { ContainerStore } from "./store.js";
import type { WaitCondition, WaitResult } from "./types.js";

export class ContainerLifecycle {
  constructor(
    private readonly store: ContainerStore,
    private readonly runner: ContainerRunner,
    private readonly restarts: RestartPolicies,
  ) {}

  async start(idOrName: string): Promise<"started" | "alreadyRunning"> {
    const rec = this.store.get(idOrName);
    return this.store.lock.run(rec.Id, async () => {
      if (rec.State.Running) return "alreadyRunning";
      if (rec.State.Status === "removing" || rec.State.Dead) throw conflict(`container ${rec.Id} is marked for removal and cannot be started`);
      rec.ManuallyStopped = false;
      await this.runner.startUnlocked(rec);
      return "started";
    });
  }

  async kill(idOrName: string, signal = "SIGKILL"): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    const sig = parseSignal(signal);
    if (!rec.State.Running) throw conflict(`Cannot kill container: ${idOrName}: Container ${rec.Id} is not running`);
    if (sig === 9 || sig === 15) rec.ManuallyStopped = true;
    const exited = store.liveOf(rec.Id).exited;
    await store.proc(rec).kill(sig);
    if (sig === 9) await thawForSignal(store, rec);
    store.emit(rec, "kill", { signal: String(sig) });
    // dockerd answers a SIGKILL only once the container is dead (other signals at once):
    // a client's next inspect, list or wait sees it exited.
    if (sig === 9 && exited) {
      await exited;
      await store.lock.run(rec.Id, async () => undefined);
    }
  }

  /** Stop: the stop signal, then SIGKILL after the timeout. Returns false if it was not running. */
  async stop(idOrName: string, timeout?: number, signal?: string): Promise<boolean> {
    const { store } = this;
    const rec = store.get(idOrName);
    rec.ManuallyStopped = true;
    if (!rec.State.Running) {
      if (!this.restarts.cancel(rec)) return false;
      await store.save(rec);
      return true;
    }
    const exited = store.liveOf(rec.Id).exited;
    const sig = parseSignal(signal || rec.Config.StopSignal || "SIGTERM");
    const t = timeout ?? rec.Config.StopTimeout ?? 10;
    const settled = (ms: number) => (exited ? Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]) : Promise.resolve(true));
    // As dockerd: the stop signal first (even with no grace time), then SIGKILL if it is still running; each is a kill event.
    await store.proc(rec).kill(sig).catch(bestEffort("stop: signal"));
    await thawForSignal(store, rec);
    store.emit(rec, "kill", { signal: String(sig) });
    if (t < 0 ? !(await exited?.then(() => true)) : !(await settled(t * 1000))) {
      await store.proc(rec).kill(9).catch(bestEffort("stop: SIGKILL"));
      store.emit(rec, "kill", { signal: "9" });
      await settled(30_000);
    }
    // Let the exit bookkeeping finish so the caller sees "exited".
    await store.lock.run(rec.Id, async () => undefined);
    store.emit(rec, "stop");
    return true;
  }

  async restart(idOrName: string, timeout?: number, signal?: string): Promise<void> {
    const rec = this.store.get(idOrName);
    await this.stop(rec.Id, timeout, signal);
    await this.start(rec.Id);
    this.store.emit(rec, "restart");
  }

  async pause(idOrName: string): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    await store.lock.run(rec.Id, async () => {
      if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
      if (rec.State.Paused) throw conflict(`Container ${rec.Id} is already paused`);
      await store.proc(rec).pause();
      rec.State = { ...rec.State, Paused: true, Status: "paused" };
      await store.save(rec);
      store.emit(rec, "pause");
    });
  }

  async unpause(idOrName: string): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    await store.lock.run(rec.Id, async () => {
      if (!rec.State.Paused) throw conflict(`Container ${rec.Id} is not paused`);
      await store.proc(rec).resume();
      rec.State = { ...rec.State, Paused: false, Status: "running" };
      await store.save(rec);
      store.emit(rec, "unpause");
    });
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    if (!NAME_RE.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const full = newName.startsWith("/") ? newName : `/${newName}`;
    if (full === rec.Name) throw invalid(`Renaming a container with the same name as its current name`);
    const holder = store.names.get(full);
    if (holder) throw conflict(`Error when allocating new name: Conflict. The container name "${full}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    await store.lock.run(rec.Id, async () => {
      const old = rec.Name;
      store.names.set(full, rec.Id);
      rec.Name = full;
      try {
        await store.save(rec);
      } catch (e) {
        rec.Name = old;
        store.names.delete(full);
        throw e;
      }
      store.names.delete(old);
      store.emit(rec, "rename", { oldName: old });
    });
  }

  /**
   * Register a waiter and return a promise for its result. Registration happens
   * synchronously, so the caller can acknowledge the request before the wait ends.
   */
  wait(idOrName: string, condition: WaitCondition): Promise<WaitResult> {
    const rec = this.store.get(idOrName);
    const l = this.store.liveOf(rec.Id);
    switch (condition) {
      case "not-running":
        if (!rec.State.Running) return Promise.resolve({ StatusCode: rec.State.ExitCode, Error: null });
        return new Promise((r) => l.exitWaiters.push(r));
      case "next-exit":
        return new Promise((r) => l.exitWaiters.push(r));
      case "removed":
        return new Promise((r) => l.removeWaiters.push(r));
      default:
        throw invalid(`invalid condition: "${String(condition)}"`);
    }
  }
}

/** A frozen container cannot act on a signal: thaw it after signalling (as Docker does for stop/kill). */
export async function thawForSignal(store: ContainerStore, rec: ContainerRecord): Promise<void> {
  if (!rec.State.Paused) return;
  await store.proc(rec).resume().catch(bestEffort("thaw after a signal"));
  // A SIGKILLed container may have died, and its exit been recorded, while runc resume ran.
  if (rec.State.Running) rec.State = { ...rec.State, Paused: false, Status: "running" };
}
