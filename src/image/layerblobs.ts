import path from "node:path";
import type { Digest } from "../util/digest.js";
import { JsonDocument } from "../util/jsondoc.js";

/** A compressed (or plain) layer blob in the content store and the layer it unpacks to. */
export interface LayerBlob {
  digest: Digest;
  mediaType: string;
  size: number;
  diffId: Digest;
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
  private readonly doc: JsonDocument<BlobFile>;

  constructor(root: string) {
    this.doc = new JsonDocument<BlobFile>(path.join(root, "layer-blobs.json"), { version: 1, blobs: {} });
  }

  async init(): Promise<void> {
    await this.doc.load((d) => typeof d.blobs === "object");
  }

  private mutate<R>(fn: (d: BlobFile) => R): Promise<R> {
    return this.doc.mutate(fn);
  }

  private get data(): BlobFile {
    return this.doc.data;
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
      d.blobs[blob.digest] = { digest: blob.digest, mediaType: blob.mediaType, size: blob.size, diffId: blob.diffId };
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
