/**
 * Container filesystem operations: `docker cp` in both directions (path stat,
 * archive, extract), `docker export`, `docker diff` and `docker commit`, with
 * Docker's semantics and error messages.
 *
 * docker cp sees the container as the container does, volumes and bind mounts
 * included (Docker's openContainerFS); tmpfs mounts are not shown (cp sees what
 * is under them), as in Docker. For a container without volumes or binds the
 * operations (cpcore.ts) run here on its root filesystem; for one with them, in a
 * helper process with a private mount namespace where they are mounted
 * (cpview.ts) — nothing is ever mounted in the daemon's namespace for it.
 * `docker export` is the root filesystem alone, without volumes, as Docker's.
 *
 * Paths are container paths: symlinks are followed as the container sees them
 * (absolute targets from its root) and never lead out of its root, whatever the
 * image, a volume or a running container put there (util/scopedroot.ts: every
 * lookup goes one directory descriptor at a time; extraction writes every entry
 * through its parent directory's descriptor, image/tar-apply.ts), also while another
 * running container that shares a volume swaps a directory for a symlink. The
 * container itself is frozen while something is extracted into it as well.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type { Digest } from "../util/digest.js";
import { conflict, messageOf } from "../util/errors.js";
import { run } from "../util/exec.js";
import { ensureDir } from "../util/fsutil.js";
import type { Logger } from "../util/log.js";
import { type FsChange, type CommitStore, ScopedRoot, tarTree } from "../image/index.js";
import { type CommitOptions, ContainerCommitter } from "./commit.js";
import type { ContainerService } from "./containers/index.js";
import { ContainerDiff } from "./diff.js";
import { type EtcFile, type ExtractSpec, type PathStat, archivePath, extractInto, statPath } from "./cpcore.js";
import { type ContainerView, type ViewRequest, runInView } from "./cpview.js";
import type { Events } from "./events.js";
import type { ContainerRecord } from "./types.js";

export type { PathStat } from "./cpcore.js";
export type { CommitOptions } from "./commit.js";
export { goBase, goClean, goTime, preserveTrailingDotOrSeparator } from "./cpcore.js";

export interface ExtractOptions {
  /** Fail instead of replacing a directory with a non-directory or the reverse (the CLI always asks for it). */
  noOverwriteDirNonDir: boolean;
  /** Own everything extracted by the container's configured user (docker cp -a). */
  copyUIDGID: boolean;
}

export interface ArchiveServiceOptions {
  containers: ContainerService;
  store: CommitStore;
  events: Events;
  log: Logger;
  /** Scratch directory for short-lived mounts (the image view `docker diff` compares against). */
  tmpRoot: string;
  /** Written into committed images as docker_version (dockerd writes its own version there). */
  daemonVersion?: string;
}

export class ArchiveService {
  private readonly committer: ContainerCommitter;
  private readonly differ: ContainerDiff;

  constructor(private readonly o: ArchiveServiceOptions) {
    this.committer = new ContainerCommitter(o);
    this.differ = new ContainerDiff(o);
  }

  /** Drop mounts and directories a crash left in the scratch directory. */
  async init(): Promise<void> {
    await ensureDir(this.o.tmpRoot, 0o700);
    for (const name of await fs.readdir(this.o.tmpRoot)) {
      const p = path.join(this.o.tmpRoot, name);
      // Usually not mounted (a directory left by a crash): umount failing is the normal case.
      await run("umount", ["-l", p]).catch(() => undefined);
      // Never recursive: if the unmount failed, this must not reach into image layers.
      await fs.rmdir(p).catch((e: unknown) => this.o.log.warn(`removing ${p}: ${messageOf(e)}`));
    }
  }

  // --- docker cp --------------------------------------------------------------

  /** HEAD /containers/{id}/archive: stat of a path (a final symlink is reported, not followed). */
  async stat(idOrName: string, p: string): Promise<PathStat> {
    return this.withCpFs(idOrName, async (c) => {
      if (c.view.mounts.length > 0) {
        const v = runInView(this.viewRequest(c, "stat", p, idOrName));
        const [st] = await Promise.all([v.stat, v.done]);
        return st;
      }
      const root = ScopedRoot.open(c.rootfs);
      try {
        return statPath(root, c.etc, p, idOrName);
      } finally {
        root.close();
      }
    });
  }

  /**
   * GET /containers/{id}/archive: a tar of the path (a file: one entry named by its
   * base name; a directory: the directory and its contents; "dir/." names its
   * entries "./..."), handed to consume with the path's stat. The container stays
   * locked until consume returns.
   */
  async archive(idOrName: string, p: string, consume: (stat: PathStat, tar: Readable) => Promise<void>): Promise<void> {
    await this.withCpFs(idOrName, async (c) => {
      if (c.view.mounts.length > 0) {
        const v = runInView(this.viewRequest(c, "archive", p, idOrName));
        try {
          const stat = await v.stat;
          this.o.containers.emit(c.rec, "archive-path");
          await consume(stat, v.tar);
        } finally {
          // Whatever the consumer did not read is not wanted any more.
          v.kill();
          v.tar.destroy();
          // Killed just above: its failure is expected; what mattered reached consume.
          await v.done.catch(() => undefined);
        }
        return;
      }
      const root = ScopedRoot.open(c.rootfs);
      try {
        const a = archivePath(root, c.etc, p, idOrName, this.o.store.idMap);
        try {
          this.o.containers.emit(c.rec, "archive-path");
          await consume(a.stat, a.tar);
        } finally {
          a.close();
        }
      } finally {
        root.close();
      }
    });
  }

  /**
   * PUT /containers/{id}/archive: extract a tar into a directory of the container.
   * The destination (all symlinks followed inside the container) must exist and be
   * a directory, in a writable place (not a read-only volume, not a read-only root
   * filesystem). Nothing is ever written outside the container's root or a mount's
   * source: entries with absolute names or "..", and writes through symlinks, are refused.
   */
  async extract(idOrName: string, p: string, body: Readable, opts: ExtractOptions): Promise<void> {
    await this.withCpFs(idOrName, async (c) => {
      const { rec } = c;
      // Nothing in the container moves while we resolve and write.
      const thaw = await this.o.containers.freeze(rec);
      try {
        const spec: ExtractSpec = {
          noOverwriteDirNonDir: opts.noOverwriteDirNonDir,
          readonlyRootfs: rec.HostConfig.ReadonlyRootfs ?? false,
          mountPoints: (rec.MountPoints ?? []).map((m) => ({ destination: m.Destination, rw: m.RW })),
          ...(opts.copyUIDGID && rec.Config.User ? { user: rec.Config.User } : {}),
        };
        if (c.view.mounts.length > 0) {
          const v = runInView({ ...this.viewRequest(c, "extract", p, idOrName), extract: spec }, body);
          try {
            await v.done;
          } catch (e) {
            body.destroy();
            throw e;
          }
        } else {
          const idMap = this.o.store.idMap;
          const root = ScopedRoot.open(c.rootfs);
          try {
            await extractInto(root, c.rootfs, c.etc, p, idOrName, body, { ...spec, ...(idMap ? { idMap } : {}) });
          } finally {
            root.close();
          }
        }
      } finally {
        await thaw();
      }
      this.o.containers.emit(rec, "extract-to-dir");
    });
  }

  // --- docker export ------------------------------------------------------------

  /** GET /containers/{id}/export: the container's whole filesystem as one flat tar. */
  async export(idOrName: string, consume: (tar: Readable) => Promise<void>): Promise<void> {
    const found = this.o.containers.get(idOrName);
    if (found.State.Dead) throw conflict(`You cannot export container ${found.Id} which is Dead`);
    if (found.State.Status === "removing") throw conflict(`You cannot export container ${found.Id} which is being removed`);
    await this.withRoot(idOrName, async (root, rec) => {
      const idMap = this.o.store.idMap;
      const tar = tarTree(root.fd, "", { name: (rel) => rel, ...(idMap ? { idMap } : {}) });
      try {
        await consume(tar);
      } finally {
        tar.destroy();
      }
      this.o.containers.emit(rec, "export");
    });
  }

  /** GET /containers/{id}/changes: what the container changed against its image, sorted by path (diff.ts). */
  changes(idOrName: string): Promise<FsChange[]> {
    return this.differ.changes(idOrName);
  }

  /** POST /commit: a new image from the container's changes (commit.ts). */
  commit(o: CommitOptions): Promise<Digest> {
    return this.committer.commit(o);
  }

  // --- helpers --------------------------------------------------------------------

  /** Run fn with the container's root filesystem open (mounted for the duration when stopped). */
  private withRoot<T>(idOrName: string, fn: (root: ScopedRoot, rec: ContainerRecord, rootfs: string) => T | Promise<T>): Promise<T> {
    return this.o.containers.withRootfs(idOrName, async (rootfs, rec) => {
      const root = ScopedRoot.open(rootfs);
      try {
        return await fn(root, rec, rootfs);
      } finally {
        root.close();
      }
    });
  }

  /** Run fn with the container's filesystem as docker cp sees it: root filesystem, volumes and binds to mount, /etc files. */
  private withCpFs<T>(idOrName: string, fn: (c: CpFs) => Promise<T>): Promise<T> {
    return this.o.containers.withContainerFs(idOrName, (rootfs, rec, view) => fn({ rootfs, rec, view, etc: etcFiles(rec) }));
  }

  private viewRequest(c: CpFs, op: ViewRequest["op"], p: string, idOrName: string): ViewRequest {
    const idMap = this.o.store.idMap;
    return {
      op,
      rootfs: c.rootfs,
      stageDir: this.o.tmpRoot,
      mounts: c.view.mounts,
      ...(c.view.owner ? { owner: c.view.owner } : {}),
      etc: [...c.etc],
      path: p,
      idOrName,
      ...(idMap ? { idMap: { uids: [...idMap.uids], gids: [...idMap.gids] } } : {}),
    };
  }
}

interface CpFs {
  rootfs: string;
  rec: ContainerRecord;
  view: ContainerView;
  etc: EtcFile[];
}

// --- docker cp details -------------------------------------------------------------

/**
 * The container's /etc/resolv.conf, /etc/hostname and /etc/hosts: the files in its
 * directory, bind-mounted over the root's — unless a mount point of the container
 * is there (Docker's TrySetNetworkMount: then the mount is what the container sees).
 */
function etcFiles(rec: ContainerRecord): EtcFile[] {
  const files: EtcFile[] = [
    ["/etc/resolv.conf", rec.ResolvConfPath],
    ["/etc/hostname", rec.HostnamePath],
    ["/etc/hosts", rec.HostsPath],
  ];
  const mounted = new Set((rec.MountPoints ?? []).filter((m) => m.Type !== "tmpfs").map((m) => m.Destination));
  return files.filter(([dest, src]) => src !== "" && !mounted.has(dest));
}
