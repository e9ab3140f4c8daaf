/**
 * Garbage collection of the image store: layers that no image, no snapshot
 * (container) and no other holder (the build cache) reaches, config and manifest
 * blobs of images no longer in the index, compressed blobs of removed layers.
 * Runs under the store's exclusive gc lock (ImageStore.gc).
 */
import type { Digest } from "../util/digest.js";
import type { ImageConfig } from "./config.js";
import type { ContentStore } from "./content.js";
import type { ImageIndex } from "./images.js";
import type { LayerBlobIndex } from "./layerblobs.js";
import { type LayerStore, chainIds, shownSize } from "./layers.js";
import type { GcResult } from "./roles.js";

export interface GcParts {
  index: ImageIndex;
  content: ContentStore;
  layers: LayerStore;
  blobs: LayerBlobIndex;
  config(id: Digest): Promise<ImageConfig>;
}

/** `roots`: chain ids held by others; they are kept with their parents. */
export async function collectGarbage(s: GcParts, roots: Iterable<Digest>): Promise<GcResult> {
  const keepLayers = new Set<Digest>(roots);
  const keepBlobs = new Set<Digest>();
  for (const img of s.index.list()) {
    keepBlobs.add(img.id);
    if (img.manifest) {
      keepBlobs.add(img.manifest);
      // The manifest's layer blobs stay while the image does (push reuses them verbatim); a manifest gone keeps none.
      const m = await s.content.read(img.manifest).then((b) => JSON.parse(b.toString("utf8")) as { layers?: { digest?: string }[] }).catch(() => undefined);
      for (const l of m?.layers ?? []) if (typeof l.digest === "string" && /^sha256:[a-f0-9]{64}$/.test(l.digest)) keepBlobs.add(l.digest as Digest);
    }
    const cfg = await s.config(img.id).catch(() => undefined);
    if (cfg) for (const c of chainIds(cfg.rootfs.diff_ids)) keepLayers.add(c);
  }
  for (const snap of await s.layers.snapshots()) {
    for (const c of await s.layers.chain(snap.parent).catch(() => [] as Digest[])) keepLayers.add(c);
  }
  // A kept layer keeps its parents.
  for (const c of [...keepLayers]) for (const p of await s.layers.chain(c).catch(() => [] as Digest[])) keepLayers.add(p);
  let layers = 0;
  let blobs = 0;
  let reclaimed = 0;
  let layerBytes = 0;
  const keptDiffIds = new Set<Digest>();
  const removed: { chainId: Digest; depth: number }[] = [];
  for (const l of await s.layers.list()) {
    if (keepLayers.has(l.chainId)) {
      keptDiffIds.add(l.diffId);
      continue;
    }
    const depth = (await s.layers.chain(l.chainId).catch(() => [] as Digest[])).length;
    await s.layers.remove(l.chainId);
    layers++;
    reclaimed += shownSize(l);
    layerBytes += shownSize(l);
    removed.push({ chainId: l.chainId, depth });
  }
  // Compressed blobs of kept layers stay (push reuses them); the others go.
  const keepMapped = new Set<Digest>();
  for (const b of s.blobs.list()) {
    if (keptDiffIds.has(b.diffId)) {
      keepBlobs.add(b.digest);
      keepMapped.add(b.digest);
    }
  }
  await s.blobs.retain(keepMapped);
  for (const b of await s.content.list()) {
    if (keepBlobs.has(b)) continue;
    // Layer blobs (compressed) are kept while their layer is; they are named by annotations in manifests,
    // which only images reference: an unreferenced blob is garbage.
    const info = await s.content.info(b).catch(() => undefined);
    await s.content.delete(b);
    blobs++;
    reclaimed += info?.size ?? 0;
  }
  // Top layers first, as dockerd lists the layers an image deletion released.
  const removedLayers = removed.sort((a, b) => b.depth - a.depth).map((r) => r.chainId);
  return { layers, blobs, reclaimed, layerBytes, removedLayers };
}
