/**
 * Volumes backend: the /volumes API (create, ls, inspect, rm, prune) over the local
 * driver, and the containers' storage seam (ContainerStorage): at create the mount
 * points of --volumes-from, -v (Binds), --mount (Mounts) and the image's VOLUMEs are
 * resolved and recorded in the container record (MountPoints), creating named and
 * anonymous volumes; at start they become OCI mounts (copying image content into new
 * volumes, creating mount targets safely inside the root); at removal anonymous
 * volumes go with `rm -v` and `--rm`.
 *
 * A volume is in use while any container record refers to it (Docker's references):
 * `volume rm` answers 409 then. Volumes with mount options (tmpfs, bind devices) are
 * mounted while a running container uses them and unmounted when the last one dies.
 */
import { existsSync, promises as fs } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { z } from "zod";
import { EngineError, conflict, invalid, messageOf, notFound } from "../util/errors.js";
import { mkdirp } from "../util/fsutil.js";
import { regexpMatches } from "../util/pathmatch.js";
import { KeyedMutex } from "../util/lock.js";
import type { Logger } from "../util/log.js";
import type { OciMount } from "../runtime/index.js";
import { ScopedRoot, closeQuietly, openDirAt, procAt, reopenDir } from "../image/index.js";
import { run } from "../util/exec.js";
import {
  type ViewMount,
  ANONYMOUS_LABEL,
  DEFAULT_DRIVER,
  DEFAULT_PROPAGATION,
  LocalDriver,
  type MountPoint,
  type VolumeRecord,
  VOLUME_NAME_RE,
  byDepth,
  convertTmpfsOptions,
  copyTree,
  createFileInRoot,
  isEmptyDir,
  mkdirInRoot,
  openSubpath,
  parseMountRaw,
  parseMountSpec,
  parseVolumesFrom,
  readWrite,
  volumeNameError,
} from "../volume/index.js";
import type { ContainerView } from "./cpview.js";
import type { Events } from "./events.js";
import { mergeTmpfsOptions } from "./hostconfig.js";
import type { ContainerStorage } from "./plugs.js";
import type { ContainerRecord } from "./types.js";

const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();

export const VolumeCreateSchema = z.looseObject({
  Name: nullable(z.string()),
  Driver: nullable(z.string()),
  DriverOpts: nullable(z.record(z.string(), z.string())),
  Labels: nullable(z.record(z.string(), z.string())),
});
export type VolumeCreateBody = z.infer<typeof VolumeCreateSchema>;

/** Docker's Volume object (GET /volumes/{name}). */
export interface VolumeInfo {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: "local";
  UsageData?: { Size: number; RefCount: number };
}

export interface ContainerLookup {
  all(): ContainerRecord[];
  find(idOrName: string): ContainerRecord | undefined;
}

export interface VolumeServiceOptions {
  root: string; // data-root/volumes
  events: Events;
  log: Logger;
  containers: ContainerLookup;
  /** Host ids of containers' root under `--userns-remap`: owner of new volume data and mount points. */
  rootOwner?: { uid: number; gid: number };
  /** Where volume subpaths are bind-mounted for the runtime while a container is created (root only, 0700). */
  stageRoot: string;
}

/** A create still writing its record keeps its volumes referenced this long at most. */
const CREATE_GRACE_MS = 120_000;
/** A start that prepared mounts but never ran keeps mounted volumes this long at most. */
const START_GRACE_MS = 60_000;

function cleanPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, "$1");
}

function matchKV(labels: Record<string, string> | null, wanted: string[]): boolean {
  const l = labels ?? {};
  return wanted.every((w) => {
    const i = w.indexOf("=");
    if (i < 0) return w in l;
    return l[w.slice(0, i)] === w.slice(i + 1);
  });
}

/** Docker's filters.Match: exact, or the value as a regular expression. */
function matchName(name: string, wanted: string[]): boolean {
  return wanted.some((w) => w === name || regexpMatches(w, name));
}

function boolFilter(key: string, vals: string[]): boolean {
  // dockerd prints the values as a Go slice: 'dangling=[maybe]'.
  if (vals.length !== 1) throw invalid(`Invalid filter '${key}=[${vals.join(" ")}]'`);
  const v = (vals[0] as string).toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw invalid(`Invalid filter '${key}=[${vals[0]}]'`);
}

function checkFilters(filters: Record<string, string[]>, accepted: string[]): void {
  for (const k of Object.keys(filters)) if (!accepted.includes(k)) throw invalid(`Invalid filter '${k}'`);
}

function randomName(): string {
  return randomBytes(32).toString("hex");
}

export class VolumeService implements ContainerStorage {
  readonly driver: LocalDriver;
  /** Containers whose create is writing its record: their new volumes count as used. */
  private readonly creating = new Map<string, { rec: ContainerRecord; at: number }>();
  /** Containers whose mounts are prepared but which do not run yet. */
  private readonly starting = new Map<string, number>();
  /** Containers whose filesystem `docker cp` is looking at (views open, by count): their volumes stay mounted. */
  private readonly viewing = new Map<string, number>();
  /** Subpath stages mounted for the runtime, by container, until the container is created. */
  private readonly staged = new Map<string, string[]>();
  /** "refs": reference changes (create/rm); "mounts": mounting and unmounting; volume names: copy-up. */
  private readonly lock = new KeyedMutex();
  private pruning = false;

  constructor(private readonly o: VolumeServiceOptions) {
    this.driver = new LocalDriver(o.root, o.log, o.rootOwner);
    // A container's process ended: release the mounts of volumes nobody running uses any more.
    o.events.subscribe((e) => {
      if (e.Type !== "container") return;
      // Running (or ended): the container's own state tells from now on.
      if (e.Action === "start" || e.Action === "die") this.starting.delete(e.Actor.ID);
      if (e.Action !== "die") return;
      const rec = this.o.containers.find(e.Actor.ID);
      for (const m of rec?.MountPoints ?? []) {
        if (m.Type === "volume" && m.Name !== "") this.o.events.emit("volume", "unmount", m.Name, { container: e.Actor.ID, driver: m.Driver || DEFAULT_DRIVER });
      }
      void this.settle().catch((err: unknown) => this.o.log.warn(`releasing volume mounts: ${messageOf(err)}`));
    });
  }

  async init(): Promise<void> {
    await this.driver.init();
    // Subpath mounts a crash left behind (a container that runs has its own copy of the mount).
    await fs.mkdir(this.o.stageRoot, { recursive: true, mode: 0o700 });
    for (const name of await fs.readdir(this.o.stageRoot)) await this.unstage(path.join(this.o.stageRoot, name));
  }

  // --- references ---------------------------------------------------------------

  /** Ids of the containers referring to a volume (Docker's refs), optionally leaving one out. */
  refs(name: string, exclude?: string): string[] {
    const recs = this.o.containers.all();
    const known = new Set(recs.map((r) => r.Id));
    const now = Date.now();
    for (const [id, c] of this.creating) {
      if (known.has(id) || now - c.at > CREATE_GRACE_MS) this.creating.delete(id);
      else recs.push(c.rec);
    }
    const out: string[] = [];
    for (const r of recs) {
      if (r.Id === exclude || out.includes(r.Id)) continue;
      if ((r.MountPoints ?? []).some((m) => m.Type === "volume" && m.Name === name)) out.push(r.Id);
    }
    return out;
  }

  /**
   * Unmount the mounted (tmpfs, bind-device) volumes that no running or starting
   * container uses. Called when a container dies, at removal, before a start, and
   * once after start-up (mounts survive a daemon restart).
   */
  async settle(): Promise<void> {
    await this.lock.run("mounts", async () => {
      const needing = this.driver.list().filter((v) => this.driver.needsMount(v));
      if (needing.length === 0) return;
      const now = Date.now();
      const active = new Set<string>();
      const known = new Set<string>();
      for (const r of this.o.containers.all()) {
        known.add(r.Id);
        const since = this.starting.get(r.Id);
        if (since !== undefined && (r.State.Running || now - since > START_GRACE_MS)) this.starting.delete(r.Id);
        if (!r.State.Running && !this.starting.has(r.Id) && !this.viewing.has(r.Id)) continue;
        for (const m of r.MountPoints ?? []) if (m.Type === "volume") active.add(m.Name);
      }
      for (const id of this.starting.keys()) if (!known.has(id)) this.starting.delete(id);
      for (const v of needing) {
        if (active.has(v.Name) || !(await this.driver.isMounted(v.Name))) continue;
        this.o.log.debug(`unmounting volume ${v.Name}: no running container uses it`);
        await this.driver.unmount(v.Name);
      }
    });
  }

  // --- the /volumes API -------------------------------------------------------------

  private info(v: VolumeRecord): VolumeInfo {
    return {
      CreatedAt: v.CreatedAt,
      Driver: v.Driver,
      Labels: v.Labels,
      Mountpoint: this.driver.dataPath(v.Name),
      Name: v.Name,
      Options: v.Options,
      Scope: "local",
    };
  }

  private checkDriver(name: string, driver: string): void {
    if (driver !== "" && driver !== DEFAULT_DRIVER) {
      throw notFound(`create ${name}: error looking up volume plugin ${driver}: plugin "${driver}" not found`);
    }
  }

  private async createVolume(name: string, driver: string, options: Record<string, string> | null, labels: Record<string, string> | null): Promise<VolumeRecord> {
    this.checkDriver(name, driver);
    const { volume } = await this.driver.create(name, options, labels);
    // dockerd announces every create, also of a volume that already existed (a named -v, a repeated POST).
    this.o.events.emit("volume", "create", name, { driver: volume.Driver });
    return volume;
  }

  /** POST /volumes/create: a name-less volume is anonymous (random name, com.docker.volume.anonymous label). */
  async create(body: VolumeCreateBody): Promise<VolumeInfo> {
    let name = body.Name ?? "";
    let labels = body.Labels ?? null;
    if (name === "") {
      name = randomName();
      labels = { ...(labels ?? {}), [ANONYMOUS_LABEL]: "" };
    }
    return this.info(await this.lock.run("refs", () => this.createVolume(name, body.Driver ?? "", body.DriverOpts ?? null, labels)));
  }

  inspect(name: string): VolumeInfo {
    const v = this.driver.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return this.info(v);
  }

  /** GET /volumes with Docker's filters: dangling, name, driver, label. */
  list(filters: Record<string, string[]>): { Volumes: VolumeInfo[]; Warnings: string[] | null } {
    checkFilters(filters, ["dangling", "name", "driver", "label"]);
    let vols = this.driver.list();
    const drivers = filters["driver"] ?? [];
    if (drivers.length > 0) vols = vols.filter((v) => drivers.includes(v.Driver));
    const names = filters["name"] ?? [];
    if (names.length > 0) vols = vols.filter((v) => matchName(v.Name, names));
    const labels = filters["label"] ?? [];
    if (labels.length > 0) vols = vols.filter((v) => matchKV(v.Labels, labels));
    if (filters["dangling"] && filters["dangling"].length > 0) {
      const dangling = boolFilter("dangling", filters["dangling"]);
      vols = vols.filter((v) => (this.refs(v.Name).length === 0) === dangling);
    }
    vols.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    return { Volumes: vols.map((v) => this.info(v)), Warnings: null };
  }

  /** DELETE /volumes/{name}: 409 while a container refers to it; force ignores a missing volume. */
  async remove(name: string, force = false): Promise<void> {
    await this.lock.run("refs", async () => {
      const v = this.driver.get(name);
      if (!v) {
        if (force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const refs = this.refs(name);
      if (refs.length > 0) throw conflict(`remove ${name}: volume is in use - [${refs.join(", ")}]`);
      await this.driver.remove(name);
      this.o.events.emit("volume", "destroy", name, { driver: v.Driver });
    });
  }

  /**
   * POST /volumes/prune: unused local volumes without mount options; only anonymous
   * ones unless all=true (Docker 23+). Filters: label, label!, all.
   */
  async prune(filters: Record<string, string[]>): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    checkFilters(filters, ["label", "label!", "all"]);
    const allVals = filters["all"] ?? [];
    if (allVals.length > 1) throw invalid(`invalid filter 'all=[${allVals.join(" ")}]': only one value is expected`);
    let all = false;
    if (allVals.length === 1) {
      const v = (allVals[0] as string).toLowerCase();
      if (["1", "t", "true"].includes(v)) all = true;
      else if (!["0", "f", "false"].includes(v)) throw invalid(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(allVals[0])}: invalid syntax`);
    }
    if (this.pruning) throw conflict("a prune operation is already running");
    this.pruning = true;
    try {
      const labels = [...(filters["label"] ?? []), ...(all ? [] : [ANONYMOUS_LABEL])];
      const notLabels = filters["label!"] ?? [];
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const v of this.driver.list()) {
        if (v.Driver !== DEFAULT_DRIVER || Object.keys(v.Options ?? {}).length > 0) continue;
        if (!matchKV(v.Labels, labels)) continue;
        if (notLabels.length > 0 && matchKV(v.Labels, notLabels)) continue;
        const size = await this.driver.size(v.Name);
        try {
          await this.remove(v.Name);
        } catch (e) {
          this.o.log.debug(`prune: keeping volume ${v.Name}: ${messageOf(e)}`);
          continue;
        }
        deleted.push(v.Name);
        if (size > 0) reclaimed += size;
      }
      this.o.events.emit("volume", "prune", "", { reclaimed: String(reclaimed) });
      return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
    } finally {
      this.pruning = false;
    }
  }

  /** Volumes with UsageData (size, reference count) for GET /system/df; volumes with mount options are left out, as Docker does. */
  async usage(): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    for (const v of this.driver.list()) {
      if (Object.keys(v.Options ?? {}).length > 0) continue;
      out.push({ ...this.info(v), UsageData: { Size: await this.driver.size(v.Name), RefCount: this.refs(v.Name).length } });
    }
    return out;
  }

  // --- the containers' storage seam ---------------------------------------------------

  /**
   * dockerd's validateBindDaemonRoot: a bind whose source holds the data root (or lies in it)
   * must not be private, or the container would keep private copies of the engine's own
   * mounts (other containers' root filesystems) and make them impossible to unmount.
   * Without a propagation mode it becomes rslave; rslave and rshared are accepted.
   */
  private checkDaemonRootBind(mp: MountPoint, asked: string): void {
    if (mp.Type !== "bind") return;
    const root = path.dirname(this.o.root);
    const src = mp.Source;
    const within = (inner: string, outer: string): boolean => outer === "/" || inner === outer || inner.startsWith(`${outer}/`);
    if (!within(src, root) && !within(root, src)) return;
    if (asked === "") mp.Propagation = "rslave";
    else if (asked !== "rslave" && asked !== "rshared") {
      throw invalid(`invalid mount config: must use either propagation mode "rslave" or "rshared" when mount source is within the daemon root, daemon root: ${JSON.stringify(root)}, bind mount source: ${JSON.stringify(src)}, propagation: ${JSON.stringify(asked)}`);
    }
  }

  /** Resolve the container's mount points (Docker's registerMountPoints + image VOLUMEs) and create their volumes. */
  async onCreate(rec: ContainerRecord): Promise<void> {
    const hc = rec.HostConfig;
    const points = new Map<string, MountPoint>();
    const inherited = new Set<string>(); // destinations taken from --volumes-from
    const tmpfs = hc.Tmpfs ?? {};
    const volumeDriver = hc.VolumeDriver ?? "";

    // 1. --volumes-from: the other container's mount points, read-only if asked.
    for (const spec of hc.VolumesFrom ?? []) {
      const { id, mode } = parseVolumesFrom(spec);
      const src = this.o.containers.find(id);
      if (!src) throw invalid(`No such container: ${id}`);
      for (const m of src.MountPoints ?? []) {
        points.set(m.Destination, { ...m, Mode: "", RW: m.RW && readWrite(mode), CopyData: false, Spec: { ...m.Spec } });
        inherited.add(m.Destination);
      }
    }

    // 2. -v (Binds): host paths and named volumes; they replace inherited mount points.
    const taken = new Set<string>();
    for (const raw of hc.Binds ?? []) {
      const mp = parseMountRaw(raw, volumeDriver);
      if (taken.has(mp.Destination) || mp.Destination in tmpfs) throw invalid(`Duplicate mount point: ${mp.Destination}`);
      if (mp.Type === "volume") {
        if (!VOLUME_NAME_RE.test(mp.Name)) throw invalid(`create ${mp.Name}: ${volumeNameError(mp.Name)}`);
        this.checkDriver(mp.Name, mp.Driver);
        mp.Driver = DEFAULT_DRIVER;
        if (mp.Mode === "") mp.Mode = "z";
      }
      this.checkDaemonRootBind(mp, mp.Spec.BindOptions?.Propagation ?? "");
      taken.add(mp.Destination);
      inherited.delete(mp.Destination);
      points.set(mp.Destination, mp);
    }

    // 3. --mount (Mounts).
    for (const cfg of hc.Mounts ?? []) {
      const mp = parseMountSpec(cfg);
      if (taken.has(mp.Destination)) throw invalid(`Duplicate mount point: ${cfg.Target ?? ""}`);
      if (mp.Type === "volume") {
        if (mp.Name !== "" && !VOLUME_NAME_RE.test(mp.Name)) throw invalid(`create ${mp.Name}: ${volumeNameError(mp.Name)}`);
        this.checkDriver(mp.Name, mp.Driver);
        mp.Driver = DEFAULT_DRIVER;
        if (mp.Mode === "") mp.Mode = "z";
      }
      if (mp.Type === "bind" && !cfg.BindOptions?.CreateMountpoint) mp.SkipMountpointCreation = true;
      this.checkDaemonRootBind(mp, cfg.BindOptions?.Propagation ?? "");
      taken.add(mp.Destination);
      inherited.delete(mp.Destination);
      points.set(mp.Destination, mp);
    }

    // 4. Config.Volumes (the image's VOLUMEs and `-v /path`): anonymous volumes where nothing else is mounted.
    for (const spec of Object.keys(rec.Config.Volumes ?? {})) {
      if (!spec.includes(":")) parseMountRaw(spec); // Docker's errors for relative paths and "/"
      else if (!spec.startsWith("/")) throw invalid(`invalid mount path: '${spec}' mount path must be absolute`);
      const dest = cleanPath(spec);
      if (points.has(dest) || dest in tmpfs || spec in tmpfs) continue;
      this.checkDriver("", volumeDriver);
      points.set(dest, { Type: "volume", Name: "", Source: "", Destination: dest, Driver: DEFAULT_DRIVER, Mode: "", RW: true, Propagation: "", CopyData: true, Spec: {} });
    }

    // Everything is valid: create (or find) the volumes and record the references.
    await this.lock.run("refs", async () => {
      for (const mp of points.values()) {
        if (mp.Type !== "volume") continue;
        if (inherited.has(mp.Destination)) {
          if (!this.driver.get(mp.Name)) throw notFound(`get ${mp.Name}: no such volume`);
          continue;
        }
        const anonymous = mp.Name === "";
        const name = anonymous ? randomName() : mp.Name;
        const vo = mp.Spec.VolumeOptions;
        const labels = anonymous ? { ...(vo?.Labels ?? {}), [ANONYMOUS_LABEL]: "" } : (vo?.Labels ?? null);
        const v = await this.createVolume(name, mp.Driver, vo?.DriverConfig?.Options ?? null, labels);
        mp.Name = v.Name;
        mp.Driver = v.Driver;
        mp.Source = this.driver.dataPath(v.Name);
      }
      rec.MountPoints = [...points.values()];
      this.creating.set(rec.Id, { rec, at: Date.now() });
    });
  }

  /** At start: OCI mounts for the container's mount points, parents before children. */
  async mounts(rec: ContainerRecord, rootfs: string): Promise<OciMount[]> {
    const points = [...(rec.MountPoints ?? [])].sort(byDepth((m: MountPoint) => m.Destination));
    if (points.length === 0) return [];
    this.starting.delete(rec.Id);
    await this.settle(); // a tmpfs volume left by containers that ended starts afresh
    try {
      await this.lock.run("mounts", async () => {
        this.starting.set(rec.Id, Date.now());
        for (const mp of points) if (mp.Type === "volume") await this.driver.mount(mp.Name);
      });
      return await this.ociMounts(rec, points, rootfs);
    } catch (e) {
      // The start fails: what was mounted for it alone is released now.
      this.starting.delete(rec.Id);
      await this.settle().catch((err: unknown) => this.o.log.warn(`releasing volume mounts: ${messageOf(err)}`));
      throw e;
    }
  }

  private async ociMounts(rec: ContainerRecord, points: MountPoint[], rootfs: string): Promise<OciMount[]> {
    const out: OciMount[] = [];
    await this.afterCreate(rec); // what an earlier, failed start of this container staged
    for (const [i, mp] of points.entries()) {
      switch (mp.Type) {
        case "volume": {
          const data = await this.mountedVolume(rec, mp, rootfs);
          const sub = mp.Spec.VolumeOptions?.Subpath ?? "";
          const source = sub === "" ? data : await this.stageSubpath(rec, i, data, sub);
          await ensureTarget(rootfs, mp.Destination, source, this.o.rootOwner);
          out.push(bindMount(mp, source));
          break;
        }
        case "bind": {
          await ensureBindSource(mp, this.o.rootOwner);
          await ensureTarget(rootfs, mp.Destination, mp.Source, this.o.rootOwner);
          out.push(bindMount(mp, mp.Source));
          break;
        }
        case "tmpfs": {
          const data = convertTmpfsOptions(mp.Spec.TmpfsOptions, mp.Spec.ReadOnly ?? false);
          const options = mergeTmpfsOptions(["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION, ...(data ? data.split(",") : [])]);
          // The runtime creates a tmpfs target itself: a pre-existing directory would lend the tmpfs its mode.
          out.push({ destination: mp.Destination, type: "tmpfs", source: "tmpfs", options });
          break;
        }
      }
    }
    // The container's /etc files are mounted before these: where a mount covers /etc, mount them again on top
    // (Docker sorts all mounts parents-first, so they stay visible).
    const etc: [string, string][] = [["/etc/resolv.conf", rec.ResolvConfPath], ["/etc/hostname", rec.HostnamePath], ["/etc/hosts", rec.HostsPath]];
    for (const [dest, src] of etc) {
      if (points.some((m) => m.Destination === dest)) continue;
      const cover = points.filter((m) => dest.startsWith(m.Destination === "/" ? "/" : `${m.Destination}/`));
      if (cover.length === 0 || cover.some((m) => !m.RW)) continue;
      out.push({ destination: dest, type: "bind", source: src, options: ["rbind", "rprivate"] });
    }
    return out;
  }

  /**
   * A volume's subpath for the runtime: opened inside the volume (volume/subpath.ts) and
   * bind-mounted from that descriptor on a stage of our own, which is what the runtime
   * mounts; a container sharing the volume cannot redirect it between our check and the
   * runtime's mount. The stage goes once the container is created (afterCreate).
   */
  private async stageSubpath(rec: ContainerRecord, index: number, data: string, sub: string): Promise<string> {
    const { fd, dir } = openSubpath(data, sub);
    try {
      const stage = path.join(this.o.stageRoot, `${rec.Id}-${index}`);
      await this.unstage(stage);
      if (dir) await fs.mkdir(stage, 0o700);
      else await fs.writeFile(stage, "", { mode: 0o600, flag: "wx" });
      const staged = this.staged.get(rec.Id) ?? [];
      staged.push(stage);
      this.staged.set(rec.Id, staged);
      await run("mount", ["-n", "-c", "--bind", procAt(fd), stage]);
      return stage;
    } finally {
      closeQuietly(fd);
    }
  }

  /** The runtime has made the container's mounts (or its start failed): drop the subpath stages made for it. */
  async afterCreate(rec: ContainerRecord): Promise<void> {
    const staged = this.staged.get(rec.Id);
    if (!staged) return;
    this.staged.delete(rec.Id);
    for (const stage of staged) await this.unstage(stage);
  }

  /** Unmount a stage and remove it; never recursively, so a stage still mounted keeps its content. */
  private async unstage(stage: string): Promise<void> {
    for (;;) {
      const r = await run("umount", ["-n", stage]).then(() => true, () => false);
      if (!r) break; // not (or no longer) mounted
    }
    const st = await fs.lstat(stage).catch(() => undefined);
    if (st === undefined) return;
    await (st.isDirectory() ? fs.rmdir(stage) : fs.unlink(stage)).catch((e: unknown) => this.o.log.warn(`removing ${stage}: ${messageOf(e)}`));
  }

  /** The host path of a volume's data (its copy-up done), announced with a volume mount event. */
  private async mountedVolume(rec: ContainerRecord, mp: MountPoint, rootfs: string): Promise<string> {
    if (!this.driver.get(mp.Name)) throw notFound(`error while mounting volume '${mp.Source}': get ${mp.Name}: no such volume`);
    const source = await this.volumeData(mp, rootfs);
    this.o.events.emit("volume", "mount", mp.Name, {
      container: rec.Id,
      destination: mp.Destination,
      driver: mp.Driver || DEFAULT_DRIVER,
      propagation: mp.Propagation,
      "read/write": String(mp.RW),
    });
    return source;
  }

  /** The host path of a volume's data, populated on first use. */
  private async volumeData(mp: MountPoint, rootfs: string): Promise<string> {
    const data = this.driver.dataPath(mp.Name);
    if (mp.CopyData) {
      await this.copyUp(mp.Name, rootfs, mp.Destination, data);
      mp.CopyData = false; // saved with the record: the copy happens on first use only
    }
    return data;
  }

  /**
   * The container's volumes and bind mounts as `docker cp` sees them (Docker's setupMounts
   * for openContainerFS): parents before children; tmpfs mounts are left out, as Docker
   * leaves them out (cp sees what is under them). Volumes that need mounting (tmpfs, bind
   * devices) are mounted and kept until release; a volume never used yet gets the image's
   * content first (Docker copies it at create, Berth at first use); a missing `-v` bind
   * source is created. Volume mount/unmount events as Docker's. rootfs must be mounted.
   */
  async viewMounts(rec: ContainerRecord, rootfs: string): Promise<ContainerView> {
    const points = (rec.MountPoints ?? []).filter((m) => m.Type !== "tmpfs").sort(byDepth((m: MountPoint) => m.Destination));
    if (points.length === 0) return { mounts: [], release: async () => undefined };
    this.viewing.set(rec.Id, (this.viewing.get(rec.Id) ?? 0) + 1);
    const announced: MountPoint[] = [];
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      const n = (this.viewing.get(rec.Id) ?? 1) - 1;
      if (n > 0) this.viewing.set(rec.Id, n);
      else this.viewing.delete(rec.Id);
      for (const mp of announced) this.o.events.emit("volume", "unmount", mp.Name, { container: rec.Id, driver: mp.Driver || DEFAULT_DRIVER });
      await this.settle().catch((err: unknown) => this.o.log.warn(`releasing volume mounts: ${messageOf(err)}`));
    };
    try {
      await this.lock.run("mounts", async () => {
        for (const mp of points) if (mp.Type === "volume") await this.driver.mount(mp.Name);
      });
      const mounts: ViewMount[] = [];
      for (const mp of points) {
        let source: string;
        let subpath: string | undefined;
        if (mp.Type === "volume") {
          source = await this.mountedVolume(rec, mp, rootfs);
          announced.push(mp);
          // Resolved and mounted from a descriptor by the view's helper (volume/view.ts).
          const sub = mp.Spec.VolumeOptions?.Subpath ?? "";
          if (sub !== "") subpath = sub;
        } else {
          await ensureBindSource(mp, this.o.rootOwner);
          source = mp.Source;
        }
        const bo = mp.Spec.BindOptions;
        mounts.push({
          destination: mp.Destination,
          source,
          ...(subpath !== undefined ? { subpath } : {}),
          rw: mp.RW,
          recursive: !bo?.NonRecursive,
          ...(bo?.ReadOnlyNonRecursive ? { readOnlyNonRecursive: true } : {}),
        });
      }
      return { mounts, ...(this.o.rootOwner ? { owner: this.o.rootOwner } : {}), release };
    } catch (e) {
      await release();
      throw e;
    }
  }

  /** Docker's populate: a new (empty) volume mounted over image content gets a copy of it. */
  private async copyUp(name: string, rootfs: string, dest: string, data: string): Promise<void> {
    await this.lock.run(`copy:${name}`, async () => {
      // The image's directory, resolved in the root and held open; the copy works on descriptors only
      // (a running container sharing the volume may change it meanwhile: see volume/copy.ts).
      const root = ScopedRoot.open(rootfs);
      let srcFd: number | undefined;
      try {
        const r = root.resolve(dest, true);
        try {
          if (r.stat?.isDirectory()) srcFd = r.name === "" ? reopenDir(r.dirFd) : openDirAt(r.dirFd, r.name);
        } finally {
          r.close();
        }
      } catch {
        return; // nothing there to copy
      } finally {
        root.close();
      }
      if (srcFd === undefined) return;
      try {
        if (!(await isEmptyDir(data))) return;
        const s = await copyTree(srcFd, data);
        this.o.log.debug(`copied ${s.files} entries (${s.bytes} bytes) of ${dest} into volume ${name}`);
      } catch (e) {
        throw new EngineError("internal", `failed to populate volume ${name} with ${dest}: ${messageOf(e)}`);
      } finally {
        closeQuietly(srcFd);
      }
    });
  }

  async onRemove(rec: ContainerRecord, removeVolumes: boolean): Promise<void> {
    this.creating.delete(rec.Id);
    this.starting.delete(rec.Id);
    // `rm -v`, and every auto-removal (--rm), take the anonymous volumes along unless another container uses them.
    if (removeVolumes || rec.HostConfig.AutoRemove) {
      for (const mp of rec.MountPoints ?? []) {
        if (mp.Type !== "volume" || mp.Name === "" || (mp.Spec.Source ?? "") !== "") continue;
        await this.lock.run("refs", async () => {
          const v = this.driver.get(mp.Name);
          if (!v || this.refs(mp.Name, rec.Id).length > 0) return;
          try {
            await this.driver.remove(mp.Name);
            this.o.events.emit("volume", "destroy", mp.Name, { driver: v.Driver });
          } catch (e) {
            this.o.log.warn(`removing volume ${mp.Name} of container ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
          }
        });
      }
    }
    await this.settle();
  }

  /** Docker's `Mounts` (inspect and ps). */
  inspectMounts(rec: ContainerRecord): unknown[] {
    return [...(rec.MountPoints ?? [])]
      .sort((a, b) => (a.Destination < b.Destination ? -1 : a.Destination > b.Destination ? 1 : 0))
      .map((m) => ({
        Type: m.Type,
        ...(m.Name !== "" ? { Name: m.Name } : {}),
        Source: m.Type === "volume" ? this.driver.dataPath(m.Name) : m.Source,
        Destination: m.Destination,
        ...(m.Driver !== "" ? { Driver: m.Driver } : {}),
        Mode: m.Mode,
        RW: m.RW,
        Propagation: m.Propagation,
      }));
  }
}

function bindMount(mp: MountPoint, source: string): OciMount {
  const options = [mp.Spec.BindOptions?.NonRecursive ? "bind" : "rbind"];
  if (!mp.RW) options.push("ro");
  options.push(mp.Propagation || DEFAULT_PROPAGATION);
  return { destination: mp.Destination, type: "bind", source, options };
}

/**
 * A bind's host path: `-v` creates a missing one (as a directory, given to the containers'
 * root under --userns-remap, dockerd's rule), `--mount` refuses it (Docker's messages).
 */
async function ensureBindSource(mp: MountPoint, owner: { uid: number; gid: number } | undefined): Promise<void> {
  if (existsSync(mp.Source)) return;
  if (mp.SkipMountpointCreation) throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${mp.Source}`);
  try {
    await mkdirp(mp.Source, 0o755);
    if (owner) await fs.chown(mp.Source, owner.uid, owner.gid);
  } catch (e) {
    throw new EngineError("internal", `error while creating mount source path '${mp.Source}': ${messageOf(e)}`);
  }
}

/** Create the mount target inside the root: a directory, or an empty file for a file source. */
async function ensureTarget(rootfs: string, dest: string, source: string, owner: { uid: number; gid: number } | undefined): Promise<void> {
  const st = await fs.stat(source).catch(() => undefined);
  if (st && !st.isDirectory()) await createFileInRoot(rootfs, dest, 0o755, owner);
  else await mkdirInRoot(rootfs, dest, 0o755, owner);
}
