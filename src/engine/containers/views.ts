/** What the read-only routes show of containers: inspect, the list (docker ps) and the counts of docker info. */
import path from "node:path";
import type { Digest } from "../../util/digest.js";
import { humanDuration } from "../../util/duration.js";
import { notFound } from "../../util/errors.js";
import { apparmorShown } from "../runspec.js";
import { type ContainerRecord, type ContainerState, ZERO_TIME } from "../types.js";
import { matchContainer, validateListFilters } from "./filters.js";
import { fullHostConfig, networkSettings } from "./inspectdefaults.js";
import { inspectLinks } from "./links.js";
import type { ContainerStore } from "./store.js";
import type { ListOptions } from "./types.js";

export class ContainerViews {
  /** A container's live exec ids, provided by the exec backend (inspect's ExecIDs). */
  execIds: (id: string) => string[] | null = () => null;

  constructor(private readonly store: ContainerStore) {}

  async inspect(idOrName: string, size = false): Promise<Record<string, unknown>> {
    const { store } = this;
    const { o } = store;
    const rec = store.get(idOrName);
    const sizeRw = size ? await o.images.snapshots.snapshotSize(rec.Id) : undefined;
    const snap = o.images.snapshots.snapshotDir(rec.Id);
    const started = rec.State.StartedAt !== ZERO_TIME;
    return {
      Id: rec.Id,
      Created: rec.Created,
      Path: rec.Path,
      Args: rec.Args,
      State: { ...rec.State },
      Image: rec.Image,
      // dockerd fills these in at the first start.
      ResolvConfPath: started ? rec.ResolvConfPath : "",
      HostnamePath: started ? rec.HostnamePath : "",
      HostsPath: started ? rec.HostsPath : "",
      LogPath: started ? rec.LogPath : "",
      Name: rec.Name,
      RestartCount: rec.RestartCount,
      Driver: rec.Driver,
      Platform: rec.Platform,
      MountLabel: "",
      ProcessLabel: "",
      AppArmorProfile: apparmorShown(rec.HostConfig),
      ExecIDs: this.execIds(rec.Id),
      HostConfig: { ...fullHostConfig(rec.HostConfig), Links: inspectLinks(rec, (n) => store.byName(n)) },
      GraphDriver: {
        Name: "overlay2",
        Data: { UpperDir: path.join(snap, "upper"), WorkDir: path.join(snap, "work"), MergedDir: path.join(snap, "merged") },
      },
      ...(sizeRw !== undefined ? { SizeRw: sizeRw, SizeRootFs: sizeRw + (await this.imageSize(rec)) } : {}),
      Mounts: o.storage?.inspectMounts(rec) ?? [],
      Config: rec.Config,
      NetworkSettings: { ...networkSettings(rec), ...(o.networking?.settings(rec) ?? {}) },
    };
  }

  async list(opts: ListOptions): Promise<Record<string, unknown>[]> {
    const { store } = this;
    const { o } = store;
    let recs = store.all().sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    const f = opts.filters;
    const showAll = opts.all || opts.limit > 0 || (Object.keys(f).length > 0 && (f["status"] !== undefined || f["exited"] !== undefined));
    if (!showAll) recs = recs.filter((r) => r.State.Running);
    validateListFilters(f);
    // before/since: containers created before/after the named one (dockerd resolves the name first).
    const anchor = (key: "before" | "since"): ContainerRecord | undefined => {
      const v = f[key]?.[0];
      if (v === undefined) return undefined;
      const rec = store.find(v);
      if (!rec) throw notFound(`no such container ${v}`);
      return rec;
    };
    const before = anchor("before");
    const since = anchor("since");
    if (before) recs = recs.filter((r) => r.Created < before.Created);
    if (since) recs = recs.filter((r) => r.Created > since.Created);
    recs = recs.filter((r) => matchContainer(r, f, (n) => o.images.resolve(n)));
    if (opts.limit > 0) recs = recs.slice(0, opts.limit);
    const out: Record<string, unknown>[] = [];
    const links = [...store.linkNames()];
    for (const r of recs) {
      const entry: Record<string, unknown> = {
        Id: r.Id,
        Names: [r.Name, ...links.filter(([, id]) => id === r.Id).map(([n]) => n)],
        Image: r.Config.Image,
        ImageID: r.Image,
        Command: listCommand(r.Path, r.Args),
        Created: Math.floor(Date.parse(r.Created) / 1000),
        Ports: o.networking?.ports(r) ?? [],
        Labels: r.Config.Labels,
        State: r.State.Status,
        Status: statusString(r.State),
        HostConfig: { NetworkMode: r.HostConfig.NetworkMode ?? "default" },
        NetworkSettings: { Networks: (o.networking?.settings(r)["Networks"] as Record<string, unknown> | undefined) ?? {} },
        Mounts: o.storage?.inspectMounts(r) ?? [],
      };
      if (opts.size) {
        // omitempty in dockerd's list entries: a container that wrote nothing has no SizeRw.
        const rw = await o.images.snapshots.snapshotSize(r.Id);
        const rootFs = rw + (await this.imageSize(r));
        if (rw > 0) entry["SizeRw"] = rw;
        if (rootFs > 0) entry["SizeRootFs"] = rootFs;
      }
      out.push(entry);
    }
    return out;
  }

  counts(): { total: number; running: number; paused: number; stopped: number } {
    const recs = this.store.all();
    let running = 0;
    let paused = 0;
    for (const r of recs) {
      if (r.State.Paused) paused++;
      else if (r.State.Running) running++;
    }
    return { total: recs.length, running, paused, stopped: recs.length - running - paused };
  }

  /** The image's part of SizeRootFs: 0 when the image went meanwhile (rmi -f), as dockerd shows it. */
  private imageSize(rec: ContainerRecord): Promise<number> {
    return this.store.o.images.size(rec.Image as Digest).catch(() => 0);
  }
}

/** dockerd's `Command` in the container list: the path, then the arguments, those with a space in single quotes. */
export function listCommand(path: string, args: readonly string[]): string {
  return [path, ...args.map((a) => (a.includes(" ") ? `'${a}'` : a))].join(" ");
}

/** Docker's "Up 5 seconds" / "Exited (3) 2 minutes ago" / "Created". */
export function statusString(s: ContainerState, now = Date.now()): string {
  switch (s.Status) {
    case "created":
      return "Created";
    case "running": {
      const up = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
      return s.Health ? `${up} (${s.Health.Status})` : up;
    }
    case "paused":
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case "restarting":
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "exited":
      return s.FinishedAt === ZERO_TIME ? "Exited" : `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  }
}
