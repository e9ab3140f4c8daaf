/**
 * The image subsystem's public face: content store, unpacked layers, writable
 * snapshots and the image index behind one small class. Other folders import
 * from here only.
 */
import path from "node:path";
import type { Readable } from "node:stream";
import { type Digest } from "../util/digest.js";
import { notFound } from "../util/errors.js";
import { SharedLock } from "../util/lock.js";

import { type ImageConfig, type ImageRunConfig, hostArchitecture } from "./config.js";
import { ContentStore } from "./content.js";
import { ImageIndex, type ImageRecord } from "./images.js";
import { LayerStore, chainIds } from "./layers.js";
import { type Reference, formatReference, parseReference, withDefaultTag } from "./reference.js";

export type { ImageConfig, ImageRunConfig, ImageRecord, Reference };
export { parseReference, formatReference, withDefaultTag, hostArchitecture, chainIds };
export { busyboxRootfsTar } from "./busybox.js";
export { packDirectory } from "./tar.js";
export { extractLayer, type ExtractOptions } from "./tar.js";
export {
  ScopedRoot,
  ScopeError,
  tarTree,
  extractCopy,
  overlayChanges,
  opaqueDirs,
  goFileMode,
  isWhiteoutStat,
  lstatAt,
  openDirAt,
  readdirAt,
} from "./archive-tar.js";
export type { ResolvedPath, TreeTarOptions, FsChange, ChangesOptions, CopyInOptions } from "./archive-tar.js";
export type { SnapshotInfo } from "./layers.js";
export { checkImageStore } from "./check.js";
export type { CheckProblem } from "./check.js";

export class ImageStore {
  readonly content: ContentStore;
  readonly layers: LayerStore;
  readonly index: ImageIndex;
  /** Writers hold a lease; garbage collection runs exclusively, so it never sees half-added content. */
  readonly gcLock = new SharedLock();
  /** Holders of layers outside images and snapshots (the build cache); every gc keeps what they return. */
  private readonly gcRootProviders: (() => Iterable<Digest>)[] = [];

  constructor(root: string) {
    this.content = new ContentStore(path.join(root, "content"));
    this.layers = new LayerStore(root);
    this.index = new ImageIndex(root);
  }

  async init(): Promise<void> {
    await this.content.init();
    await this.layers.init();
    await this.index.init();
  }

  resolve(input: string): Digest | undefined {
    return this.index.resolve(input);
  }

  /** Resolve or throw Docker's 404. */
  mustResolve(input: string): Digest {
    const id = this.resolve(input);
    if (id === undefined) throw notFound(`No such image: ${input}`);
    return id;
  }

  async config(id: Digest): Promise<ImageConfig> {
    return JSON.parse((await this.content.read(id)).toString("utf8")) as ImageConfig;
  }

  /** Chain id of the image's top layer (null for an image without layers). */
  async topLayer(id: Digest): Promise<Digest | null> {
    const cfg = await this.config(id);
    const chain = chainIds(cfg.rootfs.diff_ids);
    return chain[chain.length - 1] ?? null;
  }

  /** Store an image config whose layers are registered already; returns the image id. */
  async addImage(config: ImageConfig, extra: Partial<Omit<ImageRecord, "id">> = {}): Promise<Digest> {
    const top = chainIds(config.rootfs.diff_ids).at(-1) ?? null;
    if (top !== null && !(await this.layers.has(top))) throw notFound(`layer ${top} not found`);
    const { digest } = await this.content.put(Buffer.from(JSON.stringify(config)));
    await this.index.add(digest, extra);
    return digest;
  }

  /**
   * `docker import`: one layer from a root filesystem tar (plain or gzip), with the
   * given run config (from `--change`). Returns the new image id.
   */
  async importRootfs(tar: Readable, opts: { config?: ImageRunConfig; message?: string; source?: string; signal?: AbortSignal } = {}): Promise<Digest> {
    return this.gcLock.withShared(() => this.importUnlocked(tar, opts));
  }

  private async importUnlocked(tar: Readable, opts: { config?: ImageRunConfig; message?: string; source?: string; signal?: AbortSignal }): Promise<Digest> {
    const layer = await this.layers.register(tar, null, opts.signal);
    const now = new Date().toISOString();
    const config: ImageConfig = {
      architecture: hostArchitecture(),
      os: "linux",
      created: now,
      config: opts.config ?? {},
      rootfs: { type: "layers", diff_ids: [layer.diffId] },
      history: [{ created: now, created_by: "", comment: opts.message || `Imported from ${opts.source ?? "-"}` }],
    };
    if (opts.message) config.comment = opts.message;
    return this.addImage(config);
  }

  async tag(id: Digest, ref: string | Reference): Promise<void> {
    const r = withDefaultTag(typeof ref === "string" ? parseReference(ref) : ref);
    await this.index.tag(id, r);
  }

  /** Total uncompressed size of an image's layers. */
  async size(id: Digest): Promise<number> {
    let total = 0;
    for (const c of await this.layers.chain(await this.topLayer(id))) total += (await this.layers.get(c)).size;
    return total;
  }

  /**
   * Garbage collection: remove layers that no image and no snapshot (container)
   * reaches, and config blobs of images no longer in the index. `extraRoots` are
   * chain ids held by others (e.g. the build cache).
   */
  async gc(extraRoots: Iterable<Digest> = []): Promise<{ layers: number; blobs: number; reclaimed: number }> {
    return this.gcLock.withExclusive(() => this.gcUnlocked(extraRoots));
  }

  /** Register a provider of chain ids that garbage collection must keep (with their parents). */
  addGcRoots(provider: () => Iterable<Digest>): void {
    this.gcRootProviders.push(provider);
  }

  private async gcUnlocked(extraRoots: Iterable<Digest>): Promise<{ layers: number; blobs: number; reclaimed: number }> {
    const keepLayers = new Set<Digest>(extraRoots);
    for (const p of this.gcRootProviders) for (const r of p()) keepLayers.add(r);
    const keepBlobs = new Set<Digest>();
    for (const img of this.index.list()) {
      keepBlobs.add(img.id);
      if (img.manifest) keepBlobs.add(img.manifest);
      const cfg = await this.config(img.id).catch(() => undefined);
      if (cfg) for (const c of chainIds(cfg.rootfs.diff_ids)) keepLayers.add(c);
    }
    for (const s of await this.layers.snapshots()) {
      for (const c of await this.layers.chain(s.parent).catch(() => [] as Digest[])) keepLayers.add(c);
    }
    // A kept layer keeps its parents.
    for (const c of [...keepLayers]) for (const p of await this.layers.chain(c).catch(() => [] as Digest[])) keepLayers.add(p);
    let layers = 0;
    let blobs = 0;
    let reclaimed = 0;
    for (const l of await this.layers.list()) {
      if (keepLayers.has(l.chainId)) continue;
      await this.layers.remove(l.chainId);
      layers++;
      reclaimed += l.size;
    }
    for (const b of await this.content.list()) {
      if (keepBlobs.has(b)) continue;
      // Layer blobs (compressed) are kept while their layer is; they are named by annotations in manifests,
      // which only images reference: an unreferenced blob is garbage.
      const info = await this.content.info(b).catch(() => undefined);
      await this.content.delete(b);
      blobs++;
      reclaimed += info?.size ?? 0;
    }
    return { layers, blobs, reclaimed };
  }
}

