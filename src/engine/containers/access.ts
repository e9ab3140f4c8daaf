/**
 * What the other container backends reach through: exec's target process, the root
 * filesystem for docker cp / diff / commit (mounted while used, serialized with
 * start/stop/rm), the freezer for a copy, the record under its lock (docker update)
 * and the health state the health monitor records.
 */
import path from "node:path";
import { bestEffort } from "../../util/besteffort.js";
import { conflict, messageOf, notFound } from "../../util/errors.js";
import type { Runtime } from "../../runtime/index.js";
import type { ContainerView } from "../cpview.js";
import type { ContainerRecord, ContainerState } from "../types.js";
import type { ContainerStore } from "./store.js";
import type { ContainerAccess, ContainerHealth, ContainerLocking } from "./types.js";

export class ContainerHooks implements ContainerAccess, ContainerLocking, ContainerHealth {
  constructor(private readonly store: ContainerStore) {}

  /** A running container's runtime, state dir and record, for exec and stats. 409 if not running. */
  execTarget(idOrName: string): { rec: ContainerRecord; runtime: Runtime } {
    const rec = this.store.get(idOrName);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
    return { rec, runtime: this.store.rt(rec) };
  }

  /**
   * Run fn with the container's root filesystem mounted (as it is while running;
   * mounted for the duration when it is stopped). Serialized with start/stop/rm.
   */
  async withRootfs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord) => Promise<T>): Promise<T> {
    const { store } = this;
    const layers = store.o.images.snapshots;
    const rec = store.get(idOrName);
    return store.lock.run(rec.Id, async () => {
      if (!store.records.has(rec.Id)) throw notFound(`No such container: ${idOrName}`);
      const wasRunning = rec.State.Running;
      const rootfs = await layers.mount(rec.Id);
      try {
        return await fn(rootfs, rec);
      } finally {
        if (!wasRunning && !rec.State.Running) await layers.unmount(rec.Id).catch(bestEffort("unmount rootfs after use"));
      }
    });
  }

  /**
   * Run fn with the container's filesystem as `docker cp` sees it (Docker's openContainerFS):
   * the root filesystem (mounted as withRootfs does) and the volumes and bind mounts to show
   * in it, prepared by the storage backend and released after fn. Serialized with start/stop/rm.
   */
  async withContainerFs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord, view: ContainerView) => Promise<T>): Promise<T> {
    return this.withRootfs(idOrName, async (rootfs, rec) => {
      const storage = this.store.o.storage;
      const view: ContainerView = storage ? await storage.viewMounts(rec, rootfs) : { mounts: [], release: async () => undefined };
      try {
        return await fn(rootfs, rec, view);
      } finally {
        await view.release();
      }
    });
  }

  /** The writable layer's directory (overlay upper) of a container, for diff/commit. */
  upperDir(idOrName: string): string {
    return path.join(this.store.o.images.snapshots.snapshotDir(this.store.get(idOrName).Id), "upper");
  }

  /**
   * Freeze a running, unpaused container's processes (the runtime's cgroup freezer)
   * for a filesystem operation that must not race with them (docker cp into it),
   * without recording a pause or emitting events. Call it inside withRootfs, which
   * serializes with start/stop/pause. Returns the thaw function, which never throws.
   */
  async freeze(rec: ContainerRecord): Promise<() => Promise<void>> {
    if (!rec.State.Running || rec.State.Paused) return async () => undefined;
    const c = this.store.proc(rec);
    await c.pause();
    return async () => {
      await c.resume().catch((e: unknown) => this.store.o.log.warn(`thawing ${rec.Id.slice(0, 12)}: ${messageOf(e)}`));
    };
  }

  /**
   * Run fn on a container's record under its lifecycle lock (serialized with start, stop,
   * exit handling and rm), with its runtime and a way to persist the record (docker update).
   */
  async locked<T>(idOrName: string, fn: (rec: ContainerRecord, ctl: { runtime: Runtime; save: () => Promise<void> }) => Promise<T>): Promise<T> {
    const { store } = this;
    const rec = store.get(idOrName);
    return store.lock.run(rec.Id, async () => {
      if (!store.records.has(rec.Id)) throw notFound(`No such container: ${idOrName}`);
      return fn(rec, { runtime: store.rt(rec), save: () => store.save(rec) });
    });
  }

  /**
   * Record a health state (HealthMonitor); persisted when the status changed, and announced
   * unless asked not to (dockerd announces what probes change, not the "starting" of a start).
   */
  async setHealth(id: string, health: NonNullable<ContainerState["Health"]>, changed = true, announce = changed): Promise<void> {
    const { store } = this;
    const rec = store.records.get(id);
    if (!rec || !rec.State.Running) return;
    rec.State = { ...rec.State, Health: health };
    if (changed) await store.save(rec);
    if (changed && announce) store.emit(rec, `health_status: ${health.Status}`);
  }
}
