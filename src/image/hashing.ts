/**
 * sha256 of bytes on their way somewhere: one small pass-through used wherever a
 * layer tar is checked against its diffId while it is copied (push, save), and a
 * digest of a whole stream (store check, legacy load).
 */
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import type { Digest } from "../util/digest.js";

/**
 * Passes every chunk on, hashing and counting it; `onBytes` sees the running
 * count. At the end `check(digest, size)` decides: an Error fails the stream
 * (after the last chunk went through), undefined lets it end.
 */
export function hashThrough(check: (digest: Digest, size: number) => Error | undefined, onBytes?: (n: number) => void): Transform {
  const hash = createHash("sha256");
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      n += chunk.length;
      onBytes?.(n);
      cb(null, chunk);
    },
    flush(cb) {
      cb(check(`sha256:${hash.digest("hex")}` as Digest, n) ?? null);
    },
  });
}

/** The sha256 of everything `src` yields. */
export async function digestOf(src: Readable | AsyncIterable<Buffer>): Promise<Digest> {
  const hash = createHash("sha256");
  for await (const c of src) hash.update(c as Buffer);
  return `sha256:${hash.digest("hex")}` as Digest;
}
