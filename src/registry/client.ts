/**
 * Registry client for pull and push (what dockerd's distribution code does):
 * auth (anonymous, basic, the bearer-token flow with username/password or an
 * identity token), HTTPS by default and HTTP only for loopback or insecure
 * registries (HTTPS tried first there, without certificate checks, as Docker
 * does), digest verification of everything fetched, resumable blob downloads
 * (Range) and chunked, resumable blob uploads.
 */
import { createHash } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import net from "node:net";
import { Readable } from "node:stream";
import { type Digest, isDigest, sha256 } from "../util/digest.js";
import { coalesce } from "../util/chunks.js";
import { EngineError, type ErrorKind, messageOf } from "../util/errors.js";
import { MAX_MANIFEST_BYTES, MAX_TOKEN_BYTES, checkDeclaredSize, readAtMost } from "../util/limits.js";
import { type RegistryEndpoint, registryEndpointHost } from "./hosts.js";
import { PULL_ACCEPT } from "./mediatypes.js";
import { DIRECT, type Transport } from "./transport.js";
import { bestEffort } from "../util/besteffort.js";

/** Credentials as in Docker's X-Registry-Auth / config.json auths. */
export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (from `docker login` against a token server). */
  identitytoken?: string;
  /** A bearer token used as is. */
  registrytoken?: string;
}

export interface RegistryClientOptions {
  /** Registry host as written in image references: "localhost:5000", "docker.io", "ghcr.io". */
  host: string;
  credentials?: RegistryCredentials;
  /** Hosts ("host:port", "host") or IPv4 CIDRs reachable over plain HTTP (daemon.json insecure-registries). */
  insecureRegistries?: string[];
  userAgent?: string;
  /** Idle socket timeout per request (default 60 s). */
  timeoutMs?: number;
  /** Blobs larger than this are pushed in chunks (default 64 MiB). */
  monolithicMaxBytes?: number;
  /** Chunk size of chunked pushes (default 16 MiB). */
  chunkBytes?: number;
  signal?: AbortSignal;
  /** Proxies and certs.d trust for every connection (transport.ts); direct and default trust when absent. */
  transport?: Transport;
  /** Talk to this endpoint (a mirror, or hosts.toml's server) instead of the host's own (hosts.ts). */
  endpoint?: RegistryEndpoint;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** An HTTP error from a registry, with the spec's error list when the body had one. */
export class RegistryHttpError extends EngineError {
  readonly status: number;
  readonly errors: { code: string; message?: string; detail?: unknown }[];
  constructor(kind: ErrorKind, message: string, status: number, errors: { code: string; message?: string; detail?: unknown }[]) {
    super(kind, message);
    this.name = "RegistryHttpError";
    this.status = status;
    this.errors = errors;
  }

  /** The first error code, e.g. "MANIFEST_UNKNOWN". */
  get code(): string | undefined {
    return this.errors[0]?.code;
  }

  /**
   * The registry's own words as Docker prints them ("manifest unknown: manifest unknown",
   * "denied: requested access to the resource is denied"), or "unexpected status N".
   */
  get registryMessage(): string {
    const first = this.errors[0];
    if (!first) return `unexpected status ${this.status}`;
    const code = first.code.toLowerCase().replace(/_/g, " ");
    return first.message ? `${code}: ${first.message}` : code;
  }
}

/**
 * Decode Docker's X-Registry-Auth header (base64url JSON: username, password,
 * serveraddress, identitytoken, registrytoken). Undefined when absent or empty.
 */
export function parseRegistryAuth(header: string | undefined): (RegistryCredentials & { serveraddress?: string }) | undefined {
  if (!header || header.trim() === "") return undefined;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(Buffer.from(header.trim().replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const out: RegistryCredentials & { serveraddress?: string } = {};
  for (const k of ["username", "password", "identitytoken", "registrytoken", "serveraddress"] as const) {
    const x = v[k];
    if (typeof x === "string" && x !== "") out[k] = x;
  }
  // Older clients send "auth": base64("user:pass").
  if (out.username === undefined && typeof v.auth === "string" && v.auth !== "") {
    const text = Buffer.from(v.auth, "base64").toString("utf8");
    const i = text.indexOf(":");
    if (i > 0) {
      out.username = text.slice(0, i);
      out.password = text.slice(i + 1);
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

interface Resp {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

type Body = Buffer | Readable | undefined;

interface Req {
  method: string;
  /** Absolute URL or a path on the registry. */
  url: string | URL;
  headers?: Record<string, string | number>;
  body?: Body;
  /** repository:NAME:ACTIONS scopes this request needs. */
  scopes: string[];
  /** Status codes answered without throwing (others throw RegistryHttpError). */
  ok: number[];
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

function hostname(hostport: string): string {
  if (hostport.startsWith("[")) return hostport.slice(1, hostport.indexOf("]"));
  const i = hostport.lastIndexOf(":");
  return i > 0 && hostport.indexOf(":") === i ? hostport.slice(0, i) : hostport;
}

function ipv4ToInt(ip: string): number | undefined {
  if (!net.isIPv4(ip)) return undefined;
  return ip.split(".").reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
}

/** Whether plain HTTP is allowed for a registry host (loopback or listed as insecure). */
export function isInsecureRegistry(host: string, insecure: string[] = []): boolean {
  const name = hostname(host).toLowerCase();
  if (LOOPBACK_NAMES.has(name) || name.endsWith(".localhost") || /^127\./.test(name)) return true;
  for (const entry of insecure) {
    const e = entry.replace(/^https?:\/\//, "").replace(/\/+$/, "").toLowerCase();
    if (e === host.toLowerCase() || e === name) return true;
    const cidr = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(e);
    const ip = ipv4ToInt(name);
    if (cidr && ip !== undefined) {
      const base = ipv4ToInt(cidr[1] as string);
      const bits = Number(cidr[2]);
      if (base === undefined || bits > 32) continue;
      const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
      if (((ip & mask) >>> 0) === ((base & mask) >>> 0)) return true;
    }
  }
  return false;
}

function parseChallenges(header: string | string[] | undefined): { scheme: string; params: Record<string, string> }[] {
  const values = Array.isArray(header) ? header : header ? [header] : [];
  const out: { scheme: string; params: Record<string, string> }[] = [];
  for (const v of values) {
    // Scheme tokens start a challenge; params are k="v" or k=v, comma separated.
    const re = /([A-Za-z][A-Za-z0-9_-]*)(?:\s+((?:[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*))?/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(v)) !== null) {
      if (m[0] === "") {
        re.lastIndex++;
        continue;
      }
      const params: Record<string, string> = {};
      const pre = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
      let p: RegExpExecArray | null;
      while ((p = pre.exec(m[2] ?? "")) !== null) params[(p[1] as string).toLowerCase()] = (p[2] ?? p[3] ?? "").replace(/\\(.)/g, "$1");
      out.push({ scheme: (m[1] as string).toLowerCase(), params });
    }
  }
  return out;
}

/** A repository's tag list, all pages together (about 200,000 tags). */
const MAX_TAG_LIST_BYTES = 16 << 20;

async function readAll(body: Readable, max = 16 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      body.destroy();
      throw new EngineError("invalid", `response larger than ${max} bytes`);
    }
    parts.push(c);
  }
  return Buffer.concat(parts);
}

function kindOf(status: number): ErrorKind {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 404) return "notFound";
  if (status === 400 || status === 405 || status === 413 || status === 416) return "invalid";
  if (status === 429 || status === 502 || status === 503 || status === 504) return "unavailable";
  return "internal";
}

async function httpError(resp: Resp, what: string): Promise<RegistryHttpError> {
  let errors: { code: string; message?: string; detail?: unknown }[] = [];
  let text = "";
  try {
    const buf = await readAll(resp.body, MAX_TOKEN_BYTES);
    text = buf.toString("utf8");
    const v = JSON.parse(text) as { errors?: unknown; details?: unknown };
    if (Array.isArray(v.errors)) errors = v.errors.filter((e): e is { code: string } => typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string");
  } catch {
    // not the spec's JSON
  }
  const first = errors[0];
  // Docker's wording: "<what>: <code lowercased with spaces>: <message>".
  const msg = first
    ? `${first.code.toLowerCase().replace(/_/g, " ")}: ${first.message ?? ""}`.replace(/: $/, "")
    : `unexpected status ${resp.status}${text && text.length < 200 ? `: ${text.trim()}` : ""}`;
  return new RegistryHttpError(kindOf(resp.status), `${what}: ${msg}`, resp.status, errors);
}

function parseLinkNext(link: string | undefined, base: URL): URL | undefined {
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const m = /<([^>]*)>\s*;\s*rel="?next"?/i.exec(part);
    if (m?.[1] !== undefined) return new URL(m[1], base);
  }
  return undefined;
}

/** Split a stream into buffers of `size` bytes (the last may be shorter). */
async function* chunksOf(src: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of src as AsyncIterable<Buffer>) {
    let chunk = c;
    while (n + chunk.length >= size) {
      const take = size - n;
      parts.push(chunk.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      n = 0;
      chunk = chunk.subarray(take);
    }
    if (chunk.length > 0) {
      parts.push(chunk);
      n += chunk.length;
    }
  }
  if (n > 0) yield Buffer.concat(parts);
}

export class RegistryClient {
  readonly host: string;
  private readonly endpoint: string;
  private readonly insecure: boolean;
  /** Decided after the first connection for insecure hosts: https (unverified) or http. */
  private scheme: "https" | "http" | undefined;
  private basic = false;
  private bearer: { realm: string; service?: string } | undefined;
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(private readonly opts: RegistryClientOptions) {
    this.host = opts.host;
    const ep = opts.endpoint;
    this.endpoint = ep ? ep.base.host : registryEndpointHost(opts.host);
    this.insecure = (ep?.skipVerify ?? false) || isInsecureRegistry(this.endpoint, opts.insecureRegistries);
    if (ep?.fixedScheme) this.scheme = ep.base.protocol === "http:" ? "http" : "https";
    else if (!this.insecure) this.scheme = "https";
  }

  static pullScope(repo: string): string {
    return `repository:${repo}:pull`;
  }

  static pushScope(repo: string): string {
    return `repository:${repo}:pull,push`;
  }

  // ---- transport ----

  private send(url: URL, method: string, headers: Record<string, string | number>, body: Body, insecureTls: boolean): Promise<Resp> {
    return new Promise<Resp>((resolve, reject) => {
      const ep = url.host === this.endpoint ? this.opts.endpoint : undefined;
      const req = (this.opts.transport ?? DIRECT).request(
        url,
        {
          method,
          headers: { "User-Agent": this.opts.userAgent ?? "berth/0.1", ...(ep?.headers ?? {}), ...headers },
          ...(url.protocol === "https:" && insecureTls ? { insecureTls: true } : {}),
          ...(ep ? { hostTls: ep.tls } : {}),
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url }),
      );
      req.setTimeout(this.opts.timeoutMs ?? 60_000, () => req.destroy(new EngineError("unavailable", `${method} ${url.href}: timed out`)));
      req.on("error", reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else {
        body.on("error", (e) => req.destroy(e));
        body.pipe(req);
      }
    });
  }

  private baseUrl(): string {
    return `${this.scheme ?? "https"}://${this.endpoint}`;
  }

  /** "https://host:port/v2/", or "http://…" once an insecure registry turned out to speak plain HTTP. */
  get pingUrl(): string {
    return `${this.baseUrl()}${this.opts.endpoint?.apiPath ?? "/v2"}/`;
  }

  /** One request, following redirects (Authorization is not sent to other hosts). */
  private async roundTrip(method: string, target: string | URL, headers: Record<string, string | number>, body: Body): Promise<Resp> {
    const api = this.opts.endpoint?.apiPath ?? "/v2";
    let url = typeof target === "string" ? new URL(api !== "/v2" && target.startsWith("/v2/") ? `${api}${target.slice(3)}` : target, this.baseUrl()) : target;
    if (this.scheme === undefined && url.host === this.endpoint) {
      // Insecure registry: HTTPS without verification first, plain HTTP when HTTPS is not spoken there.
      try {
        const r = await this.send(url, method, headers, body, true);
        this.scheme = "https";
        return await this.follow(r, method, headers);
      } catch (e) {
        if (body instanceof Readable || this.opts.signal?.aborted) throw e;
        this.scheme = "http";
        url = new URL(url.href.replace(/^https:/, "http:"));
      }
    } else if (url.host === this.endpoint && this.scheme === "http" && url.protocol === "https:") {
      url = new URL(url.href.replace(/^https:/, "http:"));
    }
    const r = await this.send(url, method, headers, body, this.insecure);
    return this.follow(r, method, headers);
  }

  private async follow(first: Resp, method: string, headers: Record<string, string | number>): Promise<Resp> {
    let r = first;
    for (let i = 0; i < 10; i++) {
      if (![301, 302, 303, 307, 308].includes(r.status) || !r.headers.location) return r;
      if (method !== "GET" && method !== "HEAD") return r;
      r.body.resume();
      const next = new URL(r.headers.location, r.url);
      const h = { ...headers };
      if (next.host !== r.url.host) delete h.Authorization;
      const insecureTls = next.host === this.endpoint && this.insecure;
      r = await this.send(next, method, h, undefined, insecureTls);
    }
    throw new EngineError("unavailable", `too many redirects from ${first.url.href}`);
  }

  // ---- auth ----

  private tokenKey(scopes: string[]): string {
    return [...new Set(scopes)].sort().join(" ");
  }

  private async authHeader(scopes: string[]): Promise<string | undefined> {
    const c = this.opts.credentials;
    if (c?.registrytoken) return `Bearer ${c.registrytoken}`;
    if (this.bearer) {
      const key = this.tokenKey(scopes);
      const t = this.tokens.get(key);
      if (t && t.expires > Date.now() + 5000) return `Bearer ${t.token}`;
      const token = await this.fetchToken(scopes);
      return `Bearer ${token}`;
    }
    if (this.basic && c?.username !== undefined) return `Basic ${Buffer.from(`${c.username}:${c.password ?? ""}`).toString("base64")}`;
    return undefined;
  }

  private async fetchToken(scopes: string[]): Promise<string> {
    const b = this.bearer;
    if (!b) throw new EngineError("internal", "no bearer challenge");
    const c = this.opts.credentials;
    const realm = new URL(b.realm);
    const uniq = [...new Set(scopes)];
    let resp: Resp;
    const insecureTls = isInsecureRegistry(realm.host, this.opts.insecureRegistries);
    if (c?.identitytoken) {
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: c.identitytoken, client_id: "berth", ...(b.service ? { service: b.service } : {}) });
      form.set("scope", uniq.join(" "));
      const body = Buffer.from(form.toString());
      resp = await this.send(realm, "POST", { "Content-Type": "application/x-www-form-urlencoded", "Content-Length": body.length }, body, insecureTls);
    } else {
      const u = new URL(realm);
      if (b.service) u.searchParams.set("service", b.service);
      for (const s of uniq) u.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (c?.username !== undefined && c.username !== "") headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ""}`).toString("base64")}`;
      resp = await this.send(u, "GET", headers, undefined, insecureTls);
      resp = await this.follow(resp, "GET", headers);
    }
    if (resp.status !== 200) {
      const err = await httpError(resp, "failed to fetch an authorization token");
      throw new RegistryHttpError(resp.status === 401 || resp.status === 403 ? "unauthorized" : err.kind, err.message, resp.status, err.errors);
    }
    const v = JSON.parse((await readAll(resp.body, MAX_TOKEN_BYTES)).toString("utf8")) as { token?: string; access_token?: string; expires_in?: number };
    const token = v.token ?? v.access_token;
    if (!token) throw new EngineError("unauthorized", "authorization server did not return a token");
    const ttl = typeof v.expires_in === "number" && v.expires_in > 0 ? v.expires_in : 60;
    this.tokens.set(this.tokenKey(scopes), { token, expires: Date.now() + ttl * 1000 });
    return token;
  }

  /** Learn the auth scheme from a 401; false when retrying cannot help. */
  private async onUnauthorized(resp: Resp, scopes: string[]): Promise<boolean> {
    const ch = parseChallenges(resp.headers["www-authenticate"]);
    const bearer = ch.find((c) => c.scheme === "bearer");
    const c = this.opts.credentials;
    if (bearer?.params.realm) {
      const had = this.bearer !== undefined && this.tokens.has(this.tokenKey(scopes));
      const extra = bearer.params.scope ? bearer.params.scope.split(" ") : [];
      this.bearer = { realm: bearer.params.realm, ...(bearer.params.service !== undefined ? { service: bearer.params.service } : {}) };
      if (had && extra.every((s) => scopes.includes(s))) return false;
      this.tokens.delete(this.tokenKey(scopes));
      return true;
    }
    if (ch.some((x) => x.scheme === "basic")) {
      if (this.basic || c?.username === undefined) return false;
      this.basic = true;
      return true;
    }
    return false;
  }

  private async request(r: Req): Promise<Resp> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string | number> = { ...(r.headers ?? {}) };
      const auth = await this.authHeader(r.scopes);
      if (auth) headers.Authorization = auth;
      const resp = await this.roundTrip(r.method, r.url, headers, r.body);
      if (resp.status === 401 && attempt === 0 && !(r.body instanceof Readable) && (await this.onUnauthorized(resp, r.scopes))) {
        resp.body.resume();
        continue;
      }
      if (r.ok.includes(resp.status)) return resp;
      throw await httpError(resp, `${r.method} ${typeof r.url === "string" ? r.url : r.url.pathname}`);
    }
  }

  // ---- API ----

  /** GET /v2/: true when the registry speaks the protocol (and we may talk to it). */
  async ping(): Promise<boolean> {
    const resp = await this.request({ method: "GET", url: "/v2/", scopes: [], ok: [200] });
    resp.body.resume();
    return true;
  }

  /**
   * Fetch a manifest by tag or digest. When fetched by digest the bytes are
   * checked against it; by tag, against the Docker-Content-Digest header if sent.
   */
  async getManifest(repo: string, ref: string, accept: readonly string[] = PULL_ACCEPT): Promise<FetchedManifest> {
    const resp = await this.request({
      method: "GET",
      url: `/v2/${repo}/manifests/${ref}`,
      headers: { Accept: accept.join(", ") },
      scopes: [RegistryClient.pullScope(repo)],
      ok: [200],
    });
    checkDeclaredSize("manifest", Number(resp.headers["content-length"] ?? NaN), MAX_MANIFEST_BYTES);
    const bytes = await readAtMost(resp.body, MAX_MANIFEST_BYTES, "manifest");
    const digest = sha256(bytes);
    if (isDigest(ref) && digest !== ref) throw new EngineError("invalid", `manifest verification failed for digest ${ref}`);
    const header = resp.headers["docker-content-digest"];
    if (!isDigest(ref) && typeof header === "string" && isDigest(header) && header !== digest) {
      throw new EngineError("invalid", `manifest verification failed: registry sent digest ${header}, content is ${digest}`);
    }
    let mediaType = (resp.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
    try {
      const doc = JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown };
      if (typeof doc.mediaType === "string" && doc.mediaType !== "") {
        if (mediaType !== "" && mediaType !== "application/json" && mediaType !== "text/plain" && doc.mediaType !== mediaType) {
          throw new EngineError("invalid", `manifest media type ${doc.mediaType} does not match Content-Type ${mediaType}`);
        }
        mediaType = doc.mediaType;
      }
    } catch (e) {
      if (e instanceof EngineError) throw e;
      throw new EngineError("invalid", `invalid manifest from registry: ${messageOf(e)}`);
    }
    return { bytes, mediaType, digest };
  }

  /** HEAD a manifest: its digest, media type and size, or undefined when unknown. */
  async headManifest(repo: string, ref: string, accept: readonly string[] = PULL_ACCEPT): Promise<{ digest?: Digest; mediaType: string; size: number } | undefined> {
    const resp = await this.request({ method: "HEAD", url: `/v2/${repo}/manifests/${ref}`, headers: { Accept: accept.join(", ") }, scopes: [RegistryClient.pullScope(repo)], ok: [200, 404] });
    resp.body.resume();
    if (resp.status === 404) return undefined;
    const d = resp.headers["docker-content-digest"];
    return {
      ...(typeof d === "string" && isDigest(d) ? { digest: d } : {}),
      mediaType: (resp.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "",
      size: Number(resp.headers["content-length"] ?? 0),
    };
  }

  /** Size of a blob in the repository, or undefined when it is not there. */
  async blobExists(repo: string, digest: Digest, scopes: string[] = [RegistryClient.pullScope(repo)]): Promise<{ size: number } | undefined> {
    const resp = await this.request({ method: "HEAD", url: `/v2/${repo}/blobs/${digest}`, scopes, ok: [200, 404] });
    resp.body.resume();
    if (resp.status === 404) return undefined;
    return { size: Number(resp.headers["content-length"] ?? 0) };
  }

  private async openBlob(repo: string, digest: Digest, offset: number): Promise<Resp> {
    return this.request({
      method: "GET",
      url: `/v2/${repo}/blobs/${digest}`,
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : {},
      scopes: [RegistryClient.pullScope(repo)],
      ok: [200, 206],
    });
  }

  /**
   * Stream a blob, in chunks of about 1 MiB. The bytes are hashed as they pass;
   * the stream errors at its end when they do not match `digest` (or `size`).
   * With `verify: false` the hash is left to the caller, which must check the
   * bytes itself before trusting them (the content store does, when it is given
   * the digest); the size is still enforced. A connection cut mid-way is resumed
   * with a Range request (up to 3 times).
   */
  async getBlob(repo: string, digest: Digest, opts: { size?: number; verify?: boolean } = {}): Promise<Readable> {
    const verify = opts.verify ?? true;
    let resp = await this.openBlob(repo, digest, 0);
    const reopen = (off: number) => this.openBlob(repo, digest, off);
    const signal = this.opts.signal;
    async function* gen(): AsyncGenerator<Buffer> {
      const hash = verify ? createHash("sha256") : undefined;
      let got = 0;
      let resumes = 0;
      for (;;) {
        const length = Number(resp.headers["content-length"] ?? NaN);
        const start = got;
        try {
          for await (const chunk of resp.body as AsyncIterable<Buffer>) {
            hash?.update(chunk);
            got += chunk.length;
            if (opts.size !== undefined && got > opts.size) throw new EngineError("invalid", `blob ${digest} is larger than ${opts.size} bytes`);
            yield chunk;
          }
          if (!Number.isFinite(length) || got - start >= length) break;
          throw new EngineError("unavailable", `blob ${digest}: connection closed after ${got} bytes`);
        } catch (e) {
          if (e instanceof EngineError && e.kind === "invalid") throw e;
          if (resumes++ >= 3 || signal?.aborted) throw e;
          resp.body.destroy();
          resp = await reopen(got);
          if (resp.status === 200) {
            // No range support: skip what we have already.
            let skip = got;
            const body = resp.body;
            async function* skipper(): AsyncGenerator<Buffer> {
              for await (const c of body as AsyncIterable<Buffer>) {
                if (skip >= c.length) {
                  skip -= c.length;
                  continue;
                }
                yield c.subarray(skip);
                skip = 0;
              }
            }
            const rest = Readable.from(skipper());
            resp = { ...resp, body: rest as unknown as IncomingMessage, headers: { ...resp.headers, "content-length": String(Number(resp.headers["content-length"] ?? NaN) - got) } };
          } else {
            const cr = /bytes (\d+)-/.exec(String(resp.headers["content-range"] ?? ""));
            if (!cr || Number(cr[1]) !== got) throw new EngineError("unavailable", `blob ${digest}: registry resumed at the wrong offset`);
          }
        }
      }
      if (opts.size !== undefined && got !== opts.size) throw new EngineError("invalid", `blob ${digest}: got ${got} bytes, expected ${opts.size}`);
      if (hash) {
        const actual = `sha256:${hash.digest("hex")}`;
        if (actual !== digest) throw new EngineError("invalid", `digest mismatch for blob: expected ${digest}, got ${actual}`);
      }
    }
    const out = Readable.from(coalesce(gen()), { objectMode: false, highWaterMark: 1 << 16 });
    out.on("close", () => resp.body.destroy());
    return out;
  }

  /**
   * Mount a blob from another repository of the same registry. True when
   * mounted; false when the registry started an upload instead (it is cancelled).
   */
  async mountBlob(repo: string, digest: Digest, from: string): Promise<boolean> {
    const resp = await this.request({
      method: "POST",
      url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      headers: { "Content-Length": 0 },
      body: Buffer.alloc(0),
      scopes: [RegistryClient.pushScope(repo), RegistryClient.pullScope(from)],
      ok: [201, 202],
    });
    resp.body.resume();
    if (resp.status === 201) return true;
    const loc = resp.headers.location;
    if (loc) {
      await this.request({ method: "DELETE", url: new URL(loc, resp.url), scopes: [RegistryClient.pushScope(repo)], ok: [204, 200, 202, 404] })
        .then((r) => r.body.resume())
        .catch(bestEffort("cancel the upload session of a refused mount"));
    }
    return false;
  }

  private async startUpload(repo: string): Promise<URL> {
    const resp = await this.request({
      method: "POST",
      url: `/v2/${repo}/blobs/uploads/`,
      headers: { "Content-Length": 0 },
      body: Buffer.alloc(0),
      scopes: [RegistryClient.pushScope(repo)],
      ok: [202],
    });
    resp.body.resume();
    const loc = resp.headers.location;
    if (!loc) throw new EngineError("internal", "registry started an upload without a Location");
    return new URL(loc, resp.url);
  }

  private async uploadOffset(repo: string, loc: URL, confirmed: number): Promise<{ loc: URL; offset: number }> {
    const resp = await this.request({ method: "GET", url: loc, scopes: [RegistryClient.pushScope(repo)], ok: [204, 200] });
    resp.body.resume();
    const m = /^(?:bytes=)?0-(\d+)$/.exec(String(resp.headers.range ?? ""));
    const end = m ? Number(m[1]) : -1;
    // "0-0" means 0 or 1 bytes (docker/distribution's convention); trust what we know.
    const offset = end > 0 ? end + 1 : end === 0 && confirmed >= 1 ? 1 : 0;
    return { loc: resp.headers.location ? new URL(resp.headers.location, resp.url) : loc, offset };
  }

  private withDigest(loc: URL, digest: Digest): URL {
    const u = new URL(loc);
    u.searchParams.set("digest", digest);
    return u;
  }

  /**
   * Upload a blob: one POST then one PUT with the whole body, or — above
   * `monolithicMaxBytes` — PATCH chunks (each resent from the registry's offset
   * after a broken connection) and a closing PUT.
   */
  async pushBlob(repo: string, digest: Digest, size: number, body: Readable | Buffer): Promise<void> {
    // The POST (a replayable request) settles auth before any streamed body is sent.
    let loc = await this.startUpload(repo);
    const max = this.opts.monolithicMaxBytes ?? 64 << 20;
    if (size <= max) {
      const resp = await this.request({
        method: "PUT",
        url: this.withDigest(loc, digest),
        headers: { "Content-Type": "application/octet-stream", "Content-Length": size },
        body,
        scopes: [RegistryClient.pushScope(repo)],
        ok: [201],
      });
      resp.body.resume();
      this.checkDigestHeader(resp, digest);
      return;
    }
    const src = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    let offset = 0;
    for await (const chunk of chunksOf(src, this.opts.chunkBytes ?? 16 << 20)) {
      let sent = 0; // bytes of this chunk the registry has
      for (let attempt = 0; sent < chunk.length; attempt++) {
        const part = chunk.subarray(sent);
        const start = offset + sent;
        try {
          const resp = await this.request({
            method: "PATCH",
            url: loc,
            headers: { "Content-Type": "application/octet-stream", "Content-Length": part.length, "Content-Range": `${start}-${start + part.length - 1}` },
            body: part,
            scopes: [RegistryClient.pushScope(repo)],
            ok: [202, 204],
          });
          resp.body.resume();
          if (resp.headers.location) loc = new URL(resp.headers.location, resp.url);
          sent = chunk.length;
        } catch (e) {
          if (attempt >= 3 || this.opts.signal?.aborted || (e instanceof RegistryHttpError && e.status !== 416 && e.status < 500)) throw e;
          const st = await this.uploadOffset(repo, loc, start);
          loc = st.loc;
          if (st.offset < offset || st.offset > offset + chunk.length) throw e;
          sent = st.offset - offset;
        }
      }
      offset += chunk.length;
    }
    if (offset !== size) throw new EngineError("invalid", `blob ${digest}: stream had ${offset} bytes, expected ${size}`);
    const resp = await this.request({
      method: "PUT",
      url: this.withDigest(loc, digest),
      headers: { "Content-Length": 0 },
      body: Buffer.alloc(0),
      scopes: [RegistryClient.pushScope(repo)],
      ok: [201],
    });
    resp.body.resume();
    this.checkDigestHeader(resp, digest);
  }

  /**
   * Upload a blob whose digest is known only once all of it has been sent (a
   * layer compressed while it is pushed): POST, one PATCH carrying the whole
   * stream (chunked transfer encoding, no Content-Range), then the closing
   * PUT ?digest= once `digest` resolves — what dockerd does. A broken stream
   * is not resumed (it cannot be replayed); the caller retries the layer.
   */
  async pushBlobStream(repo: string, body: Readable, digest: Promise<{ digest: Digest; size: number }>, onStarted?: () => void): Promise<{ digest: Digest; size: number }> {
    let loc: URL;
    try {
      loc = await this.startUpload(repo);
    } catch (e) {
      body.destroy();
      throw e;
    }
    onStarted?.(); // the registry took the upload (credentials, repository): progress may be shown
    const patched = await this.request({
      method: "PATCH",
      url: loc,
      headers: { "Content-Type": "application/octet-stream" },
      body,
      scopes: [RegistryClient.pushScope(repo)],
      ok: [202, 204],
    }).catch((e: unknown) => {
      body.destroy();
      throw e;
    });
    patched.body.resume();
    if (patched.headers.location) loc = new URL(patched.headers.location, patched.url);
    const got = await digest;
    const m = /^(?:bytes=)?0-(\d+)$/.exec(String(patched.headers.range ?? ""));
    if (m && got.size > 1 && Number(m[1]) !== got.size - 1) throw new EngineError("invalid", `blob ${got.digest}: the registry has ${Number(m[1]) + 1} bytes, ${got.size} were sent`);
    const resp = await this.request({
      method: "PUT",
      url: this.withDigest(loc, got.digest),
      headers: { "Content-Length": 0 },
      body: Buffer.alloc(0),
      scopes: [RegistryClient.pushScope(repo)],
      ok: [201],
    });
    resp.body.resume();
    this.checkDigestHeader(resp, got.digest);
    return got;
  }

  private checkDigestHeader(resp: Resp, digest: Digest): void {
    const h = resp.headers["docker-content-digest"];
    if (typeof h === "string" && isDigest(h) && h !== digest) throw new EngineError("invalid", `registry stored ${h}, expected ${digest}`);
  }

  /**
   * Make sure a blob is in `repo`: already there, mounted from one of
   * `mountFrom`, or pushed from `open()`. Returns what happened.
   */
  async ensureBlob(repo: string, desc: { digest: Digest; size: number }, open: () => Readable | Buffer | Promise<Readable | Buffer>, mountFrom: string[] = []): Promise<"exists" | "mounted" | "pushed"> {
    if (await this.blobExists(repo, desc.digest, [RegistryClient.pushScope(repo)])) return "exists";
    for (const from of mountFrom) {
      if (from !== repo && (await this.mountBlob(repo, desc.digest, from))) return "mounted";
    }
    await this.pushBlob(repo, desc.digest, desc.size, await open());
    return "pushed";
  }

  /** PUT a manifest under a tag or its digest; returns its digest. */
  async putManifest(repo: string, ref: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const digest = sha256(bytes);
    const resp = await this.request({
      method: "PUT",
      url: `/v2/${repo}/manifests/${ref}`,
      headers: { "Content-Type": mediaType, "Content-Length": bytes.length },
      body: bytes,
      scopes: [RegistryClient.pushScope(repo)],
      ok: [200, 201, 202],
    });
    resp.body.resume();
    this.checkDigestHeader(resp, digest);
    return digest;
  }

  async deleteManifest(repo: string, ref: string): Promise<void> {
    const resp = await this.request({ method: "DELETE", url: `/v2/${repo}/manifests/${ref}`, scopes: [`repository:${repo}:delete`, RegistryClient.pushScope(repo)], ok: [200, 202] });
    resp.body.resume();
  }

  /** Tags of a repository; all of them (following Link pages) unless `n` is given. */
  async listTags(repo: string, opts: { n?: number; last?: string } = {}): Promise<string[]> {
    const q = new URLSearchParams();
    if (opts.n !== undefined) q.set("n", String(opts.n));
    if (opts.last !== undefined) q.set("last", opts.last);
    let url: string | URL = `/v2/${repo}/tags/list${q.size > 0 ? `?${q}` : ""}`;
    const out: string[] = [];
    // All pages together are held in memory: they share one budget.
    let budget = MAX_TAG_LIST_BYTES;
    for (let page = 0; page < 10_000; page++) {
      const resp = await this.request({ method: "GET", url, scopes: [RegistryClient.pullScope(repo)], ok: [200] });
      const body = await readAll(resp.body, budget);
      budget -= body.length;
      const v = JSON.parse(body.toString("utf8")) as { tags?: string[] | null };
      out.push(...(v.tags ?? []));
      const link = resp.headers.link;
      const next = parseLinkNext(Array.isArray(link) ? link.join(", ") : link, resp.url);
      if (opts.n !== undefined || !next) break;
      url = next;
    }
    return out;
  }

  /** The referrers index of a manifest (OCI 1.1). */
  async referrers(repo: string, digest: Digest, artifactType?: string): Promise<{ manifests: Record<string, unknown>[] }> {
    const q = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : "";
    const resp = await this.request({ method: "GET", url: `/v2/${repo}/referrers/${digest}${q}`, scopes: [RegistryClient.pullScope(repo)], ok: [200] });
    const v = JSON.parse((await readAll(resp.body)).toString("utf8")) as { manifests?: Record<string, unknown>[] };
    return { manifests: v.manifests ?? [] };
  }
}
