/**
 * docker save: what Docker 25+ writes, an OCI image layout (oci-layout,
 * index.json, blobs/sha256/: configs, OCI manifests, uncompressed layer tars
 * named by their diffId) that is also Docker's archive format (manifest.json,
 * repositories).
 */
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { pack as tarPack, type Header as TarHeaders } from "tar-stream";
import { type Digest, hexOf, sha256 } from "../../util/digest.js";
import { EngineError, invalid, messageOf, notFound } from "../../util/errors.js";
import { type ImageConfig, type Reference, chainIds, formatReference, hashThrough, parseReference, withDefaultTag } from "../../image/index.js";
import { MT } from "../../registry/index.js";
import type { ArchiveStore } from "../../image/index.js";
import type { Logger } from "../../util/log.js";
import type { Events } from "../events.js";

export interface SaveImage {
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

export interface SaverOptions {
  store: ArchiveStore;
  events: Events;
  log: Logger;
}

export class ImageSaver {
  constructor(private readonly o: SaverOptions) {}

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
    const check = hashThrough((got, n) => (got === diffId && n === size ? undefined : new EngineError("internal", `layer ${diffId} cannot be reproduced exactly (got ${got}, ${n} bytes)`)));
    await new Promise<void>((resolve, reject) => {
      const w = pack.entry({ name: `blobs/sha256/${hexOf(diffId)}`, size, mtime: EPOCH, mode: 0o644, uid: 0, gid: 0 }, (err) => (err ? reject(err) : resolve()));
      pipeline(src, check, w as unknown as NodeJS.WritableStream, ...(signal ? [{ signal }] : [])).catch(reject);
    });
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
