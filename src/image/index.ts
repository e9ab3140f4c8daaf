/**
 * The image subsystem's public face: the image store (store.ts), its parts by
 * role (roles.ts), references, configs and the tar and path helpers. Other
 * folders import from here only.
 */
import { fullRunConfig, hostArchitecture } from "./config.js";
import { chainIdOf, chainIds, shownSize } from "./layers.js";
import { formatReference, parseReference, registryOf, withDefaultTag } from "./reference.js";

export type { ImageConfig, ImageRunConfig } from "./config.js";
export type { ImageRecord } from "./images.js";
export type { Reference } from "./reference.js";
export type { LayerBlob } from "./layerblobs.js";
export type { LayerInfo, UnpackedLayer } from "./layers.js";
export type {
  ArchiveStore,
  BlobSourceRecords,
  BuildStore,
  CommitStore,
  Content,
  ContainerImages,
  ImageInventory,
  ContentIngester,
  ContentProvider,
  DistributionStore,
  GcResult,
  ImageConfigs,
  ImageManager,
  ImageRecords,
  ImageResolver,
  ImageSummary,
  ImageWriter,
  LayerBlobs,
  LayerProvider,
  Layers,
  PendingLayer,
  PullStore,
  PushStore,
  Snapshotter,
} from "./roles.js";

export { parseReference, formatReference, withDefaultTag, registryOf, hostArchitecture, fullRunConfig, chainIds, chainIdOf, shownSize };
export { busyboxRootfsTar } from "./busybox.js";
export { packDirectory, tarTree, opaqueDirs, extractLayer, extractCopy, type ExtractOptions, type TreeTarOptions, type CopyInOptions } from "./tar.js";
export { ScopedRoot, ScopeError } from "../util/scopedroot.js";
export { overlayChanges, goFileMode, isWhiteoutStat } from "./fschanges.js";
export { O_PATH, at, procAt, closeQuietly, lstatAt, openDirAt, reopenDir, readdirAt, readlinkAt, removeAt } from "../util/fdpath.js";
export type { ResolvedPath } from "../util/scopedroot.js";
export type { FsChange, ChangesOptions } from "./fschanges.js";
export type { SnapshotInfo } from "./layers.js";
export type { BlobSources } from "./distsources.js";
export { checkImageStore } from "./check.js";
export { digestOf, hashThrough } from "./hashing.js";
export type { CheckProblem } from "./check.js";
export { ImageStore } from "./store.js";
