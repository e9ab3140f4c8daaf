/**
 * docker diff: the container's overlay upper dir compared with its image's layers
 * (image's overlayChanges), the layers seen as one directory: a single layer's
 * own, or a read-only overlay of several mounted in the scratch directory.
 */
import fss, { constants as fsc, promises as fs } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { bestEffort } from "../util/besteffort.js";
import { type Digest, hexOf } from "../util/digest.js";
import { run } from "../util/exec.js";
import { type FsChange, type CommitStore, opaqueDirs, overlayChanges } from "../image/index.js";
import type { ContainerService } from "./containers/index.js";

export interface DiffDeps {
  containers: ContainerService;
  store: CommitStore;
  /** Scratch directory for short-lived mounts (the image view `docker diff` compares against). */
  tmpRoot: string;
}

/** Mount points the runtime creates when the image lacks them; Docker keeps them in its init layer. */
const MOUNT_POINTS = new Set(["proc", "sys", "dev", "etc", "etc/hosts", "etc/hostname", "etc/resolv.conf"]);

export class ContainerDiff {
  constructor(private readonly o: DiffDeps) {}

  /** GET /containers/{id}/changes: what the container changed against its image, sorted by path. */
  async changes(idOrName: string): Promise<FsChange[]> {
    return this.o.containers.withRootfs(idOrName, async (_rootfs, rec) => {
      const upper = this.o.containers.upperDir(rec.Id);
      const snap = await this.o.store.snapshots.snapshot(rec.Id);
      const chain = await this.o.store.layers.chain(snap.parent);
      const opaque = await opaqueDirs(upper);
      return this.withLowerView(chain, (lower, lowerWhiteouts) => {
        const upperFd = fss.openSync(upper, fsc.O_RDONLY | fsc.O_DIRECTORY);
        const lowerFd = lower === undefined ? undefined : fss.openSync(lower, fsc.O_RDONLY | fsc.O_DIRECTORY);
        try {
          return overlayChanges(upperFd, lowerFd, { opaque, lowerWhiteouts, mountPoints: MOUNT_POINTS });
        } finally {
          fss.closeSync(upperFd);
          if (lowerFd !== undefined) fss.closeSync(lowerFd);
        }
      });
    });
  }

  /**
   * The image's layers as one directory: a single layer's own directory (its
   * whiteouts visible), or a read-only overlay of several, mounted for fn.
   */
  private async withLowerView<T>(chain: Digest[], fn: (dir: string | undefined, whiteoutsVisible: boolean) => T | Promise<T>): Promise<T> {
    if (chain.length === 0) return fn(undefined, false);
    if (chain.length === 1) return fn(this.o.store.layers.diffDir(chain[0] as Digest), true);
    const dir = path.join(this.o.tmpRoot, `lower-${randomBytes(6).toString("hex")}`);
    await fs.mkdir(dir, { mode: 0o700 });
    try {
      // Relative lowerdirs (against the layers dir) keep the option string short, as LayerStore.mount does.
      const lower = chain.map((c) => `${hexOf(c)}/diff`).join(":");
      await run("mount", ["-t", "overlay", "overlay", "-o", `ro,lowerdir=${lower}`, dir], { cwd: this.o.store.layers.layersDir });
      try {
        return await fn(dir, false);
      } finally {
        await run("umount", [dir]).catch(() => run("umount", ["-l", dir]));
      }
    } finally {
      await fs.rmdir(dir).catch(bestEffort(`removing ${dir}`));
    }
  }
}
