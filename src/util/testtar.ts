/**
 * Tar set-up shared by unit tests (imported by *.test.ts only): craft an archive with tar-stream's
 * packer (hostile ones included, which our own packer would refuse to write) and read one back.
 */
import type { Readable } from "node:stream";
import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";

/** One entry to pack: a tar header (name required) and an optional body. */
export type TestTarEntry = Partial<Header> & { name: string; body?: string | Buffer };

/** One entry read back: its header and its whole body. */
export interface ReadTarEntry {
  header: Header;
  body: Buffer;
}

/**
 * The archive holding `entries` in order. With `mtime`, entries without their own mtime get it
 * (tests that compare bytes need a fixed one); without, tar-stream stamps the time of packing.
 */
export async function buildTar(entries: readonly TestTarEntry[], opts: { mtime?: Date } = {}): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const { body, ...h } of entries) {
    const header = (opts.mtime ? { mtime: opts.mtime, ...h } : h) as Header;
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (body !== undefined) p.entry(header, body, cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Every entry of the archive `stream` carries, in order. */
export async function readTar(stream: Readable): Promise<ReadTarEntry[]> {
  const ex = tarExtract();
  const out: ReadTarEntry[] = [];
  const done = (async () => {
    for await (const e of ex as unknown as AsyncIterable<AsyncIterable<Buffer> & { header: Header }>) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c);
      out.push({ header: e.header, body: Buffer.concat(chunks) });
    }
  })();
  stream.pipe(ex as unknown as NodeJS.WritableStream);
  await done;
  return out;
}
