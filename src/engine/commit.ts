/**
 * docker commit: the container's overlay upper dir becomes one layer (written by
 * image's tarTree, the writer build commits use too, with OCI whiteouts) on top
 * of its image, and a new image with the commit's config (commitconfig.ts).
 */
import fss, { type BigIntStats } from "node:fs";
import type { Digest } from "../util/digest.js";
import { conflict, messageOf } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import {
  type ImageConfig,
  type ImageRunConfig,
  type CommitStore,
  ScopedRoot,
  formatReference,
  fullRunConfig,
  goFileMode,
  isWhiteoutStat,
  opaqueDirs,
  openDirAt,
  readdirAt,
  tarTree,
} from "../image/index.js";
import { buildCommitConfig, repoTagReference, runConfigOf } from "./commitconfig.js";
import type { ContainerService } from "./containers/index.js";
import type { Events } from "./events.js";
import type { ContainerConfig, ContainerRecord } from "./types.js";

export interface CommitOptions {
  container: string;
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  /** Pause a running container during the commit (default true). */
  pause: boolean;
  /** Dockerfile instructions (`docker commit -c`). */
  changes: string[];
  /** The request body: container Config overrides (the container's Config when absent). */
  config?: Partial<ContainerConfig> | null;
}

export interface CommitDeps {
  containers: ContainerService;
  store: CommitStore;
  events: Events;
  log: Logger;
  /** Written into committed images as docker_version (dockerd writes its own version there). */
  daemonVersion?: string;
}

const MOUNT_POINT_FILES = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
const MOUNT_POINT_DIRS = ["proc", "sys", "dev", "etc"];

export class ContainerCommitter {
  constructor(private readonly o: CommitDeps) {}

  /**
   * POST /commit: a new image = the container's image + one layer holding its
   * changes (OCI whiteouts for deletions; none when nothing changed), with the
   * container's config after `changes`, a history entry and the container's id.
   */
  async commit(o: CommitOptions): Promise<Digest> {
    const rec = this.o.containers.get(o.container);
    if (rec.State.Dead) throw conflict(`You cannot commit container ${rec.Id} which is Dead`);
    if (rec.State.Status === "removing") throw conflict(`You cannot commit container ${rec.Id} which is being removed`);
    const config = buildCommitConfig(o.config ?? rec.Config, o.changes, rec.Config);

    let paused = false;
    if (o.pause && rec.State.Running && !rec.State.Paused) {
      await this.o.containers.pause(rec.Id).then(
        () => (paused = true),
        (e: unknown) => this.o.log.warn(`pausing ${rec.Id.slice(0, 12)} for commit: ${messageOf(e)}`),
      );
    }
    // The commit event comes before the unpause, as dockerd sends them.
    try {
      const id = await this.o.containers.withRootfs(rec.Id, () => this.commitLayer(rec, config, o));
      this.o.events.emit("image", "create", id, {});
      // dockerd 20.10 parses the name after it made the image: a bad one leaves the image untagged.
      const ref = repoTagReference(o.repo ?? "", o.tag ?? "");
      let imageRef = "";
      if (ref) {
        await this.o.store.tag(id, ref);
        imageRef = formatReference(ref);
        this.o.events.emit("image", "tag", id, { name: imageRef });
      }
      this.o.containers.emit(rec, "commit", { comment: o.comment ?? "", imageID: id, imageRef });
      return id;
    } finally {
      if (paused) await this.o.containers.unpause(rec.Id).catch((e: unknown) => this.o.log.warn(`unpausing ${rec.Id.slice(0, 12)}: ${messageOf(e)}`));
    }
  }

  private async commitLayer(rec: ContainerRecord, config: ImageRunConfig, o: CommitOptions): Promise<Digest> {
    const { store } = this.o;
    const upper = this.o.containers.upperDir(rec.Id);
    const parentCfg = await store.config(rec.Image as Digest);
    const snap = await store.snapshots.snapshot(rec.Id);
    const chain = await store.layers.chain(snap.parent);
    const opaque = await opaqueDirs(upper);
    const upperRoot = ScopedRoot.open(upper);
    try {
      const skip = mountPointArtifacts(upperRoot, chain.map((c) => store.layers.diffDir(c)), opaque);
      const empty = readdirAt(upperRoot.fd).every((n) => skip.has(n));
      const now = new Date().toISOString();
      return await store.gcLock.withShared(async () => {
        const diffIds = [...parentCfg.rootfs.diff_ids];
        if (!empty) {
          const idMap = store.idMap;
          const tar = tarTree(upperRoot.fd, "", { name: (rel) => rel, ociWhiteouts: true, opaque, skip: (rel) => skip.has(rel), ...(idMap ? { idMap } : {}) });
          try {
            diffIds.push((await store.layers.register(tar, snap.parent)).diffId);
          } finally {
            tar.destroy();
          }
        }
        const createdBy = (rec.Config.Cmd ?? []).join(" ");
        const img: ImageConfig = {
          architecture: parentCfg.architecture,
          ...(parentCfg.variant ? { variant: parentCfg.variant } : {}),
          os: parentCfg.os,
          created: now,
          ...(o.author ? { author: o.author } : {}),
          ...(o.comment ? { comment: o.comment } : {}),
          config: fullRunConfig(config),
          container: rec.Id,
          container_config: fullRunConfig(runConfigOf(rec.Config)),
          ...(this.o.daemonVersion ? { docker_version: this.o.daemonVersion } : {}),
          rootfs: { type: "layers", diff_ids: diffIds },
          history: [
            ...(parentCfg.history ?? []),
            {
              created: now,
              ...(createdBy ? { created_by: createdBy } : {}),
              ...(o.author ? { author: o.author } : {}),
              ...(o.comment ? { comment: o.comment } : {}),
              ...(empty ? { empty_layer: true } : {}),
            },
          ],
        };
        // dockerd records the container's image as the parent of a commit.
        return store.addImage(img, { parent: rec.Image as Digest });
      });
    } finally {
      upperRoot.close();
    }
  }
}

/**
 * Entries the runtime left in the upper dir as mount points (empty /etc/hosts and
 * friends, /proc /sys /dev /etc created for them) that Docker keeps in its init
 * layer instead: they are not part of a committed layer. A mount-point directory
 * is left out only when nothing else is in it and it is new or unchanged.
 */
function mountPointArtifacts(upper: ScopedRoot, lowerDirs: string[], opaque: ReadonlySet<string>): Set<string> {
  const skip = new Set<string>();
  const lowers = lowerDirs.map((d) => ScopedRoot.open(d));
  try {
    for (const f of MOUNT_POINT_FILES) {
      const st = upper.lstatNoFollow(f);
      if (st?.isFile() && lowerLstat(lowers, f) === undefined) skip.add(f);
    }
    for (const d of MOUNT_POINT_DIRS) {
      const st = upper.lstatNoFollow(d);
      if (!st?.isDirectory() || opaque.has(d)) continue;
      let fd: number;
      try {
        fd = openDirAt(upper.fd, d);
      } catch {
        continue;
      }
      let others: string[];
      try {
        others = readdirAt(fd).filter((n) => !skip.has(`${d}/${n}`));
      } finally {
        fss.closeSync(fd);
      }
      if (others.length > 0) continue;
      const lst = lowerLstat(lowers, d);
      if (lst === undefined || (lst.isDirectory() && goFileMode(lst) === goFileMode(st) && lst.uid === st.uid && lst.gid === st.gid)) skip.add(d);
    }
  } finally {
    for (const l of lowers) l.close();
  }
  return skip;
}

/** lstat of rel in a stack of layer directories (top first), honouring whiteouts; opaque markers are not consulted. */
function lowerLstat(layers: ScopedRoot[], rel: string): BigIntStats | undefined {
  const parts = rel.split("/");
  for (const layer of layers) {
    let blocked = false;
    let missing = false;
    for (let i = 1; i < parts.length; i++) {
      const st = layer.lstatNoFollow(parts.slice(0, i).join("/"));
      if (st === undefined) {
        missing = true;
        break;
      }
      if (!st.isDirectory()) {
        blocked = true;
        break;
      }
    }
    if (blocked) return undefined;
    if (missing) continue;
    const st = layer.lstatNoFollow(rel);
    if (st === undefined) continue;
    return isWhiteoutStat(st) ? undefined : st;
  }
  return undefined;
}
