/**
 * Tar archives for the builder: the build context and ADD's local archives.
 * Plain and gzip tars go straight to the image store's hardened extractor;
 * bzip2, xz and zstd are decompressed by the system tools first. Extraction
 * never writes outside the target directory (see image/tar-apply.ts).
 */
import fss from "node:fs";
import { spawn } from "node:child_process";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { extractLayer } from "../../image/index.js";
import { internal } from "../../util/errors.js";
import type { IdMap } from "../../util/idmap.js";

type Compression = "none" | "gzip" | "bzip2" | "xz" | "zstd";

function detect(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 3 && head.toString("latin1", 0, 3) === "BZh") return "bzip2";
  if (head.length >= 6 && head.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return "zstd";
  return "none";
}

const TOOL: Record<"bzip2" | "xz" | "zstd", string> = { bzip2: "bzip2", xz: "xz", zstd: "zstd" };

/** Read the first n bytes of a stream and return them with a stream that still yields everything. */
async function peek(input: Readable, n: number): Promise<[Buffer, Readable]> {
  const it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let got = 0;
  let done = false;
  while (got < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    chunks.push(b);
    got += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array);
    }
  }
  return [head.subarray(0, n), Readable.from(all(), { objectMode: false })];
}

function decompressWith(tool: string, input: Readable): { out: Readable; done: Promise<void> } {
  const child = spawn(tool, ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  input.on("error", () => child.kill());
  child.stdin.on("error", () => undefined);
  input.pipe(child.stdin);
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", (e) => reject(internal(`${tool}: ${e.message}`, e)));
    child.on("close", (code) => (code === 0 ? resolve() : reject(internal(`${tool} -dc failed: ${stderr.trim() || `exit ${code}`}`))));
  });
  return { out: child.stdout, done };
}

/**
 * Unpack a (possibly compressed) tar into dest, merging with what is there.
 * Owners are kept; whiteout entries delete the named paths.
 */
export async function extractArchive(input: Readable, dest: string, opts: { signal?: AbortSignal | undefined; context?: boolean; idMap?: IdMap } = {}): Promise<void> {
  const [head, stream] = await peek(input, 6);
  const c = detect(head);
  const xopts = {
    overlayWhiteouts: false,
    preserveOwners: true,
    ...(opts.context ? { padFinalEntry: true } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.idMap ? { idMap: opts.idMap } : {}),
  };
  if (c === "none" || c === "gzip") {
    await extractLayer(stream, dest, xopts);
    return;
  }
  const { out, done } = decompressWith(TOOL[c], stream);
  await Promise.all([extractLayer(out, dest, xopts), done]);
}

function validTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  if (block.every((b) => b === 0)) return false;
  const stored = block.toString("latin1", 148, 156).replace(/\0.*$/, "").trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === parseInt(stored, 8);
}

/** The first 512 bytes of a file after decompression (fewer for a short file). */
async function decompressedHead(file: string, c: Compression): Promise<Buffer> {
  const src = fss.createReadStream(file);
  let stream: Readable = src;
  let child: ReturnType<typeof spawn> | undefined;
  if (c === "gzip") stream = src.pipe(createGunzip());
  else if (c !== "none") {
    child = spawn(TOOL[c], ["-dc"], { stdio: ["pipe", "pipe", "ignore"] });
    child.on("error", () => undefined);
    child.stdin?.on("error", () => undefined);
    src.pipe(child.stdin as NodeJS.WritableStream);
    stream = child.stdout as Readable;
  }
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const b of stream as AsyncIterable<Buffer>) {
      chunks.push(b);
      got += b.length;
      if (got >= 512) break;
    }
  } catch {
    // not decompressible: not an archive
  } finally {
    src.destroy();
    stream.destroy();
    child?.kill();
  }
  return Buffer.concat(chunks).subarray(0, 512);
}

/** Docker's IsArchivePath: a file that (after decompression) starts with a valid tar header. */
export async function isArchiveFile(file: string): Promise<boolean> {
  const fd = fss.openSync(file, "r");
  let head: Buffer;
  try {
    head = Buffer.alloc(6);
    const n = fss.readSync(fd, head, 0, 6, 0);
    head = head.subarray(0, n);
  } finally {
    fss.closeSync(fd);
  }
  return validTarHeader(await decompressedHead(file, detect(head)));
}
