import path from "node:path";
import { type Digest, isDigest } from "../util/digest.js";
import { conflict, invalid, notFound } from "../util/errors.js";
import { JsonDocument } from "../util/jsondoc.js";
import type { ImageConfig } from "./config.js";
import { type Reference, formatReference, parseReference, withDefaultTag } from "./reference.js";

export interface ImageRecord {
  /** sha256 of the config blob. */
  id: Digest;
  /** When the image arrived in this store. */
  added: string;
  /** `repo@sha256:` digests of manifests this image was pulled or pushed as. */
  repoDigests: string[];
  /** Set when the image came from a registry manifest (digest of that manifest). */
  manifest?: Digest;
  lastTagTime?: string;
  /** The image this one was built on (legacy builder steps); intermediate images are parents of others. */
  parent?: Digest;
}

interface IndexFile {
  version: 1;
  images: Record<string, ImageRecord>;
  /** familiar "repo:tag" → image id */
  tags: Record<string, Digest>;
}

/**
 * Image records and tags (containerd's "image = name → descriptor"). Everything
 * is in one small JSON index, rewritten atomically, so a crash leaves either the
 * old or the new index. Config blobs live in the content store.
 */
export class ImageIndex {
  private readonly doc: JsonDocument<IndexFile>;

  constructor(root: string) {
    this.doc = new JsonDocument<IndexFile>(path.join(root, "images.json"), { version: 1, images: {}, tags: {} });
  }

  async init(): Promise<void> {
    await this.doc.load();
  }

  private mutate<R>(fn: (d: IndexFile) => R): Promise<R> {
    return this.doc.mutate(fn);
  }

  private get data(): IndexFile {
    return this.doc.data;
  }

  list(): ImageRecord[] {
    return Object.values(this.data.images);
  }

  get(id: Digest): ImageRecord | undefined {
    return this.data.images[id];
  }

  tagsOf(id: Digest): string[] {
    return Object.entries(this.data.tags)
      .filter(([, v]) => v === id)
      .map(([k]) => k)
      .sort((a, b) => (fullName(a) < fullName(b) ? -1 : fullName(a) > fullName(b) ? 1 : 0));
  }

  allTags(): Record<string, Digest> {
    return { ...this.data.tags };
  }

  /**
   * Resolve what a user typed: a full or short id (`sha256:` optional), `repo:tag`,
   * `repo` (= `repo:latest`) or `repo@digest`. Returns undefined when nothing matches.
   */
  resolve(input: string): Digest | undefined {
    if (input === "") return undefined;
    const full = input.startsWith("sha256:") ? input : `sha256:${input}`;
    if (isDigest(full) && this.data.images[full]) return full;
    let ref: Reference | undefined;
    try {
      ref = parseReference(input);
    } catch {
      ref = undefined;
    }
    if (ref) {
      if (ref.digest !== undefined) {
        const want = `${ref.repo}@${ref.digest}`;
        for (const img of Object.values(this.data.images)) if (img.repoDigests.includes(want)) return img.id;
        if (ref.tag === undefined) return undefined;
      }
      const tagged = this.data.tags[formatReference(withDefaultTag({ repo: ref.repo, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) }))];
      if (tagged) return tagged;
    }
    // Short id prefix (at least one hex char, unique).
    const hex = input.startsWith("sha256:") ? input.slice(7) : input;
    if (/^[a-f0-9]{1,64}$/.test(hex)) {
      const hits = Object.keys(this.data.images).filter((id) => id.slice(7).startsWith(hex));
      if (hits.length === 1) return hits[0] as Digest;
      if (hits.length > 1) throw invalid(`ambiguous image id prefix ${input}`);
    }
    return undefined;
  }

  async add(id: Digest, extra: Partial<Omit<ImageRecord, "id">> = {}): Promise<void> {
    await this.mutate((d) => {
      const cur = d.images[id];
      d.images[id] = {
        id,
        added: cur?.added ?? new Date().toISOString(),
        repoDigests: [...new Set([...(cur?.repoDigests ?? []), ...(extra.repoDigests ?? [])])],
        ...(extra.manifest ?? cur?.manifest ? { manifest: (extra.manifest ?? cur?.manifest) as Digest } : {}),
        ...(cur?.lastTagTime ? { lastTagTime: cur.lastTagTime } : {}),
        ...(extra.parent ?? cur?.parent ? { parent: (extra.parent ?? cur?.parent) as Digest } : {}),
      };
    });
  }

  /** Point `ref` (familiar, tag required) at id; returns the id it pointed at before. */
  async tag(id: Digest, ref: Reference, touch = true): Promise<Digest | undefined> {
    if (ref.tag === undefined) throw invalid("a tag is required");
    const key = formatReference({ repo: ref.repo, tag: ref.tag });
    if (this.data.tags[key] === id && this.data.images[id]) return id; // unchanged: no rewrite (rebuilds re-tag)
    return this.mutate((d) => {
      if (!d.images[id]) throw notFound(`No such image: ${id}`);
      const old = d.tags[key];
      d.tags[key] = id;
      const img = d.images[id];
      if (img && touch) img.lastTagTime = new Date().toISOString();
      return old;
    });
  }

  async untag(key: string): Promise<Digest | undefined> {
    return this.mutate((d) => {
      const old = d.tags[key];
      delete d.tags[key];
      return old;
    });
  }

  /** Drop the image's digest references of one repository (`repo@sha256:…`); returns those dropped. */
  async dropRepoDigests(id: Digest, repo: string): Promise<string[]> {
    return this.mutate((d) => {
      const img = d.images[id];
      if (!img) return [];
      const gone = img.repoDigests.filter((r) => r.slice(0, r.indexOf("@")) === repo);
      img.repoDigests = img.repoDigests.filter((r) => !gone.includes(r));
      return gone;
    });
  }

  /** Remove the record; refuses while tags still point at it. */
  async delete(id: Digest): Promise<void> {
    await this.mutate((d) => {
      if (Object.values(d.tags).includes(id)) throw conflict(`image ${id} is still tagged`);
      delete d.images[id];
    });
  }
}

export type { ImageConfig };

/** A tag with its default registry and namespace: dockerd lists an image's tags in this lexical order. */
function fullName(tag: string): string {
  const first = tag.split("/")[0] ?? "";
  if (tag.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) return tag;
  return tag.includes("/") ? `docker.io/${tag}` : `docker.io/library/${tag}`;
}
