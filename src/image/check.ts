import { promises as fs } from "node:fs";
import path from "node:path";
import { hexOf } from "../util/digest.js";
import type { ImageStore } from "./store.js";
import { digestOf } from "./hashing.js";
import { chainIds } from "./layers.js";

export interface CheckProblem {
  area: "content" | "layers" | "images" | "containers" | "mounts" | "runtime" | "cgroups" | "volumes" | "networks";
  id: string;
  problem: string;
}

/**
 * Verify the image store: every blob hashes to its name, every layer is whole
 * and its parent present, every image's config and layers exist, every tag
 * names an image, no unfinished writes are visible.
 */
export async function checkImageStore(store: ImageStore, opts: { verifyBlobs: boolean }): Promise<CheckProblem[]> {
  const out: CheckProblem[] = [];
  for (const d of await store.content.list()) {
    if (!opts.verifyBlobs) continue;
    const got = await digestOf(store.content.reader(d)).then(hexOf, () => "unreadable");
    if (got !== hexOf(d)) out.push({ area: "content", id: d, problem: `blob content hashes to ${got}` });
  }
  const layerIds = new Set<string>();
  for (const name of await fs.readdir(store.layers.layersDir)) {
    if (name.startsWith("tmp-")) {
      out.push({ area: "layers", id: name, problem: "unfinished layer directory is visible" });
      continue;
    }
    const info = await store.layers.get(`sha256:${name}` as never).catch(() => undefined);
    if (!info) {
      out.push({ area: "layers", id: name, problem: "layer directory without layer.json" });
      continue;
    }
    layerIds.add(info.chainId);
    if (hexOf(info.chainId) !== name) out.push({ area: "layers", id: name, problem: `layer.json names ${info.chainId}` });
    if (info.parent !== null && !(await store.layers.has(info.parent))) out.push({ area: "layers", id: info.chainId, problem: `parent ${info.parent} is missing` });
    const st = await fs.stat(path.join(store.layers.layersDir, name, "diff")).catch(() => undefined);
    if (!st?.isDirectory()) out.push({ area: "layers", id: info.chainId, problem: "diff directory is missing" });
  }
  for (const img of store.index.list()) {
    const cfg = await store.config(img.id).catch(() => undefined);
    if (!cfg) {
      out.push({ area: "images", id: img.id, problem: "config blob is missing or unreadable" });
      continue;
    }
    for (const c of chainIds(cfg.rootfs.diff_ids)) if (!layerIds.has(c)) out.push({ area: "images", id: img.id, problem: `layer ${c} is missing` });
  }
  for (const [tag, id] of Object.entries(store.index.allTags())) {
    if (!store.index.get(id)) out.push({ area: "images", id: tag, problem: `tag points at missing image ${id}` });
  }
  for (const s of await store.snapshots.snapshots()) {
    if (s.parent !== null && !layerIds.has(s.parent)) out.push({ area: "layers", id: s.key, problem: `snapshot parent ${s.parent} is missing` });
  }
  return out;
}
