import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Runtime, TEST_FACTS_V1 } from "../../runtime/index.js";
import { EngineError } from "../../util/errors.js";
import type { HostFacts } from "../hostconfig.js";
import type { ContainerRecord, ContainerState, HostConfig } from "../types.js";
import { UpdateConfigSchema, UpdateService, mergeUpdate, runtimeResources, validateRestartPolicy, verifyUpdate } from "./update.js";

/** The test cgroup v1 host, with blkio weight (the update paths that set it are tested here). */
const V1: HostFacts = { ...TEST_FACTS_V1, blkioWeight: true };
const MB = 1024 * 1024;
const ID = "c".repeat(64);
const NONE = { Name: "", MaximumRetryCount: 0 };

/** The error an action throws: kind and message. */
function failure(fn: () => unknown): { kind: string; message: string } {
  try {
    fn();
  } catch (e) {
    return { kind: e instanceof EngineError ? e.kind : "other", message: (e as Error).message };
  }
  return { kind: "none", message: "" };
}

describe("docker update: checking the request (Docker's verifyPlatformContainerResources, update mode)", () => {
  it("refuses values Docker refuses, as invalid parameters", () => {
    const v = (body: object) => failure(() => verifyUpdate(UpdateConfigSchema.parse(body), V1));
    assert.deepEqual(v({ Memory: 2 * MB }), { kind: "invalid", message: "Minimum memory limit allowed is 6MB" });
    assert.deepEqual(v({ Memory: 64 * MB, MemorySwap: 32 * MB }), { kind: "invalid", message: "Minimum memoryswap limit should be larger than memory limit, see usage" });
    assert.deepEqual(v({ MemoryReservation: MB }), { kind: "invalid", message: "Minimum memory reservation allowed is 6MB" });
    assert.deepEqual(v({ NanoCpus: 5e8, CpuQuota: 50000 }), { kind: "invalid", message: "Conflicting options: Nano CPUs and CPU Quota cannot both be set" });
    assert.deepEqual(v({ CpuPeriod: 10 }), { kind: "invalid", message: "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)" });
    assert.deepEqual(v({ CpusetCpus: "5" }), { kind: "invalid", message: "Requested CPUs are not available - requested 5, available: 0-1" });
    assert.deepEqual(v({ BlkioWeight: 5 }), { kind: "invalid", message: "Range of blkio weight is from 10 to 1000" });
    assert.deepEqual(v({ CpuShares: -2 }), { kind: "invalid", message: "invalid CPU shares (-2): value must be a positive integer" });
  });

  it("accepts a swap limit alone and keeps an unlimited (0) pids limit, without create-time defaults", () => {
    const swapOnly = verifyUpdate(UpdateConfigSchema.parse({ MemorySwap: 600 * MB }), V1);
    assert.deepEqual(swapOnly.resources, { MemorySwap: 600 * MB });
    const mem = verifyUpdate(UpdateConfigSchema.parse({ Memory: 64 * MB, PidsLimit: -1 }), V1);
    assert.deepEqual(mem.resources, { Memory: 64 * MB, PidsLimit: 0 });
    assert.deepEqual(mem.warnings, []);
  });

  it("drops what the host cannot do, with Docker's warnings", () => {
    const r = verifyUpdate(UpdateConfigSchema.parse({ Memory: 64 * MB, BlkioWeight: 300 }), { ...V1, swapLimit: false, blkioWeight: false });
    assert.deepEqual(r.resources, { Memory: 64 * MB, MemorySwap: -1, BlkioWeight: 0 });
    assert.deepEqual(r.warnings, [
      "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
      "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
    ]);
  });

  it("checks restart policies with Docker's messages; an empty name leaves the policy alone", () => {
    assert.deepEqual(validateRestartPolicy({}), NONE);
    assert.deepEqual(validateRestartPolicy({ Name: "on-failure", MaximumRetryCount: 3 }), { Name: "on-failure", MaximumRetryCount: 3 });
    assert.deepEqual(failure(() => validateRestartPolicy({ Name: "always", MaximumRetryCount: 2 })), {
      kind: "invalid",
      message: "invalid restart policy: maximum retry count can only be used with 'on-failure'",
    });
    assert.equal(failure(() => validateRestartPolicy({ Name: "on-failure", MaximumRetryCount: -1 })).message, "invalid restart policy: maximum retry count cannot be negative");
    assert.equal(
      failure(() => validateRestartPolicy({ Name: "sometimes" })).message,
      "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
    );
  });
});

describe("docker update: merging over the container's HostConfig (Docker's UpdateContainer)", () => {
  const base: HostConfig = { Memory: 32 * MB, MemorySwap: 64 * MB, CpuShares: 800, PidsLimit: 10, RestartPolicy: { Name: "no", MaximumRetryCount: 0 }, AutoRemove: false };

  it("changes only the values given (zero and empty mean unchanged) and leaves the original alone", () => {
    const next = mergeUpdate(ID, base, { Memory: 48 * MB, CpuShares: 0, CpusetCpus: "" }, NONE);
    assert.deepEqual(next, { ...base, Memory: 48 * MB });
    assert.equal(base.Memory, 32 * MB);
    assert.deepEqual(mergeUpdate(ID, base, { PidsLimit: 0 }, NONE).PidsLimit, 0);
    assert.deepEqual(mergeUpdate(ID, base, {}, { Name: "on-failure", MaximumRetryCount: 5 }).RestartPolicy, { Name: "on-failure", MaximumRetryCount: 5 });
  });

  it("refuses a memory limit above the swap limit already set unless the swap limit changes too (a conflict)", () => {
    assert.deepEqual(failure(() => mergeUpdate(ID, base, { Memory: 100 * MB }, NONE)), {
      kind: "conflict",
      message: `Cannot update container ${ID}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time`,
    });
    assert.equal(failure(() => mergeUpdate(ID, {}, { Memory: 100 * MB }, NONE)).kind, "conflict");
    assert.deepEqual(mergeUpdate(ID, base, { Memory: 100 * MB, MemorySwap: 200 * MB }, NONE), { ...base, Memory: 100 * MB, MemorySwap: 200 * MB });
  });

  it("refuses to mix --cpus with a CPU period or quota already set, and the other way round", () => {
    const m = (cur: HostConfig, u: HostConfig) => failure(() => mergeUpdate(ID, cur, u, NONE)).message.replace(`Cannot update container ${ID}: `, "");
    assert.equal(m({ CpuPeriod: 50000 }, { NanoCpus: 1e9 }), "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set");
    assert.equal(m({ CpuQuota: 50000 }, { NanoCpus: 1e9 }), "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set");
    assert.equal(m({ NanoCpus: 1e9 }, { CpuPeriod: 50000 }), "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set");
    assert.equal(m({ NanoCpus: 1e9 }, { CpuQuota: 50000 }), "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set");
  });

  it("refuses a restart policy for an AutoRemove container, except 'no'", () => {
    const ar = { ...base, AutoRemove: true };
    assert.deepEqual(failure(() => mergeUpdate(ID, ar, {}, { Name: "always", MaximumRetryCount: 0 })), {
      kind: "conflict",
      message: `Cannot update container ${ID}: Restart policy cannot be updated because AutoRemove is enabled for the container`,
    });
    assert.deepEqual(mergeUpdate(ID, ar, {}, { Name: "no", MaximumRetryCount: 0 }).RestartPolicy, { Name: "no", MaximumRetryCount: 0 });
  });
});

describe("docker update: what the runtime is asked to change (Docker's toContainerdResources)", () => {
  it("maps only the values given; --cpus becomes a quota per 100 ms period", () => {
    assert.deepEqual(runtimeResources({}, V1), {});
    assert.deepEqual(runtimeResources({ Memory: 48 * MB }, V1), { memory: { limit: 48 * MB } });
    assert.deepEqual(runtimeResources({ NanoCpus: 5e8, CpuShares: 512, CpusetCpus: "0", BlkioWeight: 300 }, V1), {
      blockIO: { weight: 300 },
      cpu: { shares: 512, period: 100000, quota: 50000, cpus: "0" },
    });
    assert.deepEqual(runtimeResources({ CpuPeriod: 20000, CpuQuota: -1 }, V1), { cpu: { period: 20000, quota: -1 } });
    assert.deepEqual(runtimeResources({ Memory: 64 * MB, MemorySwap: 128 * MB, MemoryReservation: 16 * MB }, V1), {
      memory: { limit: 64 * MB, reservation: 16 * MB, swap: 128 * MB },
    });
  });

  it("writes unlimited as -1: the pids limit, and swap where the host accounts it", () => {
    assert.deepEqual(runtimeResources({ PidsLimit: 0 }, V1), { pids: { limit: -1 } });
    assert.deepEqual(runtimeResources({ PidsLimit: 20 }, V1), { pids: { limit: 20 } });
    assert.deepEqual(runtimeResources({ MemorySwap: -1 }, V1), { memory: { swap: -1 } });
    assert.deepEqual(runtimeResources({ MemorySwap: -1 }, { ...V1, swapLimit: false }), {});
  });
});

/** A container service stand-in: one record, a runtime that records (or refuses) updates. */
function fakeContainers(state: Partial<ContainerState>, hc: HostConfig, opts: { refuse?: string; alive?: boolean } = {}) {
  const rec = { Id: ID, Name: "/t", State: { Status: "running", Running: true, Paused: false, Restarting: false, Dead: false, ...state }, HostConfig: hc } as unknown as ContainerRecord;
  const calls = { updates: [] as Record<string, unknown>[], saves: [] as HostConfig[], events: [] as string[] };
  const proc = {
    update: async (r: Record<string, unknown>) => {
      if (opts.refuse) throw new EngineError("internal", opts.refuse);
      calls.updates.push(r);
    },
    isAlive: async () => opts.alive ?? true,
  };
  const runtime = { container: () => proc } as unknown as Runtime;
  const containers = {
    locked: async <T>(idOrName: string, fn: (r: ContainerRecord, ctl: { runtime: Runtime; save: () => Promise<void> }) => Promise<T>): Promise<T> => {
      if (idOrName !== "t") throw new EngineError("notFound", `No such container: ${idOrName}`);
      return fn(rec, { runtime, save: async () => void calls.saves.push(structuredClone(rec.HostConfig)) });
    },
    emit: (_r: ContainerRecord, action: string) => void calls.events.push(action),
  };
  return { rec, calls, service: new UpdateService({ containers, facts: () => V1 }) };
}

describe("docker update: the service", () => {
  const hc: HostConfig = { Memory: 32 * MB, MemorySwap: 64 * MB, PidsLimit: 10, RestartPolicy: { Name: "no", MaximumRetryCount: 0 } };

  it("saves the new HostConfig, applies the change to a running container and announces it", async () => {
    const { rec, calls, service } = fakeContainers({}, structuredClone(hc));
    assert.deepEqual(await service.update("t", { Memory: 48 * MB, PidsLimit: 20, RestartPolicy: { Name: "always" } }), { Warnings: null });
    assert.equal(rec.HostConfig.Memory, 48 * MB);
    assert.equal(rec.HostConfig.PidsLimit, 20);
    assert.deepEqual(rec.HostConfig.RestartPolicy, { Name: "always", MaximumRetryCount: 0 });
    assert.equal(calls.saves.length, 1);
    assert.deepEqual(calls.updates, [{ memory: { limit: 48 * MB }, pids: { limit: 20 } }]);
    assert.deepEqual(calls.events, ["update"]);
  });

  it("only records the change for a stopped or restarting container, and skips the runtime for a policy change", async () => {
    for (const state of [{ Status: "exited", Running: false }, { Status: "restarting", Running: false, Restarting: true }] as Partial<ContainerState>[]) {
      const { rec, calls, service } = fakeContainers(state, structuredClone(hc));
      await service.update("t", { Memory: 48 * MB });
      assert.equal(rec.HostConfig.Memory, 48 * MB);
      assert.deepEqual(calls.updates, []);
    }
    const { calls, service } = fakeContainers({}, structuredClone(hc));
    await service.update("t", { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 2 } });
    assert.deepEqual(calls.updates, []);
    assert.equal(calls.saves.length, 1);
  });

  it("puts the old HostConfig back when the runtime refuses the values", async () => {
    const { rec, calls, service } = fakeContainers({}, structuredClone(hc), { refuse: "failed to write 4 to pids.max: invalid argument" });
    await assert.rejects(service.update("t", { PidsLimit: 4 }), { message: `Cannot update container ${ID}: failed to write 4 to pids.max: invalid argument` });
    assert.deepEqual(rec.HostConfig, hc);
    assert.deepEqual(calls.saves.at(-1), hc);
    assert.deepEqual(calls.events, []);
  });

  it("keeps the new values when the container ended while the runtime was asked", async () => {
    const { rec, service } = fakeContainers({}, structuredClone(hc), { refuse: "container does not exist", alive: false });
    await service.update("t", { PidsLimit: 4 });
    assert.equal(rec.HostConfig.PidsLimit, 4);
  });

  it("checks the request before looking for the container, and refuses values no start could take", async () => {
    const { rec, service } = fakeContainers({ Status: "exited", Running: false }, structuredClone(hc));
    await assert.rejects(service.update("nosuch", { Memory: MB }), { message: "Minimum memory limit allowed is 6MB" });
    await assert.rejects(service.update("nosuch", { Memory: 48 * MB }), { message: "No such container: nosuch" });
    await assert.rejects(service.update("t", { MemorySwap: 16 * MB }), { message: "Minimum memoryswap limit should be larger than memory limit, see usage" });
    assert.deepEqual(rec.HostConfig, hc);
  });

  it("refuses a container being removed", async () => {
    const { service } = fakeContainers({ Status: "removing", Running: false }, structuredClone(hc));
    await assert.rejects(service.update("t", { Memory: 48 * MB }), { message: `Cannot update container ${ID}: container is marked for removal and cannot be "update"` });
  });
});
