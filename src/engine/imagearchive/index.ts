/**
 * `docker save` (save.ts) and `docker load` (load.ts, spooled.ts). Save writes what Docker 25+ writes: an OCI
 * image layout (oci-layout, index.json, blobs/sha256/: configs, OCI manifests,
 * uncompressed layer tars named by their diffId) that is also Docker's archive
 * format (manifest.json, repositories). Load reads that, older Docker archives
 * (<id>/layer.tar, symlinked duplicate layers), the pre-1.10 layout without
 * manifest.json (legacyload.ts) and OCI layouts from other tools (compressed
 * layers, nested indexes, names in annotations).
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { ensureDir } from "../../util/fsutil.js";
import type { Logger } from "../../util/log.js";
import type { ArchiveStore } from "../../image/index.js";
import type { Events } from "../events.js";
import type { ProgressSink } from "../progress.js";
import { ImageLoader } from "./load.js";
import { ImageSaver, type SaveImage } from "./save.js";

export type { SaveImage };

export interface ImageArchiveOptions {
  store: ArchiveStore;
  events: Events;
  log: Logger;
  /** Where load spools an archive (on the data-root's filesystem: archives can be large). */
  tmpRoot: string;
}

export class ImageArchiveService {
  private readonly saver: ImageSaver;
  private readonly loader: ImageLoader;

  constructor(private readonly o: ImageArchiveOptions) {
    this.saver = new ImageSaver(o);
    this.loader = new ImageLoader(o);
  }

  async init(): Promise<void> {
    await fs.rm(this.o.tmpRoot, { recursive: true, force: true });
    await ensureDir(path.dirname(this.o.tmpRoot), 0o700); // <data-root>/tmp, as dockerd's
    await ensureDir(this.o.tmpRoot, 0o700);
  }

  /** Which images (and which of their tags) `docker save NAME...` exports. Throws before anything is written. */
  plan(names: string[]): SaveImage[] {
    return this.saver.plan(names);
  }

  /** GET /images/get: the archive as a stream (call plan() first for errors before headers). */
  save(images: SaveImage[], signal?: AbortSignal): Readable {
    return this.saver.save(images, signal);
  }

  /** POST /images/load. Progress (and "Loaded image: x") goes to `out`; nothing is written before the archive is read whole. */
  load(input: Readable, opts: { quiet: boolean; signal?: AbortSignal }, out: ProgressSink): Promise<void> {
    return this.loader.load(input, opts, out);
  }
}
