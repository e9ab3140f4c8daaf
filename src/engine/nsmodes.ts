/**
 * A container's PID, IPC and UTS namespace modes (`--pid`, `--ipc`, `--uts`):
 * private (the default), shared with the host, or joined from another running
 * container; dockerd's values, checks and messages. The network namespace is
 * networks.ts's business, the user namespace the daemon's (`--userns-remap`).
 */
import { promises as fs } from "node:fs";
import { conflict, invalid, notFound } from "../util/errors.js";
import type { ContainerRecord, HostConfig } from "./types.js";

const CONTAINER_PREFIX = "container:";

function targetOf(mode: string): string | undefined {
  return mode.startsWith(CONTAINER_PREFIX) ? mode.slice(CONTAINER_PREFIX.length) : undefined;
}

/** Create-time checks of the modes (Docker's HostConfig validation). */
export function validateNamespaceModes(hc: HostConfig, hostnameGiven: boolean): void {
  const pid = hc.PidMode ?? "";
  if (pid !== "" && pid !== "host" && !targetOf(pid)) throw invalid(`invalid PID mode: ${pid}`);
  const ipc = hc.IpcMode ?? "";
  if (!["", "none", "private", "shareable", "host"].includes(ipc) && !targetOf(ipc)) throw invalid(`invalid IPC mode: ${ipc}`);
  const uts = hc.UTSMode ?? "";
  if (uts !== "" && uts !== "host") throw invalid(`invalid UTS mode: ${uts}`);
  if (uts === "host" && hostnameGiven) throw invalid("conflicting options: hostname and the UTS mode");
}

export interface NamespacePlan {
  /** Namespace types shared with the host (not created). */
  hostNamespaces: string[];
  /** Namespace types joined from another container: type → /proc/<pid>/ns/<type>. */
  joinNamespaces: Record<string, string>;
  shm?: { bind: string } | "none";
}

export interface NamespaceTargets {
  find(idOrName: string): ContainerRecord | undefined;
  /** The host directory holding a shareable container's /dev/shm. */
  shmPath(rec: ContainerRecord): string;
}

/** The user namespace of a process when it is not the daemon's own, else undefined. */
export async function ownUserNamespace(pid: number): Promise<string | undefined> {
  if (!pid) return undefined;
  const p = `/proc/${pid}/ns/user`;
  // A process that just ended has no namespace links: not joined, the normal answer then.
  const [theirs, ours] = await Promise.all([fs.readlink(p).catch(() => undefined), fs.readlink("/proc/self/ns/user").catch(() => undefined)]);
  return theirs !== undefined && theirs !== ours ? p : undefined;
}

/**
 * What the runtime spec needs for the modes, resolved at start (joined containers
 * must be running then). A user-namespaced container that joins another's namespace
 * joins that container's user namespace too (it owns the namespace).
 */
export async function namespacePlan(rec: ContainerRecord, targets: NamespaceTargets): Promise<NamespacePlan> {
  const hc = rec.HostConfig;
  const plan: NamespacePlan = { hostNamespaces: [], joinNamespaces: {} };
  const running = (name: string, what: string): ContainerRecord => {
    const t = targets.find(name);
    if (!t) throw notFound(`No such container: ${name}`);
    if (t.Id === rec.Id) throw invalid(`cannot join own ${what} namespace`);
    // dockerd 20.10's words (moby 23+ names the target as given instead of its id)
    if (!t.State.Running || !t.State.Pid) throw conflict(`container ${t.Id} is not running`);
    return t;
  };
  const joinUserOf = async (t: ContainerRecord): Promise<void> => {
    const u = await ownUserNamespace(t.State.Pid);
    if (u) plan.joinNamespaces["user"] = u;
  };

  const pid = hc.PidMode ?? "";
  const pidTarget = targetOf(pid);
  if (pid === "host") plan.hostNamespaces.push("pid");
  else if (pidTarget) {
    const t = running(pidTarget, "PID");
    plan.joinNamespaces["pid"] = `/proc/${t.State.Pid}/ns/pid`;
    await joinUserOf(t);
  }

  const ipc = hc.IpcMode ?? "";
  const ipcTarget = targetOf(ipc);
  if (ipc === "host") {
    plan.hostNamespaces.push("ipc");
    plan.shm = { bind: "/dev/shm" };
  } else if (ipcTarget) {
    const t = running(ipcTarget, "IPC");
    if (t.HostConfig.IpcMode !== "shareable") throw invalid(`container ${ipcTarget}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
    plan.joinNamespaces["ipc"] = `/proc/${t.State.Pid}/ns/ipc`;
    plan.shm = { bind: targets.shmPath(t) };
    await joinUserOf(t);
  } else if (ipc === "none") {
    plan.shm = "none";
  }

  if ((hc.UTSMode ?? "") === "host") plan.hostNamespaces.push("uts");
  return plan;
}
