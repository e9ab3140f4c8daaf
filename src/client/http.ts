/**
 * The Engine API transport: HTTP(S) over a unix socket or TCP, API version
 * negotiation, JSON requests, streamed bodies, and the `Upgrade: tcp` hijack of
 * attach and exec. Every call takes an AbortSignal. Hand-written on node:http
 * because the hijack needs the raw socket, which fetch (undici) does not give.
 */
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import { ConnectionError, DaemonError, isAbortError } from "./errors.js";
import { type ConnectOptions, type Endpoint, resolveEndpoint } from "./connection.js";
import { jsonLines, readBody } from "./lines.js";

/** The newest API version this client speaks. */
export const CLIENT_API_VERSION = "1.47";
/** What docker assumes when a daemon does not announce its version. */
const FALLBACK_API_VERSION = "1.24";

export type QueryValue = string | number | boolean | undefined | null | string[];
export type Query = Record<string, QueryValue>;

export interface CallOptions {
  signal?: AbortSignal;
}

export interface RequestOptions extends CallOptions {
  query?: Query;
  /** A JSON-serialisable body, a Buffer, or a stream sent as is (with `contentType`). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** Skip version prefixing (`/_ping`). */
  unversioned?: boolean;
}

export interface Hijacked {
  socket: Socket;
  contentType: string;
}

export interface ClientOptions extends ConnectOptions {
  /** A fixed API version (DOCKER_API_VERSION); otherwise negotiated on first use. */
  version?: string;
  /** The name daemons are told in messages ("Berth", "Docker"). */
  daemonName?: string;
}

export function buildQuery(q: Query | undefined): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) p.append(k, x);
    else if (typeof v === "boolean") p.set(k, v ? "1" : "0");
    else p.set(k, String(v));
  }
  const s = p.toString();
  return s === "" ? "" : `?${s}`;
}

export function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split(".").map(Number);
  const [b1 = 0, b2 = 0] = b.split(".").map(Number);
  return a1 - b1 || a2 - b2;
}

/** min(server, client) as docker's NegotiateAPIVersion; 1.24 when the daemon says nothing. */
export function negotiateVersion(server: string | undefined): string {
  if (!server || !/^\d+\.\d+$/.test(server)) return FALLBACK_API_VERSION;
  return compareVersions(server, CLIENT_API_VERSION) < 0 ? server : CLIENT_API_VERSION;
}

/** Docker's error body is `{"message": "..."}`; anything else is shown as text. */
export function errorMessageOf(status: number, body: Buffer): string {
  const text = body.toString("utf8").trim();
  try {
    const j = JSON.parse(text) as { message?: unknown };
    if (j && typeof j.message === "string") return j.message;
  } catch {
    // not JSON
  }
  if (text !== "") return text;
  return `${status} ${http.STATUS_CODES[status] ?? ""}`.trim();
}

const header = (res: IncomingMessage, k: string): string | undefined => {
  const v = res.headers[k];
  return Array.isArray(v) ? v[0] : v;
};

export class EngineClient {
  readonly host: string;
  readonly endpoint: Endpoint;
  /** The context the endpoint came from ("default" for -H / DOCKER_HOST). */
  readonly context: string;
  private readonly agent: http.Agent;
  private readonly daemonName: string;
  private fixedVersion: string | undefined;
  private negotiation: Promise<string> | undefined;

  constructor(opts: ClientOptions | string = {}) {
    const o: ClientOptions = typeof opts === "string" ? { host: opts } : opts;
    const ep = resolveEndpoint(o);
    this.endpoint = ep;
    this.context = ep.context;
    this.host = ep.host;
    this.daemonName = o.daemonName ?? "Berth";
    this.fixedVersion = o.version;
    const tls = ep.tls;
    this.agent = tls
      ? new https.Agent({ keepAlive: true, maxSockets: 16, ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  /** The API version in use (negotiated on first use: min(1.47, server)). */
  async apiVersion(opts: CallOptions = {}): Promise<string> {
    if (this.fixedVersion) return this.fixedVersion;
    this.negotiation ??= this.pingHeaders(opts)
      .then((p) => negotiateVersion(p.apiVersion))
      .then((v) => (this.fixedVersion = v))
      .finally(() => (this.negotiation = undefined));
    return this.negotiation;
  }

  /** GET /_ping: the daemon's announced API version and OS. */
  async pingHeaders(opts: CallOptions = {}): Promise<{ apiVersion: string | undefined; osType: string | undefined }> {
    const res = await this.raw("GET", "/_ping", { unversioned: true, signal: opts.signal });
    await readBody(res);
    if ((res.statusCode ?? 0) >= 400 && !res.headers["api-version"]) throw new DaemonError(res.statusCode ?? 500, "ping failed");
    return { apiVersion: header(res, "api-version"), osType: header(res, "ostype") };
  }

  private async pathFor(path: string, opts: RequestOptions): Promise<string> {
    const q = buildQuery(opts.query);
    if (opts.unversioned) return `${path}${q}`;
    return `/v${await this.apiVersion(opts)}${path}${q}`;
  }

  private requestOptions(method: string, fullPath: string, headers: Record<string, string>, signal: AbortSignal | undefined): http.RequestOptions {
    const base: http.RequestOptions = { method, path: fullPath, headers: { "User-Agent": "Berth-Client/0.1.0 (linux)", ...headers }, agent: this.agent, signal };
    if (this.endpoint.socketPath) return { ...base, socketPath: this.endpoint.socketPath };
    return { ...base, host: this.endpoint.hostname, port: this.endpoint.port };
  }

  private transport(): typeof http | typeof https {
    return this.endpoint.tls ? https : http;
  }

  private connectionError(e: unknown): Error {
    if (isAbortError(e)) return e as Error;
    const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
    const d = this.daemonName;
    if (code === "EACCES" || code === "EPERM") {
      return new ConnectionError(`permission denied while trying to connect to the ${d} daemon socket at ${this.host}: connect: permission denied`, { cause: e });
    }
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK") {
      return new ConnectionError(`Cannot connect to the ${d} daemon at ${this.host}. Is the ${d === "Berth" ? "berthd" : "docker"} daemon running?`, { cause: e });
    }
    if (code === "ECONNRESET" || code === "EPIPE") {
      return new ConnectionError(`error during connect: the connection to ${this.host} was reset`, { cause: e });
    }
    return new ConnectionError(`error during connect: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }

  /** Send a request and return the response whatever its status. */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    opts.signal?.throwIfAborted();
    const fullPath = await this.pathFor(path, opts);
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    let payload: Buffer | Readable | undefined;
    if (opts.body instanceof Readable) {
      payload = opts.body;
      headers["Content-Type"] = opts.contentType ?? "application/octet-stream";
    } else if (Buffer.isBuffer(opts.body)) {
      payload = opts.body;
      headers["Content-Type"] = opts.contentType ?? "application/octet-stream";
      headers["Content-Length"] = String(opts.body.length);
    } else if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    } else if (method === "POST" || method === "PUT") {
      headers["Content-Type"] ??= "text/plain";
      headers["Content-Length"] = "0";
    }
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.transport().request(this.requestOptions(method, fullPath, headers, opts.signal));
      req.on("response", resolve);
      req.on("error", (e) => reject(this.connectionError(e)));
      if (payload instanceof Readable) {
        payload.on("error", (e) => {
          req.destroy(e);
          reject(e);
        });
        payload.pipe(req);
      } else req.end(payload);
    });
  }

  /** Send a request; throw DaemonError on a status >= 400. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
    const res = await this.raw(method, path, opts);
    const status = res.statusCode ?? 0;
    if (status >= 400) throw new DaemonError(status, errorMessageOf(status, await readBody(res)));
    return res;
  }

  /** A JSON request; returns the decoded body (undefined for an empty body). */
  async json<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const body = (await readBody(res)).toString("utf8");
    if (body.trim() === "") return undefined as T;
    return JSON.parse(body) as T;
  }

  get = <T = unknown>(path: string, query?: Query, opts: CallOptions = {}): Promise<T> => this.json<T>("GET", path, { query, ...opts });
  post = <T = unknown>(path: string, query?: Query, body?: unknown, opts: CallOptions = {}): Promise<T> => this.json<T>("POST", path, { query, body, ...opts });
  delete = <T = unknown>(path: string, query?: Query, opts: CallOptions = {}): Promise<T> => this.json<T>("DELETE", path, { query, ...opts });

  /** A request answered with a JSON-lines stream (progress, events). */
  async jsonStream<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<AsyncIterable<T> & { response: IncomingMessage }> {
    const res = await this.request(method, path, opts);
    const it = jsonLines<T>(res);
    return Object.assign(it, { response: res });
  }

  /**
   * Hijack: `Connection: Upgrade` / `Upgrade: tcp`; on 101 the socket becomes a
   * raw duplex stream. An error status is a DaemonError; aborting the signal
   * destroys the socket.
   */
  async hijack(method: string, path: string, opts: RequestOptions = {}): Promise<Hijacked> {
    opts.signal?.throwIfAborted();
    const fullPath = await this.pathFor(path, opts);
    const headers: Record<string, string> = { Connection: "Upgrade", Upgrade: "tcp", "Content-Type": "text/plain", ...(opts.headers ?? {}) };
    // A JSON body (exec start) goes with a Content-Length: the daemon reads it off the upgraded socket.
    const payload = opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined;
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const reqOpts = this.requestOptions(method, fullPath, headers, undefined);
    // A hijacked socket must never go back to a keep-alive pool.
    const tls = this.endpoint.tls;
    reqOpts.agent = tls ? new https.Agent({ ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.verify }) : false;
    return new Promise<Hijacked>((resolve, reject) => {
      const req = this.transport().request(reqOpts);
      const onAbort = () => req.destroy(opts.signal?.reason instanceof Error ? opts.signal.reason : new DOMException("This operation was aborted", "AbortError"));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      req.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (head.length > 0) socket.unshift(head);
        if (opts.signal) {
          const sig = opts.signal;
          const kill = () => socket.destroy(sig.reason instanceof Error ? sig.reason : new DOMException("This operation was aborted", "AbortError"));
          sig.addEventListener("abort", kill, { once: true });
          socket.once("close", () => sig.removeEventListener("abort", kill));
        }
        resolve({ socket, contentType: header(res, "content-type") ?? "" });
      });
      req.on("response", (res: IncomingMessage) => {
        opts.signal?.removeEventListener("abort", onAbort);
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          readBody(res).then(
            (b) => reject(new DaemonError(status, errorMessageOf(status, b))),
            (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
          );
          return;
        }
        reject(new ConnectionError(`the daemon did not upgrade the connection (HTTP ${status})`));
        res.resume();
      });
      req.on("error", (e) => {
        opts.signal?.removeEventListener("abort", onAbort);
        reject(this.connectionError(e));
      });
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
