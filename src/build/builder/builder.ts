/**
 * The image builder service (Docker's legacy builder protocol): its cache,
 * start-up clean-up, prune, and `build`, which runs one Job (job.ts) per
 * request: a Dockerfile against a build context, step by step.
 *
 * Every step's result is an image record (untagged, its parent recorded), so
 * " ---> <id>" names an image. Metadata steps (ENV, LABEL, CMD, …) make no
 * layer (history `empty_layer: true`); RUN, COPY/ADD and WORKDIR commit the
 * changes of a snapshot as a layer when there are any.
 *
 * The cache: a step is reused when its parent image and its container config
 * (the instruction after substitution, the environment, the build args in
 * use, and for COPY/ADD the content hash of the sources) match an earlier
 * step's; after the first miss in a stage, the rest of the stage runs.
 *
 * Stages: only the stages the target (the last stage, or `--target`) needs are
 * built — through FROM <stage> and COPY --from=<stage>.
 */
import { promises as fs } from "node:fs";
import path from "node:path";

import type { Readable } from "node:stream";

import { bestEffort } from "../../util/besteffort.js";
import type { Digest } from "../../util/digest.js";
import { invalid, messageOf } from "../../util/errors.js";
import { ensureDir } from "../../util/fsutil.js";

import { type ImageConfig, formatReference, parseReference, withDefaultTag } from "../../image/index.js";

import { parseInstructions } from "../dockerfile/index.js";

import { BuildCache, type CacheEntry } from "./cache.js";
import { BuildContext } from "./context.js";

import { RunExecutor } from "./run.js";

import type { BuildOutput, BuildRequest, BuildResult, BuilderOptions } from "./buildtypes.js";
import { Job, short } from "./job.js";

export { BuildStepError, type BuildRequest, type BuildOutput, type BuildResult, type BuilderOptions } from "./buildtypes.js";

export class Builder {
  readonly cache: BuildCache;
  private readonly tmp: string;
  /** Runs RUN steps (used by the build jobs). */
  readonly runner: RunExecutor;

  constructor(readonly o: BuilderOptions) {
    this.cache = new BuildCache(path.join(o.root, "cache.json"));
    this.tmp = path.join(o.root, "tmp");
    this.runner = new RunExecutor(o.store, o.runtime, this.tmp, o.network, o.rlimits);
  }

  async init(): Promise<void> {
    // A user-namespaced RUN step's root must reach its /etc files below tmp (their directory is 0710 to
    // its group): the same mode and group here, so nobody else passes (and an older 0711 is tightened).
    const gid = this.o.store.idMap?.root.gid ?? 0;
    await ensureDir(this.o.root, 0o710, gid);
    await fs.rm(this.tmp, { recursive: true, force: true });
    await ensureDir(this.tmp, 0o710, gid);
    await this.cache.init();
    // Build containers and snapshots of a build interrupted by a crash.
    for (const s of await this.o.store.snapshots.snapshots()) {
      if (!s.key.startsWith(RunExecutor.PREFIX)) continue;
      const id = s.key.slice(RunExecutor.PREFIX.length);
      if (/^[0-9a-f]{64}$/.test(id)) await this.o.runtime.container(id).cleanup().catch(bestEffort(`cleaning up build container ${id.slice(0, 12)}`));
      await this.o.store.snapshots.removeSnapshot(s.key).catch((e: unknown) => this.o.log.warn(`removing build snapshot ${s.key}: ${messageOf(e)}`));
    }
    this.o.store.addGcRoots(() => this.gcRoots());
  }

  /** Chain ids the build cache holds: only its live entries' (a step whose image is gone is no cache). */
  gcRoots(): Digest[] {
    return this.cache.roots((image) => this.o.store.index.get(image) !== undefined);
  }

  /**
   * Build an image from a context tar. Errors before the first output (a bad
   * tag, the Dockerfile, parse errors) are thrown before `out` is written to.
   */
  async build(context: Readable, req: BuildRequest, out: BuildOutput, signal?: AbortSignal): Promise<BuildResult> {
    const tags = sanitizeTags(req.tags);
    const ctx = await BuildContext.fromTar(context, this.tmp, signal);
    try {
      const { name, text } = ctx.readDockerfile(req.dockerfile);
      const df = parseInstructions(text, name);
      await ctx.applyDockerignore();
      const job = new Job(this, ctx, df, req, out, signal);
      const imageId = await job.run();
      out.stdout(`Successfully built ${short(imageId)}\n`);
      for (const t of tags) {
        await this.o.store.tag(imageId, t);
        out.stdout(`Successfully tagged ${t}\n`);
      }
      return { imageId, tags };
    } finally {
      // Only last-used times are pending here (advisory, for prune order): write them off the request path.
      void this.cache.flush().catch(bestEffort("writing the build cache's last-used times"));
      await ctx.dispose();
    }
  }

  /**
   * `docker builder prune` (with or without `all`): drop the entries whose image is
   * gone. The cache is the images, as dockerd's legacy builder's: a step whose image
   * is still in the store stays cached (dockerd 20.10's prune empties BuildKit's cache
   * only, and its legacy builder goes on finding its steps among the images). Layers
   * no image uses are then garbage-collected. `unusedForMs` keeps the entries used
   * more recently than that. CachesDeleted is null when nothing was deleted (Go's nil
   * slice, as dockerd answers).
   */
  async prune(opts: { all: boolean; unusedForMs?: number }): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }> {
    const doomed: string[] = [];
    const cutoff = opts.unusedForMs === undefined ? Infinity : Date.now() - opts.unusedForMs;
    for (const [k, e] of this.cache.entries()) {
      if (Date.parse(e.lastUsed) > cutoff) continue;
      if (!this.o.store.index.get(e.image)) doomed.push(k);
    }
    await this.cache.delete(doomed);
    const gc = await this.o.store.gc(this.gcRoots());
    return { CachesDeleted: doomed.length > 0 ? doomed : null, SpaceReclaimed: gc.reclaimed };
  }

  /**
   * A step result from the cache. As dockerd's legacy builder, which finds its cache
   * among the images in the store, a hit needs the step's image to be there still: a
   * step whose image was removed (rmi, image prune) runs again.
   */
  async lookup(key: string): Promise<{ id: Digest; config: ImageConfig } | undefined> {
    const e: CacheEntry | undefined = this.cache.get(key);
    if (!e) return undefined;
    const store = this.o.store;
    if (store.index.get(e.image)) {
      this.cache.touch(key);
      return { id: e.image, config: await store.config(e.image).catch(() => e.config) };
    }
    await this.cache.delete([key]);
    return undefined;
  }
}

function sanitizeTags(tags: string[]): string[] {
  const out: string[] = [];
  for (const t of tags) {
    if (t === "") continue;
    // The reference parser's message alone, as dockerd 20.10 (which answers 500; Berth 400: docs/security.md).
    const ref = parseReference(t);
    if (ref.digest) throw invalid("build tag cannot contain a digest");
    const s = formatReference(withDefaultTag(ref));
    if (!out.includes(s)) out.push(s);
  }
  return out;
}
