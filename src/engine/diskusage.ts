/** GET /system/df: what images, containers and volumes use (Docker's DiskUsage). */
import type { Digest } from "../util/digest.js";
import { type ImageInventory, chainIds, shownSize } from "../image/index.js";
import type { ContainerLookup, ContainerService } from "./containers/index.js";
import { summaryRefs } from "./images.js";
import type { VolumeService } from "./volumes.js";

export type DfType = "image" | "container" | "volume" | "build-cache";

export async function diskUsage(o: { store: ImageInventory; containers: Pick<ContainerLookup, "usingImage"> & Pick<ContainerService, "list">; volumes: VolumeService }, types: DfType[]): Promise<Record<string, unknown>> {
  const want = (t: DfType): boolean => types.length === 0 || types.includes(t);
  const out: Record<string, unknown> = {};
  if (want("image")) {
    const layers = await o.store.layers.list();
    const sizeOf = new Map(layers.map((l) => [l.chainId as string, shownSize(l)]));
    // How many images use each layer: a layer of two or more images is shared.
    const users = new Map<string, number>();
    const chainsOf = new Map<Digest, Digest[]>();
    for (const img of o.store.index.list()) {
      // An image removed meanwhile counts as empty (here and below).
      const cfg = await o.store.config(img.id).catch(() => undefined);
      const chains = cfg ? chainIds(cfg.rootfs.diff_ids) : [];
      chainsOf.set(img.id, chains);
      for (const c of chains) users.set(c, (users.get(c) ?? 0) + 1);
    }
    const images: Record<string, unknown>[] = [];
    for (const img of o.store.index.list()) {
      const cfg = await o.store.config(img.id).catch(() => undefined);
      const chains = chainsOf.get(img.id) ?? [];
      const size = chains.reduce((a, c) => a + (sizeOf.get(c) ?? 0), 0);
      const shared = chains.filter((c) => (users.get(c) ?? 0) > 1).reduce((a, c) => a + (sizeOf.get(c) ?? 0), 0);
      images.push({
        Id: img.id,
        ParentId: "",
        // As in the image list: empty lists are null, an image with neither shows as <none>.
        ...summaryRefs(o.store.index.tagsOf(img.id), img.repoDigests),
        Created: Math.floor(Date.parse(cfg?.created ?? img.added) / 1000) || 0,
        Size: size,
        SharedSize: shared,
        VirtualSize: size,
        Labels: cfg?.config?.Labels ?? null,
        Containers: o.containers.usingImage(img.id).length,
      });
    }
    images.sort((a, b) => (b["Created"] as number) - (a["Created"] as number));
    out["LayersSize"] = layers.reduce((a, l) => a + shownSize(l), 0);
    out["Images"] = images;
  }
  if (want("container")) out["Containers"] = await o.containers.list({ all: true, limit: 0, size: true, filters: {} });
  if (want("volume")) out["Volumes"] = await o.volumes.usage();
  // The legacy builder keeps no BuildKit cache records: dockerd then says null.
  if (want("build-cache")) out["BuildCache"] = null;
  return out;
}
