/**
 * A layer's tar gzip'ed for a push while it is being sent: the tar (replayed
 * from its tar-split) is checked against the layer's diffId as it passes,
 * compressed in parallel blocks (pgzip.ts), and the compressed bytes go both
 * to the caller (the registry upload) and into the content store, which
 * hashes them, and keeps them (fsync + rename) only once they are complete
 * and the tar matched — so a later push of the same layer sends the same blob.
 */
import { PassThrough, type Readable } from "node:stream";
import type { Digest } from "../util/digest.js";
import { EngineError } from "../util/errors.js";
import type { ContentInfo } from "./content.js";
import type { ContentIngester } from "./roles.js";
import { hashThrough } from "./hashing.js";
import { ParallelGzip } from "./pgzip.js";

export const GZIP_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

export interface CompressingLayer {
  /** The compressed bytes, as they are produced (read it to the end, or destroy it to give up). */
  readonly stream: Readable;
  /** The compressed blob's digest and size, as soon as the last byte has been produced and the tar verified. */
  readonly hashed: Promise<ContentInfo>;
  /** Resolves once the blob is in the content store (verified, fsynced, renamed). */
  readonly stored: Promise<ContentInfo>;
}

/**
 * Start compressing `tar`, whose sha256 must be `diffId`; `onTarBytes` sees
 * the uncompressed bytes read so far (dockerd's push progress counts those).
 * Aborting `signal` (or destroying `stream`) stops everything and leaves
 * nothing in the content store.
 */
export function compressLayer(
  content: ContentIngester,
  tar: Readable,
  diffId: Digest,
  opts: { signal?: AbortSignal; onTarBytes?: (n: number) => void } = {},
): CompressingLayer {
  const check = hashThrough(
    (got) => (got !== diffId ? new EngineError("internal", `layer ${diffId} cannot be reproduced exactly (its tar now hashes to ${got}): it cannot be pushed`) : undefined),
    opts.onTarBytes,
  );
  const gz = new ParallelGzip();
  const toContent = new PassThrough({ highWaterMark: 1 << 20 });
  const toUpload = new PassThrough({ highWaterMark: 1 << 20 });
  const fail = (e: unknown): void => {
    const err = e instanceof Error ? e : new Error(String(e));
    for (const s of [tar, check, gz, toContent, toUpload]) if (!s.destroyed) s.destroy(err);
  };
  for (const s of [tar, check, gz]) s.on("error", fail);
  // Their failures surface through `stored` and the upload (the content store opens its file before it listens).
  toContent.on("error", () => undefined);
  toUpload.on("error", () => undefined);
  // The upload giving up (destroyed before it read everything) stops the compression and the store.
  toUpload.on("close", () => {
    if (!toUpload.readableEnded) fail(new EngineError("internal", "layer upload stopped"));
  });
  tar.pipe(check).pipe(gz);
  gz.pipe(toContent);
  gz.pipe(toUpload);

  let onHashed!: (i: ContentInfo) => void;
  let onHashFail!: (e: unknown) => void;
  const hashed = new Promise<ContentInfo>((res, rej) => {
    onHashed = res;
    onHashFail = rej;
  });
  hashed.catch(() => undefined); // a guard against an unhandled rejection: callers await it
  const stored = content.write(toContent, undefined, opts.signal, onHashed).catch((e: unknown) => {
    fail(e);
    onHashFail(e);
    throw e;
  });
  stored.catch(() => undefined); // as `hashed`
  return { stream: toUpload, hashed, stored };
}
