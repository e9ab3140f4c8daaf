/**
 * `docker save` and `docker load`. Save writes what Docker 25+ writes: an OCI
 * image layout (oci-layout, index.json, blobs/sha256/: configs, OCI manifests,
 * uncompressed layer tars named by their diffId) that is also Docker's archive
 * format (manifest.json, repositories). Load reads that, older Docker archives
 * (<id>/layer.tar, symlinked duplicate layers), the pre-1.10 layout without
 * manifest.json (legacyload.ts) and OCI layouts from other tools (compressed
 * layers, nested indexes, names in annotations).
 */
import { createHash, randomBytes } from "node:crypto";
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { extract as tarExtract, pack as tarPack, type Header as TarHeaders } from "tar-stream";
import { type Digest, hexOf, isDigest, sha256 } from "../util/digest.js";
import { EngineError, invalid, messageOf, notFound } from "../util/errors.js";
import { ensureDir, mkdirp } from "../util/fsutil.js";
import { MAX_ARCHIVE_DOC_BYTES, checkDeclaredSize } from "../util/limits.js";
import type { Logger } from "../util/log.js";
import { type ImageConfig, type ImageStore, type Reference, chainIds, formatReference, parseReference, withDefaultTag } from "../image/index.js";
import { MT, hostPlatform, selectPlatform } from "../registry/index.js";
import type { Events } from "./events.js";
import { type HistoryEntry, configFromV1, historyFromV1, legacyLayers } from "./legacyload.js";
import { type ProgressSink, progress, shortId } from "./progress.js";
import { goTarReason } from "./cpcore.js";

export interface ImageArchiveOptions {
  store: ImageStore;
  events: Events;
  log: Logger;
  /** Where load spools an archive (on the data-root's filesystem: archives can be large). */
  tmpRoot: string;
}

interface SaveImage {
  id: Digest;
  tags: string[];
}

const EPOCH = new Date(0);

/** Docker's full name for annotations: busybox:latest → docker.io/library/busybox:latest. */
function fullName(familiar: string): string {
  const ref = parseReference(familiar);
  const first = ref.repo.split("/")[0] ?? "";
  const hasDomain = ref.repo.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  const repo = hasDomain ? ref.repo : ref.repo.includes("/") ? `docker.io/${ref.repo}` : `docker.io/library/${ref.repo}`;
  return formatReference({ ...ref, repo });
}

export class ImageArchiveService {
  constructor(private readonly o: ImageArchiveOptions) {}

  async init(): Promise<void> {
    await fs.rm(this.o.tmpRoot, { recursive: true, force: true });
    await ensureDir(path.dirname(this.o.tmpRoot), 0o700); // <data-root>/tmp, as dockerd's
    await ensureDir(this.o.tmpRoot, 0o700);
  }

  /** Which images (and which of their tags) `docker save NAME...` exports. Throws before anything is written. */
  plan(names: string[]): SaveImage[] {
    if (names.length === 0) throw invalid("no image names given");
    const byId = new Map<Digest, Set<string>>();
    const allTags = this.o.store.index.allTags();
    for (const name of names) {
      // dockerd's save names the image as it was asked for.
      const id = this.o.store.resolve(name);
      if (id === undefined) throw missingForSave(name);
      const tags = byId.get(id) ?? new Set<string>();
      byId.set(id, tags);
      let ref: Reference | undefined;
      try {
        ref = parseReference(name);
      } catch {
        ref = undefined;
      }
      if (!ref || ref.digest !== undefined) continue;
      if (id.slice(7).startsWith(name.replace(/^sha256:/, "")) && !Object.keys(allTags).some((t) => t.startsWith(`${ref.repo}:`))) continue;
      if (ref.tag !== undefined) {
        tags.add(formatReference(ref));
      } else {
        // A repository name alone: every tag of it (for this image).
        for (const [t, tid] of Object.entries(allTags)) if (tid === id && t.slice(0, t.lastIndexOf(":")) === ref.repo) tags.add(t);
        if (tags.size === 0) tags.add(formatReference(withDefaultTag(ref)));
      }
    }
    return [...byId].map(([id, tags]) => ({ id, tags: [...tags].filter((t) => allTags[t] === id).sort() }));
  }

  /** GET /images/get: the archive as a stream (call plan() first for errors before headers). */
  save(images: SaveImage[], signal?: AbortSignal): Readable {
    const pack = tarPack();
    const store = this.o.store;
    const run = async (): Promise<void> => {
      await store.gcLock.withShared(async () => {
        const entry = (h: Partial<TarHeaders> & { name: string }, body: Buffer | string): Promise<void> =>
          new Promise((resolve, reject) => {
            pack.entry({ mode: 0o644, uid: 0, gid: 0, ...h, mtime: EPOCH }, body, (err) => (err ? reject(err) : resolve()));
          });
        await entry({ name: "blobs", type: "directory", mode: 0o755 }, "");
        await entry({ name: "blobs/sha256", type: "directory", mode: 0o755 }, "");
        const written = new Set<string>();
        const blob = async (digest: Digest, body: Buffer): Promise<void> => {
          if (written.has(digest)) return;
          written.add(digest);
          await entry({ name: `blobs/sha256/${hexOf(digest)}` }, body);
        };
        const manifestJson: Record<string, unknown>[] = [];
        const index: Record<string, unknown>[] = [];
        const repositories: Record<string, Record<string, string>> = {};
        for (const img of images) {
          signal?.throwIfAborted();
          const configBytes = await store.content.read(img.id);
          const cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
          const chains = chainIds(cfg.rootfs.diff_ids);
          const layerDescs: { mediaType: string; size: number; digest: string }[] = [];
          for (const [i, chain] of chains.entries()) {
            const diffId = cfg.rootfs.diff_ids[i] as Digest;
            const info = await store.layers.get(chain);
            layerDescs.push({ mediaType: MT.ociLayer, size: info.size, digest: diffId });
            if (written.has(diffId)) continue;
            written.add(diffId);
            await this.layerEntry(pack, chain, diffId, info.size, signal);
          }
          await blob(img.id, configBytes);
          const manifest = {
            schemaVersion: 2,
            mediaType: MT.ociManifest,
            config: { mediaType: MT.ociConfig, digest: img.id, size: configBytes.length },
            layers: layerDescs,
          };
          const mBytes = Buffer.from(JSON.stringify(manifest));
          const mDigest = sha256(mBytes);
          await blob(mDigest, mBytes);
          const desc = { mediaType: MT.ociManifest, digest: mDigest, size: mBytes.length };
          if (img.tags.length === 0) index.push(desc);
          for (const t of img.tags) {
            const ref = parseReference(t);
            index.push({ ...desc, annotations: { "io.containerd.image.name": fullName(t), "org.opencontainers.image.ref.name": ref.tag ?? "latest" } });
            (repositories[ref.repo] ??= {})[ref.tag ?? "latest"] = hexOf(cfg.rootfs.diff_ids.at(-1) ?? img.id);
          }
          // dockerd names an image's parent when the parent is saved too (load links them again).
          const parent = store.index.get(img.id)?.parent;
          manifestJson.push({
            Config: `blobs/sha256/${hexOf(img.id)}`,
            RepoTags: img.tags.length > 0 ? img.tags : null,
            Layers: cfg.rootfs.diff_ids.map((d) => `blobs/sha256/${hexOf(d)}`),
            ...(parent !== undefined && parent !== img.id && images.some((i) => i.id === parent) ? { Parent: parent } : {}),
          });
        }
        await entry({ name: "index.json" }, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: index }));
        await entry({ name: "manifest.json" }, `${JSON.stringify(manifestJson)}\n`);
        await entry({ name: "oci-layout" }, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
        if (Object.keys(repositories).length > 0) await entry({ name: "repositories" }, `${JSON.stringify(repositories)}\n`);
        pack.finalize();
      });
    };
    run().catch((e: unknown) => {
      this.o.log.warn(`docker save: ${messageOf(e)}`);
      pack.destroy(e instanceof Error ? e : new Error(String(e)));
    });
    for (const img of images) this.o.events.emit("image", "save", img.id, { name: img.tags[0] ?? img.id });
    return pack as unknown as Readable;
  }

  /** One layer tar into the archive, verified against its diffId on the way. */
  private async layerEntry(pack: ReturnType<typeof tarPack>, chain: Digest, diffId: Digest, size: number, signal?: AbortSignal): Promise<void> {
    const src = await this.o.store.layerTar(chain);
    const hash = createHash("sha256");
    let n = 0;
    const check = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        n += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        const got = `sha256:${hash.digest("hex")}`;
        cb(got === diffId && n === size ? null : new EngineError("internal", `layer ${diffId} cannot be reproduced exactly (got ${got}, ${n} bytes)`));
      },
    });
    await new Promise<void>((resolve, reject) => {
      const w = pack.entry({ name: `blobs/sha256/${hexOf(diffId)}`, size, mtime: EPOCH, mode: 0o644, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
      pipeline(src, check, w as unknown as NodeJS.WritableStream, ...(signal ? [{ signal }] : [])).catch(reject);
    });
  }

  // ------------------------------------------------------------------ load

  /** POST /images/load. Progress (and "Loaded image: x") goes to `out`; nothing is written before the archive is read whole. */
  async load(input: Readable, opts: { quiet: boolean; signal?: AbortSignal }, out: ProgressSink): Promise<void> {
    const dir = path.join(this.o.tmpRoot, `load-${randomBytes(6).toString("hex")}`);
    await mkdirp(dir, 0o700);
    try {
      const links = await this.spool(input, dir, opts.signal);
      const arch = new Spooled(dir, links);
      const images = (await arch.exists("manifest.json"))
        ? await arch.dockerImages()
        : (await arch.exists("index.json"))
          ? await arch.ociImages()
          : (await arch.exists("repositories"))
            ? await legacyImages(arch)
            : undefined;
      if (!images) throw invalid("invalid archive: it has neither manifest.json (docker save) nor index.json (OCI layout)");
      if (images.length === 0) throw invalid("invalid archive: no images in it");
      await this.o.store.gcLock.withShared(async () => {
        const ids: Digest[] = [];
        for (const img of images) ids.push(await this.loadOne(arch, img, opts, out));
        // Parents are linked once every image is in (a docker save lists children first), as dockerd's
        // load does: only to an image of the same archive whose history is the child's less one entry.
        for (const [i, img] of images.entries()) {
          const id = ids[i] as Digest;
          const parent = img.parent !== undefined ? ids[img.parent] : undefined;
          if (parent !== undefined && parent !== id && (img.legacy || (await validParent(this.o.store, id, parent)))) await this.o.store.index.add(id, { parent });
        }
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  private async loadOne(arch: Spooled, img: ArchiveImage, opts: { quiet: boolean; signal?: AbortSignal }, out: ProgressSink): Promise<Digest> {
    const store = this.o.store;
    const configBytes = img.configBytes ?? (await arch.read(img.config));
    let cfg: ImageConfig;
    try {
      cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    } catch {
      throw invalid(`invalid image config ${img.config}`);
    }
    const diffIds = cfg.rootfs?.diff_ids ?? [];
    if (diffIds.length !== img.layers.length) throw invalid(`invalid manifest, layers length mismatch: expected ${diffIds.length}, got ${img.layers.length}`);
    const chains = chainIds(diffIds);
    for (const [i, file] of img.layers.entries()) {
      const chain = chains[i] as Digest;
      if (await store.layers.has(chain)) continue;
      const total = (await arch.size(file)) ?? 0;
      const id = shortId(chain);
      let src: Readable = arch.stream(file);
      if (!opts.quiet) {
        let n = 0;
        let last = 0;
        const count = new Transform({
          transform(chunk: Buffer, _e, cb) {
            n += chunk.length;
            const now = Date.now();
            if (now - last > 100) {
              last = now;
              out(progress(id, "Loading layer", n, total));
            }
            cb(null, chunk);
          },
        });
        src = src.pipe(count);
        out(progress(id, "Loading layer", 0, total));
      }
      const info = await store.layers.register(src, i > 0 ? (chains[i - 1] as Digest) : null, opts.signal);
      if (info.diffId !== diffIds[i]) throw invalid(`invalid diffID for layer ${i}: expected "${diffIds[i]}", got "${info.diffId}"`);
      if (!opts.quiet) out(progress(id, "Loading layer", total, total));
    }
    const id = await store.addRawImage(configBytes);
    const tags = img.tags.length > 0 ? img.tags : [];
    for (const t of tags) {
      let ref: Reference;
      try {
        ref = withDefaultTag(parseReference(t));
      } catch {
        continue;
      }
      if (ref.tag === undefined) continue;
      const key = formatReference(ref);
      const old = store.index.allTags()[key];
      if (old !== undefined && old !== id) {
        out({ stream: `The image ${key} already exists, renaming the old one with ID ${old} to empty string\n` });
      }
      await store.tag(id, ref, { touch: false });
      if (img.legacy) continue; // dockerd's legacy loader reports nothing
      out({ stream: `Loaded image: ${key}\n` });
      this.o.events.emit("image", "load", id, { name: key });
    }
    if (tags.length === 0 && !img.legacy) {
      out({ stream: `Loaded image ID: ${id}\n` });
      this.o.events.emit("image", "load", id, { name: id });
    }
    return id;
  }

  /** Write the archive's files into `dir`; symlinks and hard links are remembered, not created. */
  private async spool(input: Readable, dir: string, signal?: AbortSignal): Promise<Map<string, { target: string; hard: boolean }>> {
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
}

interface ArchiveImage {
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
async function legacyImages(arch: Spooled): Promise<ArchiveImage[]> {
  const { layers, tags } = await legacyLayers(await arch.json<unknown>("repositories"), async (id) => (await arch.read(`${id}/json`)).toString("utf8"));
  const out: ArchiveImage[] = [];
  const diffIds: string[][] = [];
  const histories: HistoryEntry[][] = [];
  for (const [i, l] of layers.entries()) {
    const hash = createHash("sha256");
    await pipeline(await decompressed(arch.stream(l.layer)), hash);
    const below = l.parent !== undefined ? { d: diffIds[l.parent] ?? [], h: histories[l.parent] ?? [], layers: out[l.parent]?.layers ?? [] } : { d: [], h: [], layers: [] };
    diffIds[i] = [...below.d, `sha256:${hash.digest("hex")}`];
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

async function decompressed(input: Readable): Promise<Readable> {
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

/** The spooled archive: files on disk plus the links the archive had. */
class Spooled {
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

/**
 * dockerd's save looks a name up by what it parses as: a malformed name fails (the parser's
 * message; 500 in dockerd 20.10, 400 here: docs/security.md), a tag or digest is a reference
 * ("reference does not exist"), a name alone (or an id prefix) an image ("No such image: <name>").
 * A full id dockerd answers with a 500 naming its store's path; Berth says "No such image" (404).
 */
function missingForSave(name: string): Error {
  let ref: Reference;
  try {
    ref = parseReference(name);
  } catch (e) {
    return /^(sha256:)?[a-f0-9]{64}$/.test(name) ? notFound(`No such image: ${name}`) : (e as Error);
  }
  if (ref.repo !== "sha256" && (ref.tag !== undefined || ref.digest !== undefined)) return notFound("reference does not exist");
  return notFound(`No such image: ${name}`);
}

/** dockerd's checkValidParent: the child's history is the parent's plus one entry (or neither has any). */
async function validParent(store: ImageStore, id: Digest, parent: Digest): Promise<boolean> {
  const [c, p] = await Promise.all([store.config(id), store.config(parent)]);
  const ch = c.history ?? [];
  const ph = p.history ?? [];
  if (ch.length === 0 && ph.length === 0) return true;
  return ch.length - ph.length === 1 && ph.every((h, i) => JSON.stringify(h) === JSON.stringify(ch[i]));
}
