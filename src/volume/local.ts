/**
 * The local volume driver: one directory per volume under <data-root>/volumes,
 *
 *   volumes/<name>/volume.json   name, creation time, labels, driver options (written atomically:
 *                                the commit point of a create)
 *   volumes/<name>/_data         the data, mounted into containers
 *
 * With options (`-o type=tmpfs -o device=tmpfs -o o=size=1m`, `-o type=none -o o=bind
 * -o device=/path`), _data is a mount point: the driver mounts it while containers
 * use the volume. A volume directory is never deleted while anything is mounted at
 * or below _data.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { EngineError, conflict, errnoCode, invalid, messageOf, notFound } from "../util/errors.js";
import { run } from "../util/exec.js";
import { ensureDir, mkdirp, readJson, writeJson } from "../util/fsutil.js";
import { KeyedMutex } from "../util/lock.js";
import type { Logger } from "../util/log.js";
import { dirSize, isEmptyDir } from "./copy.js";
import { mountsAtOrUnder } from "./mountinfo.js";
import { VOLUME_NAME_RE, volumeNameError } from "./parser.js";

export const DEFAULT_DRIVER = "local";
export const ANONYMOUS_LABEL = "com.docker.volume.anonymous";

export interface VolumeRecord {
  Name: string;
  Driver: string;
  CreatedAt: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
}

const META = "volume.json";
const DATA = "_data";
const VALID_OPTS = new Set(["type", "o", "device", "size"]);
const REQUIRED: Record<string, string[]> = { device: ["type"], type: ["device"], o: ["device", "type"] };

/** Docker's units.RAMInBytes: 512, 64k, 1.5g (binary multiples). */
function ramInBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?$/i.exec(s.trim());
  if (!m) throw invalid(`invalid size: '${s}'`);
  const mult: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
  return Math.floor(Number(m[1]) * (mult[(m[2] ?? "").toLowerCase()] ?? 1));
}

/** The local driver's option checks (Docker's validateOpts). */
export function validateOptions(opts: Record<string, string> | null | undefined): void {
  if (!opts) return;
  const keys = Object.keys(opts);
  if (keys.length === 0) return;
  for (const k of keys) if (!VALID_OPTS.has(k)) throw invalid(`invalid option: ${JSON.stringify(k)}`);
  const size = opts["size"];
  if (size !== undefined && ramInBytes(size) > 0) throw invalid("quota size requested but no quota support");
  for (const [k, reqs] of Object.entries(REQUIRED)) {
    if (!(k in opts)) continue;
    for (const r of reqs) if (!(r in opts)) throw invalid(`missing required option: ${JSON.stringify(r)}`);
  }
}

/** Docker's RFC 3339 time without fractions (2024-05-01T10:00:00Z). */
function rfc3339(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export class LocalDriver {
  private readonly vols = new Map<string, VolumeRecord>();
  private readonly lock = new KeyedMutex();

  constructor(
    readonly root: string,
    private readonly log?: Logger,
    /** Owner of new volumes' _data (the container root's host ids under `--userns-remap`). */
    private readonly dataOwner?: { uid: number; gid: number },
  ) {}

  dir(name: string): string {
    return path.join(this.root, name);
  }

  /** Where the volume's data lives (Docker's Mountpoint). */
  dataPath(name: string): string {
    return path.join(this.root, name, DATA);
  }

  /** Load the volumes; remove what an interrupted create left (a directory without volume.json). */
  async init(): Promise<void> {
    // dockerd's modes: others may pass (a remapped root reaches _data, a bind source) but not list.
    await ensureDir(this.root, 0o701);
    for (const name of await fs.readdir(this.root)) {
      const dir = this.dir(name);
      const st = await fs.lstat(dir).catch(() => undefined); // gone meanwhile: nothing to load
      if (!st?.isDirectory()) continue;
      for (const f of await fs.readdir(dir)) if (f.startsWith(".tmp-")) await fs.rm(path.join(dir, f), { force: true });
      const rec = await readJson<VolumeRecord>(path.join(dir, META)).catch((e: unknown) => {
        this.log?.warn(`volume ${name}: unreadable ${META}: ${messageOf(e)}`);
        return undefined;
      });
      if (rec && rec.Name === name) {
        await ensureDir(dir, 0o701); // an older berthd may have left it wider
        await fs.chmod(path.join(dir, META), 0o600);
        this.vols.set(name, rec);
        continue;
      }
      const data = this.dataPath(name);
      const emptyData = await isEmptyDir(data).catch((e: unknown) => errnoCode(e) === "ENOENT");
      if (VOLUME_NAME_RE.test(name) && (await mountsAtOrUnder(dir)).length === 0 && emptyData) {
        this.log?.info(`removing incomplete volume ${name}`);
        await fs.rm(dir, { recursive: true, force: true });
      } else if (VOLUME_NAME_RE.test(name) && !emptyData) {
        // Data without metadata: adopt it rather than lose it.
        const adopted: VolumeRecord = { Name: name, Driver: DEFAULT_DRIVER, CreatedAt: rfc3339(st.ctime), Labels: null, Options: null };
        await writeJson(path.join(dir, META), adopted);
        this.vols.set(name, adopted);
      }
    }
  }

  get(name: string): VolumeRecord | undefined {
    return this.vols.get(name);
  }

  list(): VolumeRecord[] {
    return [...this.vols.values()];
  }

  /** True for volumes whose _data is a mount made by the driver (type/device options). */
  needsMount(v: VolumeRecord): boolean {
    const o = v.Options ?? {};
    return (o["device"] ?? "") !== "" || (o["type"] ?? "") !== "";
  }

  /**
   * Create a volume, or return the existing one of that name (Docker ignores the
   * new options and labels then). `created` tells which happened.
   */
  async create(name: string, options: Record<string, string> | null, labels: Record<string, string> | null): Promise<{ volume: VolumeRecord; created: boolean }> {
    const fail = (e: unknown): never => {
      if (e instanceof EngineError) throw new EngineError(e.kind, `create ${name}: ${e.message}`);
      throw e;
    };
    if (!VOLUME_NAME_RE.test(name)) fail(invalid(volumeNameError(name)));
    return this.lock.run(name, async () => {
      const existing = this.vols.get(name);
      if (existing) return { volume: existing, created: false };
      try {
        validateOptions(options);
      } catch (e) {
        fail(e);
      }
      const dir = this.dir(name);
      try {
        await fs.mkdir(dir, 0o701);
      } catch (e) {
        if (errnoCode(e) !== "EEXIST") throw e;
        // A leftover directory without metadata (it would have been loaded otherwise).
        if ((await mountsAtOrUnder(dir)).length > 0) fail(conflict(`volume already exists under ${dir}`));
      }
      await mkdirp(this.dataPath(name), 0o755);
      if (this.dataOwner) await fs.chown(this.dataPath(name), this.dataOwner.uid, this.dataOwner.gid);
      const rec: VolumeRecord = { Name: name, Driver: DEFAULT_DRIVER, CreatedAt: rfc3339(new Date()), Labels: labels, Options: options };
      await writeJson(path.join(dir, META), rec);
      this.vols.set(name, rec);
      return { volume: rec, created: true };
    });
  }

  /** Mount _data for volumes with mount options, if it is not mounted already. */
  async mount(name: string): Promise<void> {
    const v = this.vols.get(name);
    if (!v || !this.needsMount(v)) return;
    await this.lock.run(name, async () => {
      const data = this.dataPath(name);
      if ((await mountsAtOrUnder(data)).includes(data)) return;
      const o = v.Options ?? {};
      const args: string[] = [];
      if (o["type"]) args.push("-t", o["type"]);
      if (o["o"]) args.push("-o", o["o"]);
      args.push(o["device"] ?? "", data);
      try {
        await run("mount", args);
      } catch (e) {
        // util-linux says "mount -t … : mount: <target>: <reason>.\n dmesg(1) …": keep the reason.
        const text = messageOf(e).split("\n")[0] ?? "";
        const reason = text.slice(text.lastIndexOf(`${data}: `) >= 0 ? text.lastIndexOf(`${data}: `) + data.length + 2 : 0).replace(/\.$/, "");
        const opts = o["o"] ? `, data: ${o["o"].replace(/password=[^,\s]*/g, "password=********")}` : "";
        throw invalid(`error while mounting volume '${data}': failed to mount local volume: mount ${o["device"] ?? ""}:${data}${opts}: ${reason}`);
      }
    });
  }

  /** Unmount what the driver mounted at _data (and anything below it). */
  async unmount(name: string): Promise<void> {
    await this.lock.run(name, () => this.unmountUnlocked(name));
  }

  async isMounted(name: string): Promise<boolean> {
    const data = this.dataPath(name);
    return (await mountsAtOrUnder(data)).includes(data);
  }

  private async unmountUnlocked(name: string): Promise<void> {
    const data = this.dataPath(name);
    const mounted = (await mountsAtOrUnder(data)).sort((a, b) => b.length - a.length);
    for (const m of mounted) {
      // Lazy: detaches the whole subtree at once even while something holds it open.
      await run("umount", ["-l", m]).catch((e: unknown) => this.log?.warn(`unmounting ${m}: ${messageOf(e)}`));
    }
  }

  /**
   * Delete a volume and its data. Mounts at _data are detached first; if anything is
   * still mounted there, nothing is deleted.
   */
  async remove(name: string): Promise<void> {
    await this.lock.run(name, async () => {
      if (!this.vols.has(name)) throw notFound(`get ${name}: no such volume`);
      const dir = this.dir(name);
      await this.unmountUnlocked(name);
      const still = await mountsAtOrUnder(dir);
      if (still.length > 0) throw new EngineError("internal", `remove ${name}: volume has active mounts`);
      // Drop the metadata first: a crash midway leaves an incomplete directory that init removes.
      await fs.rm(path.join(dir, META), { force: true });
      this.vols.delete(name);
      await fs.rm(dir, { recursive: true, force: true });
    });
  }

  /** Bytes used by a volume's data (-1 when unknown). */
  async size(name: string): Promise<number> {
    try {
      return await dirSize(this.dataPath(name));
    } catch {
      return -1;
    }
  }
}
