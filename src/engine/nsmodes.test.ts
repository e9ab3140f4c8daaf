import { test } from "node:test";
import assert from "node:assert/strict";
import { isEngineError } from "../util/errors.js";
import { namespacePlan, validateNamespaceModes } from "./nsmodes.js";
import type { ContainerRecord, HostConfig } from "./types.js";

function rec(id: string, hc: HostConfig, running = false, pid = 0): ContainerRecord {
  return { Id: id, HostConfig: hc, State: { Running: running, Pid: pid } } as unknown as ContainerRecord;
}

test("namespace modes: dockerd's accepted values and messages", () => {
  for (const hc of [{}, { PidMode: "host" }, { PidMode: "container:x" }, { IpcMode: "shareable" }, { IpcMode: "none" }, { IpcMode: "container:x" }, { UTSMode: "host" }]) {
    assert.doesNotThrow(() => validateNamespaceModes(hc, false), JSON.stringify(hc));
  }
  assert.throws(() => validateNamespaceModes({ PidMode: "container:" }, false), /invalid PID mode: container:/);
  assert.throws(() => validateNamespaceModes({ IpcMode: "hostt" }, false), /invalid IPC mode: hostt/);
  assert.throws(() => validateNamespaceModes({ UTSMode: "private" }, false), /invalid UTS mode: private/);
  assert.throws(() => validateNamespaceModes({ UTSMode: "host" }, true), /conflicting options: hostname and the UTS mode/);
});

test("namespace plan: host modes share, container modes join the running target's namespaces and /dev/shm", async () => {
  const donor = rec("d1", { IpcMode: "shareable" }, true, process.pid);
  const priv = rec("p1", { IpcMode: "private" }, true, process.pid);
  const stopped = rec("s1", {}, false);
  const find = (x: string): ContainerRecord | undefined => ({ donor, priv, stopped })[x as "donor"];
  const t = { find, shmPath: (r: ContainerRecord) => `/c/${r.Id}/shm` };
  const host = await namespacePlan(rec("me", { PidMode: "host", IpcMode: "host", UTSMode: "host" }), t);
  assert.deepEqual(host, { hostNamespaces: ["pid", "ipc", "uts"], joinNamespaces: {}, shm: { bind: "/dev/shm" } });
  const joined = await namespacePlan(rec("me", { PidMode: "container:donor", IpcMode: "container:donor" }), t);
  // Our own process shares the daemon's user namespace: nothing to join there.
  assert.deepEqual(joined, {
    hostNamespaces: [],
    joinNamespaces: { pid: `/proc/${process.pid}/ns/pid`, ipc: `/proc/${process.pid}/ns/ipc` },
    shm: { bind: "/c/d1/shm" },
  });
  assert.deepEqual(await namespacePlan(rec("me", { IpcMode: "none" }), t), { hostNamespaces: [], joinNamespaces: {}, shm: "none" });
  await assert.rejects(namespacePlan(rec("me", { IpcMode: "container:priv" }), t), /non-shareable IPC/);
  await assert.rejects(namespacePlan(rec("me", { PidMode: "container:stopped" }), t), (e: unknown) => isEngineError(e, "conflict") && /^container s1 is not running$/.test((e as Error).message));
  await assert.rejects(namespacePlan(rec("me", { PidMode: "container:gone" }), t), (e: unknown) => isEngineError(e, "notFound"));
});
