/**
 * docker pull (dockerd's distribution code): the manifest for our platform,
 * up to 3 layer downloads at once, each blob decompressed and unpacked while it
 * downloads (into a directory of its own, while the content store keeps and
 * verifies the compressed bytes), and the unpacked layers committed in order,
 * each as soon as its parent is. Compressed blobs stay in the content store
 * (mapped to their diffId), so a push of the same image sends the exact blobs
 * (and, when all of them are still here, the exact manifest it was pulled as).
 */
import { type Digest, isDigest } from "../../util/digest.js";
import { invalid, messageOf, notFound } from "../../util/errors.js";
import { bestEffort } from "../../util/besteffort.js";
import { MAX_CONFIG_BYTES, checkDeclaredSize, readAtMost } from "../../util/limits.js";
import { type ImageConfig, type PendingLayer, type PullStore, type Reference, chainIds, formatReference, parseReference, registryOf, withDefaultTag } from "../../image/index.js";
import {
  type Descriptor,
  type ImageIndex as OciIndex,
  type ImageManifest,
  type PlatformSpec,
  MT,
  type RegistryClient,
  type RegistryEndpoint,
  detectMediaType,
  hostPlatform,
  isImageManifestType,
  isIndexType,
  parseRegistryAuth,
  pullEndpoints,
  selectPlatform,
} from "../../registry/index.js";
import type { Events } from "../events.js";
import type { Logger } from "../../util/log.js";
import { type ProgressSink, progress, shortId, status, throttled } from "../progress.js";
import { pullError } from "./errors.js";
import type { Remote } from "./remote.js";
import { Slots, linkedAbort, pipeCounted } from "./transfer.js";

const CONCURRENT_DOWNLOADS = 3;

export interface PullRequest {
  fromImage: string;
  tag?: string;
  platform?: string;
  /** The X-Registry-Auth header as sent. */
  auth?: string;
  signal?: AbortSignal;
}

export interface PullerOptions {
  store: PullStore;
  events: Events;
  log: Logger;
  /** Layers downloaded at once per pull (read at each pull: a reload changes it). */
  maxConcurrentDownloads?: number;
}

function parsePlatform(s: string | undefined): PlatformSpec {
  if (!s) return hostPlatform();
  const parts = s.toLowerCase().split("/");
  if (parts.length < 2 || parts.some((p) => p === "")) throw invalid(`"${s}": unknown operating system or architecture: invalid argument`);
  return { os: parts[0] as string, architecture: parts[1] as string, ...(parts[2] ? { variant: parts[2] } : {}) };
}

function fmtPlatform(p: PlatformSpec): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

interface Target {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: Digest;
  mediaType: string;
  /** What "Digest:" shows and RepoDigests records: the index's digest for a multi-arch pull. */
  topDigest: Digest;
}

export class Puller {
  constructor(
    private readonly o: PullerOptions,
    private readonly remote: Remote,
  ) {}

  /**
   * Pull from each place that may serve the image (mirrors first, hosts.ts), as
   * dockerd does: a mirror's failure of any kind is logged and the next one is
   * tried; the origin's error is the one the user sees.
   */
  async pull(req: PullRequest, out: ProgressSink): Promise<void> {
    const parsed = parseReference(req.fromImage);
    const byDigest = parsed.digest !== undefined || isDigest(req.tag ?? "");
    const endpoints = pullEndpoints(this.remote.hosts, registryOf(parsed).host, byDigest);
    for (const ep of endpoints) {
      try {
        await this.pullFrom(req, out, ep);
        return;
      } catch (e) {
        if (!ep.mirror || req.signal?.aborted) throw e;
        this.o.log.info(`pull ${req.fromImage} from mirror ${ep.base.href} failed, trying the next: ${messageOf(e)}`);
      }
    }
  }

  private async pullFrom(req: PullRequest, out: ProgressSink, ep: RegistryEndpoint): Promise<void> {
    let ref = parseReference(req.fromImage);
    const tagParam = req.tag ?? "";
    if (tagParam !== "") {
      if (isDigest(tagParam)) ref = { repo: ref.repo, digest: tagParam };
      else if (!/^[\w][\w.-]{0,127}$/.test(tagParam)) throw invalid("invalid tag format");
      else ref = { repo: ref.repo, tag: tagParam };
    }
    const platform = parsePlatform(req.platform);
    const { host, path: repoPath } = registryOf(ref);
    await this.remote.reach(host, req.auth, req.signal, ep);
    const client = this.remote.client(host, req.auth, req.signal, undefined, ep);
    const creds = parseRegistryAuth(req.auth) !== undefined;

    if (ref.tag === undefined && ref.digest === undefined) {
      // docker pull --all-tags
      let tags: string[];
      try {
        tags = await client.listTags(repoPath);
      } catch (e) {
        throw pullError(e, ref, this.remote.pingUrl(client.host), repoPath, creds);
      }
      if (tags.length === 0) throw notFound(`repository ${ref.repo} not found: no tags`);
      let any = false;
      for (const t of tags) {
        any = (await this.o.store.gcLock.withShared(() => this.pullOne({ repo: ref.repo, tag: t }, client, repoPath, platform, out, req.signal, creds))) || any;
      }
      out(status(undefined, `Status: ${any ? "Downloaded newer image" : "Image is up to date"} for ${ref.repo}`));
      return;
    }
    const changed = await this.o.store.gcLock.withShared(() => this.pullOne(ref, client, repoPath, platform, out, req.signal, creds));
    out(status(undefined, `Status: ${changed ? "Downloaded newer image" : "Image is up to date"} for ${formatReference(ref)}`));
  }

  private async resolveTarget(client: RegistryClient, repoPath: string, ref: Reference, platform: PlatformSpec): Promise<Target> {
    const wanted = ref.digest ?? ref.tag ?? "latest";
    const top = await client.getManifest(repoPath, wanted);
    let fetched = top;
    let mt = top.mediaType || detectMediaType(JSON.parse(top.bytes.toString("utf8"))) || "";
    if (isIndexType(mt)) {
      const idx = JSON.parse(top.bytes.toString("utf8")) as OciIndex;
      const pick = selectPlatform(idx, platform);
      if (!pick) throw notFound(`no matching manifest for ${fmtPlatform(platform)} in the manifest list entries`);
      if (!isDigest(pick.digest)) throw invalid(`invalid digest ${pick.digest} in the manifest list`);
      fetched = await client.getManifest(repoPath, pick.digest);
      mt = fetched.mediaType || pick.mediaType;
    }
    if (mt === MT.dockerSchema1 || mt === MT.dockerSchema1Signed) {
      throw invalid(`[DEPRECATION NOTICE] Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Suggest the author of ${formatReference(ref)} to upgrade the image to the OCI Format or Docker Image manifest v2, schema 2.`);
    }
    const manifest = JSON.parse(fetched.bytes.toString("utf8")) as ImageManifest;
    if (!isImageManifestType(mt) && !(manifest.config && Array.isArray(manifest.layers))) throw invalid(`unsupported manifest media type ${mt}`);
    if (!manifest.config || !isDigest(manifest.config.digest) || !Array.isArray(manifest.layers)) throw invalid("invalid manifest: no config or layers");
    for (const l of manifest.layers) if (!isDigest(l.digest)) throw invalid(`invalid layer digest ${l.digest}`);
    return { manifest, manifestBytes: fetched.bytes, manifestDigest: fetched.digest, mediaType: mt, topDigest: top.digest };
  }

  /** Pull one tag or digest. True when the tag now points at a different (or new) image. Runs under a gc lease. */
  private async pullOne(ref: Reference, client: RegistryClient, repoPath: string, platform: PlatformSpec, out: ProgressSink, signal: AbortSignal | undefined, creds: boolean): Promise<boolean> {
    let target: Target;
    try {
      target = await this.resolveTarget(client, repoPath, ref, platform);
    } catch (e) {
      throw pullError(e, ref, this.remote.pingUrl(client.host), repoPath, creds);
    }
    const { manifest } = target;
    const configDigest = manifest.config.digest as Digest;
    const source = `${client.host}/${repoPath}`;
    // dockerd's "Pulling from" line has an id but no progressDetail (the layer lines have one).
    out({ status: `Pulling from ${repoPath}`, id: ref.digest ?? ref.tag ?? "latest" });

    let id: Digest = configDigest;
    const present = this.o.store.index.get(configDigest) !== undefined && (await this.o.store.topLayer(configDigest).then((t) => (t === null ? true : this.o.store.layers.has(t))).catch(() => false));
    if (!present) {
      // The config is read whole (to hash and parse it): declared or streamed, at most MAX_CONFIG_BYTES.
      checkDeclaredSize("image config", manifest.config.size, MAX_CONFIG_BYTES);
      const cfgStream = await client.getBlob(repoPath, configDigest, { size: manifest.config.size });
      const configBytes = await readAtMost(cfgStream, MAX_CONFIG_BYTES, "image config");
      const cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
      const diffIds = cfg.rootfs?.diff_ids ?? [];
      if (diffIds.length !== manifest.layers.length) throw invalid("layers from manifest don't match image configuration");
      await this.pullLayers(client, repoPath, manifest.layers, diffIds, out, signal, source);
      await this.o.store.content.put(target.manifestBytes);
      const repoDigest = `${ref.repo}@${target.topDigest}`;
      id = await this.o.store.addRawImage(configBytes, { repoDigests: [repoDigest], manifest: target.manifestDigest }, configDigest);
    } else {
      await this.o.store.content.put(target.manifestBytes);
      await this.o.store.index.add(id, { repoDigests: [`${ref.repo}@${target.topDigest}`], ...(this.o.store.index.get(id)?.manifest ? {} : { manifest: target.manifestDigest }) });
    }
    let changed = !present;
    if (ref.tag !== undefined) {
      const key = formatReference(withDefaultTag({ repo: ref.repo, tag: ref.tag }));
      const before = this.o.store.index.allTags()[key];
      if (before !== id) {
        await this.o.store.tag(id, { repo: ref.repo, tag: ref.tag }, { touch: false });
        changed = true;
      }
    }
    out(status(undefined, `Digest: ${target.topDigest}`));
    const name = formatReference(ref);
    this.o.events.emit("image", "pull", name, { name });
    return changed;
  }

  private async pullLayers(client: RegistryClient, repoPath: string, layers: Descriptor[], diffIds: Digest[], out: ProgressSink, signal: AbortSignal | undefined, source: string): Promise<void> {
    const chains = chainIds(diffIds);
    const n = layers.length;
    // registered[i] settles when layer i is unpacked (or was there already).
    const done: boolean[] = new Array<boolean>(n).fill(false);
    const waiters: { resolve: () => void; promise: Promise<void> }[] = [];
    for (let i = 0; i < n; i++) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      waiters.push({ resolve, promise });
    }
    const markDone = (i: number): void => {
      done[i] = true;
      waiters[i]?.resolve();
    };
    const missing: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const chain = chains[i] as Digest;
      const desc = layers[i] as Descriptor;
      if (await this.o.store.layers.has(chain)) {
        if (!seen.has(desc.digest)) out(status(shortId(desc.digest), "Already exists"));
        seen.add(desc.digest);
        markDone(i);
      } else missing.push(i);
    }
    for (const i of missing) {
      const d = (layers[i] as Descriptor).digest;
      if (!seen.has(d)) out(status(shortId(d), "Pulling fs layer"));
      seen.add(d);
    }
    const slots = new Slots(this.o.maxConcurrentDownloads ?? CONCURRENT_DOWNLOADS);
    const { ac, release } = linkedAbort(signal);
    let failed: unknown;

    const one = async (i: number): Promise<void> => {
      const desc = layers[i] as Descriptor;
      const digest = desc.digest as Digest;
      const id = shortId(digest);
      const diffId = diffIds[i] as Digest;
      const parent = i > 0 ? (chains[i - 1] as Digest) : null;
      const parentReady = (): Promise<void> => (i > 0 ? (waiters[i - 1] as { promise: Promise<void> }).promise : Promise.resolve());
      const blobDesc = { digest, mediaType: desc.mediaType, size: desc.size };
      if (!slots.tryTake()) {
        out(status(id, "Waiting"));
        await slots.take();
      }
      let slotHeld = true;
      const releaseSlot = (): void => {
        if (slotHeld) slots.release();
        slotHeld = false;
      };
      let pending: PendingLayer | undefined;
      try {
        if (failed !== undefined) return;
        if (await this.o.store.layers.has(chains[i] as Digest)) {
          out(status(id, "Already exists"));
          releaseSlot();
          await parentReady();
          markDone(i);
          return;
        }
        const extractProgress = throttled(100, (b) => out(progress(id, "Extracting", b, desc.size)));
        // Every layer is unpacked as soon as its blob arrives, into a directory of its
        // own (a layer's content does not depend on its parent's); the layers are then
        // committed (made visible) in order, each once its parent is.
        if (await this.o.store.content.has(digest)) {
          out(status(id, "Download complete"));
          releaseSlot();
          extractProgress.flush(0);
          pending = await this.o.store.unpackCompressedLayer(blobDesc, undefined, diffId, { signal: ac.signal, source });
        } else {
          const dl = throttled(100, (b) => out(progress(id, "Downloading", b, desc.size)));
          // Verified once, by the content store, before the blob or the layer becomes visible.
          const body = await client.getBlob(repoPath, digest, { size: desc.size, verify: false });
          const counted = pipeCounted(body, (b) => dl.update(b));
          counted.on("end", () => {
            dl.flush(desc.size);
            out(status(id, "Verifying Checksum"));
            out(status(id, "Download complete"));
          });
          pending = await this.o.store.unpackCompressedLayer(blobDesc, counted, diffId, { signal: ac.signal, source }).catch((e: unknown) => {
            throw this.layerError(e, digest);
          });
          releaseSlot();
        }
        await parentReady();
        if (failed !== undefined) return;
        await pending.commit(parent);
        pending = undefined;
        extractProgress.flush(desc.size);
        out(status(id, "Pull complete"));
        markDone(i);
      } catch (e) {
        if (failed === undefined) {
          failed = e;
          ac.abort(e);
        }
        // Unblock the layers waiting on this one; they see `failed` and stop.
        markDone(i);
      } finally {
        releaseSlot();
        if (pending) await pending.discard().catch(bestEffort("discard an unpacked layer"));
        // A layer that stopped because another failed still unblocks the ones above it.
        if (!done[i] && failed !== undefined) markDone(i);
      }
    };
    try {
      await Promise.all(missing.map((i) => one(i)));
    } finally {
      release();
    }
    if (failed !== undefined) throw failed;
  }

  private layerError(e: unknown, digest: Digest): unknown {
    const m = messageOf(e);
    if (/digest mismatch|larger than|expected \d+|got \d+ bytes/.test(m)) return invalid(`filesystem layer verification failed for digest ${digest}`);
    return e;
  }

}
