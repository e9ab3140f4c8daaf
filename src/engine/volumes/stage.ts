/**
 * Volume subpaths for the runtime: opened inside the volume (volume/subpath.ts) and
 * bind-mounted from that descriptor on a stage of our own, which is what the runtime
 * mounts; a container sharing the volume cannot redirect it between our check and the
 * runtime's mount. A container's stages go once it is created; stages a crash left
 * behind go at start-up (a container that runs has its own copy of the mount).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { closeQuietly, procAt } from "../../image/index.js";
import { messageOf } from "../../util/errors.js";
import { run } from "../../util/exec.js";
import type { Logger } from "../../util/log.js";
import { openSubpath } from "../../volume/index.js";

export class SubpathStages {
  /** Subpath stages mounted for the runtime, by container, until the container is created. */
  private readonly staged = new Map<string, string[]>();

  constructor(private readonly root: string, private readonly log: Logger) {}

  /** Start-up: remove every stage a crash left. */
  async collect(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(this.root)) await this.unstage(path.join(this.root, name));
  }

  /** The stage of the index-th mount point of container id, showing `sub` of the volume's data. */
  async stage(id: string, index: number, data: string, sub: string): Promise<string> {
    const { fd, dir } = openSubpath(data, sub);
    try {
      const stage = path.join(this.root, `${id}-${index}`);
      await this.unstage(stage);
      if (dir) await fs.mkdir(stage, 0o700);
      else await fs.writeFile(stage, "", { mode: 0o600, flag: "wx" });
      const staged = this.staged.get(id) ?? [];
      staged.push(stage);
      this.staged.set(id, staged);
      await run("mount", ["-n", "-c", "--bind", procAt(fd), stage]);
      return stage;
    } finally {
      closeQuietly(fd);
    }
  }

  /** The runtime has made the container's mounts (or its start failed): drop its stages. */
  async release(id: string): Promise<void> {
    const staged = this.staged.get(id);
    if (!staged) return;
    this.staged.delete(id);
    for (const stage of staged) await this.unstage(stage);
  }

  /** Unmount a stage and remove it; never recursively, so a stage still mounted keeps its content. */
  private async unstage(stage: string): Promise<void> {
    for (;;) {
      // umount failing is the normal end: the stage is not (or no longer) mounted.
      const r = await run("umount", ["-n", stage]).then(() => true, () => false);
      if (!r) break;
    }
    const st = await fs.lstat(stage).catch(() => undefined); // no stage: nothing to remove
    if (st === undefined) return;
    await (st.isDirectory() ? fs.rmdir(stage) : fs.unlink(stage)).catch((e: unknown) => this.log.warn(`removing ${stage}: ${messageOf(e)}`));
  }
}
