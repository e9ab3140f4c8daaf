/**
 * `berth registry`: an OCI distribution-spec registry over node:http (the
 * protocol Docker's `distribution` speaks): blobs, chunked and resumable
 * uploads, cross-repository mounts, manifests with content negotiation, tags
 * and catalog pagination, the referrers API, optional htpasswd basic auth.
 * Hardened like distribution's defaults and beyond: deletes are off unless
 * asked for, upload sessions and blob sizes are capped, idle sessions expire,
 * TLS is built in and basic auth over plain HTTP is refused off loopback.
 */
import { promises as fs } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { type Digest, isDigest, sha256 } from "../util/digest.js";
import { messageOf } from "../util/errors.js";
import { SharedLock } from "../util/lock.js";
import type { Logger } from "../util/log.js";
import { RegistryError, regErr } from "./errors.js";
import { type GcOptions, type GcResult, collectGarbage } from "./gc.js";
import { Htpasswd, parseBasicAuth } from "./htpasswd.js";
import { MT, type Descriptor, detectMediaType, isImageManifestType, isIndexType } from "./mediatypes.js";
import { hostPlatform, selectPlatform } from "./platform.js";
import { FsRegistryStorage, type ManifestLink, type RegistryStorage, type UploadInfo } from "./storage.js";

export const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
export const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const MAX_MANIFEST = 4 << 20;
const CATALOG_MAX = 1000;
/** Upload sessions open at once (a docker push opens up to 5). */
export const DEFAULT_MAX_UPLOADS = 256;
/** Largest blob accepted. */
export const DEFAULT_MAX_BLOB_BYTES = 10 * 1024 ** 3;
/** Upload sessions idle this long are gone. */
export const DEFAULT_SESSION_TTL_MS = 3600_000;
/** A connection silent this long is closed (a stalled upload then frees its session). */
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;
/** Seconds a client is told to wait when every upload session is taken. */
const RETRY_AFTER_S = 60;

export interface RegistryServerOptions {
  /** "127.0.0.1:5000", ":5000", "[::1]:5000" or "5000"; port 0 picks a free one. */
  addr: string;
  /** Storage root directory (ignored when `storage` is given). */
  root: string;
  /** htpasswd file: when set, every request needs basic auth. */
  htpasswd?: string;
  realm?: string;
  storage?: RegistryStorage;
  /** Upload sessions idle this long are removed (default 1 h). */
  uploadTtlMs?: number;
  /** Allow DELETE of manifests, tags and blobs (distribution's `storage.delete.enabled`; default off: 405 UNSUPPORTED). */
  delete?: boolean;
  /** PEM certificate (chain) and key files: serve HTTPS. Both or neither. */
  tlsCert?: string;
  tlsKey?: string;
  /** Upload sessions open at once (default 256); more get 429 TOOMANYREQUESTS. */
  maxUploads?: number;
  /** Largest blob accepted (default 10 GiB); larger ones get 413 SIZE_INVALID. */
  maxBlobBytes?: number;
  /** Connections with no traffic this long are closed (default 5 min). */
  idleTimeoutMs?: number;
  log?: Logger;
}

export interface RegistryHandle {
  server: http.Server;
  storage: RegistryStorage;
  /** Address actually bound, e.g. "127.0.0.1:41234". */
  addr: string;
  port: number;
  /** Base URL, e.g. "http://127.0.0.1:41234" ("https://" with TLS). */
  url: string;
  /** Garbage collection with pushes held off while it runs. */
  gc(opts?: GcOptions): Promise<GcResult>;
  close(): Promise<void>;
}

export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(addr) ?? /^()()(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid listen address ${JSON.stringify(addr)} (want HOST:PORT)`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid port in ${addr}`);
  const host = m[1] ?? m[2] ?? "";
  return { host: host === "" ? "0.0.0.0" : host, port };
}

/** Media types named in the Accept header(s), parameters dropped, q=0 excluded. */
export function parseAccept(req: IncomingMessage): string[] {
  const raw = req.headersDistinct?.accept ?? (req.headers.accept ? [req.headers.accept] : []);
  const out: string[] = [];
  for (const h of raw) {
    for (const part of h.split(",")) {
      const [type, ...params] = part.split(";").map((s) => s.trim());
      if (!type) continue;
      if (params.some((p) => /^q=0(?:\.0*)?$/.test(p))) continue;
      out.push(type.toLowerCase());
    }
  }
  return out;
}

function baseType(ct: string | undefined): string {
  return (ct ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

function rangeHeader(size: number): string {
  // docker/distribution's convention: an empty upload reports "0-0".
  return `0-${size > 0 ? size - 1 : 0}`;
}

interface Route {
  kind: "base" | "catalog" | "tags" | "manifest" | "uploads" | "upload" | "blob" | "referrers";
  name?: string;
  ref?: string;
}

function route(pathname: string): Route | undefined {
  if (/^\/v2\/?$/.test(pathname)) return { kind: "base" };
  if (pathname === "/v2/_catalog") return { kind: "catalog" };
  const table: [RegExp, Route["kind"]][] = [
    [/^\/v2\/(.+)\/tags\/list$/, "tags"],
    [/^\/v2\/(.+)\/manifests\/([^/]+)$/, "manifest"],
    [/^\/v2\/(.+)\/blobs\/uploads\/?$/, "uploads"],
    [/^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/, "upload"],
    [/^\/v2\/(.+)\/blobs\/([^/]+)$/, "blob"],
    [/^\/v2\/(.+)\/referrers\/([^/]+)$/, "referrers"],
  ];
  for (const [re, kind] of table) {
    const m = re.exec(pathname);
    if (!m) continue;
    const r: Route = { kind, name: m[1] as string };
    if (m[2] !== undefined) r.ref = decodeURIComponent(m[2]);
    return r;
  }
  return undefined;
}

function parseContentRange(v: string): { start: number; end: number } | undefined {
  const m = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(v.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "NaN");
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    throw new RegistryError("SIZE_INVALID", { status: 413, message: `manifest is larger than ${max} bytes` });
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw new RegistryError("SIZE_INVALID", { status: 413, message: `manifest is larger than ${max} bytes` });
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers["content-length"];
  if (cl !== undefined) return Number(cl) > 0;
  return req.headers["transfer-encoding"] !== undefined;
}

interface AppOptions {
  htpasswd?: string;
  realm?: string;
  log?: Logger;
  delete: boolean;
  maxUploads: number;
  maxBlobBytes: number;
  uploadTtlMs: number;
}

class RegistryApp {
  private readonly auth: Htpasswd | undefined;
  /** Pushes hold it shared; gc holds it exclusively. */
  readonly writeLock = new SharedLock();
  /** Session creation, one at a time, so the count cannot overshoot the cap. */
  private sessionQueue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly storage: RegistryStorage,
    private readonly opts: AppOptions,
  ) {
    this.auth = opts.htpasswd ? new Htpasswd(opts.htpasswd, opts.log) : undefined;
  }

  async init(): Promise<void> {
    await this.storage.init();
    if (this.auth) await this.auth.load();
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader("Docker-Distribution-API-Version", "registry/2.0");
    res.setHeader("X-Content-Type-Options", "nosniff");
    this.dispatch(req, res).catch((e: unknown) => this.fail(req, res, e));
  };

  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    if (res.headersSent || res.destroyed) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    const err = e instanceof RegistryError ? e : undefined;
    if (!err && !req.destroyed) this.opts.log?.error(`registry: ${req.method} ${req.url}: ${messageOf(e)}`);
    const status = err?.status ?? 500;
    const body = err ? err.body() : { errors: [{ code: "UNKNOWN", message: "unknown error", detail: messageOf(e) }] };
    if (err?.code === "TOOMANYREQUESTS") res.setHeader("Retry-After", String(RETRY_AFTER_S));
    // The rest of an oversized body is not read: the connection ends with the answer.
    if (status === 413) res.setHeader("Connection", "close");
    if (err?.code === "UNAUTHORIZED") res.setHeader("WWW-Authenticate", `Basic realm="${this.opts.realm ?? "Registry Realm"}"`);
    if (err?.code === "RANGE_INVALID" && typeof err.detail === "object" && err.detail !== null && "size" in err.detail) {
      res.setHeader("Range", rangeHeader(Number((err.detail as { size: number }).size)));
    }
    const text = JSON.stringify(body);
    res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text) });
    res.end(req.method === "HEAD" ? undefined : text);
  }

  private async authenticate(req: IncomingMessage): Promise<void> {
    if (!this.auth) return;
    const cred = parseBasicAuth(req.headers.authorization);
    if (cred && (await this.auth.verify(cred.user, cred.password))) return;
    req.resume();
    throw regErr("UNAUTHORIZED", undefined, cred ? "invalid username/password" : "authentication required");
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://registry");
    const method = req.method ?? "GET";
    if (url.pathname === "/" || url.pathname === "/debug/health") {
      res.writeHead(200, { "Content-Length": 0 }).end();
      return;
    }
    const r = route(url.pathname);
    if (!r) {
      req.resume();
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" }).end("404 page not found\n");
      return;
    }
    await this.authenticate(req);
    if (r.name !== undefined && (r.name.length > 255 || !NAME_RE.test(r.name))) {
      req.resume();
      throw regErr("NAME_INVALID", { name: r.name });
    }
    const name = r.name ?? "";
    const ref = r.ref ?? "";
    const q = url.searchParams;
    const allow = (...methods: string[]) => {
      if (!methods.includes(method)) {
        req.resume();
        throw new RegistryError("UNSUPPORTED", { status: 405, message: `method ${method} not allowed` });
      }
      // As distribution without storage.delete.enabled: 405 UNSUPPORTED, whatever the reference.
      if (method === "DELETE" && (r.kind === "blob" || r.kind === "manifest") && !this.opts.delete) {
        req.resume();
        throw regErr("UNSUPPORTED");
      }
    };
    switch (r.kind) {
      case "base":
        allow("GET", "HEAD");
        return this.json(req, res, 200, {});
      case "catalog":
        allow("GET");
        return this.catalog(req, res, q);
      case "tags":
        allow("GET");
        return this.tags(req, res, name, q);
      case "referrers":
        allow("GET");
        return this.referrers(req, res, name, ref, q);
      case "blob":
        allow("GET", "HEAD", "DELETE");
        return method === "DELETE" ? this.deleteBlob(res, name, ref) : this.getBlob(req, res, name, ref);
      case "uploads":
        allow("POST");
        return this.startUpload(req, res, name, q);
      case "upload":
        allow("GET", "PATCH", "PUT", "DELETE");
        if (method === "GET") return this.uploadStatus(res, name, ref);
        if (method === "PATCH") return this.patchUpload(req, res, name, ref);
        if (method === "PUT") return this.finishUpload(req, res, name, ref, q);
        return this.cancelUpload(res, name, ref);
      case "manifest":
        allow("GET", "HEAD", "PUT", "DELETE");
        if (method === "PUT") return this.putManifest(req, res, name, ref, q);
        if (method === "DELETE") return this.deleteManifest(res, name, ref);
        return this.getManifest(req, res, name, ref);
    }
  }

  private json(req: IncomingMessage, res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(value);
    res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
    res.end(req.method === "HEAD" ? undefined : text);
  }

  private empty(res: ServerResponse, status: number, headers: Record<string, string | number> = {}): void {
    res.writeHead(status, status === 204 ? headers : { "Content-Length": 0, ...headers });
    res.end();
  }

  private digestParam(s: string | null | undefined): Digest {
    if (!s || !isDigest(s)) throw regErr("DIGEST_INVALID", { digest: s ?? "" }, s && /^[a-z0-9+._-]+:/.test(s) && !s.startsWith("sha256:") ? "unsupported digest algorithm" : "invalid digest");
    return s;
  }

  // ---- discovery ----

  private paginate(all: string[], q: URLSearchParams, defaultN: number | undefined, link: (last: string, n: number) => string): { items: string[]; headers: Record<string, string> } {
    const nRaw = q.get("n");
    let n = defaultN;
    if (nRaw !== null && nRaw !== "") {
      if (!/^\d+$/.test(nRaw)) throw new RegistryError("UNSUPPORTED", { status: 400, message: `invalid n: ${nRaw}` });
      n = Math.min(Number(nRaw), CATALOG_MAX);
    }
    const last = q.get("last");
    let items = last ? all.filter((t) => t > last) : all;
    const headers: Record<string, string> = {};
    if (n !== undefined) {
      const more = items.length > n;
      items = items.slice(0, n);
      const lastItem = items.at(-1);
      if (more && n > 0 && lastItem !== undefined) headers.Link = `<${link(lastItem, n)}>; rel="next"`;
    }
    return { items, headers };
  }

  private async catalog(req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
    const all = await this.storage.listRepos();
    const { items, headers } = this.paginate(all, q, CATALOG_MAX, (last, n) => `/v2/_catalog?last=${encodeURIComponent(last)}&n=${n}`);
    this.json(req, res, 200, { repositories: items }, headers);
  }

  private async tags(req: IncomingMessage, res: ServerResponse, name: string, q: URLSearchParams): Promise<void> {
    if (!(await this.storage.repoExists(name))) throw regErr("NAME_UNKNOWN", { name });
    const all = await this.storage.listTags(name);
    const { items, headers } = this.paginate(all, q, undefined, (last, n) => `/v2/${name}/tags/list?last=${encodeURIComponent(last)}&n=${n}`);
    this.json(req, res, 200, { name, tags: items }, headers);
  }

  private async referrers(req: IncomingMessage, res: ServerResponse, name: string, ref: string, q: URLSearchParams): Promise<void> {
    const subject = this.digestParam(ref);
    let list = await this.storage.listReferrers(name, subject);
    const headers: Record<string, string> = {};
    const at = q.get("artifactType");
    if (at !== null && at !== "") {
      list = list.filter((d) => d.artifactType === at);
      headers["OCI-Filters-Applied"] = "artifactType";
    }
    this.json(req, res, 200, { schemaVersion: 2, mediaType: MT.ociIndex, manifests: list }, { ...headers, "Content-Type": MT.ociIndex });
  }

  // ---- blobs ----

  private async getBlob(req: IncomingMessage, res: ServerResponse, name: string, ref: string): Promise<void> {
    const d = this.digestParam(ref);
    const st = (await this.storage.hasBlobLink(name, d)) ? await this.storage.statBlob(d) : undefined;
    if (!st) throw regErr("BLOB_UNKNOWN", { digest: d });
    const headers: Record<string, string | number> = {
      "Content-Type": "application/octet-stream",
      "Docker-Content-Digest": d,
      ETag: `"${d}"`,
      "Cache-Control": "max-age=31536000",
      "Accept-Ranges": "bytes",
    };
    let range: { start: number; end: number } | undefined;
    const rh = req.headers.range;
    if (rh && req.method === "GET") {
      const m = /^bytes=(\d*)-(\d*)$/.exec(rh.trim());
      if (m && (m[1] !== "" || m[2] !== "")) {
        let start: number;
        let end: number;
        if (m[1] === "") {
          const suffix = Number(m[2]);
          start = Math.max(0, st.size - suffix);
          end = st.size - 1;
        } else {
          start = Number(m[1]);
          end = m[2] === "" ? st.size - 1 : Math.min(Number(m[2]), st.size - 1);
        }
        if (start >= st.size || end < start) {
          res.writeHead(416, { "Content-Range": `bytes */${st.size}`, "Content-Length": 0 }).end();
          return;
        }
        range = { start, end };
      }
    }
    if (req.method === "HEAD") {
      res.writeHead(200, { ...headers, "Content-Length": st.size }).end();
      return;
    }
    if (range) {
      res.writeHead(206, { ...headers, "Content-Length": range.end - range.start + 1, "Content-Range": `bytes ${range.start}-${range.end}/${st.size}` });
    } else {
      res.writeHead(200, { ...headers, "Content-Length": st.size });
    }
    if (st.size === 0) {
      res.end();
      return;
    }
    const src = this.storage.readBlob(d, range);
    src.on("error", () => res.destroy());
    res.on("close", () => src.destroy());
    src.pipe(res);
  }

  private async deleteBlob(res: ServerResponse, name: string, ref: string): Promise<void> {
    const d = this.digestParam(ref);
    if (!(await this.storage.unlinkBlob(name, d))) throw regErr("BLOB_UNKNOWN", { digest: d });
    this.empty(res, 202, { "Docker-Content-Digest": d });
  }

  // ---- uploads ----

  private uploadHeaders(u: UploadInfo, name: string): Record<string, string> {
    return {
      Location: `/v2/${name}/blobs/uploads/${u.id}`,
      Range: rangeHeader(u.size),
      "Docker-Upload-UUID": u.id,
    };
  }

  private async getUploadFor(name: string, id: string): Promise<UploadInfo> {
    const u = await this.storage.getUpload(id);
    if (!u || u.repo !== name) throw regErr("BLOB_UPLOAD_UNKNOWN", { uuid: id });
    const idleBefore = new Date(Date.now() - this.opts.uploadTtlMs);
    if (u.updatedAt < idleBefore) {
      // Expired: gone now rather than at the next sweep.
      await this.storage.deleteUpload(id, { idleBefore });
      throw regErr("BLOB_UPLOAD_UNKNOWN", { uuid: id });
    }
    return u;
  }

  /** A new upload session, unless `maxUploads` are open (expired ones are swept first). */
  private createSession(name: string): Promise<UploadInfo> {
    const max = this.opts.maxUploads;
    const create = async (): Promise<UploadInfo> => {
      if ((await this.storage.countUploads()) >= max) {
        await this.sweepUploads(this.opts.uploadTtlMs);
        if ((await this.storage.countUploads()) >= max) {
          throw new RegistryError("TOOMANYREQUESTS", { message: `too many upload sessions in progress (the registry's limit is ${max})`, detail: { limit: max } });
        }
      }
      return this.storage.createUpload(name);
    };
    const p = this.sessionQueue.then(create, create);
    this.sessionQueue = p.catch(() => undefined); // the queue only orders creations: the caller gets `p`'s failure
    return p;
  }

  private tooBig(): RegistryError {
    const max = this.opts.maxBlobBytes;
    return new RegistryError("SIZE_INVALID", { status: 413, message: `blob is larger than the registry's limit of ${max} bytes`, detail: { limit: max } });
  }

  /** Append `req` to the session, at most up to the blob size limit; past it the session is dropped. */
  private async appendCapped(req: IncomingMessage, u: UploadInfo, opts: { offset?: number; maxBytes?: number }): Promise<UploadInfo> {
    const declared = opts.maxBytes ?? Number(req.headers["content-length"] ?? "NaN");
    try {
      if (Number.isFinite(declared) && u.size + declared > this.opts.maxBlobBytes) throw this.tooBig();
      return await this.storage.appendUpload(u.id, req, { ...opts, cap: { total: this.opts.maxBlobBytes, error: () => this.tooBig() } });
    } catch (e) {
      if (e instanceof RegistryError && e.status === 413) await this.storage.deleteUpload(u.id);
      throw e;
    }
  }

  private async commit(res: ServerResponse, name: string, id: string, d: Digest): Promise<void> {
    await this.writeLock.withShared(async () => {
      await this.storage.commitUpload(id, d, { linkTo: name });
    });
    this.empty(res, 201, { Location: `/v2/${name}/blobs/${d}`, "Docker-Content-Digest": d });
  }

  private async startUpload(req: IncomingMessage, res: ServerResponse, name: string, q: URLSearchParams): Promise<void> {
    const mount = q.get("mount");
    const from = q.get("from");
    if (mount !== null) {
      const d = this.digestParam(mount);
      if (from !== null && NAME_RE.test(from)) {
        const ok = await this.writeLock.withShared(async () => {
          if (!(await this.storage.hasBlobLink(from, d)) || !(await this.storage.statBlob(d))) return false;
          await this.storage.linkBlob(name, d);
          return true;
        });
        if (ok) {
          req.resume();
          this.empty(res, 201, { Location: `/v2/${name}/blobs/${d}`, "Docker-Content-Digest": d });
          return;
        }
      }
      // Not mountable: a normal upload session starts (202).
    }
    const digest = q.get("digest");
    if (digest !== null) {
      const d = this.digestParam(digest);
      if (Number(req.headers["content-length"] ?? "NaN") > this.opts.maxBlobBytes) throw this.tooBig();
      const u = await this.createSession(name).catch((e: unknown) => {
        req.resume();
        throw e;
      });
      try {
        await this.appendCapped(req, u, {});
      } catch (e) {
        await this.storage.deleteUpload(u.id);
        throw e;
      }
      return this.commit(res, name, u.id, d);
    }
    req.resume();
    const u = await this.createSession(name);
    this.empty(res, 202, this.uploadHeaders(u, name));
  }

  private async uploadStatus(res: ServerResponse, name: string, id: string): Promise<void> {
    const u = await this.getUploadFor(name, id);
    this.empty(res, 204, this.uploadHeaders(u, name));
  }

  /** Append the request body; with Content-Range it must continue where the upload ends. */
  private async append(req: IncomingMessage, name: string, id: string): Promise<UploadInfo> {
    const u = await this.getUploadFor(name, id).catch((e: unknown) => {
      req.resume();
      throw e;
    });
    const cr = req.headers["content-range"];
    const opts: { offset?: number; maxBytes?: number } = {};
    if (cr !== undefined) {
      const r = parseContentRange(cr);
      if (!r) {
        req.resume();
        throw new RegistryError("RANGE_INVALID", { message: `invalid Content-Range ${JSON.stringify(cr)}`, detail: { size: u.size } });
      }
      const len = r.end - r.start + 1;
      const cl = req.headers["content-length"];
      if (cl !== undefined && Number(cl) !== len) {
        req.resume();
        throw new RegistryError("RANGE_INVALID", { message: `Content-Length ${cl} does not match Content-Range ${cr}`, detail: { size: u.size } });
      }
      opts.offset = r.start;
      opts.maxBytes = len;
    }
    return this.appendCapped(req, u, opts);
  }

  private async patchUpload(req: IncomingMessage, res: ServerResponse, name: string, id: string): Promise<void> {
    const u = await this.append(req, name, id);
    this.empty(res, 202, this.uploadHeaders(u, name));
  }

  private async finishUpload(req: IncomingMessage, res: ServerResponse, name: string, id: string, q: URLSearchParams): Promise<void> {
    let d: Digest;
    try {
      d = this.digestParam(q.get("digest"));
    } catch (e) {
      req.resume();
      throw e;
    }
    if (hasBody(req) || req.headers["content-range"] !== undefined) await this.append(req, name, id);
    else {
      req.resume();
      await this.getUploadFor(name, id);
    }
    await this.commit(res, name, id, d);
  }

  private async cancelUpload(res: ServerResponse, name: string, id: string): Promise<void> {
    await this.getUploadFor(name, id);
    await this.storage.deleteUpload(id);
    this.empty(res, 204);
  }

  // ---- manifests ----

  private async resolveManifest(name: string, ref: string): Promise<ManifestLink> {
    let d: Digest | undefined;
    if (isDigest(ref)) d = ref;
    else if (TAG_RE.test(ref)) d = await this.storage.getTag(name, ref);
    else if (ref.includes(":")) this.digestParam(ref);
    else throw regErr("MANIFEST_INVALID", { tag: ref }, "invalid tag");
    const link = d ? await this.storage.getManifestLink(name, d) : undefined;
    // Like distribution, an unknown repository answers MANIFEST_UNKNOWN here too (Docker prints "manifest unknown").
    if (!link || !(await this.storage.statBlob(link.digest))) throw regErr("MANIFEST_UNKNOWN", { name, reference: ref });
    return link;
  }

  private async getManifest(req: IncomingMessage, res: ServerResponse, name: string, ref: string): Promise<void> {
    let link = await this.resolveManifest(name, ref);
    let bytes = await this.storage.readBlobBytes(link.digest);
    const accept = parseAccept(req);
    const acceptable = (mt: string) => accept.length === 0 || accept.includes("*/*") || accept.includes(mt);
    if (!acceptable(link.mediaType)) {
      // A client that does not understand indexes gets the default platform's manifest (as distribution does).
      let chosen: { link: ManifestLink; bytes: Buffer } | undefined;
      if (isIndexType(link.mediaType)) {
        try {
          const idx = JSON.parse(bytes.toString("utf8")) as { manifests?: Descriptor[] };
          const desc = selectPlatform(idx, hostPlatform());
          if (desc && isDigest(desc.digest) && acceptable(desc.mediaType)) {
            const l = await this.storage.getManifestLink(name, desc.digest);
            if (l) chosen = { link: l, bytes: await this.storage.readBlobBytes(desc.digest) };
          }
        } catch {
          chosen = undefined;
        }
      }
      if (!chosen) {
        throw regErr("MANIFEST_UNKNOWN", { name, reference: ref, mediaType: link.mediaType }, `manifest of type ${link.mediaType} is not acceptable (Accept: ${accept.join(", ")})`);
      }
      link = chosen.link;
      bytes = chosen.bytes;
    }
    res.writeHead(200, {
      "Content-Type": link.mediaType || MT.ociManifest,
      "Content-Length": bytes.length,
      "Docker-Content-Digest": link.digest,
      ETag: `"${link.digest}"`,
    });
    res.end(req.method === "HEAD" ? undefined : bytes);
  }

  private async putManifest(req: IncomingMessage, res: ServerResponse, name: string, ref: string, q: URLSearchParams): Promise<void> {
    const byDigest = isDigest(ref);
    if (!byDigest && !TAG_RE.test(ref)) {
      req.resume();
      if (ref.includes(":")) this.digestParam(ref);
      throw regErr("MANIFEST_INVALID", { tag: ref }, "invalid tag");
    }
    const bytes = await readBody(req, MAX_MANIFEST);
    let doc: Record<string, unknown>;
    try {
      const v = JSON.parse(bytes.toString("utf8")) as unknown;
      if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
      doc = v as Record<string, unknown>;
    } catch (e) {
      throw regErr("MANIFEST_INVALID", { reason: messageOf(e) }, "manifest invalid: not valid JSON");
    }
    const header = baseType(req.headers["content-type"]);
    const field = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
    const generic = header === "" || header === "application/json" || header === "application/octet-stream";
    if (field !== undefined && !generic && field !== header) {
      throw regErr("MANIFEST_INVALID", { contentType: header, mediaType: field }, `mediaType ${field} does not match Content-Type ${header}`);
    }
    const mediaType = field ?? (generic ? detectMediaType(doc) : header);
    if (mediaType === undefined) throw regErr("MANIFEST_INVALID", undefined, "manifest invalid: unknown media type");
    if (mediaType === MT.dockerSchema1 || mediaType === MT.dockerSchema1Signed || doc.schemaVersion === 1) {
      throw regErr("MANIFEST_INVALID", undefined, "manifest invalid: schema1 manifests are not supported");
    }
    if (doc.schemaVersion !== 2) throw regErr("MANIFEST_INVALID", { schemaVersion: doc.schemaVersion }, "manifest invalid: schemaVersion must be 2");
    const digest = sha256(bytes);
    if (byDigest && digest !== ref) throw regErr("DIGEST_INVALID", { expected: ref, actual: digest });
    const tags = byDigest ? q.getAll("tag").filter((t) => t !== "") : [ref];
    for (const t of tags) if (!TAG_RE.test(t)) throw regErr("MANIFEST_INVALID", { tag: t }, "invalid tag");

    const isIndex = isIndexType(mediaType) || (!isImageManifestType(mediaType) && Array.isArray(doc.manifests));
    const isImage = !isIndex && (isImageManifestType(mediaType) || (typeof doc.config === "object" && doc.config !== null));
    if (!isIndex && !isImage) throw regErr("MANIFEST_INVALID", { mediaType }, `manifest invalid: unsupported media type ${mediaType}`);
    const desc = (x: unknown, what: string): Descriptor => {
      if (typeof x !== "object" || x === null) throw regErr("MANIFEST_INVALID", { field: what }, `manifest invalid: ${what} is not a descriptor`);
      const o = x as Descriptor;
      if (typeof o.digest !== "string" || !isDigest(o.digest)) throw regErr("MANIFEST_INVALID", { field: what, digest: o.digest }, `manifest invalid: ${what} has an invalid digest`);
      if (typeof o.size !== "number" || o.size < 0) throw regErr("MANIFEST_INVALID", { field: what }, `manifest invalid: ${what} has an invalid size`);
      return o;
    };
    const missing: string[] = [];
    await this.writeLock.withShared(async () => {
      if (isImage) {
        const blobs = [desc(doc.config, "config")];
        if (doc.layers !== undefined && !Array.isArray(doc.layers)) throw regErr("MANIFEST_INVALID", undefined, "manifest invalid: layers is not a list");
        for (const [i, l] of ((doc.layers as unknown[] | undefined) ?? []).entries()) blobs.push(desc(l, `layers[${i}]`));
        for (const b of blobs) {
          if (b.urls && b.urls.length > 0) continue; // foreign layer: lives elsewhere
          const d = b.digest as Digest;
          if (!(await this.storage.hasBlobLink(name, d)) || !(await this.storage.statBlob(d))) missing.push(d);
        }
      } else {
        if (!Array.isArray(doc.manifests)) throw regErr("MANIFEST_INVALID", undefined, "manifest invalid: manifests is not a list");
        for (const [i, m] of (doc.manifests as unknown[]).entries()) {
          const d = desc(m, `manifests[${i}]`).digest as Digest;
          if (!(await this.storage.getManifestLink(name, d))) missing.push(d);
        }
      }
      if (missing.length > 0) {
        const err = regErr("MANIFEST_BLOB_UNKNOWN", missing[0]);
        const body = { errors: missing.map((m) => ({ code: "MANIFEST_BLOB_UNKNOWN", message: "blob unknown to registry", detail: m })) };
        err.body = () => body;
        throw err;
      }
      let subject: Descriptor | undefined;
      if (doc.subject !== undefined) subject = desc(doc.subject, "subject");
      await this.storage.putBlobBytes(bytes);
      await this.storage.putManifestLink(name, { digest, mediaType });
      if (subject) {
        const cfg = doc.config as Descriptor | undefined;
        const artifactType = typeof doc.artifactType === "string" && doc.artifactType !== "" ? doc.artifactType : isImage ? cfg?.mediaType : undefined;
        await this.storage.putReferrer(name, subject.digest as Digest, {
          mediaType,
          digest,
          size: bytes.length,
          ...(artifactType ? { artifactType } : {}),
          ...(doc.annotations && typeof doc.annotations === "object" ? { annotations: doc.annotations } : {}),
        });
        res.setHeader("OCI-Subject", subject.digest);
      }
      for (const t of tags) await this.storage.setTag(name, t, digest);
    });
    if (byDigest && tags.length > 0) res.setHeader("OCI-Tag", tags.join(", "));
    this.empty(res, 201, { Location: `/v2/${name}/manifests/${digest}`, "Docker-Content-Digest": digest });
  }

  private async deleteManifest(res: ServerResponse, name: string, ref: string): Promise<void> {
    if (!isDigest(ref)) {
      if (!TAG_RE.test(ref)) {
        if (ref.includes(":")) this.digestParam(ref);
        throw regErr("MANIFEST_INVALID", { tag: ref }, "invalid tag");
      }
      if (!(await this.storage.deleteTag(name, ref))) throw regErr("MANIFEST_UNKNOWN", { name, reference: ref });
      this.empty(res, 202);
      return;
    }
    const link = await this.storage.getManifestLink(name, ref);
    if (!link) throw regErr("MANIFEST_UNKNOWN", { name, reference: ref });
    const bytes = await this.storage.readBlobBytes(ref).catch(() => undefined); // a link without its blob: nothing more to untag
    await this.storage.deleteManifestLink(name, ref);
    for (const t of await this.storage.listTags(name)) {
      if ((await this.storage.getTag(name, t)) === ref) await this.storage.deleteTag(name, t);
    }
    if (bytes) {
      try {
        const doc = JSON.parse(bytes.toString("utf8")) as { subject?: { digest?: unknown } };
        const s = doc.subject?.digest;
        if (typeof s === "string" && isDigest(s)) await this.storage.deleteReferrer(name, s, ref);
      } catch {
        // not JSON: nothing to unindex
      }
    }
    this.empty(res, 202);
  }

  /** Remove upload sessions idle longer than the TTL. */
  async sweepUploads(ttlMs: number): Promise<number> {
    let n = 0;
    const now = Date.now();
    for (const u of await this.storage.listUploads()) {
      if (now - u.updatedAt.getTime() < ttlMs) continue;
      if (await this.storage.deleteUpload(u.id, { idleBefore: new Date(now - ttlMs) })) n++;
    }
    return n;
  }
}

/** The certificate and key, read and checked, or undefined without TLS. */
async function tlsOptions(opts: RegistryServerOptions): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (opts.tlsCert === undefined && opts.tlsKey === undefined) return undefined;
  if (!opts.tlsCert || !opts.tlsKey) throw new Error("--tls-cert and --tls-key go together");
  const read = (flag: string, file: string) =>
    fs.readFile(file).catch((e: unknown) => {
      throw new Error(`cannot read ${flag} ${file}: ${messageOf(e)}`);
    });
  const [cert, key] = await Promise.all([read("--tls-cert", opts.tlsCert), read("--tls-key", opts.tlsKey)]);
  return { cert, key };
}

export async function startRegistry(opts: RegistryServerOptions): Promise<RegistryHandle> {
  const { host, port } = parseAddr(opts.addr);
  const tls = await tlsOptions(opts);
  if (opts.htpasswd && !tls && !isLoopback(host)) {
    // distribution only warns; passwords in clear text on a network are not a default we keep.
    throw new Error(`refusing to serve basic auth over plain HTTP on ${opts.addr}: passwords would cross the network in clear text (use --tls-cert and --tls-key, or a loopback address)`);
  }
  const ttl = opts.uploadTtlMs ?? DEFAULT_SESSION_TTL_MS;
  const storage = opts.storage ?? new FsRegistryStorage(opts.root);
  const app = new RegistryApp(storage, {
    ...(opts.htpasswd ? { htpasswd: opts.htpasswd } : {}),
    ...(opts.realm ? { realm: opts.realm } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    delete: opts.delete ?? false,
    maxUploads: opts.maxUploads ?? DEFAULT_MAX_UPLOADS,
    maxBlobBytes: opts.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES,
    uploadTtlMs: ttl,
  });
  await app.init();
  await app.sweepUploads(ttl).catch(() => 0);
  const serverOpts = { keepAliveTimeout: 30_000, requestTimeout: 0 };
  let server: http.Server;
  try {
    server = tls ? https.createServer({ ...serverOpts, ...tls }, app.handle) : http.createServer(serverOpts, app.handle);
  } catch (e) {
    throw new Error(`invalid TLS certificate or key (${opts.tlsCert}, ${opts.tlsKey}): ${messageOf(e)}`);
  }
  // No 'timeout' listener: node destroys the silent socket; an upload in progress keeps what arrived.
  server.setTimeout(opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const timer = setInterval(() => void app.sweepUploads(ttl).catch(() => 0), Math.max(1000, Math.min(ttl / 4, 3600_000)));
  timer.unref();
  const a = server.address() as AddressInfo;
  const hostPart = a.family === "IPv6" ? `[${a.address}]` : a.address;
  const shown = a.address === "0.0.0.0" || a.address === "::" ? "127.0.0.1" : hostPart;
  return {
    server,
    storage,
    addr: `${hostPart}:${a.port}`,
    port: a.port,
    url: `${tls ? "https" : "http"}://${shown}:${a.port}`,
    gc: (o?: GcOptions) => app.writeLock.withExclusive(() => collectGarbage(storage, { uploadTtlMs: ttl, ...o })),
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** `berth registry gc --root DIR`: collect garbage in a registry root (run while nothing pushes to it). */
export async function registryGc(root: string, opts: GcOptions = {}): Promise<GcResult> {
  const storage = new FsRegistryStorage(root);
  await storage.init();
  return collectGarbage(storage, opts);
}
