import path from "node:path";
import type { Digest } from "../util/digest.js";
import { JsonDocument } from "../util/jsondoc.js";

/** A compressed blob a layer was pulled or pushed as, and the repositories ("host/path") known to hold it. */
export interface BlobSources {
  digest: Digest;
  mediaType: string;
  size: number;
  diffId: Digest;
  /** Most recent first, at most `repos` of them. */
  repos: string[];
  /** When it was last recorded (a counter): the least recently used blob goes first. */
  used: number;
}

interface SourcesFile {
  version: 1;
  seq: number;
  blobs: Record<string, BlobSources>;
}

export interface SourcesLimits {
  /** Blobs remembered in all. */
  blobs: number;
  /** Repositories remembered per blob. */
  repos: number;
}

const DEFAULT_LIMITS: SourcesLimits = { blobs: 1000, repos: 5 };

/**
 * Where layers came from and went to: Docker's distribution "v2 metadata". Unlike
 * layer-blobs.json (the blobs kept in the content store) it outlives the layer, so
 * a later push of the same layer to another repository of the same registry (after
 * rmi and load, say) mounts the blob across repositories instead of uploading it.
 * Bounded (least recently recorded blobs and repositories go first); one JSON file
 * written atomically (temp + fsync + rename), so a crash leaves the old or the new one.
 */
export class DistributionSources {
  private readonly doc: JsonDocument<SourcesFile>;

  constructor(
    root: string,
    private readonly limits: SourcesLimits = DEFAULT_LIMITS,
  ) {
    this.doc = new JsonDocument<SourcesFile>(path.join(root, "distribution-sources.json"), { version: 1, seq: 0, blobs: {} });
  }

  async init(): Promise<void> {
    await this.doc.load((d) => d.version === 1 && typeof d.blobs === "object" && d.blobs !== null && typeof d.seq === "number");
  }

  /** The blobs a layer is known as, most recently recorded first. */
  forDiffId(diffId: Digest): BlobSources[] {
    return Object.values(this.doc.data.blobs)
      .filter((b) => b.diffId === diffId)
      .sort((a, b) => b.used - a.used);
  }

  /** `repo` holds the blob (it was pulled from or pushed to there). */
  async record(blob: { digest: Digest; mediaType: string; size: number; diffId: Digest }, repo: string): Promise<void> {
    await this.doc.mutate((d) => {
      const cur = d.blobs[blob.digest];
      const repos = [repo, ...(cur?.repos ?? []).filter((r) => r !== repo)].slice(0, this.limits.repos);
      d.seq += 1;
      d.blobs[blob.digest] = { digest: blob.digest, mediaType: blob.mediaType, size: blob.size, diffId: blob.diffId, repos, used: d.seq };
      const all = Object.values(d.blobs);
      if (all.length > this.limits.blobs) {
        all.sort((a, b) => a.used - b.used);
        for (const old of all.slice(0, all.length - this.limits.blobs)) delete d.blobs[old.digest];
      }
    });
  }

  /** `repo` turned out not to hold the blob (a mount from it failed): dockerd drops that association too. */
  async forget(digest: Digest, repo: string): Promise<void> {
    if (!this.doc.data.blobs[digest]?.repos.includes(repo)) return;
    await this.doc.mutate((d) => {
      const cur = d.blobs[digest];
      if (!cur) return;
      cur.repos = cur.repos.filter((r) => r !== repo);
      if (cur.repos.length === 0) delete d.blobs[digest];
    });
  }
}
