import path from "node:path";
import type { Digest } from "../util/digest.js";
import { readJson, writeJson } from "../util/fsutil.js";

/** A compressed (or plain) layer blob in the content store and the layer it unpacks to. */
export interface LayerBlob {
  digest: Digest;
  mediaType: string;
  size: number;
  diffId: Digest;
  /** Repositories ("host/path") known to hold the blob: pulled from or pushed to (cross-repository mounts). */
  sources?: string[];
}

interface BlobFile {
  version: 1;
  blobs: Record<string, LayerBlob>;
}

/**
 * diffId ↔ blob digest/media type (Docker's v2metadata): which compressed blobs
 * a layer was pulled as or pushed as, so push reuses the exact blob and gc keeps
 * the blobs of kept layers. One small JSON file, rewritten atomically.
 */
export class LayerBlobIndex {
  private readonly file: string;
  private data: BlobFile = { version: 1, blobs: {} };
  private chain: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.file = path.join(root, "layer-blobs.json");
  }

  async init(): Promise<void> {
    const d = await readJson<BlobFile>(this.file);
    if (d && typeof d.blobs === "object") this.data = d;
  }

  private async mutate<T>(fn: (d: BlobFile) => T): Promise<T> {
    const next = this.chain.then(async () => {
      const copy = structuredClone(this.data);
      const res = fn(copy);
      await writeJson(this.file, copy);
      this.data = copy;
      return res;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  get(digest: Digest): LayerBlob | undefined {
    return this.data.blobs[digest];
  }

  forDiffId(diffId: Digest): LayerBlob[] {
    return Object.values(this.data.blobs).filter((b) => b.diffId === diffId);
  }

  list(): LayerBlob[] {
    return Object.values(this.data.blobs);
  }

  async add(blob: LayerBlob): Promise<void> {
    await this.mutate((d) => {
      const cur = d.blobs[blob.digest];
      const sources = [...new Set([...(cur?.sources ?? []), ...(blob.sources ?? [])])];
      d.blobs[blob.digest] = { digest: blob.digest, mediaType: blob.mediaType, size: blob.size, diffId: blob.diffId, ...(sources.length > 0 ? { sources } : {}) };
    });
  }

  async addSource(digest: Digest, source: string): Promise<void> {
    if (this.data.blobs[digest]?.sources?.includes(source)) return;
    await this.mutate((d) => {
      const cur = d.blobs[digest];
      if (cur) cur.sources = [...new Set([...(cur.sources ?? []), source])];
    });
  }

  /** Forget every blob not in `keep`. */
  async retain(keep: Set<Digest>): Promise<void> {
    if (Object.keys(this.data.blobs).every((k) => keep.has(k as Digest))) return;
    await this.mutate((d) => {
      for (const k of Object.keys(d.blobs)) if (!keep.has(k as Digest)) delete d.blobs[k];
    });
  }
}
