/**
 * `docker update` (POST /containers/{id}/update): change a container's resource
 * limits and restart policy after create. The new values are kept in its HostConfig
 * (inspect shows them, the next start applies them) and, while it runs or is
 * paused, applied to its cgroup at once by the OCI runtime (`runc update`).
 *
 * Docker's rules (daemon/update.go, container.UpdateContainer, toContainerdResources):
 * the request's values are checked on their own first (400), then merged over the
 * current ones, where a zero or empty value means "unchanged" and clashes with
 * what is already set are conflicts (409, "Cannot update container <id>: ...").
 * When the runtime refuses the values, the old HostConfig is put back.
 */
import { z } from "zod";
import { bestEffort } from "../../util/besteffort.js";
import { EngineError, conflict, invalid, messageOf } from "../../util/errors.js";
import type { ContainerEvents, ContainerLocking } from "./types.js";
import { type HostFacts, adaptHostConfig, hostFacts } from "../hostconfig.js";
import type { HostConfig } from "../types.js";

const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();
const int = nullable(z.number().int());

/** Docker's UpdateConfig: the Resources fields `docker update` changes, and RestartPolicy. Unknown fields are ignored. */
export const UpdateConfigSchema = z.looseObject({
  BlkioWeight: nullable(z.number().int().nonnegative().max(65535)),
  CpuShares: int,
  Memory: int,
  MemorySwap: int,
  MemoryReservation: int,
  NanoCpus: int,
  CpuPeriod: int,
  CpuQuota: int,
  CpusetCpus: nullable(z.string()),
  CpusetMems: nullable(z.string()),
  PidsLimit: int,
  RestartPolicy: nullable(z.looseObject({ Name: nullable(z.string()), MaximumRetryCount: int })),
});

export type UpdateConfig = z.infer<typeof UpdateConfigSchema>;

/** The resource fields an update may change (the HostConfig names). */
const RESOURCE_FIELDS = [
  "BlkioWeight",
  "CpuShares",
  "Memory",
  "MemorySwap",
  "MemoryReservation",
  "NanoCpus",
  "CpuPeriod",
  "CpuQuota",
  "CpusetCpus",
  "CpusetMems",
  "PidsLimit",
] as const;

export type UpdateResources = Pick<HostConfig, (typeof RESOURCE_FIELDS)[number]>;

export interface RestartPolicy {
  Name: string;
  MaximumRetryCount: number;
}

/** Docker's ValidateRestartPolicy (an empty name is accepted: it means "unchanged" here). */
export function validateRestartPolicy(p: { Name?: string | null; MaximumRetryCount?: number | null }): RestartPolicy {
  const name = p.Name ?? "";
  const count = p.MaximumRetryCount ?? 0;
  switch (name) {
    case "always":
    case "unless-stopped":
    case "no":
      if (count !== 0) {
        throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'${count < 0 ? " and cannot be negative" : ""}`);
      }
      break;
    case "on-failure":
      if (count < 0) throw invalid("invalid restart policy: maximum retry count cannot be negative");
      break;
    case "":
      break;
    default:
      throw invalid(`invalid restart policy: unknown policy '${name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  return { Name: name, MaximumRetryCount: count };
}

/**
 * Check an update request on its own, as Docker does before looking at the container:
 * the values to change (unsupported ones dropped, with Docker's warnings), the restart
 * policy, and the warnings. Throws EngineError("invalid") with Docker's messages.
 */
export function verifyUpdate(body: UpdateConfig, facts: HostFacts): { resources: UpdateResources; restartPolicy: RestartPolicy; warnings: string[] } {
  const resources: UpdateResources = {};
  for (const k of RESOURCE_FIELDS) {
    const v = body[k];
    if (v !== undefined && v !== null) (resources as Record<string, unknown>)[k] = v;
  }
  // Docker's API: 0 and every negative value mean "unlimited" for the pids limit.
  if (resources.PidsLimit !== undefined && resources.PidsLimit !== null && resources.PidsLimit <= 0) resources.PidsLimit = 0;
  if ((resources.CpuShares ?? 0) < 0) throw invalid(`invalid CPU shares (${resources.CpuShares}): value must be a positive integer`);
  if ((resources.MemoryReservation ?? 0) < 0) throw invalid("Minimum memory reservation allowed is 6MB");
  const restartPolicy = validateRestartPolicy(body.RestartPolicy ?? {});
  const warnings = adaptHostConfig(resources, facts, true);
  return { resources, restartPolicy, warnings };
}

const cannotUpdate = (id: string, msg: string): EngineError => conflict(`Cannot update container ${id}: ${msg}`);

/**
 * Docker's UpdateContainer: the new HostConfig, the update's non-zero values over the
 * current ones. Throws a conflict when they clash with what the container has.
 */
export function mergeUpdate(id: string, current: HostConfig, u: UpdateResources, restartPolicy: RestartPolicy): HostConfig {
  const cur = current;
  const nano = u.NanoCpus ?? 0;
  if (nano > 0 && (cur.CpuPeriod ?? 0) > 0) throw cannotUpdate(id, "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
  if (nano > 0 && (cur.CpuQuota ?? 0) > 0) throw cannotUpdate(id, "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
  if ((u.CpuPeriod ?? 0) > 0 && (cur.NanoCpus ?? 0) > 0) throw cannotUpdate(id, "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
  if ((u.CpuQuota ?? 0) > 0 && (cur.NanoCpus ?? 0) > 0) throw cannotUpdate(id, "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");

  const next: HostConfig = structuredClone(current);
  const setNumber = (k: "BlkioWeight" | "CpuShares" | "NanoCpus" | "CpuPeriod" | "CpuQuota" | "MemorySwap" | "MemoryReservation") => {
    const v = u[k] ?? 0;
    if (v !== 0) next[k] = v;
  };
  setNumber("BlkioWeight");
  setNumber("CpuShares");
  setNumber("NanoCpus");
  setNumber("CpuPeriod");
  setNumber("CpuQuota");
  if (u.CpusetCpus) next.CpusetCpus = u.CpusetCpus;
  if (u.CpusetMems) next.CpusetMems = u.CpusetMems;
  const memory = u.Memory ?? 0;
  if (memory !== 0) {
    // A new memory limit above the swap limit already set needs a new swap limit too.
    if (memory > (cur.MemorySwap ?? 0) && (u.MemorySwap ?? 0) === 0) {
      throw cannotUpdate(id, "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time");
    }
    next.Memory = memory;
  }
  setNumber("MemorySwap");
  setNumber("MemoryReservation");
  if (u.PidsLimit !== undefined && u.PidsLimit !== null) next.PidsLimit = u.PidsLimit;

  if (restartPolicy.Name !== "") {
    if (current.AutoRemove && restartPolicy.Name !== "no") throw cannotUpdate(id, "Restart policy cannot be updated because AutoRemove is enabled for the container");
    next.RestartPolicy = { Name: restartPolicy.Name as NonNullable<HostConfig["RestartPolicy"]>["Name"], MaximumRetryCount: restartPolicy.MaximumRetryCount };
  }
  return next;
}

const DEFAULT_CPU_PERIOD = 100_000;

/**
 * Docker's toContainerdResources: the update's values as OCI linux.resources for the
 * runtime, only those that change something. The pids limit's "unlimited" is -1
 * there, and so is unlimited swap (when the host accounts swap at all).
 */
export function runtimeResources(u: UpdateResources, facts: HostFacts): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  if ((u.BlkioWeight ?? 0) > 0) r["blockIO"] = { weight: u.BlkioWeight };

  const cpu: Record<string, unknown> = {};
  if ((u.CpuShares ?? 0) > 0) cpu["shares"] = u.CpuShares;
  let period = 0;
  let quota = 0;
  const nano = u.NanoCpus ?? 0;
  if (nano !== 0) {
    period = DEFAULT_CPU_PERIOD;
    quota = Math.floor((nano * period) / 1e9);
  }
  if (quota === 0 && (u.CpuQuota ?? 0) !== 0) quota = u.CpuQuota as number;
  if (period === 0 && (u.CpuPeriod ?? 0) !== 0) period = u.CpuPeriod as number;
  if (period !== 0) cpu["period"] = period;
  if (quota !== 0) cpu["quota"] = quota;
  if (u.CpusetCpus) cpu["cpus"] = u.CpusetCpus;
  if (u.CpusetMems) cpu["mems"] = u.CpusetMems;
  if (Object.keys(cpu).length > 0) r["cpu"] = cpu;

  const mem: Record<string, unknown> = {};
  if ((u.Memory ?? 0) > 0) mem["limit"] = u.Memory;
  if ((u.MemoryReservation ?? 0) > 0) mem["reservation"] = u.MemoryReservation;
  const swap = u.MemorySwap ?? 0;
  if (swap > 0 || (swap === -1 && facts.swapLimit)) mem["swap"] = swap;
  if (Object.keys(mem).length > 0) r["memory"] = mem;

  if (u.PidsLimit !== undefined && u.PidsLimit !== null) r["pids"] = { limit: u.PidsLimit > 0 ? u.PidsLimit : -1 };
  return r;
}

/** Why a container with this HostConfig could not start (the checks every start makes), if it could not. */
function startProblem(hc: HostConfig, facts: HostFacts): unknown {
  try {
    adaptHostConfig(structuredClone(hc), facts);
    return undefined;
  } catch (e) {
    return e;
  }
}

export interface UpdateServiceOptions {
  /** The record under its lock, and the container events. */
  containers: ContainerLocking & ContainerEvents;
  /** The host's cgroup features (tests pass fixed ones). */
  facts?: () => HostFacts;
}

/** The docker update backend. */
export class UpdateService {
  constructor(private readonly o: UpdateServiceOptions) {}

  async update(idOrName: string, body: UpdateConfig): Promise<{ Warnings: string[] | null }> {
    const facts = this.o.facts?.() ?? hostFacts();
    const { resources, restartPolicy, warnings } = verifyUpdate(body, facts);
    const cs = this.o.containers;
    await cs.locked(idOrName, async (rec, ctl) => {
      if (rec.State.Status === "removing" || rec.State.Dead) {
        throw new EngineError("internal", `Cannot update container ${rec.Id}: container is marked for removal and cannot be "update"`);
      }
      const before = rec.HostConfig;
      const next = mergeUpdate(rec.Id, before, resources, restartPolicy);
      // Docker would keep values no start could accept (e.g. a swap limit below the memory
      // limit on a stopped container); refuse them instead, unless the old ones were no better.
      const problem = startProblem(next, facts);
      if (problem !== undefined && startProblem(before, facts) === undefined) throw problem;
      rec.HostConfig = next;
      try {
        await ctl.save();
      } catch (e) {
        rec.HostConfig = before;
        throw new EngineError("internal", `Cannot update container ${rec.Id}: ${messageOf(e)}`, { cause: e });
      }
      // A stopped (or restarting) container gets the new values at its next start.
      const live = runtimeResources(resources, facts);
      if (rec.State.Running && !rec.State.Restarting && Object.keys(live).length > 0) {
        try {
          await ctl.runtime.container(rec.Id).update(live);
        } catch (e) {
          // The process may have ended meanwhile (its exit waits for this lock): then the record is enough.
          if (await ctl.runtime.container(rec.Id).isAlive().catch(() => true)) {
            rec.HostConfig = before;
            await ctl.save().catch(bestEffort("update rollback: record"));
            throw new EngineError("internal", `Cannot update container ${rec.Id}: ${messageOf(e)}`, { cause: e });
          }
        }
      }
      cs.emit(rec, "update");
    });
    // dockerd's Warnings is null when there are none.
    return { Warnings: warnings.length > 0 ? warnings : null };
  }
}
