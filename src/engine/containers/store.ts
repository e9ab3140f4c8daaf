/**
 * The containers' shared state: the records (one JSON file each, written atomically,
 * so a crash loses nothing committed), the name table, what lives beside a record
 * while the daemon runs (waiters, attach clients, the current run), the per-container
 * lifecycle lock and the pending policy restarts. Every role of the backend (create,
 * lifecycle, restart policy, attach, views) works on this store, not on each other.
 */
import path from "node:path";
import { EngineError, invalid, notFound } from "../../util/errors.js";
import { writeJson } from "../../util/fsutil.js";
import { KeyedMutex } from "../../util/lock.js";
import type { ContainerProcess, Runtime } from "../../runtime/index.js";
import type { ContainerRecord } from "../types.js";
import { linkNames } from "./links.js";
import type { ContainerEvents, ContainerLookup, ContainerServiceOptions, Live } from "./types.js";

export class ContainerStore implements ContainerLookup, ContainerEvents {
  readonly records = new Map<string, ContainerRecord>();
  readonly names = new Map<string, string>(); // "/name" → id
  readonly live = new Map<string, Live>();
  readonly lock = new KeyedMutex();
  /** Policy restarts waiting for their back-off (the restart policy role sets them). */
  readonly restartTimers = new Map<string, NodeJS.Timeout>();
  shuttingDown = false;

  constructor(readonly o: ContainerServiceOptions) {}

  /** The container's OCI runtime (HostConfig.Runtime, else the daemon's default). */
  /** The container's process in its runtime (create, start, wait, kill, attach, …). */
  proc(rec: ContainerRecord): ContainerProcess {
    return this.rt(rec).container(rec.Id);
  }

  rt(rec: ContainerRecord): Runtime {
    const r = this.o.runtimes.get(rec.HostConfig.Runtime || this.o.defaultRuntime) ?? this.o.runtimes.get(this.o.defaultRuntime);
    if (!r) throw new EngineError("internal", `no OCI runtime configured`);
    return r;
  }

  /** The record's directory (config.v2.json, the etc files, logs). */
  dir(id: string): string {
    return path.join(this.o.root, id);
  }

  liveOf(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { pendingAttach: [], exitWaiters: [], removeWaiters: [] };
      this.live.set(id, l);
    }
    return l;
  }

  async save(rec: ContainerRecord): Promise<void> {
    await writeJson(path.join(this.dir(rec.Id), "config.v2.json"), rec);
  }

  /** Take a loaded or created record in (and its name). */
  add(rec: ContainerRecord): void {
    this.records.set(rec.Id, rec);
    this.names.set(rec.Name, rec.Id);
  }

  /** Drop a removed record, its name and its live state; returns what lived beside it (to wake its waiters). */
  drop(rec: ContainerRecord): Live | undefined {
    this.records.delete(rec.Id);
    if (this.names.get(rec.Name) === rec.Id) this.names.delete(rec.Name);
    const l = this.live.get(rec.Id);
    this.live.delete(rec.Id);
    return l;
  }

  // --- lookup ---------------------------------------------------------------

  /** Find by full id, name (with or without "/"), or unique id prefix; Docker's 404 otherwise. */
  get(idOrName: string): ContainerRecord {
    const rec = this.find(idOrName);
    if (!rec) throw notFound(`No such container: ${idOrName}`);
    return rec;
  }

  find(idOrName: string): ContainerRecord | undefined {
    if (idOrName === "") return undefined;
    const byId = this.records.get(idOrName);
    if (byId) return byId;
    const full = idOrName.startsWith("/") ? idOrName : `/${idOrName}`;
    const byName = this.names.get(full);
    if (byName) return this.records.get(byName);
    if (full.lastIndexOf("/") > 0) {
      const byLink = this.linkNames().get(full);
      if (byLink) return this.records.get(byLink);
    }
    if (/^[a-f0-9]+$/.test(idOrName)) {
      const hits = [...this.records.keys()].filter((k) => k.startsWith(idOrName));
      if (hits.length === 1) return this.records.get(hits[0] as string);
      if (hits.length > 1) throw invalid(`multiple containers found with provided prefix: ${idOrName}`);
    }
    return undefined;
  }

  /** By its full name ("/name") only. */
  byName(fullName: string): ContainerRecord | undefined {
    const id = this.names.get(fullName);
    return id === undefined ? undefined : this.records.get(id);
  }

  /** Every legacy link name ("/parent/alias") with the id of the container it names. */
  linkNames(): Map<string, string> {
    return linkNames(this.records.values(), (n) => this.byName(n));
  }

  /** True while a lifecycle operation (start, stop, rm…) on the container is in progress. */
  busy(id: string): boolean {
    return this.lock.busy(id) || this.restartTimers.has(id);
  }

  all(): ContainerRecord[] {
    return [...this.records.values()];
  }

  /** Containers using an image (for rmi conflicts). */
  usingImage(imageId: string): ContainerRecord[] {
    return this.all().filter((c) => c.Image === imageId);
  }

  // --- events ---------------------------------------------------------------

  /** The attributes of every container event: its labels, image and name. */
  eventAttrs(rec: ContainerRecord): Record<string, string> {
    return { ...rec.Config.Labels, image: rec.Config.Image, name: rec.Name.slice(1) };
  }

  /** Emit a container event (for the other container backends). */
  emit(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.o.events.emit("container", action, rec.Id, { ...this.eventAttrs(rec), ...extra });
  }
}
