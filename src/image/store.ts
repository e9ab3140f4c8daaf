/**
 * The image store: content store, unpacked layers, writable snapshots and the
 * image index behind one class. Other folders see its parts by role (roles.ts).
 */
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { bestEffort } from "../util/besteffort.js";
import { BULK_CHUNK } from "../util/chunks.js";
import { type Digest, sha256 } from "../util/digest.js";
import { EngineError, invalid, notFound } from "../util/errors.js";
import type { IdMap } from "../util/idmap.js";
import { SharedLock } from "../util/lock.js";
import { ensureDir } from "../util/fsutil.js";
import { BoundedMap } from "../util/bounded.js";

import { type ImageConfig, type ImageRunConfig, hostArchitecture } from "./config.js";
import { type ContentInfo, ContentStore } from "./content.js";
import { GZIP_LAYER, compressLayer } from "./layercompress.js";
import { ImageIndex, type ImageRecord } from "./images.js";
import { LayerBlobIndex, type LayerBlob } from "./layerblobs.js";
import { DistributionSources } from "./distsources.js";
import type {
  ArchiveStore,
  BlobSourceRecords,
  BuildStore,
  Content,
  ContainerImages,
  ImageInventory,
  DistributionStore,
  GcResult,
  ImageManager,
  ImageRecords,
  ImageSummary,
  LayerBlobs,
  Layers,
  PendingLayer,
  Snapshotter,
} from "./roles.js";
import { LayerStore, type UnpackedLayer, chainIds, shownSize } from "./layers.js";
import { type Reference, missingImageName, parseReference, withDefaultTag } from "./reference.js";
import { collectGarbage } from "./gc.js";

/** The image store: other folders see its parts by role (roles.ts), each service the role it uses. */
export class ImageStore implements DistributionStore, ArchiveStore, ImageManager, ContainerImages, BuildStore, ImageInventory {
  readonly content: Content;
  readonly layers: Layers;
  /** Containers' writable layers (the same LayerStore as `layers`, seen as its Snapshotter role). */
  readonly snapshots: Snapshotter;
  readonly index: ImageRecords;
  /** diffId ↔ compressed blob (pulled or pushed as). */
  readonly blobs: LayerBlobs;
  /** Which repositories hold which blob of a layer (kept after the layer goes: cross-repository mounts). */
  readonly sources: BlobSourceRecords;
  private readonly contentStore: ContentStore;
  private readonly layerStore: LayerStore;
  private readonly imageIndex: ImageIndex;
  private readonly blobIndex: LayerBlobIndex;
  private readonly sourceIndex: DistributionSources;
  /** Writers hold a lease; garbage collection runs exclusively, so it never sees half-added content. */
  readonly gcLock = new SharedLock();
  /** Holders of layers outside images and snapshots (the build cache); every gc keeps what they return. */
  private readonly gcRootProviders: (() => Iterable<Digest>)[] = [];
  private readonly summaries = new BoundedMap<Digest, ImageSummary>(1024);

  constructor(
    private readonly root: string,
    idMap?: IdMap,
  ) {
    this.content = this.contentStore = new ContentStore(path.join(root, "content"));
    this.layers = this.snapshots = this.layerStore = new LayerStore(root, idMap);
    this.index = this.imageIndex = new ImageIndex(root);
    this.blobs = this.blobIndex = new LayerBlobIndex(root);
    this.sources = this.sourceIndex = new DistributionSources(root);
  }

  /** User-namespace remapping of this store (`--userns-remap`), if any. */
  get idMap(): IdMap | undefined {
    return this.layerStore.idMap;
  }

  async init(): Promise<void> {
    // Holds snapshots/ (containers' rootfs): the remapped root passes through, nobody else.
    await ensureDir(this.root, 0o710, this.layerStore.rootGid);
    await this.contentStore.init();
    await this.layerStore.init();
    await this.imageIndex.init();
    await this.blobIndex.init();
    await this.sourceIndex.init();
  }

  resolve(input: string): Digest | undefined {
    return this.index.resolve(input);
  }

  /** Resolve or throw Docker's 404, naming the image as dockerd does (`busybox:latest`). */
  mustResolve(input: string): Digest {
    const id = this.resolve(input);
    if (id === undefined) throw notFound(`No such image: ${missingImageName(input)}`);
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

  /**
   * Store an image config exactly as given (pull, load: the id is the sha256 of
   * these bytes); its layers must be registered already. `expected` is checked.
   */
  async addRawImage(configBytes: Buffer, extra: Partial<Omit<ImageRecord, "id">> = {}, expected?: Digest): Promise<Digest> {
    const digest = sha256(configBytes);
    if (expected !== undefined && digest !== expected) throw invalid(`image config verification failed: expected ${expected}, got ${digest}`);
    let cfg: ImageConfig;
    try {
      cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    } catch {
      throw invalid("invalid image config: not JSON");
    }
    if (!Array.isArray(cfg.rootfs?.diff_ids)) throw invalid("invalid image config: no rootfs.diff_ids");
    const top = chainIds(cfg.rootfs.diff_ids).at(-1) ?? null;
    if (top !== null && !(await this.layers.has(top))) throw notFound(`layer ${top} not found`);
    await this.content.put(configBytes);
    await this.index.add(digest, extra);
    return digest;
  }

  /**
   * Unpack a layer blob (pull) without making it visible yet, so that a pull
   * unpacks all its layers at once and commits them in order as their parents
   * are. With `stream` the blob is written to the content store and unpacked at
   * once (decompressed once, as it arrives); without, it is read from the
   * content store. When this resolves, the blob is in the content store,
   * verified against its digest, and the layer unpacks to `expectedDiffId`; the
   * caller must `commit` (which also records blob ↔ diffId) or `discard` it.
   * Callers hold a `gcLock` lease for the whole pull (this does not take one:
   * leases do not nest).
   */
  async unpackCompressedLayer(
    desc: { digest: Digest; mediaType: string; size: number },
    stream: Readable | undefined,
    expectedDiffId: Digest,
    opts: { signal?: AbortSignal; source?: string } = {},
  ): Promise<PendingLayer> {
    let unpacked: UnpackedLayer;
    if (stream) {
      // Wire the tee before any await: a small blob may end (or fail) while we wait.
      const toContent = new PassThrough({ highWaterMark: BULK_CHUNK });
      const toLayer = new PassThrough({ highWaterMark: BULK_CHUNK });
      // Failures surface through the two promises below; a side that finished early must not make them uncaught.
      toContent.on("error", () => undefined);
      toLayer.on("error", () => undefined);
      const onError = (e: unknown): void => {
        const err = e instanceof Error ? e : new Error(String(e));
        toContent.destroy(err);
        toLayer.destroy(err);
      };
      if (stream.errored) onError(stream.errored);
      stream.on("error", onError);
      stream.pipe(toContent);
      stream.pipe(toLayer);
      // Either side failing stops the other (a stalled pipe would otherwise wait forever).
      const abortAll = (e: unknown): void => {
        onError(e);
        stream.destroy();
      };
      const [w, r] = await Promise.allSettled([
        // The content store verifies the digest: the blob is renamed into place only when it matches.
        this.content.write(toContent, desc.digest, opts.signal).catch((e: unknown) => {
          abortAll(e);
          throw e;
        }),
        this.layers.unpack(toLayer, opts.signal).catch((e: unknown) => {
          abortAll(e);
          throw e;
        }),
      ]);
      if (w.status === "rejected" || r.status === "rejected") {
        stream.destroy();
        if (r.status === "fulfilled") await r.value.discard().catch(bestEffort("discard an unpacked layer"));
        throw w.status === "rejected" ? w.reason : (r as PromiseRejectedResult).reason;
      }
      unpacked = r.value;
    } else {
      unpacked = await this.layers.unpack(this.content.reader(desc.digest), opts.signal);
    }
    if (unpacked.diffId !== expectedDiffId) {
      await unpacked.discard().catch(bestEffort("discard an unpacked layer"));
      throw invalid(`layers from manifest don't match image configuration: layer ${desc.digest} unpacks to ${unpacked.diffId}, the config says ${expectedDiffId}`);
    }
    return {
      diffId: unpacked.diffId,
      commit: async (parent) => {
        const info = await unpacked.commit(parent);
        const blob = { digest: desc.digest, mediaType: desc.mediaType, size: desc.size, diffId: info.diffId };
        await this.blobIndex.add(blob);
        if (opts.source) await this.sources.record(blob, opts.source);
        return info;
      },
      discard: () => unpacked.discard(),
    };
  }

  /** The layer's uncompressed tar (its sha256 is verified against the diffId by whoever reads it to the end). */
  async layerTar(chainId: Digest): Promise<Readable> {
    const info = await this.layers.get(chainId);
    const tar = await this.layerStore.layerTar(chainId);
    if (tar) return tar;
    // Unpacked before tar-splits were kept: decompress a blob it was pulled as.
    for (const b of this.blobs.forDiffId(info.diffId)) {
      if (await this.content.has(b.digest)) {
        const src = this.content.reader(b.digest);
        if (b.mediaType.endsWith("gzip")) return src.pipe(createGunzip());
        if (!b.mediaType.includes("zstd")) return src;
      }
    }
    throw new EngineError("notImplemented", `layer ${info.diffId} was unpacked without a record of its tar and cannot be exported`);
  }

  /**
   * A compressed blob this layer was pulled or pushed as, when that blob is
   * still here (gzip preferred); undefined when it must be compressed afresh
   * (`compressLayer`).
   */
  async knownLayerBlob(chainId: Digest, accept: (b: LayerBlob) => boolean = () => true): Promise<LayerBlob | undefined> {
    const info = await this.layers.get(chainId);
    const known = this.blobs.forDiffId(info.diffId).filter(accept);
    known.sort((a, b) => Number(b.mediaType.endsWith("gzip")) - Number(a.mediaType.endsWith("gzip")));
    for (const b of known) if (await this.content.has(b.digest)) return b;
    return undefined;
  }

  /**
   * The layer's tar gzip'ed (in parallel blocks) as it is read, for a push that
   * streams it out meanwhile (see layercompress.ts). `blob` resolves once the
   * blob is kept in the content store and recorded as this layer's, so a later
   * push sends the very same bytes. Callers hold a `gcLock` lease.
   */
  async compressLayer(
    chainId: Digest,
    opts: { signal?: AbortSignal; onTarBytes?: (n: number) => void } = {},
  ): Promise<{ stream: Readable; hashed: Promise<ContentInfo>; blob: Promise<LayerBlob>; tarSize: number }> {
    const info = await this.layers.get(chainId);
    const c = compressLayer(this.contentStore, await this.layerTar(chainId), info.diffId, opts);
    const blob = c.stored.then(async (w) => {
      const b: LayerBlob = { digest: w.digest, mediaType: GZIP_LAYER, size: w.size, diffId: info.diffId };
      await this.blobIndex.add(b);
      return b;
    });
    blob.catch(() => undefined); // a guard against an unhandled rejection: push awaits it when it needs it
    return { stream: c.stream, hashed: c.hashed, blob, tarSize: info.size };
  }

  /** Point a tag at id; `touch: false` (pull, load) leaves Metadata.LastTagTime alone, as dockerd does. */
  async tag(id: Digest, ref: string | Reference, opts: { touch?: boolean } = {}): Promise<void> {
    const r = withDefaultTag(typeof ref === "string" ? parseReference(ref) : ref);
    await this.imageIndex.tag(id, r, opts.touch ?? true);
  }

  /** Total uncompressed size of an image's layers. */
  async size(id: Digest): Promise<number> {
    let total = 0;
    for (const c of await this.layers.chain(await this.topLayer(id))) total += shownSize(await this.layers.get(c));
    return total;
  }

  /**
   * What `docker images` shows of an image that is in the index: its config's creation time and labels,
   * its size. An image id is the digest of its config, which names its layers, whose sizes never change:
   * remembered (bounded) instead of reading the config and every layer.json at each listing.
   */
  async summary(id: Digest): Promise<ImageSummary> {
    const known = this.summaries.get(id);
    if (known) return known;
    const cfg = await this.config(id);
    const s: ImageSummary = { created: cfg.created, labels: cfg.config?.Labels ?? null, size: await this.size(id) };
    this.summaries.set(id, Object.freeze(s));
    return s;
  }

  /**
   * Garbage collection: remove layers that no image and no snapshot (container)
   * reaches, and config blobs of images no longer in the index. `extraRoots` are
   * chain ids held by others (e.g. the build cache).
   */
  async gc(extraRoots: Iterable<Digest> = []): Promise<GcResult> {
    return this.gcLock.withExclusive(() =>
      collectGarbage(
        { index: this.imageIndex, content: this.contentStore, layers: this.layerStore, blobs: this.blobIndex, config: (id) => this.config(id) },
        [...extraRoots, ...this.gcRootProviders.flatMap((p) => [...p()])],
      ),
    );
  }

  /** Register a provider of chain ids that garbage collection must keep (with their parents). */
  addGcRoots(provider: () => Iterable<Digest>): void {
    this.gcRootProviders.push(provider);
  }
}
