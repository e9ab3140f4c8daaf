/**
 * docker push (dockerd's distribution code): up to 5 layers at once. A layer
 * with a compressed blob here is checked for, cross-mounted from another
 * repository of the registry that holds it, or uploaded as it is; a layer made
 * here (import, commit, build) with no blob yet is gzip'ed from its tar-split
 * replay on all cores (pgzip.ts) while the compressed bytes stream to the
 * registry (one PATCH, then PUT ?digest=, as dockerd does); the blob is kept in
 * the content store once verified, so the next push sends the same blob and
 * digest. Only the manifest of the platform we have is pushed (an image pulled
 * from a multi-arch index is pushed as that single manifest: the other
 * platforms' blobs were never downloaded).
 */
import { type Digest, sha256 } from "../../util/digest.js";
import { EngineError, notFound } from "../../util/errors.js";
import type { Logger } from "../../util/log.js";
import { type BlobSources, type ImageConfig, type LayerBlob, type PushStore, chainIds, formatReference, parseReference, registryOf, shownSize } from "../../image/index.js";
import { type Descriptor, type ImageManifest, MT, RegistryClient, RegistryHttpError, detectMediaType, isImageManifestType, parseRegistryAuth } from "../../registry/index.js";
import type { Events } from "../events.js";
import { type ProgressSink, progress, shortId, status, throttled } from "../progress.js";
import { describeNetError } from "./errors.js";
import type { Remote } from "./remote.js";
import { Slots, linkedAbort, pipeCounted } from "./transfer.js";

const CONCURRENT_UPLOADS = 5;
/** dockerd tries at most this many cross-repository mounts per layer. */
const MAX_MOUNT_ATTEMPTS = 3;

export interface PushRequest {
  name: string;
  tag?: string;
  auth?: string;
  signal?: AbortSignal;
}

export interface PusherOptions {
  store: PushStore;
  events: Events;
  log: Logger;
  /** Layers uploaded at once per push (read at each push: a reload changes it). */
  maxConcurrentUploads?: number;
}

export class Pusher {
  constructor(
    private readonly o: PusherOptions,
    private readonly remote: Remote,
  ) {}

  async push(req: PushRequest, out: ProgressSink): Promise<void> {
    const base = parseReference(req.name);
    const repo = base.repo;
    const tagParam = req.tag ?? base.tag ?? "";
    const { host, path: repoPath } = registryOf({ repo });
    // dockerd names the repository first, then checks what it has locally: those errors come in the stream.
    out(status(undefined, `The push refers to repository [${host}/${repoPath}]`));
    const repoTags = Object.keys(this.o.store.index.allTags())
      .filter((k) => k.slice(0, k.lastIndexOf(":")) === repo)
      .map((k) => k.slice(k.lastIndexOf(":") + 1))
      .sort();
    if (repoTags.length === 0) throw notFound(`An image does not exist locally with the tag: ${repo}`);
    if (tagParam !== "" && !repoTags.includes(tagParam)) throw notFound(`tag does not exist: ${formatReference({ repo, tag: tagParam })}`);
    const tags = tagParam !== "" ? [tagParam] : repoTags;
    await this.remote.reach(host, req.auth, req.signal);
    const client = this.remote.client(host, req.auth, req.signal);
    const creds = parseRegistryAuth(req.auth) !== undefined;
    try {
      await this.o.store.gcLock.withShared(async () => {
        for (const tag of tags) await this.pushTag(client, host, repo, repoPath, tag, out, req.signal);
      });
    } catch (e) {
      if (e instanceof RegistryHttpError && e.status === 401) {
        throw new EngineError("internal", !creds ? "no basic auth credentials" : e.registryMessage === "unexpected status 401" ? "unauthorized: authentication required" : e.registryMessage);
      }
      if (e instanceof RegistryHttpError && (e.status === 403 || e.code === "DENIED")) throw new EngineError("forbidden", `denied: ${e.errors[0]?.message ?? "requested access to the resource is denied"}`);
      const net = describeNetError(e, "GET", this.remote.pingUrl(host));
      throw net ? new EngineError("internal", net) : e;
    }
  }

  /**
   * dockerd's mount candidates: repositories of `host` other than the target that hold a blob of this
   * layer, those sharing more path components with the target first, then the most recent first (not
   * other blobs than the one being pushed when the manifest goes as it was: its digests are fixed).
   * At most MAX_MOUNT_ATTEMPTS, as dockerd.
   */
  private mountCandidates(diffId: Digest, blob: LayerBlob | undefined, host: string, repoPath: string, fixed: boolean): { blob: BlobSources; from: string }[] {
    const known = this.o.store.sources.forDiffId(diffId).filter((k) => !fixed || k.digest === blob?.digest);
    const here = (r: string): boolean => r.startsWith(`${host}/`) && r !== `${host}/${repoPath}`;
    const target = repoPath.split("/");
    const likeness = (from: string): number => {
      const parts = from.split("/");
      let n = 0;
      while (n < parts.length && n < target.length && parts[n] === target[n]) n++;
      return n;
    };
    const all = known.flatMap((k) => k.repos.filter(here).map((r) => ({ blob: k, from: r.slice(host.length + 1) })));
    // Array.prototype.sort is stable: equally alike candidates keep their most-recent-first order.
    return all.sort((a, b) => likeness(b.from) - likeness(a.from)).slice(0, MAX_MOUNT_ATTEMPTS);
  }

  private async pushTag(client: RegistryClient, host: string, repo: string, repoPath: string, tag: string, out: ProgressSink, signal: AbortSignal | undefined): Promise<void> {
    const id = this.o.store.index.allTags()[formatReference({ repo, tag })];
    if (id === undefined) throw notFound(`tag does not exist: ${formatReference({ repo, tag })}`);
    const configBytes = await this.o.store.content.read(id);
    const cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const diffIds = cfg.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const rec = this.o.store.index.get(id);

    // The manifest this image was pulled (or pushed) as, when all its blobs are still here: pushed as is.
    let verbatim: { bytes: Buffer; mediaType: string; layers: Descriptor[] } | undefined;
    if (rec?.manifest && (await this.o.store.content.has(rec.manifest))) {
      const bytes = await this.o.store.content.read(rec.manifest);
      const m = JSON.parse(bytes.toString("utf8")) as ImageManifest;
      const mt = m.mediaType ?? detectMediaType(m) ?? "";
      if (isImageManifestType(mt) && m.config?.digest === id && m.layers?.length === diffIds.length) {
        let all = true;
        for (const [i, l] of m.layers.entries()) {
          const b = this.o.store.blobs.get(l.digest as Digest);
          if (!b || b.diffId !== diffIds[i] || !(await this.o.store.content.has(l.digest as Digest))) all = false;
        }
        if (all) verbatim = { bytes, mediaType: mt, layers: m.layers };
      }
    }

    const seen = new Set<string>();
    const order = [...diffIds.keys()].reverse();
    for (const i of order) {
      const did = shortId(diffIds[i] as string);
      if (!seen.has(did)) out(status(did, "Preparing"));
      seen.add(did);
    }
    const slots = new Slots(this.o.maxConcurrentUploads ?? CONCURRENT_UPLOADS);
    const descs: Descriptor[] = new Array<Descriptor>(diffIds.length);
    const { ac, release } = linkedAbort(signal);
    // Keyed by blob digest, or by diffId for a layer still to be compressed: the same layer twice in one image goes once.
    const pushed = new Map<string, Promise<Descriptor>>();
    const one = async (i: number): Promise<void> => {
      const did = shortId(diffIds[i] as string);
      let blob: LayerBlob | undefined;
      if (verbatim) {
        const l = verbatim.layers[i] as Descriptor;
        blob = this.o.store.blobs.get(l.digest as Digest) as LayerBlob;
      } else {
        blob = await this.o.store.knownLayerBlob(chains[i] as Digest, (b) => !b.mediaType.includes("zstd"));
      }
      const key = blob?.digest ?? (diffIds[i] as string);
      let work = pushed.get(key);
      if (!work) {
        work = this.pushLayer(client, host, repoPath, did, diffIds[i] as Digest, chains[i] as Digest, blob, verbatim !== undefined, slots, out, ac.signal);
        pushed.set(key, work);
      }
      descs[i] = await work;
    };
    try {
      const results = await Promise.allSettled([...diffIds.keys()].map((i) => one(i)));
      const bad = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (bad) {
        ac.abort(bad.reason);
        throw bad.reason;
      }
    } finally {
      release();
    }

    const configMt = verbatim?.mediaType === MT.ociManifest ? MT.ociConfig : MT.dockerConfig;
    await client.ensureBlob(repoPath, { digest: id, size: configBytes.length }, () => configBytes);

    let bytes: Buffer;
    let mediaType: string;
    if (verbatim) {
      bytes = verbatim.bytes;
      mediaType = verbatim.mediaType;
    } else {
      const oci = descs.some((d) => !d.mediaType.startsWith("application/vnd.docker."));
      mediaType = oci ? MT.ociManifest : MT.dockerManifest;
      const m = {
        schemaVersion: 2,
        mediaType,
        config: { mediaType: oci ? MT.ociConfig : configMt, size: configBytes.length, digest: id },
        layers: descs.map((d) => ({ mediaType: d.mediaType, size: d.size, digest: d.digest })),
      };
      // dockerd marshals manifests with three-space indentation.
      bytes = Buffer.from(JSON.stringify(m, null, 3));
    }
    const digest = await client.putManifest(repoPath, tag, bytes, mediaType);
    if (digest !== sha256(bytes)) throw new EngineError("internal", "manifest digest mismatch");
    await this.o.store.content.put(bytes);
    await this.o.store.index.add(id, { repoDigests: [`${repo}@${digest}`], manifest: digest });
    out(status(undefined, `${tag}: digest: ${digest} size: ${bytes.length}`));
    out({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: bytes.length } });
    const name = formatReference({ repo, tag });
    this.o.events.emit("image", "push", name, { name });
  }

  /**
   * One layer of a push, in one of the `slots`: a blob we have is checked for
   * (HEAD), cross-mounted, or uploaded from the content store; a layer with no
   * blob yet is compressed on all cores while it uploads (dockerd's "Pushing"
   * progress counts its uncompressed bytes), and its blob kept for next time.
   */
  private async pushLayer(
    client: RegistryClient,
    host: string,
    repoPath: string,
    did: string,
    diffId: Digest,
    chainId: Digest,
    known: LayerBlob | undefined,
    fixed: boolean,
    slots: Slots,
    out: ProgressSink,
    signal: AbortSignal,
  ): Promise<Descriptor> {
    if (!slots.tryTake()) {
      out(status(did, "Waiting"));
      await slots.take();
    }
    try {
      let blob = known;
      let what: "exists" | "mounted" | "pushed" | undefined;
      let mountedFrom = "";
      if (blob && (await client.blobExists(repoPath, blob.digest, [RegistryClient.pushScope(repoPath)]))) what = "exists";
      for (const c of what ? [] : this.mountCandidates(diffId, blob, host, repoPath, fixed)) {
        // A failed request (not an answer) is no mount: the next candidate, then an upload.
        const mounted = await client.mountBlob(repoPath, c.blob.digest, c.from).catch(() => undefined);
        if (mounted) {
          what = "mounted";
          mountedFrom = c.from;
          blob = { digest: c.blob.digest, mediaType: c.blob.mediaType, size: c.blob.size, diffId: c.blob.diffId };
          break;
        }
        // The registry answered it could not mount it (not a network error): forget that repository, as dockerd does.
        if (mounted === false) await this.o.store.sources.forget(c.blob.digest, `${host}/${c.from}`);
      }
      if (!what && !blob) blob = await this.compressAndPush(client, repoPath, did, chainId, out, signal);
      else if (!what && blob) await this.pushStored(client, repoPath, did, blob, out);
      if (!blob) throw new Error(`layer ${did}: no blob after its upload`);
      out(status(did, what === "exists" ? "Layer already exists" : what === "mounted" ? `Mounted from ${mountedFrom}` : "Pushed"));
      await this.o.store.sources.record(blob, `${host}/${repoPath}`);
      return { mediaType: blob.mediaType, size: blob.size, digest: blob.digest };
    } finally {
      slots.release();
    }
  }

  /** A layer without a compressed blob: gzipped on all cores while the bytes stream to the registry. */
  private async compressAndPush(client: RegistryClient, repoPath: string, did: string, chainId: Digest, out: ProgressSink, signal: AbortSignal): Promise<LayerBlob> {
    // dockerd's total is the layer's size as `docker history` shows it; the count is the tar's bytes.
    const layerSize = shownSize(await this.o.store.layers.get(chainId));
    const bar = throttled(100, (b) => out(progress(did, "Pushing", b, layerSize)));
    // As dockerd: no "Pushing" before the registry took the upload (a refused push shows Preparing, then the error).
    let started = false;
    let sent = 0;
    const { ac, release } = linkedAbort(signal);
    try {
      const c = await this.o.store.compressLayer(chainId, {
        signal: ac.signal,
        onTarBytes: (n) => {
          sent = n;
          if (started) bar.update(n);
        },
      });
      try {
        await client.pushBlobStream(repoPath, c.stream, c.hashed, () => {
          started = true;
          bar.flush(sent);
        });
        const blob = await c.blob;
        bar.flush(layerSize);
        return blob;
      } catch (e) {
        ac.abort(e);
        throw e;
      }
    } finally {
      release();
    }
  }

  /** A compressed blob the content store holds, uploaded as it is. */
  private async pushStored(client: RegistryClient, repoPath: string, did: string, blob: LayerBlob, out: ProgressSink): Promise<void> {
    const bar = throttled(100, (n) => out(progress(did, "Pushing", n, blob.size)));
    bar.flush(0);
    const body = pipeCounted(this.o.store.content.reader(blob.digest), (n) => bar.update(n));
    await client.pushBlob(repoPath, blob.digest, blob.size, body);
    bar.flush(blob.size);
  }
}
