/**
 * The build cache: which image a build step produced, keyed by what the step
 * depends on (the parent image, the step's container config after
 * substitution — its command, environment, build args in use, and for
 * COPY/ADD the content hash of its sources). Persisted as one JSON file under
 * the data-root, rewritten atomically, so it survives daemon restarts. As
 * dockerd's legacy builder's cache is its images, an entry is a hit only while
 * its image is in the store (Builder.lookup); an entry whose image is gone is
 * dropped on lookup and by `docker builder prune`, and holds no layer.
 */
import { createHash } from "node:crypto";
import type { Digest } from "../../util/digest.js";
import { readJson, writeJson } from "../../util/fsutil.js";
import type { ImageConfig } from "../../image/index.js";

export interface CacheEntry {
  image: Digest;
  config: ImageConfig;
  /** Chain id of the image's top layer (null: no layers). */
  top: Digest | null;
  created: string;
  lastUsed: string;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

/** JSON with object keys sorted: the same value always gives the same text. */
export function stableStringify(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => stableStringify(x === undefined ? null : x)).join(",")}]`;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`).join(",")}}`;
}

export function cacheKey(parent: Digest | null, containerConfig: unknown): string {
  return createHash("sha256")
    .update(stableStringify({ parent: parent ?? "scratch", config: containerConfig }))
    .digest("hex");
}

export class BuildCache {
  private data: CacheFile = { version: 1, entries: {} };
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(private readonly file: string) {}

  async init(): Promise<void> {
    const d = await readJson<CacheFile>(this.file).catch(() => undefined);
    if (d && d.version === 1 && typeof d.entries === "object") this.data = d;
  }

  get(key: string): CacheEntry | undefined {
    return this.data.entries[key];
  }

  entries(): [string, CacheEntry][] {
    return Object.entries(this.data.entries);
  }

  async put(key: string, entry: CacheEntry): Promise<void> {
    this.data.entries[key] = entry;
    await this.save();
  }

  touch(key: string): void {
    const e = this.data.entries[key];
    if (e) {
      e.lastUsed = new Date().toISOString();
      this.dirty = true;
    }
  }

  async delete(keys: Iterable<string>): Promise<void> {
    for (const k of keys) delete this.data.entries[k];
    await this.save();
  }

  /** Chain ids the cache holds (roots for the image store's garbage collection), of the entries whose image is live. */
  roots(live: (image: Digest) => boolean): Digest[] {
    const out = new Set<Digest>();
    for (const e of Object.values(this.data.entries)) if (e.top && live(e.image)) out.add(e.top);
    return [...out];
  }

  /** Write pending changes (lastUsed times); called at the end of a build. */
  async flush(): Promise<void> {
    if (this.dirty) await this.save();
  }

  /** Writes are serialized; each writes the current state. */
  private save(): Promise<void> {
    this.dirty = false;
    const next = this.writing.then(() => writeJson(this.file, this.data));
    this.writing = next.catch(() => undefined);
    return next;
  }
}
