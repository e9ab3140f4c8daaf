/**
 * The containers backend as the engine exposes it (`engine.containers`): wiring only.
 * Each route is served by the role that owns it (create, lifecycle, remove, streams,
 * views, access), all working on one ContainerStore; the members here keep the names
 * and signatures the API routes and the other backends call.
 */
import type { Duplex, Readable } from "node:stream";
import type { Runtime } from "../../runtime/index.js";
import type { ContainerView } from "../cpview.js";
import type { ContainerCreateBody, ContainerRecord, ContainerState } from "../types.js";
import { ContainerHooks } from "./access.js";
import { ContainerStreams, type LogsOptions } from "./attach.js";
import { createContainer } from "./create.js";
import { ContainerLifecycle } from "./lifecycle.js";
import { recoverContainers } from "./recover.js";
import { ContainerRemover } from "./remove.js";
import { RestartPolicies } from "./restart.js";
import { ContainerRunner } from "./run.js";
import { ContainerStore } from "./store.js";
import type { AttachOptions, ContainerServiceOptions, ListOptions, WaitCondition, WaitResult } from "./types.js";
import { ContainerViews } from "./views.js";

export class ContainerService {
  readonly store: ContainerStore;
  private readonly runner: ContainerRunner;
  private readonly restarts: RestartPolicies;
  private readonly lifecycle: ContainerLifecycle;
  private readonly remover: ContainerRemover;
  private readonly streams: ContainerStreams;
  private readonly views: ContainerViews;
  private readonly hooks: ContainerHooks;

  constructor(o: ContainerServiceOptions) {
    const store = (this.store = new ContainerStore(o));
    this.streams = new ContainerStreams(store);
    this.restarts = new RestartPolicies(store, (rec) => this.runner.startUnlocked(rec));
    this.remover = new ContainerRemover(store, this.restarts);
    this.runner = new ContainerRunner(store, {
      connectAttach: (rec, client, opts) => this.streams.connectAttach(rec, client, opts),
      removeUnlocked: (rec, fromExit, volumes) => this.remover.removeUnlocked(rec, fromExit, volumes),
      maybeRestart: (rec, st) => this.restarts.maybeRestart(rec, st),
    });
    this.lifecycle = new ContainerLifecycle(store, this.runner, this.restarts);
    this.views = new ContainerViews(store);
    this.hooks = new ContainerHooks(store);
  }

  /** A container's live exec ids, provided by the exec backend (inspect's ExecIDs). */
  set execIds(fn: (id: string) => string[] | null) {
    this.views.execIds = fn;
  }

  get execIds(): (id: string) => string[] | null {
    return this.views.execIds;
  }

  /** Load records and reconcile them with what really runs (after a restart or a crash). */
  init(): Promise<void> {
    return recoverContainers(this.store, this.runner, this.restarts, (rec, fromExit) => this.remover.removeUnlocked(rec, fromExit));
  }

  shutdown(): void {
    this.store.shuttingDown = true;
  }

  // --- lookup (the store's) -------------------------------------------------------

  get(idOrName: string): ContainerRecord {
    return this.store.get(idOrName);
  }

  find(idOrName: string): ContainerRecord | undefined {
    return this.store.find(idOrName);
  }

  busy(id: string): boolean {
    return this.store.busy(id);
  }

  all(): ContainerRecord[] {
    return this.store.all();
  }

  usingImage(imageId: string): ContainerRecord[] {
    return this.store.usingImage(imageId);
  }

  emit(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.store.emit(rec, action, extra);
  }

  // --- routes ---------------------------------------------------------------------

  create(body: ContainerCreateBody, name: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
    return createContainer(this.store, body, name);
  }

  start(idOrName: string): Promise<"started" | "alreadyRunning"> {
    return this.lifecycle.start(idOrName);
  }

  kill(idOrName: string, signal?: string): Promise<void> {
    return this.lifecycle.kill(idOrName, signal);
  }

  stop(idOrName: string, timeout?: number, signal?: string): Promise<boolean> {
    return this.lifecycle.stop(idOrName, timeout, signal);
  }

  restart(idOrName: string, timeout?: number, signal?: string): Promise<void> {
    return this.lifecycle.restart(idOrName, timeout, signal);
  }

  pause(idOrName: string): Promise<void> {
    return this.lifecycle.pause(idOrName);
  }

  unpause(idOrName: string): Promise<void> {
    return this.lifecycle.unpause(idOrName);
  }

  rename(idOrName: string, newName: string): Promise<void> {
    return this.lifecycle.rename(idOrName, newName);
  }

  wait(idOrName: string, condition: WaitCondition): Promise<WaitResult> {
    return this.lifecycle.wait(idOrName, condition);
  }

  remove(idOrName: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    return this.remover.remove(idOrName, opts);
  }

  removeLink(name: string): Promise<void> {
    return this.remover.removeLink(name);
  }

  prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    return this.remover.prune(filters);
  }

  attach(idOrName: string, client: Duplex, opts: AttachOptions): Promise<void> {
    return this.streams.attach(idOrName, client, opts);
  }

  logs(idOrName: string, opts: LogsOptions): { stream: Readable; tty: boolean } {
    return this.streams.logs(idOrName, opts);
  }

  resize(idOrName: string, height: number, width: number): Promise<void> {
    return this.streams.resize(idOrName, height, width);
  }

  inspect(idOrName: string, size = false): Promise<Record<string, unknown>> {
    return this.views.inspect(idOrName, size);
  }

  list(opts: ListOptions): Promise<Record<string, unknown>[]> {
    return this.views.list(opts);
  }

  counts(): { total: number; running: number; paused: number; stopped: number } {
    return this.views.counts();
  }

  // --- for the other backends (exec, archive, update, health) ---------------------

  execTarget(idOrName: string): { rec: ContainerRecord; runtime: Runtime } {
    return this.hooks.execTarget(idOrName);
  }

  withRootfs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord) => Promise<T>): Promise<T> {
    return this.hooks.withRootfs(idOrName, fn);
  }

  withContainerFs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord, view: ContainerView) => Promise<T>): Promise<T> {
    return this.hooks.withContainerFs(idOrName, fn);
  }

  upperDir(idOrName: string): string {
    return this.hooks.upperDir(idOrName);
  }

  freeze(rec: ContainerRecord): Promise<() => Promise<void>> {
    return this.hooks.freeze(rec);
  }

  locked<T>(idOrName: string, fn: (rec: ContainerRecord, ctl: { runtime: Runtime; save: () => Promise<void> }) => Promise<T>): Promise<T> {
    return this.hooks.locked(idOrName, fn);
  }

  setHealth(id: string, health: NonNullable<ContainerState["Health"]>, changed = true, announce = changed): Promise<void> {
    return this.hooks.setHealth(id, health, changed, announce);
  }
}
