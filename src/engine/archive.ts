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
 * image, a volume or a running container put there (image/archive-tar.ts: every
 * lookup goes one directory descriptor at a time; extraction writes every entry
 * through its parent directory's descriptor, image/tar.ts), also while another
 * running container that shares a volume swaps a directory for a symlink. The
 * container itself is frozen while something is extracted into it as well.
 */
import fss, { type BigIntStats, constants as fsc, promises as fs } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import { type Digest, hexOf } from "../util/digest.js";
import { conflict, invalid, messageOf } from "../util/errors.js";
import { run } from "../util/exec.js";
import { ensureDir } from "../util/fsutil.js";
import type { Logger } from "../util/log.js";
import {
  type FsChange,
  type ImageConfig,
  type ImageRunConfig,
  type ImageStore,
  type Reference,
  ScopedRoot,
  formatReference,
  fullRunConfig,
  goFileMode,
  isWhiteoutStat,
  opaqueDirs,
  openDirAt,
  overlayChanges,
  parseReference,
  readdirAt,
  tarTree,
  withDefaultTag,
} from "../image/index.js";
import type { ContainerService } from "./containers/index.js";
import { type EtcFile, type ExtractSpec, type PathStat, archivePath, extractInto, statPath } from "./cpcore.js";
import { type ContainerView, type ViewRequest, runInView } from "./cpview.js";
import type { Events } from "./events.js";
import { parseChanges } from "./images.js";
import type { ContainerConfig, ContainerRecord } from "./types.js";

export type { PathStat } from "./cpcore.js";
export { goBase, goClean, goTime, preserveTrailingDotOrSeparator } from "./cpcore.js";

export interface ExtractOptions {
  /** Fail instead of replacing a directory with a non-directory or the reverse (the CLI always asks for it). */
  noOverwriteDirNonDir: boolean;
  /** Own everything extracted by the container's configured user (docker cp -a). */
  copyUIDGID: boolean;
}

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

export interface ArchiveServiceOptions {
  containers: ContainerService;
  store: ImageStore;
  events: Events;
  log: Logger;
  /** Scratch directory for short-lived mounts (the image view `docker diff` compares against). */
  tmpRoot: string;
  /** Written into committed images as docker_version (dockerd writes its own version there). */
  daemonVersion?: string;
}

/** Mount points the runtime creates when the image lacks them; Docker keeps them in its init layer. */
const MOUNT_POINTS = new Set(["proc", "sys", "dev", "etc", "etc/hosts", "etc/hostname", "etc/resolv.conf"]);
const MOUNT_POINT_FILES = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
const MOUNT_POINT_DIRS = ["proc", "sys", "dev", "etc"];

export class ArchiveService {
  constructor(private readonly o: ArchiveServiceOptions) {}

  /** Drop mounts and directories a crash left in the scratch directory. */
  async init(): Promise<void> {
    await ensureDir(this.o.tmpRoot, 0o700);
    for (const name of await fs.readdir(this.o.tmpRoot)) {
      const p = path.join(this.o.tmpRoot, name);
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

  // --- docker diff ----------------------------------------------------------------

  /** GET /containers/{id}/changes: what the container changed against its image, sorted by path. */
  async changes(idOrName: string): Promise<FsChange[]> {
    return this.o.containers.withRootfs(idOrName, async (_rootfs, rec) => {
      const upper = this.o.containers.upperDir(rec.Id);
      const snap = await this.o.store.layers.snapshot(rec.Id);
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
      await fs.rmdir(dir).catch(() => undefined);
    }
  }

  // --- docker commit --------------------------------------------------------------

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
    const snap = await store.layers.snapshot(rec.Id);
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

// --- docker commit details -----------------------------------------------------------

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

/**
 * Docker's httputils.RepoTagReference: no repo → no tag; no tag → "latest"; dockerd 20.10's
 * messages (it answers a malformed name or tag with 500, Berth with 400: docs/security.md).
 */
function repoTagReference(repo: string, tag: string): Reference | undefined {
  if (repo === "") return undefined;
  const ref = parseReference(repo);
  if (tag !== "" && !/^[\w][\w.-]{0,127}$/.test(tag)) throw invalid("invalid tag format");
  if (ref.digest) throw invalid("refusing to create a tag with a digest reference");
  return withDefaultTag(tag !== "" ? { repo: ref.repo, tag } : ref);
}

/** The image config of a commit: Docker's BuildFromConfig (the --change instructions, in order) then merge. */
export function buildCommitConfig(base: Partial<ContainerConfig>, changes: string[], container: ContainerConfig): ImageRunConfig {
  const cfg: ImageRunConfig = runConfigOf(base);
  let cmdSet = false;
  for (const line of changes.flatMap((c) => c.split("\n"))) {
    if (line.trim() === "") continue;
    const c = parseChanges([line]);
    if (c.Cmd !== undefined) {
      cfg.Cmd = c.Cmd;
      cmdSet = true;
    }
    if (c.Entrypoint !== undefined) {
      cfg.Entrypoint = c.Entrypoint;
      // A Dockerfile's ENTRYPOINT resets the CMD unless a CMD came before it.
      if (!cmdSet) cfg.Cmd = null;
    }
    for (const e of c.Env ?? []) {
      const k = e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("="));
      const env = cfg.Env ?? [];
      const i = env.findIndex((x) => (x.indexOf("=") < 0 ? x : x.slice(0, x.indexOf("="))) === k);
      if (i >= 0) env[i] = e;
      else env.push(e);
      cfg.Env = env;
    }
    if (c.Labels) cfg.Labels = { ...(cfg.Labels ?? {}), ...c.Labels };
    if (c.ExposedPorts) cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...c.ExposedPorts };
    if (c.Volumes) cfg.Volumes = { ...(cfg.Volumes ?? {}), ...c.Volumes };
    if (c.User !== undefined) cfg.User = c.User;
    if (c.WorkingDir !== undefined) {
      cfg.WorkingDir = c.WorkingDir.startsWith("/") ? path.posix.normalize(c.WorkingDir) : path.posix.join("/", cfg.WorkingDir ?? "", c.WorkingDir);
    }
    if (c.StopSignal !== undefined) cfg.StopSignal = c.StopSignal;
  }
  mergeConfig(cfg, container);
  return cfg;
}

function runConfigOf(c: Partial<ContainerConfig>): ImageRunConfig {
  const out: ImageRunConfig = {};
  // The container-only fields stay too: dockerd commits the container's whole Config.
  if (c.Hostname) out.Hostname = c.Hostname;
  if (c.Domainname) out.Domainname = c.Domainname;
  for (const k of ["AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "NetworkDisabled"] as const) if (c[k]) out[k] = true;
  if (c.Image) out.Image = c.Image;
  if (c.MacAddress) out.MacAddress = c.MacAddress;
  if (c.StopTimeout !== undefined && c.StopTimeout !== null) out.StopTimeout = c.StopTimeout;
  if (c.ArgsEscaped) out.ArgsEscaped = true;
  if (c.User !== undefined && c.User !== null) out.User = c.User;
  if (c.ExposedPorts) out.ExposedPorts = { ...c.ExposedPorts };
  if (c.Env) out.Env = [...c.Env];
  if (c.Entrypoint !== undefined) out.Entrypoint = c.Entrypoint === null ? null : typeof c.Entrypoint === "string" ? [c.Entrypoint] : [...c.Entrypoint];
  if (c.Cmd !== undefined) out.Cmd = c.Cmd === null ? null : typeof c.Cmd === "string" ? [c.Cmd] : [...c.Cmd];
  if (c.Volumes !== undefined) out.Volumes = c.Volumes === null ? null : { ...c.Volumes };
  if (c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (c.Labels) out.Labels = { ...c.Labels };
  if (c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.OnBuild) out.OnBuild = [...c.OnBuild];
  if (c.Shell) out.Shell = [...c.Shell];
  if (c.Healthcheck) out.Healthcheck = { ...(c.Healthcheck as NonNullable<ImageRunConfig["Healthcheck"]>) };
  return out;
}

/** Docker's merge(userConf, containerConf) of daemon/commit.go: fill what the user left out. */
function mergeConfig(user: ImageRunConfig, img: ContainerConfig): void {
  if (!user.User) user.User = img.User;
  if (!user.ExposedPorts || Object.keys(user.ExposedPorts).length === 0) {
    if (img.ExposedPorts) user.ExposedPorts = { ...img.ExposedPorts };
    else delete user.ExposedPorts;
  } else for (const p of Object.keys(img.ExposedPorts ?? {})) if (!(p in user.ExposedPorts)) user.ExposedPorts[p] = {};
  if (!user.Env || user.Env.length === 0) user.Env = [...img.Env];
  else {
    const keys = new Set(user.Env.map((e) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e)));
    for (const e of img.Env) if (!keys.has(e.includes("=") ? e.slice(0, e.indexOf("=")) : e)) user.Env.push(e);
  }
  user.Labels = { ...(user.Labels ?? {}) };
  for (const [k, v] of Object.entries(img.Labels ?? {})) if (!(k in user.Labels)) user.Labels[k] = v;
  if (!user.Entrypoint || user.Entrypoint.length === 0) {
    if (!user.Cmd || user.Cmd.length === 0) user.Cmd = img.Cmd;
    if (user.Entrypoint === undefined || user.Entrypoint === null) user.Entrypoint = img.Entrypoint;
  }
  if (img.Healthcheck) {
    const ih = img.Healthcheck as NonNullable<ImageRunConfig["Healthcheck"]>;
    if (!user.Healthcheck) user.Healthcheck = { ...ih };
    else {
      const uh = user.Healthcheck;
      if (!uh.Test || uh.Test.length === 0) uh.Test = ih.Test ?? [];
      if (!uh.Interval) uh.Interval = ih.Interval ?? 0;
      if (!uh.Timeout) uh.Timeout = ih.Timeout ?? 0;
      if (!uh.StartPeriod) uh.StartPeriod = ih.StartPeriod ?? 0;
      if (!uh.Retries) uh.Retries = ih.Retries ?? 0;
    }
  }
  if (!user.WorkingDir) user.WorkingDir = img.WorkingDir;
  if (!user.Volumes || Object.keys(user.Volumes).length === 0) user.Volumes = img.Volumes;
  else for (const [k, v] of Object.entries(img.Volumes ?? {})) user.Volumes[k] = v;
  if (!user.StopSignal) {
    if (img.StopSignal) user.StopSignal = img.StopSignal;
    else delete user.StopSignal;
  }
}
