/**
 * The containers backend's own types: the options it is built with, what its routes take
 * and answer, and the narrow roles the other backends (exec, health, archive, images,
 * networks, volumes, stats, update, df, check) receive instead of the whole service.
 */
import type { Duplex } from "node:stream";
import type { Logger } from "../../util/log.js";
import type { ContainerImages } from "../../image/index.js";
import type { ExitStatus, Runtime } from "../../runtime/index.js";
import type { ContainerView } from "../cpview.js";
import type { Events } from "../events.js";
import type { ContainerNetworking, ContainerStorage } from "../plugs.js";
import type { ContainerRecord, ContainerState } from "../types.js";

export type WaitCondition = "not-running" | "next-exit" | "removed";

export interface WaitResult {
  StatusCode: number;
  Error?: { Message: string } | null;
}

export interface AttachOptions {
  stdin: boolean;
  /** The detach sequence (TTY only); ctrl-p ctrl-q when absent. */
  detachKeys?: Buffer;
  stdout: boolean;
  stderr: boolean;
  stream: boolean;
  logs: boolean;
  /** Output as it is, stdout and stderr interleaved without stdcopy frames (websocket attach; dockerd's MuxStreams false). */
  unmuxed?: boolean;
}

export interface ListOptions {
  all: boolean;
  limit: number;
  size: boolean;
  filters: Record<string, string[]>;
}

/** What runs beside a container's record while the daemon does: waiters, held attach clients, the current run. */
export interface Live {
  /** Attach clients waiting for the container to start. */
  pendingAttach: { client: Duplex; opts: AttachOptions }[];
  exitWaiters: ((r: WaitResult) => void)[];
  removeWaiters: ((r: WaitResult) => void)[];
  /** Resolves when the current run ends. */
  exited?: Promise<ExitStatus>;
}

export interface ContainerServiceOptions {
  root: string; // data-root/containers
  images: ContainerImages;
  /** OCI runtimes by name (runc, crun); containers choose one with HostConfig.Runtime. */
  runtimes: Map<string, Runtime>;
  events: Events;
  log: Logger;
  defaultRuntime: string;
  /** --log-driver / --log-opt (daemon.json log-driver / log-opts): containers that name no driver get these. */
  logDriver?: string;
  logOpts?: Record<string, string>;
  networking?: ContainerNetworking;
  storage?: ContainerStorage;
  /** --default-ulimit: added at create to the ulimits a container does not set (inspect shows them, as dockerd's). */
  defaultUlimits?: { Name: string; Soft: number; Hard: number }[];
}

// --- roles the other backends take ------------------------------------------------

/** Finding containers (networks, volumes, stats, health, exec, images, df, check). */
export interface ContainerLookup {
  /** Docker's 404 "No such container: x" when absent. */
  get(idOrName: string): ContainerRecord;
  find(idOrName: string): ContainerRecord | undefined;
  all(): ContainerRecord[];
  usingImage(imageId: string): ContainerRecord[];
  /** True while a lifecycle operation (or a policy restart) on it is in progress. */
  busy(id: string): boolean;
}

/** Announcing container events (exec, archive, update). */
export interface ContainerEvents {
  emit(rec: ContainerRecord, action: string, extra?: Record<string, string>): void;
}

/** A record under its lifecycle lock, with its runtime and a way to persist it (docker update). */
export interface ContainerLocking {
  locked<T>(idOrName: string, fn: (rec: ContainerRecord, ctl: { runtime: Runtime; save: () => Promise<void> }) => Promise<T>): Promise<T>;
}

/** A running container's process and filesystem, for exec and docker cp / diff / commit. */
export interface ContainerAccess {
  execTarget(idOrName: string): { rec: ContainerRecord; runtime: Runtime };
  withRootfs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord) => Promise<T>): Promise<T>;
  withContainerFs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord, view: ContainerView) => Promise<T>): Promise<T>;
  upperDir(idOrName: string): string;
  freeze(rec: ContainerRecord): Promise<() => Promise<void>>;
}

/** What the health monitor records. */
export interface ContainerHealth {
  setHealth(id: string, health: NonNullable<ContainerState["Health"]>, changed?: boolean, announce?: boolean): Promise<void>;
}
