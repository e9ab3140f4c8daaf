/**
 * Registry garbage collection (docker/distribution's mark and sweep): mark every
 * manifest of every repository and what it references (config, layers, the
 * manifests of an index), then delete blobs nobody marked, the repository links
 * to them, and upload sessions older than the TTL. Run it while nothing pushes
 * (the server's own `gc()` holds its write lock for that).
 */
import { type Digest, isDigest } from "../util/digest.js";
import type { RegistryStorage } from "./storage.js";

export interface GcOptions {
  /** Report what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** Upload sessions idle longer than this are removed (default 24 h). */
  uploadTtlMs?: number;
  now?: Date;
}

export interface GcResult {
  /** Blobs deleted (or that would be, with dryRun). */
  deleted: Digest[];
  /** Blobs kept. */
  kept: number;
  reclaimedBytes: number;
  /** Upload sessions removed. */
  uploads: string[];
}

export const DEFAULT_UPLOAD_TTL_MS = 24 * 3600 * 1000;

function referencedDigests(bytes: Buffer): Digest[] {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    return [];
  }
  if (typeof doc !== "object" || doc === null) return [];
  const d = doc as Record<string, unknown>;
  const out: Digest[] = [];
  const take = (x: unknown) => {
    if (typeof x === "object" && x !== null) {
      const dg = (x as { digest?: unknown }).digest;
      if (typeof dg === "string" && isDigest(dg)) out.push(dg);
    }
  };
  take(d.config);
  if (Array.isArray(d.layers)) d.layers.forEach(take);
  if (Array.isArray(d.manifests)) d.manifests.forEach(take);
  if (Array.isArray(d.blobs)) d.blobs.forEach(take);
  // schema1: fsLayers[].blobSum
  if (Array.isArray(d.fsLayers)) {
    for (const l of d.fsLayers) {
      const s = (l as { blobSum?: unknown }).blobSum;
      if (typeof s === "string" && isDigest(s)) out.push(s);
    }
  }
  return out;
}

export async function collectGarbage(storage: RegistryStorage, opts: GcOptions = {}): Promise<GcResult> {
  const marked = new Set<Digest>();
  const repos = await storage.listRepos();
  for (const repo of repos) {
    for (const m of await storage.listManifestLinks(repo)) {
      marked.add(m.digest);
      const bytes = await storage.readBlobBytes(m.digest).catch(() => undefined);
      if (bytes) for (const r of referencedDigests(bytes)) marked.add(r);
    }
  }
  const deleted: Digest[] = [];
  let kept = 0;
  let reclaimedBytes = 0;
  for (const b of await storage.listBlobs()) {
    if (marked.has(b)) {
      kept++;
      continue;
    }
    const st = await storage.statBlob(b);
    deleted.push(b);
    reclaimedBytes += st?.size ?? 0;
    if (!opts.dryRun) await storage.deleteBlob(b);
  }
  if (!opts.dryRun) {
    const gone = new Set(deleted);
    for (const repo of repos) {
      for (const l of await storage.listBlobLinks(repo)) if (gone.has(l)) await storage.unlinkBlob(repo, l);
    }
    // Repositories that only ever had blobs (no manifests) are not listed above.
    // Their links to deleted blobs are harmless: a HEAD/GET checks the blob too.
  }
  const ttl = opts.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS;
  const now = (opts.now ?? new Date()).getTime();
  const uploads: string[] = [];
  for (const u of await storage.listUploads()) {
    if (now - u.updatedAt.getTime() < ttl) continue;
    if (opts.dryRun || (await storage.deleteUpload(u.id, { idleBefore: new Date(now - ttl) }))) uploads.push(u.id);
  }
  return { deleted, kept, reclaimedBytes, uploads };
}
