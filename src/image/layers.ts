import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { type Digest, hexOf, sha256 } from "../util/digest.js";
import { EngineError, errnoCode, notFound } from "../util/errors.js";
import { ensureDir, exists, mkdirp, readJson, writeJson } from "../util/fsutil.js";
import { mountedOver, mounter } from "../util/mounter.js";
import type { IdMap } from "../util/idmap.js";
import { extractLayer } from "./tar.js";
import { TarSplitRecorder, replayTarSplit } from "./tarsplit.js";

const TAR_SPLIT = "tar-split.gz";

export interface LayerInfo {
  chainId: Digest;
  diffId: Digest;
  parent: Digest | null;
  /** Uncompressed tar size of this layer alone. */
  size: number;
  /** Sum of its entries' data sizes (dockerd's layer size, shown in image lists, history and df); absent in layers stored before it was recorded. */
  diffSize?: number;
}

/** The size Docker shows for a layer: its entries' data, or (older records) its tar size. */
export function shownSize(l: LayerInfo): number {
  return l.diffSize ?? l.size;
}

/** A layer extracted into a temp dir but not visible yet (see LayerStore.unpack). */
export interface UnpackedLayer {
  readonly diffId: Digest;
  /** Uncompressed tar size. */
  readonly size: number;
  /** Make it the layer on top of `parent` (which must exist by now); returns the existing one if the chain is there already. */
  commit(parent: Digest | null): Promise<LayerInfo>;
  /** Delete it. */
  discard(): Promise<void>;
}

export interface SnapshotInfo {
  key: string;
  /** Chain id of the top read-only layer, null for an empty base. */
  parent: Digest | null;
  created: string;
}

/** The chain id of a layer stack (OCI image spec: ChainID(L0|...|Ln)). */
export function chainIdOf(parent: Digest | null, diffId: Digest): Digest {
  return parent === null ? diffId : sha256(`${parent} ${diffId}`);
}

export function chainIds(diffIds: readonly Digest[]): Digest[] {
  const out: Digest[] = [];
  let parent: Digest | null = null;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}

/**
 * Unpacked layers and writable snapshots on overlayfs (containerd's snapshotter,
 * simplified). A layer is unpacked once into layers/<chainid>/diff and shared by
 * every image whose chain contains it. A snapshot is a writable upper dir on top
 * of a layer chain; mounting it gives a container's root filesystem.
 */
export class LayerStore {
  readonly layersDir: string;
  readonly snapshotsDir: string;
  private readonly emptyDir: string;

  /**
   * @param idMap user-namespace remapping (`--userns-remap`): layers are unpacked with
   * host ids, and snapshot roots belong to the container root's host ids.
   */
  constructor(
    root: string,
    readonly idMap?: IdMap,
  ) {
    this.layersDir = path.join(root, "layers");
    this.snapshotsDir = path.join(root, "snapshots");
    this.emptyDir = path.join(root, "empty");
  }

  async init(): Promise<void> {
    // Modes as dockerd's overlay2 (the CVE-2021-41091 fix): layers are only ever overlay lowerdirs,
    // mounted by root; snapshots/<key>/merged is a container's rootfs, which the remapped root must
    // reach (group), while a setuid file a container makes in upper/ stays out of others' reach.
    await ensureDir(this.layersDir, 0o700);
    await ensureDir(this.emptyDir, 0o700);
    await ensureDir(this.snapshotsDir, 0o710, this.rootGid);
    // Tighten snapshots an older berthd made 0755 (upper/ and merged/ are the container's own /).
    for (const name of await fs.readdir(this.snapshotsDir)) {
      const dir = path.join(this.snapshotsDir, name);
      if (!(await fs.lstat(dir)).isDirectory()) continue;
      await ensureDir(dir, 0o710, this.rootGid);
      if (await exists(path.join(dir, "work"))) await ensureDir(path.join(dir, "work"), 0o700);
    }
    // Unpacks interrupted by a crash never became visible: drop them.
    for (const name of await fs.readdir(this.layersDir)) {
      if (name.startsWith("tmp-")) await fs.rm(path.join(this.layersDir, name), { recursive: true, force: true });
    }
  }

  /** The group of directories the remapped root must pass (root's without --userns-remap). */
  get rootGid(): number {
    return this.idMap?.root.gid ?? 0;
  }

  async get(chainId: Digest): Promise<LayerInfo> {
    const info = await readJson<LayerInfo>(path.join(this.layersDir, hexOf(chainId), "layer.json"));
    if (info === undefined) throw notFound(`layer ${chainId} not found`);
    return info;
  }

  async has(chainId: Digest): Promise<boolean> {
    return exists(path.join(this.layersDir, hexOf(chainId), "layer.json"));
  }

  diffDir(chainId: Digest): string {
    return path.join(this.layersDir, hexOf(chainId), "diff");
  }

  /**
   * Unpack a layer tar on top of `parent`. The tar is extracted into a private
   * temp dir and renamed into place only when complete; if the same chain exists
   * already the new copy is discarded (layers are shared, never duplicated).
   */
  async register(tar: Readable, parent: Digest | null, signal?: AbortSignal): Promise<LayerInfo> {
    if (parent !== null && !(await this.has(parent))) throw notFound(`parent layer ${parent} not found`);
    const unpacked = await this.unpack(tar, signal);
    return unpacked.commit(parent);
  }

  /**
   * Extract a layer tar into a private temp dir (layers/tmp-*, invisible to
   * readers, deleted at start-up if a crash leaves it), recording its tar-split.
   * An unpacked layer does not depend on its parent (overlay whiteouts are
   * stored as they are), so a pull unpacks all its layers at once and commits
   * them in order. The caller must commit or discard the result.
   */
  async unpack(tar: Readable, signal?: AbortSignal): Promise<UnpackedLayer> {
    const tmp = path.join(this.layersDir, `tmp-${randomBytes(8).toString("hex")}`);
    let res: { diffId: Digest; size: number; contentSize: number };
    try {
      await mkdirp(tmp, 0o700);
      await mkdirp(path.join(tmp, "diff"), 0o755); // the layer's / when the tar has no "./" entry
      // Streamed to its file while the layer unpacks: memory stays bounded whatever the tar holds.
      const split = new TarSplitRecorder(path.join(tmp, TAR_SPLIT));
      try {
        res = await extractLayer(tar, path.join(tmp, "diff"), { ...(signal ? { signal } : {}), ...(this.idMap ? { idMap: this.idMap } : {}), onData: (c) => split.push(c) });
        await split.finish();
      } catch (e) {
        await split.abort();
        throw e;
      }
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
    let settled = false;
    const settle = (): void => {
      if (settled) throw new EngineError("internal", "unpacked layer committed or discarded twice");
      settled = true;
    };
    return {
      diffId: res.diffId,
      size: res.size,
      commit: async (parent) => {
        settle();
        try {
          return await this.commitUnpacked(tmp, res, parent);
        } catch (e) {
          await fs.rm(tmp, { recursive: true, force: true });
          throw e;
        }
      },
      discard: async () => {
        settle();
        await fs.rm(tmp, { recursive: true, force: true });
      },
    };
  }

  /** Make an unpacked temp dir the layer `chainIdOf(parent, diffId)`: layer.json, then the rename (the commit point). */
  private async commitUnpacked(tmp: string, res: { diffId: Digest; size: number; contentSize: number }, parent: Digest | null): Promise<LayerInfo> {
    if (parent !== null && !(await this.has(parent))) throw notFound(`parent layer ${parent} not found`);
    const chainId = chainIdOf(parent, res.diffId);
    if (await this.has(chainId)) {
      await fs.rm(tmp, { recursive: true, force: true });
      return this.get(chainId);
    }
    const info: LayerInfo = { chainId, diffId: res.diffId, parent, size: res.size, diffSize: res.contentSize };
    const final = path.join(this.layersDir, hexOf(chainId));
    await writeJson(path.join(tmp, "layer.json"), info);
    try {
      await fs.rename(tmp, final);
    } catch (e) {
      const code = errnoCode(e);
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      // Committed meanwhile by a concurrent unpack of the same layer: keep that one.
      if (await this.has(chainId)) {
        await fs.rm(tmp, { recursive: true, force: true });
        return this.get(chainId);
      }
      await fs.rm(final, { recursive: true, force: true }); // a dir without layer.json is an unfinished leftover
      await fs.rename(tmp, final);
    }
    return info;
  }

  /**
   * The layer's original (uncompressed) tar, replayed from its tar-split; undefined
   * for layers unpacked before tar-splits were recorded. Its sha256 is the diffId
   * unless the layer tar wrote a path twice: callers verify.
   */
  async layerTar(chainId: Digest): Promise<Readable | undefined> {
    const split = path.join(this.layersDir, hexOf(chainId), TAR_SPLIT);
    if (!(await exists(split))) return undefined;
    return replayTarSplit(this.diffDir(chainId), split);
  }

  async list(): Promise<LayerInfo[]> {
    const out: LayerInfo[] = [];
    for (const name of await fs.readdir(this.layersDir)) {
      if (!/^[a-f0-9]{64}$/.test(name)) continue;
      const info = await readJson<LayerInfo>(path.join(this.layersDir, name, "layer.json"));
      if (info) out.push(info);
    }
    return out;
  }

  async remove(chainId: Digest): Promise<void> {
    const dir = path.join(this.layersDir, hexOf(chainId));
    // Rename first so a crash mid-delete never leaves a half layer that looks whole.
    const doomed = path.join(this.layersDir, `tmp-rm-${randomBytes(6).toString("hex")}`);
    try {
      await fs.rename(dir, doomed);
    } catch (e) {
      if (errnoCode(e) === "ENOENT") return;
      throw e;
    }
    await fs.rm(doomed, { recursive: true, force: true });
  }

  /** Chain of layer ids from the top layer down to the base. */
  async chain(top: Digest | null): Promise<Digest[]> {
    const out: Digest[] = [];
    let cur = top;
    while (cur !== null) {
      out.push(cur);
      cur = (await this.get(cur)).parent;
    }
    return out;
  }

  // --- writable snapshots -------------------------------------------------

  snapshotDir(key: string): string {
    if (!/^[a-zA-Z0-9_.-]+$/.test(key)) throw new EngineError("invalid", `invalid snapshot key ${key}`);
    return path.join(this.snapshotsDir, key);
  }

  /** A new writable snapshot on top of `parent` (not mounted yet). */
  async prepare(key: string, parent: Digest | null): Promise<SnapshotInfo> {
    const dir = this.snapshotDir(key);
    if (parent !== null && !(await this.has(parent))) throw notFound(`layer ${parent} not found`);
    await ensureDir(dir, 0o710, this.rootGid);
    // The overlay's root takes the upper dir's owner and mode: the container's root must own it.
    await mkdirp(path.join(dir, "upper"), 0o755);
    if (this.idMap) await fs.chown(path.join(dir, "upper"), this.idMap.root.uid, this.idMap.root.gid);
    await mkdirp(path.join(dir, "work"), 0o700);
    await mkdirp(path.join(dir, "merged"), 0o755);
    const info: SnapshotInfo = { key, parent, created: new Date().toISOString() };
    await writeJson(path.join(dir, "snapshot.json"), info);
    return info;
  }

  async snapshot(key: string): Promise<SnapshotInfo> {
    const info = await readJson<SnapshotInfo>(path.join(this.snapshotDir(key), "snapshot.json"));
    if (!info) throw notFound(`snapshot ${key} not found`);
    return info;
  }

  async snapshots(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const name of await fs.readdir(this.snapshotsDir)) {
      const info = await readJson<SnapshotInfo>(path.join(this.snapshotsDir, name, "snapshot.json"));
      if (info) out.push(info);
    }
    return out;
  }

  /** Mount the snapshot's overlay (idempotent) and return the root path. */
  async mount(key: string): Promise<string> {
    const dir = this.snapshotDir(key);
    const merged = path.join(dir, "merged");
    if (await mountedOver(merged)) return merged;
    const info = await this.snapshot(key);
    const chain = await this.chain(info.parent);
    // Relative lowerdirs (resolved against cwd by the kernel) keep the option string short.
    const lower = chain.length > 0 ? chain.map((c) => `${hexOf(c)}/diff`).join(":") : path.relative(this.layersDir, this.emptyDir);
    const opts = `lowerdir=${lower},upperdir=${path.join(dir, "upper")},workdir=${path.join(dir, "work")}`;
    // Through the long-lived helper: no mount(8) spawn per container start.
    await mounter().mount("overlay", "overlay", merged, opts, this.layersDir);
    return merged;
  }

  async unmount(key: string): Promise<void> {
    const merged = path.join(this.snapshotDir(key), "merged");
    if (!(await mountedOver(merged))) return;
    await mounter().umount(merged).catch(async (e: unknown) => {
      // Busy (e.g. a leaked process): detach lazily rather than fail the remove.
      await mounter().umount(merged, true).catch(() => {
        throw e;
      });
    });
  }

  async removeSnapshot(key: string): Promise<void> {
    await this.unmount(key);
    await fs.rm(this.snapshotDir(key), { recursive: true, force: true });
  }

  /** Bytes used by the snapshot's writable layer. */
  async snapshotSize(key: string): Promise<number> {
    return dirSize(path.join(this.snapshotDir(key), "upper"));
  }
}

async function dirSize(dir: string): Promise<number> {
  let total = 0;
  let entries: import("node:fs").Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await dirSize(p);
    else {
      const st = await fs.lstat(p);
      total += st.size;
    }
  }
  return total;
}
