/**
 * What the volumes backend's parts share: the local driver, the lock, Docker's references
 * (which containers refer to a volume) and the mounts in use (tmpfs and bind-device volumes
 * stay mounted while a running, starting or viewed container uses them).
 */
import { randomBytes } from "node:crypto";
import { notFound } from "../../util/errors.js";
import { KeyedMutex } from "../../util/lock.js";
import type { Logger } from "../../util/log.js";
import { DEFAULT_DRIVER, LocalDriver, type VolumeRecord } from "../../volume/index.js";
import type { Events } from "../events.js";
import type { ContainerRecord } from "../types.js";

export interface ContainerLookup {
  all(): ContainerRecord[];
  find(idOrName: string): ContainerRecord | undefined;
}

export interface VolumeServiceOptions {
  root: string; // data-root/volumes
  events: Events;
  log: Logger;
  containers: ContainerLookup;
  /** Host ids of containers' root under `--userns-remap`: owner of new volume data and mount points. */
  rootOwner?: { uid: number; gid: number };
  /** Where volume subpaths are bind-mounted for the runtime while a container is created (root only, 0700). */
  stageRoot: string;
}

/** A create still writing its record keeps its volumes referenced this long at most. */
const CREATE_GRACE_MS = 120_000;
/** A start that prepared mounts but never ran keeps mounted volumes this long at most. */
const START_GRACE_MS = 60_000;

export function randomName(): string {
  return randomBytes(32).toString("hex");
}

export class VolumeState {
  readonly driver: LocalDriver;
  /** Containers whose create is writing its record: their new volumes count as used. */
  readonly creating = new Map<string, { rec: ContainerRecord; at: number }>();
  /** Containers whose mounts are prepared but which do not run yet. */
  readonly starting = new Map<string, number>();
  /** Containers whose filesystem `docker cp` is looking at (views open, by count): their volumes stay mounted. */
  readonly viewing = new Map<string, number>();
  /** "refs": reference changes (create/rm); "mounts": mounting and unmounting; volume names: copy-up. */
  readonly lock = new KeyedMutex();

  constructor(readonly o: VolumeServiceOptions) {
    this.driver = new LocalDriver(o.root, o.log, o.rootOwner);
  }

  /** Ids of the containers referring to a volume (Docker's refs), optionally leaving one out. */
  refs(name: string, exclude?: string): string[] {
    const recs = this.o.containers.all();
    const known = new Set(recs.map((r) => r.Id));
    const now = Date.now();
    for (const [id, c] of this.creating) {
      if (known.has(id) || now - c.at > CREATE_GRACE_MS) this.creating.delete(id);
      else recs.push(c.rec);
    }
    const out: string[] = [];
    for (const r of recs) {
      if (r.Id === exclude || out.includes(r.Id)) continue;
      if ((r.MountPoints ?? []).some((m) => m.Type === "volume" && m.Name === name)) out.push(r.Id);
    }
    return out;
  }

  /**
   * Unmount the mounted (tmpfs, bind-device) volumes that no running or starting
   * container uses. Called when a container dies, at removal, before a start, and
   * once after start-up (mounts survive a daemon restart).
   */
  async settle(): Promise<void> {
    await this.lock.run("mounts", async () => {
      const needing = this.driver.list().filter((v) => this.driver.needsMount(v));
      if (needing.length === 0) return;
      const now = Date.now();
      const active = new Set<string>();
      const known = new Set<string>();
      for (const r of this.o.containers.all()) {
        known.add(r.Id);
        const since = this.starting.get(r.Id);
        if (since !== undefined && (r.State.Running || now - since > START_GRACE_MS)) this.starting.delete(r.Id);
        if (!r.State.Running && !this.starting.has(r.Id) && !this.viewing.has(r.Id)) continue;
        for (const m of r.MountPoints ?? []) if (m.Type === "volume") active.add(m.Name);
      }
      for (const id of this.starting.keys()) if (!known.has(id)) this.starting.delete(id);
      for (const v of needing) {
        if (active.has(v.Name) || !(await this.driver.isMounted(v.Name))) continue;
        this.o.log.debug(`unmounting volume ${v.Name}: no running container uses it`);
        await this.driver.unmount(v.Name);
      }
    });
  }

  checkDriver(name: string, driver: string): void {
    if (driver !== "" && driver !== DEFAULT_DRIVER) {
      throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    }
  }

  async createVolume(name: string, driver: string, options: Record<string, string> | null, labels: Record<string, string> | null): Promise<VolumeRecord> {
    this.checkDriver(name, driver);
    const { volume } = await this.driver.create(name, options, labels);
    // dockerd announces every create, also of a volume that already existed (a named -v, a repeated POST).
    this.o.events.emit("volume", "create", name, { driver: volume.Driver });
    return volume;
  }

  /** Remove a volume nobody refers to and announce it (the caller holds "refs"). */
  async destroy(v: VolumeRecord): Promise<void> {
    await this.driver.remove(v.Name);
    this.o.events.emit("volume", "destroy", v.Name, { driver: v.Driver });
  }
}
