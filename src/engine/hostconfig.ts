/**
 * HostConfig → OCI runtime settings: resource limits (cgroups), rlimits, devices,
 * tmpfs mounts, the init process. Pure functions of the container record, so they
 * are unit-testable without a runtime.
 */
import type { OciMount, OciRlimit } from "../runtime/index.js";
import type { ContainerRecord } from "./types.js";

export interface SpecExtras {
  /** OCI linux.resources (memory, cpu, pids, blockIO, devices rules beyond the default deny-all). */
  resources?: Record<string, unknown>;
  /** Replaces the default rlimits when set. */
  rlimits?: OciRlimit[];
  /** Extra mounts (tmpfs, binds) appended after the defaults. */
  extraMounts?: OciMount[];
  /** Device nodes to create in the container (linux.devices). */
  devices?: { path: string; type: string; major: number; minor: number; fileMode?: number; uid?: number; gid?: number }[];
  /** Arguments placed before the container's command (e.g. an init such as tini). */
  argsPrefix?: string[];
  /** Files to bind-mount read-only into the container before start (e.g. the init binary): dest → host source. */
  bindFiles?: Record<string, string>;
}

/** Compute the runtime settings a container's HostConfig asks for. Throws EngineError("invalid") on bad values. */
export async function specExtras(rec: ContainerRecord): Promise<SpecExtras> {
  void rec;
  return {};
}
