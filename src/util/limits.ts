/**
 * Caps on what a single request may make the daemon hold in memory. Everything
 * bulk (layer blobs, layer tars, archives, build contexts) streams through
 * bounded buffers or goes to disk; the documents below are read whole to be
 * hashed and parsed, so each has a ceiling, checked against the declared size
 * before reading and against the bytes while reading.
 */
import { invalid } from "./errors.js";

/**
 * Manifests and indexes: 4 MiB, the limit of the distribution registry
 * (distribution/distribution registry/handlers/manifests.go, maxManifestBodySize
 * = 4 << 20), which containers/image reads manifests under as well
 * (internal/iolimits/iolimits.go, MaxManifestBodySize).
 */
export const MAX_MANIFEST_BYTES = 4 << 20;

/**
 * Image configs: 4 MiB, containers/image's MaxConfigBodySize
 * (internal/iolimits/iolimits.go, introduced for CVE-2020-1702), the limit
 * Podman, CRI-O and skopeo read configs under.
 */
export const MAX_CONFIG_BYTES = 4 << 20;

/**
 * JSON documents of a `docker load` archive (manifest.json, index.json, OCI
 * manifests and configs): the larger of the two limits above.
 */
export const MAX_ARCHIVE_DOC_BYTES = Math.max(MAX_MANIFEST_BYTES, MAX_CONFIG_BYTES);

/** Registry tokens and error bodies: 1 MiB (containers/image's MaxAuthTokenBodySize, MaxErrorBodySize). */
export const MAX_TOKEN_BYTES = 1 << 20;

/**
 * Dockerfile and .dockerignore of a build context: 16 MiB. Neither Docker nor
 * BuildKit documents a limit; real Dockerfiles are kilobytes, and the parser
 * holds a few copies of the text.
 */
export const MAX_BUILD_FILE_BYTES = 16 << 20;

/** Refuse a document whose declared size is over `max` (400, before anything is read). */
export function checkDeclaredSize(what: string, size: unknown, max: number): void {
  if (typeof size === "number" && Number.isFinite(size) && size > max) throw invalid(`${what} is too large: ${size} bytes (at most ${max})`);
}

/** Read a stream whole, refusing it (400) once it passes `max` bytes; the source is destroyed then. */
export async function readAtMost(src: AsyncIterable<Buffer | Uint8Array | string> & { destroy?: () => void }, max: number, what: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of src) {
    const b = typeof c === "string" ? Buffer.from(c) : Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
    n += b.length;
    if (n > max) {
      src.destroy?.();
      throw invalid(`${what} is too large: more than ${max} bytes`);
    }
    parts.push(b);
  }
  return Buffer.concat(parts, n);
}
