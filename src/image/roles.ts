/**
 * The image store's roles (containerd's idea: a content Provider and Ingester,
 * a Snapshotter, an image resolver): what other folders see of it. ImageStore's
 * sub-stores are typed by these, and each engine service receives the role it
 * uses (PullStore, PushStore, …), not the whole store. Types only.
 */
import type { Readable } from "node:stream";
import type { Digest } from "../util/digest.js";
import type { IdMap } from "../util/idmap.js";
import type { SharedLock } from "../util/lock.js";
import type { ImageConfig, ImageRunConfig } from "./config.js";
import type { ContentInfo } from "./content.js";
import type { ImageRecord } from "./images.js";
import type { LayerBlob } from "./layerblobs.js";
import type { BlobSources } from "./distsources.js";
import type { LayerInfo, SnapshotInfo, UnpackedLayer } from "./layers.js";
import type { Reference } from "./reference.js";

/** Blobs by digest, read side (containerd's content.Provider). */
export interface ContentProvider {
  has(d: Digest): Promise<boolean>;
  info(d: Digest): Promise<ContentInfo>;
  read(d: Digest): Promise<Buffer>;
  reader(d: Digest): Readable;
  list(): Promise<Digest[]>;
}

/** Blobs by digest, write side (containerd's content.Ingester): verified before they are visible. */
export interface ContentIngester {
  put(data: Uint8Array): Promise<ContentInfo>;
  write(src: Readable, expected?: Digest, signal?: AbortSignal, onHashed?: (info: ContentInfo) => void): Promise<ContentInfo>;
}

export interface Content extends ContentProvider, ContentIngester {
  delete(d: Digest): Promise<void>;
}

/** Unpacked read-only layers by chain id. */
export interface LayerProvider {
  has(chainId: Digest): Promise<boolean>;
  get(chainId: Digest): Promise<LayerInfo>;
  /** The chain ids from the bottom layer up to `top`. */
  chain(top: Digest | null): Promise<Digest[]>;
  list(): Promise<LayerInfo[]>;
  /** The layer's own files (read only). */
  diffDir(chainId: Digest): string;
}

/** Layers added and removed (import, load, commit, build). */
export interface Layers extends LayerProvider {
  readonly layersDir: string;
  register(tar: Readable, parent: Digest | null, signal?: AbortSignal): Promise<LayerInfo>;
  unpack(tar: Readable, signal?: AbortSignal): Promise<UnpackedLayer>;
  remove(chainId: Digest): Promise<void>;
}

/** Containers' writable layers on top of a layer chain (containerd's Snapshotter). */
export interface Snapshotter {
  readonly snapshotsDir: string;
  snapshotDir(key: string): string;
  prepare(key: string, parent: Digest | null): Promise<SnapshotInfo>;
  snapshot(key: string): Promise<SnapshotInfo>;
  snapshots(): Promise<SnapshotInfo[]>;
  /** Mount it; returns the root filesystem's path. */
  mount(key: string): Promise<string>;
  unmount(key: string): Promise<void>;
  removeSnapshot(key: string): Promise<void>;
  snapshotSize(key: string): Promise<number>;
}

/** Names and records of images, read side (containerd's image resolver). */
export interface ImageResolver {
  list(): ImageRecord[];
  get(id: Digest): ImageRecord | undefined;
  tagsOf(id: Digest): string[];
  /** familiar "repo:tag" → image id */
  allTags(): Record<string, Digest>;
  resolve(input: string): Digest | undefined;
}

/** Image records and tags, changed. */
export interface ImageRecords extends ImageResolver {
  add(id: Digest, extra?: Partial<Omit<ImageRecord, "id">>): Promise<void>;
  untag(key: string): Promise<Digest | undefined>;
  dropRepoDigests(id: Digest, repo: string): Promise<string[]>;
  delete(id: Digest): Promise<void>;
}

/** diffId ↔ compressed blob (pulled or pushed as). */
export interface LayerBlobs {
  get(digest: Digest): LayerBlob | undefined;
  forDiffId(diffId: Digest): LayerBlob[];
  list(): LayerBlob[];
}

/** Which repositories hold which blob of a layer (cross-repository mounts). */
export interface BlobSourceRecords {
  forDiffId(diffId: Digest): BlobSources[];
  record(blob: LayerBlob, repo: string): Promise<void>;
  forget(digest: Digest, repo: string): Promise<void>;
}

/** A pulled layer, unpacked and verified but not visible yet (see ImageStore.unpackCompressedLayer). */
export interface PendingLayer {
  readonly diffId: Digest;
  /** Make it the layer on top of `parent` (which must exist by now) and record its blob. */
  commit(parent: Digest | null): Promise<LayerInfo>;
  discard(): Promise<void>;
}

/** An image's facts for listings (ImageStore.summary); shared between callers, never to be changed. */
export interface ImageSummary {
  readonly created: string | undefined;
  readonly labels: Readonly<Record<string, string>> | null;
  readonly size: number;
}

export interface GcResult {
  layers: number;
  blobs: number;
  /** Bytes of the removed layers and blobs. */
  reclaimed: number;
  /** Bytes of the removed layers alone (what dockerd reports as reclaimed by an image prune). */
  layerBytes: number;
  /** Chain ids of the removed layers, top first. */
  removedLayers: Digest[];
}

/** An image's config and layers, looked up by name or id. */
export interface ImageConfigs {
  readonly index: ImageResolver;
  resolve(input: string): Digest | undefined;
  /** Resolve or throw Docker's 404. */
  mustResolve(input: string): Digest;
  config(id: Digest): Promise<ImageConfig>;
  /** Chain id of the image's top layer (null for an image without layers). */
  topLayer(id: Digest): Promise<Digest | null>;
}

/** Stores images whose layers are registered already; writers hold a `gcLock` lease. */
export interface ImageWriter extends ImageConfigs {
  readonly gcLock: SharedLock;
  readonly index: ImageRecords;
  addImage(config: ImageConfig, extra?: Partial<Omit<ImageRecord, "id">>): Promise<Digest>;
  addRawImage(configBytes: Buffer, extra?: Partial<Omit<ImageRecord, "id">>, expected?: Digest): Promise<Digest>;
  tag(id: Digest, ref: string | Reference, opts?: { touch?: boolean }): Promise<void>;
}

/** What `docker pull` uses. */
export interface PullStore extends ImageWriter {
  readonly content: ContentProvider & ContentIngester;
  readonly layers: LayerProvider;
  unpackCompressedLayer(
    desc: { digest: Digest; mediaType: string; size: number },
    stream: Readable | undefined,
    expectedDiffId: Digest,
    opts?: { signal?: AbortSignal; source?: string },
  ): Promise<PendingLayer>;
}

/** What `docker push` uses. */
export interface PushStore extends ImageWriter {
  readonly content: ContentProvider & ContentIngester;
  readonly layers: LayerProvider;
  readonly blobs: LayerBlobs;
  readonly sources: BlobSourceRecords;
  knownLayerBlob(chainId: Digest, accept?: (b: LayerBlob) => boolean): Promise<LayerBlob | undefined>;
  compressLayer(
    chainId: Digest,
    opts?: { signal?: AbortSignal; onTarBytes?: (n: number) => void },
  ): Promise<{ stream: Readable; hashed: Promise<ContentInfo>; blob: Promise<LayerBlob>; tarSize: number }>;
}

export type DistributionStore = PullStore & PushStore;

/** What `docker save` and `docker load` use. */
export interface ArchiveStore extends ImageWriter {
  readonly content: ContentProvider;
  readonly layers: Layers;
  /** The layer's uncompressed tar. */
  layerTar(chainId: Digest): Promise<Readable>;
}

/** What the image routes (list, inspect, history, tag, remove, prune, import) use. */
export interface ImageManager extends ImageWriter {
  readonly layers: LayerProvider;
  size(id: Digest): Promise<number>;
  summary(id: Digest): Promise<ImageSummary>;
  importRootfs(tar: Readable, opts?: { config?: ImageRunConfig; message?: string; source?: string; signal?: AbortSignal }): Promise<Digest>;
  gc(extraRoots?: Iterable<Digest>): Promise<GcResult>;
}

/** What containers use (create, start, remove, size): image configs and their writable layers. */
export interface ContainerImages extends ImageConfigs {
  readonly gcLock: SharedLock;
  readonly snapshots: Snapshotter;
  /** User-namespace remapping of the store (`--userns-remap`), if any. */
  readonly idMap: IdMap | undefined;
  size(id: Digest): Promise<number>;
}

/** What `docker commit` and `docker cp` use: layers read and added, a container's snapshot. */
export interface CommitStore extends ImageWriter {
  readonly layers: Layers;
  readonly snapshots: Snapshotter;
  readonly idMap: IdMap | undefined;
}

/** What the builder uses: CommitStore, plus the build cache's hold on layers and its prune. */
export interface BuildStore extends CommitStore {
  addGcRoots(provider: () => Iterable<Digest>): void;
  gc(extraRoots?: Iterable<Digest>): Promise<GcResult>;
}

/** What disk usage and the store check read. */
export interface ImageInventory extends ImageConfigs {
  readonly layers: LayerProvider;
  readonly snapshots: Snapshotter;
}
