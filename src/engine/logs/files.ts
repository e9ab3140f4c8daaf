/**
 * The files of a rotated container log (json-file, local, the syslog cache) as
 * the monitor leaves them: FILE, FILE.1 … FILE.N, each rotated one possibly
 * gzipped to FILE.N.gz (compress=true) by the monitor's gzip child. Listing
 * them oldest first, reading them whole, and following FILE across rotations.
 * A file that is not there is the normal case (the monitor renames, gzips and
 * deletes them as it goes): hence the plain `.catch(() => undefined)`s.
 */
import { promises as fs, watch } from "node:fs";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";
import { gunzipSync } from "node:zlib";

/** Rotated files oldest first: FILE.N … FILE.1, each plain or gzipped; FILE itself is not listed. */
export async function rotatedFiles(file: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 1; i < 1000; i++) {
    const plain = `${file}.${i}`;
    const gz = `${plain}.gz`;
    // plain first: while the gzip child runs, FILE.1 is whole and FILE.1.gz is not yet
    const found = await fs.access(plain).then(() => plain, () => fs.access(gz).then(() => gz, () => undefined));
    if (!found) break;
    out.unshift(found);
  }
  return out;
}

/** A log file's bytes, gunzipped when it is FILE.N.gz (also when the gzip child finished FILE.N meanwhile); undefined when gone. */
export async function readRotated(f: string): Promise<Buffer | undefined> {
  const raw = await fs.readFile(f).catch(() => undefined);
  if (raw && f.endsWith(".gz")) {
    try {
      return gunzipSync(raw);
    } catch {
      return undefined; // not a whole gzip file: only while the monitor's gzip child writes it, and then FILE.N is still there
    }
  }
  if (raw) return raw;
  return f.endsWith(".gz") ? undefined : readRotated(`${f}.gz`);
}

/** The rotated files' bytes (oldest first) and FILE's, as one set: read again when the monitor rotated meanwhile. */
export async function readLogSet(file: string): Promise<{ rotated: Buffer[]; current: Buffer }> {
  for (let tries = 0; ; tries++) {
    const before = await fs.stat(file).catch(() => undefined);
    const rotated: Buffer[] = [];
    for (const f of await rotatedFiles(file)) {
      const b = await readRotated(f);
      if (b) rotated.push(b);
    }
    const current = await fs.readFile(file).catch(() => Buffer.alloc(0));
    const after = await fs.stat(file).catch(() => undefined);
    if (tries >= 5 || before?.ino === after?.ino) return { rotated, current };
  }
}

/** How much of a file's start identifies it among the rotated files (entries carry their times). */
const HEAD = 1024;

/**
 * Follow FILE from `offset`: new bytes go to `take`, which answers how many it
 * used (whole records; the rest is offered again) or false to stop. When the
 * monitor rotates, the old file is read to its end through the descriptor held
 * open (a rename or the gzip child's unlink does not take its bytes away); the
 * files rotated after it (several rotations between two looks) are then read
 * from FILE.N(.gz), and the new FILE from its start.
 * A file truncated in place (max-file=1) restarts at 0. Ends once `stopWhen`
 * has resolved and everything was read, or `out` closed.
 */
export async function followLog(file: string, offset: number, out: PassThrough, stopWhen: Promise<unknown>, take: (b: Buffer) => Promise<number | false>): Promise<void> {
  let stopped = false;
  void stopWhen.then(() => (stopped = true));
  let wake: (() => void) | undefined;
  let watcher: ReturnType<typeof watch> | undefined;
  try {
    watcher = watch(path.dirname(file), () => wake?.()); // the directory: a rotated FILE is a new inode
  } catch {
    watcher = undefined;
  }
  out.on("close", () => {
    stopped = true;
    wake?.();
  });
  let fh = await fs.open(file, "r").catch(() => undefined);
  /** Read fh from offset to its end; false when take asked to stop. */
  const drain = async (): Promise<boolean> => {
    if (!fh) return true;
    const size = (await fh.stat()).size;
    if (size < offset) offset = 0; // truncated in place
    if (size <= offset) return true;
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    const used = await take(buf.subarray(0, bytesRead));
    if (used === false) return false;
    offset += used;
    return true;
  };
  /**
   * After a rotation, with the old file read to its end: find it among FILE.N(.gz) by its size and first bytes,
   * give the files rotated after it (all of them if it was rotated away meanwhile), then go on with the new FILE.
   */
  const catchUp = async (): Promise<boolean> => {
    const size = fh ? (await fh.stat()).size : 0;
    const head = Buffer.alloc(Math.min(HEAD, size));
    if (fh) await fh.read(head, 0, head.length, 0);
    for (let tries = 0; ; tries++) {
      const next = await fs.open(file, "r").catch(() => undefined);
      if (!next && fh) return true; // between the monitor's rename and its new FILE: keep the old file, look again
      const chain: Buffer[] = [];
      for (const f of await rotatedFiles(file)) chain.push((await readRotated(f)) ?? Buffer.alloc(0));
      const ino = next && (await next.stat()).ino;
      const now = await fs.stat(file).catch(() => undefined);
      if (tries < 5 && next && now && now.ino !== ino) {
        await next.close(); // rotated again while the chain was read: look once more
        continue;
      }
      await fh?.close();
      fh = next;
      offset = 0;
      const at = size > 0 ? chain.findIndex((b) => b.length === size && b.subarray(0, head.length).equals(head)) : -1;
      const after = Buffer.concat(chain.slice(at + 1));
      return after.length === 0 || (await take(after)) !== false;
    }
  };
  try {
    for (;;) {
      const wasStopped = stopped;
      if (!(await drain())) break;
      const cur = await fs.stat(file).catch(() => undefined);
      if (cur && (!fh || cur.ino !== (await fh.stat()).ino)) {
        if (!(await drain())) break; // the rotated file's last bytes
        if (!(await catchUp())) break;
        continue;
      }
      if (wasStopped || out.destroyed) break;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 250);
      });
    }
  } finally {
    watcher?.close();
    await fh?.close();
  }
}

/** Complete records at the start of a buffer and how many bytes they used (`whole`: a rotated file, read to its end). */
export type LogDecoder<E> = (b: Buffer, whole: boolean) => { entries: E[]; used: number };

/**
 * The one reader of file-backed logs (json-file, local, the syslog cache): the rotated
 * files and FILE as one set, the last `tail` records, then (follow) what followLog finds
 * until `stopWhen`. `emit` writes one record and answers false to stop (past --until,
 * or the reader went away).
 */
export function streamLog<E>(
  file: string,
  opts: { tail: number | "all"; follow: boolean; stopWhen?: Promise<unknown> },
  decode: LogDecoder<E>,
  emit: (e: E, out: PassThrough) => Promise<boolean>,
): Readable {
  const out = new PassThrough();
  void (async () => {
    try {
      const { rotated, current } = await readLogSet(file);
      let entries: E[] = [];
      for (const raw of rotated) entries.push(...decode(raw, true).entries);
      // Only complete records of FILE; a torn last one is read again in follow mode.
      const first = decode(current, false);
      entries.push(...first.entries);
      if (opts.tail !== "all") entries = opts.tail <= 0 ? [] : entries.slice(-opts.tail);
      for (const e of entries) if (!(await emit(e, out))) return void out.end();
      entries = [];
      if (!opts.follow || !opts.stopWhen) return void out.end();
      await followLog(file, first.used, out, opts.stopWhen, async (b) => {
        const { entries: more, used } = decode(b, false);
        for (const e of more) if (!(await emit(e, out))) return false;
        return used;
      });
      out.end();
    } catch (e) {
      out.destroy(e as Error);
    }
  })();
  return out;
}
