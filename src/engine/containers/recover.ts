/**
 * Daemon start: load the records and reconcile them with what really runs after a
 * restart or a crash — reattach to live monitors, record exits that happened while
 * berthd was down, adopt a process started just before a crash, finish interrupted
 * creates and removals, thaw what an interrupted copy left frozen, then apply the
 * restart policies.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { bestEffort } from "../../util/besteffort.js";
import { messageOf } from "../../util/errors.js";
import { ensureDir, readJson } from "../../util/fsutil.js";
import { type ContainerRecord, ZERO_TIME } from "../types.js";
import { releaseShm } from "./hostfiles.js";
import type { RestartPolicies } from "./restart.js";
import type { ContainerRunner } from "./run.js";
import type { ContainerStore } from "./store.js";

export async function recoverContainers(
  store: ContainerStore,
  runner: ContainerRunner,
  restarts: RestartPolicies,
  removeUnlocked: (rec: ContainerRecord, fromExit: boolean) => Promise<void>,
): Promise<void> {
  const { o } = store;
  // dockerd's modes: the remapped root reaches its /etc files through the group, nobody else passes.
  const gid = o.images.idMap?.root.gid ?? 0;
  await ensureDir(o.root, 0o710, gid);
  for (const id of await fs.readdir(o.root)) {
    // No record is the normal case of a create interrupted before its commit point.
    const rec = await readJson<ContainerRecord>(path.join(store.dir(id), "config.v2.json")).catch(() => undefined);
    if (!rec) {
      // A create interrupted before its record was written: nothing refers to it.
      await fs.rm(store.dir(id), { recursive: true, force: true });
      await o.images.snapshots.removeSnapshot(id).catch(bestEffort("interrupted create: writable layer"));
      continue;
    }
    // An older berthd left these wider (0755 directory, 0644 record).
    await ensureDir(store.dir(id), 0o710, gid);
    await fs.chmod(path.join(store.dir(id), "config.v2.json"), 0o600);
    if (rec.State.Restarting && !rec.State.Running) rec.State = { ...rec.State, Restarting: false, Status: "exited" };
    store.add(rec);
  }
  await thawLeftFrozen(store);
  for (const rec of store.records.values()) {
    if (rec.State.Status === "removing") {
      await removeUnlocked(rec, true).catch((e: unknown) => o.log.warn(`finishing removal of ${rec.Id}: ${messageOf(e)}`));
      continue;
    }
    if (!rec.State.Running) {
      await reconcileStopped(store, runner, rec);
      continue;
    }
    if (await store.proc(rec).isAlive()) {
      o.log.info(`container ${rec.Id.slice(0, 12)} still running (pid ${rec.State.Pid}), reattaching`);
      runner.watch(rec);
    } else {
      const st = (await store.proc(rec).exitStatus()) ?? { exitCode: 255, finishedAt: new Date().toISOString() };
      o.log.info(`container ${rec.Id.slice(0, 12)} exited with ${st.exitCode} while berthd was down`);
      await store.lock.run(rec.Id, () => runner.onExit(rec, st));
    }
  }
  restarts.restartAtBoot();
}

/**
 * Containers the runtime holds frozen: a daemon that crashed in the middle of a copy into one
 * (which freezes it) never thawed it; only those recorded as paused stay frozen.
 */
async function thawLeftFrozen(store: ContainerStore): Promise<void> {
  const frozen = new Set<string>();
  const live = [...store.records.values()].filter((r) => r.State.Running && !r.State.Paused);
  for (const rt of new Set(live.map((r) => store.rt(r)))) {
    for (const c of await rt.list().catch(bestEffort("runtime list at start-up")) ?? []) if (c.status === "paused") frozen.add(c.id);
  }
  for (const rec of store.records.values()) {
    if (rec.State.Running && !rec.State.Paused && frozen.has(rec.Id)) {
      store.o.log.warn(`container ${rec.Id.slice(0, 12)} was left frozen by an interrupted operation; thawing it`);
      await store.proc(rec).resume().catch((e: unknown) => store.o.log.warn(`thawing ${rec.Id.slice(0, 12)}: ${messageOf(e)}`));
    }
  }
}

/**
 * A record that says "not running" after a crash: the daemon may have died
 * between starting the process and recording it (adopt the live process), or
 * between its exit and the cleanup (finish the cleanup).
 */
async function reconcileStopped(store: ContainerStore, runner: ContainerRunner, rec: ContainerRecord): Promise<void> {
  const { o } = store;
  const c = store.proc(rec);
  const stateDir = c.stateDir;
  if (await c.isAlive()) {
    // No pid file: the runtime had not written it yet; 0 as before.
    const pid = Number((await fs.readFile(path.join(stateDir, "pid"), "utf8").catch(() => "0")).trim()) || 0;
    o.log.warn(`container ${rec.Id.slice(0, 12)} was started just before a crash; adopting it (pid ${pid})`);
    rec.State = { ...rec.State, Status: "running", Running: true, Paused: false, Restarting: false, Pid: pid, StartedAt: rec.State.StartedAt === ZERO_TIME ? new Date().toISOString() : rec.State.StartedAt };
    await store.save(rec);
    runner.watch(rec);
    return;
  }
  await c.cleanup().catch((e: unknown) => o.log.warn(`cleanup ${rec.Id}: ${messageOf(e)}`));
  await o.images.snapshots.unmount(rec.Id).catch((e: unknown) => o.log.warn(`unmount ${rec.Id}: ${messageOf(e)}`));
  await releaseShm(store, rec);
}
