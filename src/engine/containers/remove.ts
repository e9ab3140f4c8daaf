/** docker rm (also of a running container with --force, and auto-remove), rm --link, and container prune. */
import { promises as fs } from "node:fs";
import { bestEffort } from "../../util/besteffort.js";
import { conflict, invalid, notFound } from "../../util/errors.js";
import { matchLabels } from "../../util/filters.js";
import type { ContainerRecord } from "../types.js";
import { parseTimeFilter } from "./filters.js";
import { thawForSignal } from "./lifecycle.js";
import { hostsWithoutLink, parseLinkEntry } from "./links.js";
import type { RestartPolicies } from "./restart.js";
import type { ContainerStore } from "./store.js";

export class ContainerRemover {
  constructor(
    private readonly store: ContainerStore,
    private readonly restarts: RestartPolicies,
  ) {}

  async remove(idOrName: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    if (rec.State.Restarting && !rec.State.Running) {
      if (!opts.force) throw conflict(`cannot remove container "${rec.Name}": container is restarting: stop the container before removing or force remove`);
      rec.ManuallyStopped = true;
      this.restarts.cancel(rec);
    }
    if (rec.State.Running) {
      if (!opts.force) {
        throw conflict(`cannot remove container "${rec.Name}": container is running: stop the container before removing or force remove`);
      }
      rec.ManuallyStopped = true;
      const exited = store.liveOf(rec.Id).exited;
      await store.proc(rec).kill(9).catch(bestEffort("rm --force: SIGKILL"));
      await thawForSignal(store, rec);
      if (exited) await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
    await store.lock.run(rec.Id, async () => {
      if (!store.records.has(rec.Id)) return; // auto-removed meanwhile
      if (rec.State.Running) throw conflict(`cannot remove container "${rec.Name}": container is running`);
      await this.removeUnlocked(rec, false, opts.volumes);
    });
  }

  /** Remove a stopped container; its lock must be held. "removing" is recorded first, so a crash finishes the job at the next start. */
  async removeUnlocked(rec: ContainerRecord, fromExit: boolean, removeVolumes = false): Promise<void> {
    const { store } = this;
    const { o } = store;
    if (rec.State.Status !== "removing") {
      rec.State.Status = "removing";
      await store.save(rec);
    }
    await store.proc(rec).cleanup();
    await o.networking?.tearDown(rec);
    await o.networking?.onRemove(rec);
    await o.storage?.onRemove(rec, removeVolumes);
    await o.images.snapshots.removeSnapshot(rec.Id);
    await fs.rm(store.dir(rec.Id), { recursive: true, force: true });
    const l = store.drop(rec);
    for (const p of l?.pendingAttach ?? []) p.client.end();
    for (const w of l?.exitWaiters ?? []) w({ StatusCode: rec.State.ExitCode, Error: null });
    for (const w of l?.removeWaiters ?? []) w({ StatusCode: rec.State.ExitCode, Error: null });
    store.emit(rec, "destroy");
    void fromExit;
  }

  async prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    for (const k of Object.keys(filters)) if (!["label", "label!", "until"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    const deleted: string[] = [];
    let space = 0;
    for (const rec of this.store.all()) {
      if (rec.State.Running || rec.State.Status === "removing") continue;
      if (!matchLabels(rec.Config.Labels, filters["label"] ?? [])) continue;
      const until = filters["until"]?.[0];
      if (until && Date.parse(rec.Created) > parseTimeFilter(until) * 1000) continue;
      space += await this.store.o.images.snapshots.snapshotSize(rec.Id);
      // One that cannot go (busy, removed meanwhile) is left out of the list, as dockerd does.
      await this.remove(rec.Id, { force: false, volumes: false }).then(() => deleted.push(rec.Id), bestEffort("prune: rm"));
    }
    // dockerd's list is nil (null) when nothing went.
    return { ContainersDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: space };
  }

  /**
   * `docker rm --link parent/alias`: drop the link from the parent (its record, and
   * the line in its /etc/hosts while it runs), as dockerd's rmLink.
   */
  async removeLink(name: string): Promise<void> {
    const { store } = this;
    store.get(name); // dockerd resolves the name first: "No such container: <name>"
    const full = name.startsWith("/") ? name : `/${name}`;
    const slash = full.lastIndexOf("/");
    if (slash === 0) throw conflict("Conflict, cannot remove the default link name of the container");
    const parent = store.byName(full.slice(0, slash));
    if (!parent) throw notFound(`No such container: ${name}`);
    const alias = full.slice(slash + 1);
    await store.lock.run(parent.Id, async () => {
      const links = parent.HostConfig.Links ?? [];
      const gone = links.filter((l) => parseLinkEntry(l).alias === alias);
      if (gone.length === 0) return;
      const child = store.byName(`/${parseLinkEntry(gone[0] as string).target}`);
      parent.HostConfig.Links = links.filter((l) => !gone.includes(l));
      await store.save(parent);
      if (parent.State.Running && child) {
        // Gone already: the container stopped meanwhile, nothing to edit.
        const text = await fs.readFile(parent.HostsPath, "utf8").catch(() => undefined);
        // In place, not renamed: the file is bind-mounted into the running container.
        if (text !== undefined) await fs.writeFile(parent.HostsPath, hostsWithoutLink(text, [alias, child.Config.Hostname, child.Name.slice(1)]));
      }
    });
  }
}
