/**
 * docker load: Docker's archives (manifest.json; older ones with <id>/layer.tar
 * and symlinked duplicate layers), the pre-1.10 layout without manifest.json
 * (legacyload.ts) and OCI layouts from other tools (compressed layers, nested
 * indexes, names in annotations). The archive is spooled to disk whole first.
 */
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import path from "node:path";
import { type Readable, Transform } from "node:stream";
import type { Digest } from "../../util/digest.js";
import { invalid } from "../../util/errors.js";
import { bestEffort } from "../../util/besteffort.js";
import { mkdirp } from "../../util/fsutil.js";
import { type ArchiveStore, type ImageConfig, type Reference, chainIds, formatReference, parseReference, withDefaultTag } from "../../image/index.js";
import { type ProgressSink, progress, shortId } from "../progress.js";
import { type ArchiveImage, Spooled, legacyImages, spool } from "./spooled.js";
import type { Events } from "../events.js";

export interface LoaderOptions {
  store: ArchiveStore;
  events: Events;
  /** Where load spools an archive (on the data-root's filesystem: archives can be large). */
  tmpRoot: string;
}

export class ImageLoader {
  constructor(private readonly o: LoaderOptions) {}

  /** POST /images/load. Progress (and "Loaded image: x") goes to `out`; nothing is written before the archive is read whole. */
  async load(input: Readable, opts: { quiet: boolean; signal?: AbortSignal }, out: ProgressSink): Promise<void> {
    const dir = path.join(this.o.tmpRoot, `load-${randomBytes(6).toString("hex")}`);
    await mkdirp(dir, 0o700);
    try {
      const links = await spool(input, dir, opts.signal);
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
      await fs.rm(dir, { recursive: true, force: true }).catch(bestEffort("remove the load spool"));
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
}

/** dockerd's checkValidParent: the child's history is the parent's plus one entry (or neither has any). */
async function validParent(store: ArchiveStore, id: Digest, parent: Digest): Promise<boolean> {
  const [c, p] = await Promise.all([store.config(id), store.config(parent)]);
  const ch = c.history ?? [];
  const ph = p.history ?? [];
  if (ch.length === 0 && ph.length === 0) return true;
  return ch.length - ph.length === 1 && ph.every((h, i) => JSON.stringify(h) === JSON.stringify(ch[i]));
}
