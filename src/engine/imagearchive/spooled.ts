/**
 * An archive being loaded, spooled to disk first (nothing enters the image store
 * before the archive was read whole): its files, its links (remembered, never
 * created), and the images it holds in each layout docker load reads.
 */
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { PassThrough, Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract, type Header as TarHeaders } from "tar-stream";
import { isDigest } from "../../util/digest.js";
import { EngineError, invalid, messageOf } from "../../util/errors.js";
import { mkdirp } from "../../util/fsutil.js";
import { MAX_ARCHIVE_DOC_BYTES, checkDeclaredSize } from "../../util/limits.js";
import { digestOf, formatReference, parseReference, withDefaultTag } from "../../image/index.js";
import { MT, hostPlatform, selectPlatform } from "../../registry/index.js";
import { type HistoryEntry, configFromV1, historyFromV1, legacyLayers } from "../legacyload.js";
import { goTarReason } from "../cpcore.js";

export interface ArchiveImage {
  config: string;
  /** The config itself when the archive has none (legacy layout: made from the layer's v1 JSON). */
  configBytes?: Buffer;
  layers: string[];
  tags: string[];
  /** Index of the parent image in the same load (legacy layout; a docker save's manifest Parent). */
  parent?: number;
  legacy?: boolean;
}

/** The images of a pre-1.10 archive (see legacyload.ts), parents first, with their configs made. */
export async function legacyImages(arch: Spooled): Promise<ArchiveImage[]> {
  const { layers, tags } = await legacyLayers(await arch.json<unknown>("repositories"), async (id) => (await arch.read(`${id}/json`)).toString("utf8"));
  const out: ArchiveImage[] = [];
  const diffIds: string[][] = [];
  const histories: HistoryEntry[][] = [];
  for (const [i, l] of layers.entries()) {
    const diffId = await digestOf(await decompressed(arch.stream(l.layer)));
    const below = l.parent !== undefined ? { d: diffIds[l.parent] ?? [], h: histories[l.parent] ?? [], layers: out[l.parent]?.layers ?? [] } : { d: [], h: [], layers: [] };
    diffIds[i] = [...below.d, diffId];
    histories[i] = [...below.h, historyFromV1(l.json)];
    out.push({
      config: `${l.v1Id}/json`,
      configBytes: configFromV1(l.json, diffIds[i] as string[], histories[i] as HistoryEntry[]),
      layers: [...below.layers, l.layer],
      tags: tags.filter(([, at]) => at === i).map(([t]) => t),
      ...(l.parent !== undefined ? { parent: l.parent } : {}),
      legacy: true,
    });
  }
  return out;
}

/** A relative, normalized archive path; throws on ".." or absolute names. */
function cleanName(raw: string): string {
  if (raw.startsWith("/")) throw invalid(`invalid archive: absolute path ${JSON.stringify(raw)}`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw invalid(`invalid archive: path ${JSON.stringify(raw)} leaves the archive`);
  return parts.join("/");
}

export async function decompressed(input: Readable): Promise<Readable> {
  const it = input[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let n = 0;
  while (n < 6) {
    const r = await it.next();
    if (r.done) break;
    const b = r.value as Buffer;
    first.push(b);
    n += b.length;
  }
  const head = Buffer.concat(first);
  async function* all(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  const raw = Readable.from(all(), { objectMode: false });
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const g = createGunzip();
    raw.on("error", (e) => g.destroy(e));
    return raw.pipe(g);
  }
  if (head.length >= 4 && head.readUInt32BE(0) === 0x28b52ffd) throw invalid("zstd-compressed archives are not supported: decompress it first (zstd -d)");
  if (head.toString("latin1", 0, 3) === "BZh" || head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    throw invalid("bzip2/xz-compressed archives are not supported: decompress it first");
  }
  return raw;
}

/** Write the archive's files into `dir`; symlinks and hard links are remembered, not created. */
export async function spool(input: Readable, dir: string, signal?: AbortSignal): Promise<Map<string, { target: string; hard: boolean }>> {
  const links = new Map<string, { target: string; hard: boolean }>();
  const src = await decompressed(input);
  const ex = tarExtract();
  let count = 0;
  const consume = (async () => {
    for await (const entry of ex as unknown as AsyncIterable<Readable & { header: TarHeaders }>) {
      signal?.throwIfAborted();
      if (++count > 1_000_000) throw invalid("archive has too many entries");
      const rel = cleanName(entry.header.name);
      const type = entry.header.type;
      if (rel === "" || type === "directory") {
        entry.resume();
        continue;
      }
      if (type === "symlink" || type === "link") {
        links.set(rel, { target: entry.header.linkname ?? "", hard: type === "link" });
        entry.resume();
        continue;
      }
      if (type !== "file" && type !== "contiguous-file") {
        entry.resume();
        continue;
      }
      const dest = path.join(dir, rel);
      await mkdirp(path.dirname(dest), 0o700);
      // The spool dir holds only what we create: no symlinks in it, so no component can lead outside.
      await pipeline(entry, fss.createWriteStream(dest, { flags: "w", mode: 0o600 }));
    }
  })();
  await Promise.all([pipeline(src, ex as unknown as NodeJS.WritableStream, ...(signal ? [{ signal }] : [])), consume]).catch((e: unknown) => {
    ex.destroy();
    if (e instanceof EngineError) throw e;
    // Not a whole tar: dockerd's words, from its unpack helper (the stream's in-band error).
    const tar = goTarReason(messageOf(e));
    throw invalid(tar !== undefined ? `Error processing tar file(exit status 1): ${tar}` : `invalid archive: ${messageOf(e)}`);
  });
  if (count === 0) throw invalid("invalid archive: it is empty");
  return links;
}

/** The spooled archive: files on disk plus the links the archive had. */
export class Spooled {
  constructor(
    private readonly dir: string,
    private readonly links: Map<string, { target: string; hard: boolean }>,
  ) {}

  /** Follow archive links (relative symlinks, hard links) to a spooled file. */
  resolve(name: string): string {
    let rel = cleanName(name);
    for (let hops = 0; hops < 16; hops++) {
      // A link may name a parent directory too (rare): resolve component-wise.
      const parts = rel.split("/");
      let changed = false;
      for (let i = parts.length; i > 0; i--) {
        const prefix = parts.slice(0, i).join("/");
        const l = this.links.get(prefix);
        if (!l) continue;
        const base = l.hard ? "" : path.posix.dirname(prefix);
        const joined = path.posix.normalize(path.posix.join(base === "." ? "" : base, l.target));
        if (l.target.startsWith("/") || joined.startsWith("..")) throw invalid(`invalid archive: link ${prefix} points outside it`);
        rel = [joined, ...parts.slice(i)].filter((p) => p !== "" && p !== ".").join("/");
        changed = true;
        break;
      }
      if (!changed) return path.join(this.dir, cleanName(rel));
    }
    throw invalid(`invalid archive: too many links for ${name}`);
  }

  async exists(name: string): Promise<boolean> {
    try {
      return (await fs.stat(this.resolve(name))).isFile();
    } catch {
      return false;
    }
  }

  async size(name: string): Promise<number | undefined> {
    return (await fs.stat(this.resolve(name)).catch(() => undefined))?.size;
  }

  /** A JSON document of the archive (manifest.json, index.json, manifests, configs), at most MAX_ARCHIVE_DOC_BYTES. */
  async read(name: string): Promise<Buffer> {
    try {
      const file = this.resolve(name);
      checkDeclaredSize(`invalid archive: ${name}`, (await fs.stat(file)).size, MAX_ARCHIVE_DOC_BYTES);
      return await fs.readFile(file);
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw invalid(`invalid archive: ${name} is missing`);
    }
  }

  stream(name: string): Readable {
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const file = this.resolve(name);
    const rs = fss.createReadStream(file, { highWaterMark: 1 << 20 });
    rs.on("error", (e) => out.destroy(invalid(`invalid archive: cannot read ${name}: ${messageOf(e)}`)));
    return rs.pipe(out);
  }

  async json<T>(name: string): Promise<T> {
    try {
      return JSON.parse((await this.read(name)).toString("utf8")) as T;
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw invalid(`invalid archive: ${name} is not valid JSON`);
    }
  }

  async dockerImages(): Promise<ArchiveImage[]> {
    const m = await this.json<{ Config?: string; RepoTags?: string[] | null; Layers?: string[]; Parent?: unknown }[]>("manifest.json");
    if (!Array.isArray(m)) throw invalid("invalid archive: manifest.json is not a list");
    // A Parent names another entry by its config's digest (its file name in docker save's layouts).
    const hexOfConfig = (c: unknown): string | undefined => (typeof c === "string" ? /([a-f0-9]{64})(\.json)?$/.exec(c)?.[1] : undefined);
    return m.map((e) => {
      if (typeof e.Config !== "string" || !Array.isArray(e.Layers)) throw invalid("invalid archive: manifest.json entry without Config or Layers");
      const parent = typeof e.Parent === "string" ? e.Parent.replace(/^sha256:/, "") : undefined;
      const p = parent !== undefined ? m.findIndex((o) => hexOfConfig(o.Config) === parent) : -1;
      return { config: e.Config, layers: e.Layers, tags: Array.isArray(e.RepoTags) ? e.RepoTags : [], ...(p >= 0 ? { parent: p } : {}) };
    });
  }

  private blobPath(digest: string): string {
    const [alg, hex] = digest.split(":");
    if (!alg || !hex || !/^[a-z0-9]+$/.test(alg) || !/^[a-f0-9]+$/.test(hex)) throw invalid(`invalid archive: bad digest ${digest}`);
    return `blobs/${alg}/${hex}`;
  }

  async ociImages(): Promise<ArchiveImage[]> {
    const out: ArchiveImage[] = [];
    const visit = async (desc: { mediaType?: string; digest: string; annotations?: Record<string, string> }, name: string | undefined, depth: number): Promise<void> => {
      if (depth > 4) throw invalid("invalid archive: indexes nested too deep");
      const doc = await this.json<{ mediaType?: string; manifests?: { mediaType?: string; digest: string; annotations?: Record<string, string>; platform?: { os: string; architecture: string } }[]; config?: { digest: string }; layers?: { digest: string }[] }>(this.blobPath(desc.digest));
      const mt = desc.mediaType ?? doc.mediaType ?? (doc.manifests ? MT.ociIndex : MT.ociManifest);
      if (doc.manifests) {
        const pick = doc.manifests.some((m) => m.platform) ? selectPlatform(doc, hostPlatform()) : doc.manifests[0];
        if (pick) await visit(pick, name, depth + 1);
        return;
      }
      if (!doc.config || !Array.isArray(doc.layers)) throw invalid(`invalid archive: ${mt} ${desc.digest} is not an image manifest`);
      const existing = out.find((o) => o.config === this.blobPath(doc.config?.digest ?? ""));
      if (existing) {
        if (name) existing.tags.push(name);
        return;
      }
      out.push({ config: this.blobPath(doc.config.digest), layers: doc.layers.map((l) => this.blobPath(l.digest)), tags: name ? [name] : [] });
    };
    const idx = await this.json<{ manifests?: { mediaType?: string; digest: string; annotations?: Record<string, string> }[] }>("index.json");
    for (const m of idx.manifests ?? []) {
      if (!isDigest(m.digest)) throw invalid(`invalid archive: bad digest ${m.digest}`);
      const a = m.annotations ?? {};
      let name = a["io.containerd.image.name"];
      const refName = a["org.opencontainers.image.ref.name"];
      if (!name && refName && /[:/]/.test(refName)) name = refName;
      if (name) {
        try {
          const ref = parseReference(name);
          name = ref.tag !== undefined || ref.digest === undefined ? formatReference(withDefaultTag({ repo: ref.repo, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) })) : undefined;
        } catch {
          name = undefined;
        }
      }
      await visit(m, name, 0);
    }
    return out;
  }
}
