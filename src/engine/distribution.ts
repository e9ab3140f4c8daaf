/**
 * Pull, push and login (dockerd's distribution code): registry manifests and
 * blobs through the registry client, layers unpacked into the image store as
 * they download, Docker's JSON progress messages, Docker's error texts.
 *
 * Pull: up to 3 layer downloads at once; each blob is decompressed and
 * unpacked while it downloads (into a directory of its own, while the content
 * store keeps and verifies the compressed bytes), and the unpacked layers are
 * committed in order, each as soon as its parent is. Compressed
 * blobs stay in the content store (mapped to their diffId), so a push of the
 * same image sends the exact blobs (and, when all of them are still here, the
 * exact manifest it was pulled as): the digests stay the same.
 *
 * Push: up to 5 layers at once. A layer made here (import, commit, build) with
 * no blob yet is gzip'ed from its tar-split replay on all cores (pgzip.ts)
 * while the compressed bytes stream to the registry (one PATCH, then PUT
 * ?digest=, as dockerd does); the blob is kept in the content store once
 * verified, so the next push sends the same blob and digest. Only the manifest of the platform we have
 * is pushed (an image pulled from a multi-arch index is pushed as that single
 * manifest: the other platforms' blobs were never downloaded).
 */
import type { Readable } from "node:stream";
import { Transform } from "node:stream";
import { readFileSync } from "node:fs";
import { type Digest, isDigest, sha256 } from "../util/digest.js";
import { searchImages, type SearchResult } from "./search.js";
import { EngineError, errnoCode, invalid, messageOf, notFound } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { MAX_CONFIG_BYTES, checkDeclaredSize, readAtMost } from "../util/limits.js";
import {
  type ImageConfig,
  type ImageStore,
  type BlobSources,
  type LayerBlob,
  type PendingLayer,
  type Reference,
  chainIds,
  formatReference,
  parseReference,
  registryOf,
  shownSize,
  withDefaultTag,
} from "../image/index.js";
import {
  type Descriptor,
  type ImageIndex as OciIndex,
  type ImageManifest,
  type PlatformSpec,
  MT,
  RegistryClient,
  RegistryHttpError,
  detectMediaType,
  hostPlatform,
  isImageManifestType,
  isIndexType,
  isInsecureRegistry,
  type ProxyConfig,
  type RegistryEndpoint,
  Transport,
  originEndpoint,
  parseRegistryAuth,
  pullEndpoints,
  registryEndpointHost,
  selectPlatform,
} from "../registry/index.js";
import type { Events } from "./events.js";
import { type ProgressSink, progress, shortId, status, throttled } from "./progress.js";

const CONCURRENT_DOWNLOADS = 3;
const CONCURRENT_UPLOADS = 5;
/** dockerd tries at most this many cross-repository mounts per layer. */
const MAX_MOUNT_ATTEMPTS = 3;
/** How long the first contact with a registry may take (no internet: fail fast). */
const PING_TIMEOUT_MS = 15_000;

export interface DistributionOptions {
  store: ImageStore;
  events: Events;
  log: Logger;
  /** dockerd's --insecure-registry: hosts or CIDRs reachable over plain HTTP. */
  insecureRegistries?: string[];
  /** Docker Hub mirrors ("http://host:port/"), tried before docker.io for pulls. */
  registryMirrors?: string[];
  /** Outgoing proxies (the environment's, or daemon.json's). */
  proxies?: ProxyConfig;
  /** certs.d folders: per-registry TLS and hosts.toml (first with a folder for the host wins). */
  certsDirs?: string[];
  /** Layers transferred at once per pull / push (read at each pull or push: a reload changes them). */
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
}

export interface PullRequest {
  fromImage: string;
  tag?: string;
  platform?: string;
  /** The X-Registry-Auth header as sent. */
  auth?: string;
  signal?: AbortSignal;
}

export interface PushRequest {
  name: string;
  tag?: string;
  auth?: string;
  signal?: AbortSignal;
}

const GO_METHOD: Record<string, string> = { GET: "Get", HEAD: "Head", POST: "Post", PUT: "Put", PATCH: "Patch" };

/**
 * The DNS server Go's resolver names in "lookup x on <server>: no such host": the first
 * nameserver of resolv.conf (Go asks them in order), or its default 127.0.0.1:53.
 */
export function goNameserver(resolvConf: string): string {
  for (const line of resolvConf.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1]) return m[1].includes(":") ? `[${m[1]}]:53` : `${m[1]}:53`;
  }
  return "127.0.0.1:53";
}

let nameserver: string | undefined;
function hostNameserver(): string {
  if (nameserver === undefined) {
    try {
      nameserver = goNameserver(readFileSync("/etc/resolv.conf", "utf8"));
    } catch {
      nameserver = goNameserver("");
    }
  }
  return nameserver;
}

/** Go's net/http error text for a failed request, as dockerd reports it. */
export function describeNetError(e: unknown, method: string, url: string): string | undefined {
  const code = errnoCode(e);
  const u = new URL(url);
  const prefix = `${GO_METHOD[method] ?? method} "${url}": `;
  const addr = (e as { address?: string; port?: number }).address;
  const port = (e as { port?: number }).port;
  const target = addr !== undefined ? `${addr.includes(":") ? `[${addr}]` : addr}:${port ?? u.port}` : u.host;
  switch (code) {
    case "ECONNREFUSED":
      return `${prefix}dial tcp ${target}: connect: connection refused`;
    case "ENOTFOUND":
      return `${prefix}dial tcp: lookup ${u.hostname} on ${hostNameserver()}: no such host`;
    case "EAI_AGAIN":
      return `${prefix}dial tcp: lookup ${u.hostname}: Temporary failure in name resolution`;
    case "ETIMEDOUT":
      return `${prefix}dial tcp ${target}: i/o timeout`;
    case "EHOSTUNREACH":
      return `${prefix}dial tcp ${target}: connect: no route to host`;
    case "ENETUNREACH":
      return `${prefix}dial tcp ${target}: connect: network is unreachable`;
    case "ECONNRESET":
      return `${prefix}read tcp ${target}: read: connection reset by peer`;
    // Certificate checks, in Go's crypto/x509 words.
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return `${prefix}x509: certificate signed by unknown authority`;
    case "CERT_HAS_EXPIRED":
    case "CERT_NOT_YET_VALID":
      return `${prefix}x509: certificate has expired or is not yet valid`;
    default:
      if (e instanceof EngineError && /timed out$/.test(e.message)) return `${prefix}net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`;
      return undefined;
  }
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

/** A fixed-size pool of slots, handed out in request order. */
class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  tryTake(): boolean {
    if (this.free > 0) {
      this.free--;
      return true;
    }
    return false;
  }
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((r) => this.queue.push(r));
  }
  release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.free++;
  }
}

/** Counts bytes passing through. */
function counter(onBytes: (total: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

function pipeCounted(src: Readable, onBytes: (total: number) => void): Readable {
  const c = counter(onBytes);
  c.on("error", () => undefined); // reported by whoever consumes it
  src.on("error", (e) => c.destroy(e));
  // A consumer that gives up (abort, failure) closes the source too: no download left dangling.
  c.on("close", () => {
    if (!src.destroyed) src.destroy();
  });
  return src.pipe(c);
}

interface Target {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: Digest;
  mediaType: string;
  /** What "Digest:" shows and RepoDigests records: the index's digest for a multi-arch pull. */
  topDigest: Digest;
}

export class DistributionService {
  constructor(private readonly o: DistributionOptions) {}

  private get insecure(): string[] {
    return this.o.insecureRegistries ?? [];
  }

  /** GET /images/search (src/engine/search.ts). */
  search(q: { term: string; limit: number; filters: Record<string, string[]>; auth?: string }, signal?: AbortSignal): Promise<SearchResult[]> {
    return searchImages({ ...q, insecure: this.insecure, transport: this.transport() }, signal);
  }

  private get hosts(): { registryMirrors: string[]; certsDirs: string[] } {
    return { registryMirrors: this.o.registryMirrors ?? [], certsDirs: this.o.certsDirs ?? [] };
  }

  /** Connections of one operation: proxies, certs.d (read afresh, so changes need no restart). */
  transport(): Transport {
    return new Transport({ proxies: this.o.proxies ?? {}, certsDirs: this.o.certsDirs ?? [] });
  }

  private client(host: string, auth: string | undefined, signal?: AbortSignal, timeoutMs?: number, ep: RegistryEndpoint = originEndpoint(this.hosts, host)): RegistryClient {
    const creds = parseRegistryAuth(auth);
    const { serveraddress: _s, ...credentials } = creds ?? {};
    return new RegistryClient({
      host,
      ...(creds ? { credentials } : {}),
      insecureRegistries: this.insecure,
      userAgent: "docker/28.0.0 go/go1.23 (berth)",
      transport: this.transport(),
      endpoint: ep,
      ...(signal ? { signal } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  }

  private pingUrl(host: string, ep?: RegistryEndpoint): string {
    if (ep?.fixedScheme) return `${ep.base.protocol}//${ep.base.host}${ep.apiPath}/`;
    const h = registryEndpointHost(host);
    return `${isInsecureRegistry(h, this.insecure) ? "http" : "https"}://${h}/v2/`;
  }

  /**
   * First contact (GET /v2/) with a short deadline: an unreachable registry
   * (docker.io without internet) fails fast with Go's error text. Auth
   * challenges are left to the real requests.
   */
  private async reach(host: string, auth: string | undefined, signal?: AbortSignal, ep?: RegistryEndpoint): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => ac.abort(new EngineError("unavailable", "GET /v2/: timed out")), PING_TIMEOUT_MS);
    try {
      await this.client(host, auth, ac.signal, PING_TIMEOUT_MS, ep).ping();
    } catch (e) {
      if (e instanceof RegistryHttpError) return; // it answered
      const reason = ac.signal.aborted && !signal?.aborted ? ac.signal.reason : e;
      const url = this.pingUrl(host, ep);
      const text = describeNetError(reason, "GET", url) ?? describeNetError(e, "GET", url);
      throw new EngineError("internal", text ?? `${GO_METHOD.GET} "${url}": ${messageOf(e)}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Docker's wording for registry errors met before or while pulling. */
  private pullError(e: unknown, ref: Reference, client: RegistryClient, repoPath: string, creds: boolean): unknown {
    if (e instanceof RegistryHttpError) {
      const code = e.code;
      if (code === "MANIFEST_UNKNOWN" || (e.status === 404 && code === undefined)) {
        return new EngineError("notFound", `manifest for ${formatReference(withDefaultTag(ref))} not found: ${code ? e.registryMessage : "manifest unknown: manifest unknown"}`);
      }
      if (code === "NAME_UNKNOWN") return new EngineError("notFound", `repository ${ref.repo} not found: ${e.registryMessage}`);
      if (code === "DENIED" || e.status === 403) {
        return new EngineError("notFound", `pull access denied for ${ref.repo}, repository does not exist or may require 'docker login': ${e.registryMessage}`);
      }
      if (e.status === 401) {
        if (!creds) return new EngineError("internal", `Head "${this.pingUrl(client.host).replace(/\/v2\/$/, "")}/v2/${repoPath}/manifests/${ref.digest ?? ref.tag ?? "latest"}": no basic auth credentials`);
        return new EngineError("internal", e.registryMessage === `unexpected status 401` ? "unauthorized: authentication required" : e.registryMessage);
      }
      return e;
    }
    const net = describeNetError(e, "GET", this.pingUrl(client.host));
    if (net) return new EngineError("internal", net);
    return e;
  }

  /**
   * GET /distribution/{name}/json (`docker buildx imagetools`, `docker service create`):
   * the manifest's descriptor and the platforms it serves, as dockerd answers them.
   */
  async inspectRemote(name: string, auth: string | undefined, signal?: AbortSignal): Promise<{ Descriptor: Descriptor; Platforms: Record<string, unknown>[] }> {
    const ref = withDefaultTag(parseReference(name));
    const { host, path: repoPath } = registryOf(ref);
    await this.reach(host, auth, signal);
    const client = this.client(host, auth, signal);
    let fetched: Awaited<ReturnType<RegistryClient["getManifest"]>>;
    try {
      fetched = await client.getManifest(repoPath, ref.digest ?? ref.tag ?? "latest");
    } catch (e) {
      if (e instanceof RegistryHttpError && (e.code === "MANIFEST_UNKNOWN" || (e.status === 404 && e.code === undefined))) {
        throw new EngineError("notFound", e.code ? e.registryMessage : "manifest unknown: manifest unknown");
      }
      throw this.pullError(e, ref, client, repoPath, parseRegistryAuth(auth) !== undefined);
    }
    const doc = JSON.parse(fetched.bytes.toString("utf8")) as OciIndex & ImageManifest;
    const mediaType = fetched.mediaType || detectMediaType(doc) || "";
    const Descriptor = { mediaType, digest: fetched.digest, size: fetched.bytes.length } as Descriptor;
    if (isIndexType(mediaType)) return { Descriptor, Platforms: (doc.manifests ?? []).map((m) => ({ ...(m.platform ?? {}) })) };
    if (!doc.config || !isDigest(doc.config.digest)) throw invalid("invalid manifest: no config");
    const cfg = JSON.parse((await readStream(await client.getBlob(repoPath, doc.config.digest as Digest, { size: doc.config.size }))).toString("utf8")) as ImageConfig & {
      "os.version"?: string;
      "os.features"?: string[];
    };
    const platform: Record<string, unknown> = { architecture: cfg.architecture, os: cfg.os };
    if (cfg["os.version"]) platform["os.version"] = cfg["os.version"];
    if (cfg["os.features"]?.length) platform["os.features"] = cfg["os.features"];
    if (cfg.variant) platform["variant"] = cfg.variant;
    return { Descriptor, Platforms: [platform] };
  }

  // ---------------------------------------------------------------- pull

  /**
   * Pull from each place that may serve the image (mirrors first, hosts.ts), as
   * dockerd does: a mirror's failure of any kind is logged and the next one is
   * tried; the origin's error is the one the user sees.
   */
  async pull(req: PullRequest, out: ProgressSink): Promise<void> {
    const parsed = parseReference(req.fromImage);
    const byDigest = parsed.digest !== undefined || isDigest(req.tag ?? "");
    const endpoints = pullEndpoints(this.hosts, registryOf(parsed).host, byDigest);
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
    await this.reach(host, req.auth, req.signal, ep);
    const client = this.client(host, req.auth, req.signal, undefined, ep);
    const creds = parseRegistryAuth(req.auth) !== undefined;

    if (ref.tag === undefined && ref.digest === undefined) {
      // docker pull --all-tags
      let tags: string[];
      try {
        tags = await client.listTags(repoPath);
      } catch (e) {
        throw this.pullError(e, ref, client, repoPath, creds);
      }
      if (tags.length === 0) throw notFound(`repository ${ref.repo} not found: no tags`);
      let any = false;
      for (const t of tags) {
        any = (await this.store.gcLock.withShared(() => this.pullOne({ repo: ref.repo, tag: t }, client, repoPath, platform, out, req.signal, creds))) || any;
      }
      out(status(undefined, `Status: ${any ? "Downloaded newer image" : "Image is up to date"} for ${ref.repo}`));
      return;
    }
    const changed = await this.store.gcLock.withShared(() => this.pullOne(ref, client, repoPath, platform, out, req.signal, creds));
    out(status(undefined, `Status: ${changed ? "Downloaded newer image" : "Image is up to date"} for ${formatReference(ref)}`));
  }

  private get store(): ImageStore {
    return this.o.store;
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
      throw this.pullError(e, ref, client, repoPath, creds);
    }
    const { manifest } = target;
    const configDigest = manifest.config.digest as Digest;
    const source = `${client.host}/${repoPath}`;
    // dockerd's "Pulling from" line has an id but no progressDetail (the layer lines have one).
    out({ status: `Pulling from ${repoPath}`, id: ref.digest ?? ref.tag ?? "latest" });

    let id: Digest = configDigest;
    const present = this.store.index.get(configDigest) !== undefined && (await this.store.topLayer(configDigest).then((t) => (t === null ? true : this.store.layers.has(t))).catch(() => false));
    if (!present) {
      // The config is read whole (to hash and parse it): declared or streamed, at most MAX_CONFIG_BYTES.
      checkDeclaredSize("image config", manifest.config.size, MAX_CONFIG_BYTES);
      const cfgStream = await client.getBlob(repoPath, configDigest, { size: manifest.config.size });
      const configBytes = await readAtMost(cfgStream, MAX_CONFIG_BYTES, "image config");
      const cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
      const diffIds = cfg.rootfs?.diff_ids ?? [];
      if (diffIds.length !== manifest.layers.length) throw invalid("layers from manifest don't match image configuration");
      await this.pullLayers(client, repoPath, manifest.layers, diffIds, out, signal, source);
      await this.store.content.put(target.manifestBytes);
      const repoDigest = `${ref.repo}@${target.topDigest}`;
      id = await this.store.addRawImage(configBytes, { repoDigests: [repoDigest], manifest: target.manifestDigest }, configDigest);
    } else {
      await this.store.content.put(target.manifestBytes);
      await this.store.index.add(id, { repoDigests: [`${ref.repo}@${target.topDigest}`], ...(this.store.index.get(id)?.manifest ? {} : { manifest: target.manifestDigest }) });
    }
    let changed = !present;
    if (ref.tag !== undefined) {
      const key = formatReference(withDefaultTag({ repo: ref.repo, tag: ref.tag }));
      const before = this.store.index.allTags()[key];
      if (before !== id) {
        await this.store.tag(id, { repo: ref.repo, tag: ref.tag }, { touch: false });
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
      if (await this.store.layers.has(chain)) {
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
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
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
        if (await this.store.layers.has(chains[i] as Digest)) {
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
        if (await this.store.content.has(digest)) {
          out(status(id, "Download complete"));
          releaseSlot();
          extractProgress.flush(0);
          pending = await this.store.unpackCompressedLayer(blobDesc, undefined, diffId, { signal: ac.signal, source });
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
          pending = await this.store.unpackCompressedLayer(blobDesc, counted, diffId, { signal: ac.signal, source }).catch((e: unknown) => {
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
        if (pending) await pending.discard().catch(() => undefined);
        // A layer that stopped because another failed still unblocks the ones above it.
        if (!done[i] && failed !== undefined) markDone(i);
      }
    };
    try {
      await Promise.all(missing.map((i) => one(i)));
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (failed !== undefined) throw failed;
  }

  private layerError(e: unknown, digest: Digest): unknown {
    const m = messageOf(e);
    if (/digest mismatch|larger than|expected \d+|got \d+ bytes/.test(m)) return invalid(`filesystem layer verification failed for digest ${digest}`);
    return e;
  }

  // ---------------------------------------------------------------- push

  async push(req: PushRequest, out: ProgressSink): Promise<void> {
    const base = parseReference(req.name);
    const repo = base.repo;
    const tagParam = req.tag ?? base.tag ?? "";
    const { host, path: repoPath } = registryOf({ repo });
    // dockerd names the repository first, then checks what it has locally: those errors come in the stream.
    out(status(undefined, `The push refers to repository [${host}/${repoPath}]`));
    const repoTags = Object.keys(this.store.index.allTags())
      .filter((k) => k.slice(0, k.lastIndexOf(":")) === repo)
      .map((k) => k.slice(k.lastIndexOf(":") + 1))
      .sort();
    if (repoTags.length === 0) throw notFound(`An image does not exist locally with the tag: ${repo}`);
    if (tagParam !== "" && !repoTags.includes(tagParam)) throw notFound(`tag does not exist: ${formatReference({ repo, tag: tagParam })}`);
    const tags = tagParam !== "" ? [tagParam] : repoTags;
    await this.reach(host, req.auth, req.signal);
    const client = this.client(host, req.auth, req.signal);
    const creds = parseRegistryAuth(req.auth) !== undefined;
    try {
      await this.store.gcLock.withShared(async () => {
        for (const tag of tags) await this.pushTag(client, host, repo, repoPath, tag, out, req.signal);
      });
    } catch (e) {
      if (e instanceof RegistryHttpError && e.status === 401) {
        throw new EngineError("internal", !creds ? "no basic auth credentials" : e.registryMessage === "unexpected status 401" ? "unauthorized: authentication required" : e.registryMessage);
      }
      if (e instanceof RegistryHttpError && (e.status === 403 || e.code === "DENIED")) throw new EngineError("forbidden", `denied: ${e.errors[0]?.message ?? "requested access to the resource is denied"}`);
      const net = describeNetError(e, "GET", this.pingUrl(host));
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
    const known = this.store.sources.forDiffId(diffId).filter((k) => !fixed || k.digest === blob?.digest);
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
    const id = this.store.index.allTags()[formatReference({ repo, tag })];
    if (id === undefined) throw notFound(`tag does not exist: ${formatReference({ repo, tag })}`);
    const configBytes = await this.store.content.read(id);
    const cfg = JSON.parse(configBytes.toString("utf8")) as ImageConfig;
    const diffIds = cfg.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const rec = this.store.index.get(id);

    // The manifest this image was pulled (or pushed) as, when all its blobs are still here: pushed as is.
    let verbatim: { bytes: Buffer; mediaType: string; layers: Descriptor[] } | undefined;
    if (rec?.manifest && (await this.store.content.has(rec.manifest))) {
      const bytes = await this.store.content.read(rec.manifest);
      const m = JSON.parse(bytes.toString("utf8")) as ImageManifest;
      const mt = m.mediaType ?? detectMediaType(m) ?? "";
      if (isImageManifestType(mt) && m.config?.digest === id && m.layers?.length === diffIds.length) {
        let all = true;
        for (const [i, l] of m.layers.entries()) {
          const b = this.store.blobs.get(l.digest as Digest);
          if (!b || b.diffId !== diffIds[i] || !(await this.store.content.has(l.digest as Digest))) all = false;
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
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    // Keyed by blob digest, or by diffId for a layer still to be compressed: the same layer twice in one image goes once.
    const pushed = new Map<string, Promise<Descriptor>>();
    const one = async (i: number): Promise<void> => {
      const did = shortId(diffIds[i] as string);
      let blob: LayerBlob | undefined;
      if (verbatim) {
        const l = verbatim.layers[i] as Descriptor;
        blob = this.store.blobs.get(l.digest as Digest) as LayerBlob;
      } else {
        blob = await this.store.knownLayerBlob(chains[i] as Digest, (b) => !b.mediaType.includes("zstd"));
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
      signal?.removeEventListener("abort", onAbort);
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
    await this.store.content.put(bytes);
    await this.store.index.add(id, { repoDigests: [`${repo}@${digest}`], manifest: digest });
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
  /**
   * One layer of a push, in one of the upload slots: already there, mounted from another repository of
   * the registry that holds a blob of it (dockerd's remembered sources), or uploaded — from the content
   * store when a compressed blob is known, else compressed while it streams to the registry.
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
        const mounted = await client.mountBlob(repoPath, c.blob.digest, c.from).catch(() => undefined);
        if (mounted) {
          what = "mounted";
          mountedFrom = c.from;
          blob = { digest: c.blob.digest, mediaType: c.blob.mediaType, size: c.blob.size, diffId: c.blob.diffId };
          break;
        }
        // The registry answered it could not mount it (not a network error): forget that repository, as dockerd does.
        if (mounted === false) await this.store.sources.forget(c.blob.digest, `${host}/${c.from}`);
      }
      if (!what && !blob) blob = await this.compressAndPush(client, repoPath, did, chainId, out, signal);
      else if (!what && blob) await this.pushStored(client, repoPath, did, blob, out);
      if (!blob) throw new Error(`layer ${did}: no blob after its upload`);
      out(status(did, what === "exists" ? "Layer already exists" : what === "mounted" ? `Mounted from ${mountedFrom}` : "Pushed"));
      await this.store.sources.record(blob, `${host}/${repoPath}`);
      return { mediaType: blob.mediaType, size: blob.size, digest: blob.digest };
    } finally {
      slots.release();
    }
  }

  /** A layer without a compressed blob: gzipped on all cores while the bytes stream to the registry. */
  private async compressAndPush(client: RegistryClient, repoPath: string, did: string, chainId: Digest, out: ProgressSink, signal: AbortSignal): Promise<LayerBlob> {
    // dockerd's total is the layer's size as `docker history` shows it; the count is the tar's bytes.
    const layerSize = shownSize(await this.store.layers.get(chainId));
    const bar = throttled(100, (b) => out(progress(did, "Pushing", b, layerSize)));
    // As dockerd: no "Pushing" before the registry took the upload (a refused push shows Preparing, then the error).
    let started = false;
    let sent = 0;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const c = await this.store.compressLayer(chainId, {
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
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** A compressed blob the content store holds, uploaded as it is. */
  private async pushStored(client: RegistryClient, repoPath: string, did: string, blob: LayerBlob, out: ProgressSink): Promise<void> {
    const bar = throttled(100, (n) => out(progress(did, "Pushing", n, blob.size)));
    bar.flush(0);
    const body = pipeCounted(this.store.content.reader(blob.digest), (n) => bar.update(n));
    await client.pushBlob(repoPath, blob.digest, blob.size, body);
    bar.flush(blob.size);
  }

  // ---------------------------------------------------------------- login

  /** POST /auth: check the credentials against the registry's /v2/. */
  async login(body: { username?: string; password?: string; serveraddress?: string; identitytoken?: string }): Promise<{ Status: string; IdentityToken: string }> {
    const host = registryHostOf(body.serveraddress ?? "");
    const auth = Buffer.from(JSON.stringify({ username: body.username ?? "", password: body.password ?? "", ...(body.identitytoken ? { identitytoken: body.identitytoken } : {}) })).toString("base64");
    await this.reach(host, auth);
    const client = this.client(host, auth, undefined, PING_TIMEOUT_MS);
    try {
      await client.ping();
    } catch (e) {
      if (e instanceof RegistryHttpError && (e.status === 401 || e.status === 403)) {
        // The endpoint that answered: https:// when an insecure (e.g. loopback) registry speaks TLS, as dockerd says.
        throw new EngineError("unauthorized", `login attempt to ${client.pingUrl} failed with status: ${e.status} ${e.status === 401 ? "Unauthorized" : "Forbidden"}`);
      }
      const net = describeNetError(e, "GET", this.pingUrl(host));
      throw net ? new EngineError("internal", net) : e;
    }
    return { Status: "Login Succeeded", IdentityToken: "" };
  }
}

/** "https://index.docker.io/v1/", "http://127.0.0.1:5000", "127.0.0.1:5000" → registry host. */
export function registryHostOf(serveraddress: string): string {
  let s = serveraddress.trim();
  if (s === "") return "docker.io";
  s = s.replace(/^[a-z]+:\/\//i, "");
  s = s.split("/")[0] ?? s;
  if (s === "index.docker.io" || s === "registry-1.docker.io" || s === "docker.io") return "docker.io";
  return s;
}

async function readStream(r: Readable, limit = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw invalid("image config too large");
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
