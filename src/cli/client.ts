/**
 * The CLI's Docker Engine API client: HTTP over a unix socket (or loopback TCP),
 * API version negotiation, JSON requests, JSON-lines streams, the `Upgrade: tcp`
 * hijack used by attach, and Docker's multiplexed stdout/stderr framing.
 */
import http, { type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { Readable } from "node:stream";

/** The newest API version this client speaks. */
export const CLIENT_API_VERSION = "1.47";
/** What docker assumes when a daemon does not announce its version. */
const FALLBACK_API_VERSION = "1.24";

export const DEFAULT_HOST = "unix:///run/berth/berth.sock";

/** The daemon answered with an error status: docker prints "Error response from daemon: <message>". */
export class DaemonError extends Error {
  constructor(
    readonly status: number,
    readonly daemonMessage: string,
  ) {
    super(`Error response from daemon: ${daemonMessage}`);
    this.name = "DaemonError";
  }
}

/** The daemon could not be reached at all. */
export class ConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

export type QueryValue = string | number | boolean | undefined | null | string[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query;
  /** A JSON-serialisable body, or a stream sent as is (with `contentType`). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** Skip version prefixing (`/_ping`). */
  unversioned?: boolean;
}

export interface Endpoint {
  socketPath?: string;
  hostname?: string;
  port?: number;
}

/** Parse `-H` / DOCKER_HOST values: unix:///path, /path, tcp://host:port, http://host:port. */
export function parseHost(host: string): Endpoint {
  if (host.startsWith("unix://")) {
    const p = host.slice("unix://".length);
    if (p === "") throw new Error(`invalid host: ${host}`);
    return { socketPath: p };
  }
  if (host.startsWith("/")) return { socketPath: host };
  const m = host.match(/^(?:tcp|http):\/\/(\[[^\]]+\]|[^:/]*)(?::(\d+))?\/?$/);
  if (m) {
    const hostname = (m[1] ?? "").replace(/^\[|\]$/g, "") || "127.0.0.1";
    return { hostname, port: m[2] ? Number(m[2]) : 2375 };
  }
  throw new Error(`invalid host: ${host} (use unix:///path/to/socket or tcp://host:port)`);
}

/** The host to use: `-H`, then BERTH_HOST, then DOCKER_HOST, then the default socket. */
export function resolveHost(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag || env["BERTH_HOST"] || env["DOCKER_HOST"] || DEFAULT_HOST;
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

function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split(".").map(Number);
  const [b1 = 0, b2 = 0] = b.split(".").map(Number);
  return a1 - b1 || a2 - b2;
}

export function negotiateVersion(server: string | undefined): string {
  if (!server || !/^\d+\.\d+$/.test(server)) return FALLBACK_API_VERSION;
  return compareVersions(server, CLIENT_API_VERSION) < 0 ? server : CLIENT_API_VERSION;
}

/** Read a whole response body. */
export async function readBody(res: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(typeof c === "string" ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
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

export interface Hijacked {
  socket: Socket;
  contentType: string;
}

export class Client {
  readonly host: string;
  private readonly endpoint: Endpoint;
  private readonly agent: http.Agent;
  private version: string | undefined;
  private negotiation: Promise<string> | undefined;

  constructor(host: string, opts: { version?: string } = {}) {
    this.host = host;
    this.endpoint = parseHost(host);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.version = opts.version;
  }

  /** The API version in use (negotiated on first use: min(1.47, server)). */
  async apiVersion(): Promise<string> {
    if (this.version) return this.version;
    this.negotiation ??= this.ping()
      .then((p) => negotiateVersion(p.apiVersion))
      .then((v) => (this.version = v));
    return this.negotiation;
  }

  /** GET /_ping: the daemon's announced API version and OS. */
  async ping(): Promise<{ apiVersion: string | undefined; osType: string | undefined }> {
    const res = await this.raw("GET", "/_ping", { unversioned: true });
    await readBody(res);
    if ((res.statusCode ?? 0) >= 400 && !res.headers["api-version"]) throw new DaemonError(res.statusCode ?? 500, "ping failed");
    const h = (k: string): string | undefined => {
      const v = res.headers[k];
      return Array.isArray(v) ? v[0] : v;
    };
    return { apiVersion: h("api-version"), osType: h("ostype") };
  }

  private async pathFor(path: string, opts: RequestOptions): Promise<string> {
    const q = buildQuery(opts.query);
    if (opts.unversioned) return `${path}${q}`;
    return `/v${await this.apiVersion()}${path}${q}`;
  }

  private requestOptions(method: string, fullPath: string, headers: Record<string, string>): http.RequestOptions {
    const base: http.RequestOptions = { method, path: fullPath, headers: { "User-Agent": "Berth-Client/0.1.0 (linux)", ...headers }, agent: this.agent };
    if (this.endpoint.socketPath) return { ...base, socketPath: this.endpoint.socketPath };
    return { ...base, host: this.endpoint.hostname, port: this.endpoint.port };
  }

  private connectionError(e: unknown): Error {
    const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : "";
    if (code === "EACCES" || code === "EPERM") {
      return new ConnectionError(`permission denied while trying to connect to the Berth daemon socket at ${this.host}: connect: permission denied`, { cause: e });
    }
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK") {
      return new ConnectionError(`Cannot connect to the Berth daemon at ${this.host}. Is the berthd daemon running?`, { cause: e });
    }
    if (code === "ECONNRESET" || code === "EPIPE") {
      return new ConnectionError(`error during connect: the connection to ${this.host} was reset`, { cause: e });
    }
    return new ConnectionError(`error during connect: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }

  /** Send a request and return the response whatever its status. */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<IncomingMessage> {
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
      const req = http.request(this.requestOptions(method, fullPath, headers));
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

  get = <T = unknown>(path: string, query?: Query): Promise<T> => this.json<T>("GET", path, { query });
  post = <T = unknown>(path: string, query?: Query, body?: unknown): Promise<T> => this.json<T>("POST", path, { query, body });
  delete = <T = unknown>(path: string, query?: Query): Promise<T> => this.json<T>("DELETE", path, { query });

  /** A request answered with a JSON-lines stream (progress, events). */
  async jsonStream<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<AsyncIterable<T> & { response: IncomingMessage }> {
    const res = await this.request(method, path, opts);
    const it = jsonLines<T>(res);
    return Object.assign(it, { response: res });
  }

  /**
   * Hijack: `Connection: Upgrade` / `Upgrade: tcp`; on 101 the socket becomes a
   * raw duplex stream. A non-101 answer is an error (or, for daemons that answer
   * 200 and then stream, that body is used as the socket's output).
   */
  async hijack(method: string, path: string, opts: RequestOptions = {}): Promise<Hijacked> {
    const fullPath = await this.pathFor(path, opts);
    const headers: Record<string, string> = { Connection: "Upgrade", Upgrade: "tcp", "Content-Type": "text/plain", ...(opts.headers ?? {}) };
    // A JSON body (exec start) goes with a Content-Length: the daemon reads it off the upgraded socket.
    const payload = opts.body !== undefined ? Buffer.from(JSON.stringify(opts.body)) : undefined;
    if (payload) {
      headers["Content-Type"] = "application/json";
      headers["Content-Length"] = String(payload.length);
    }
    const reqOpts = this.requestOptions(method, fullPath, headers);
    // A hijacked socket must never go back to a keep-alive pool.
    reqOpts.agent = false;
    return new Promise<Hijacked>((resolve, reject) => {
      const req = http.request(reqOpts);
      req.on("upgrade", (res: IncomingMessage, socket: Socket, head: Buffer) => {
        if (head.length > 0) socket.unshift(head);
        const ct = res.headers["content-type"];
        resolve({ socket, contentType: (Array.isArray(ct) ? ct[0] : ct) ?? "" });
      });
      req.on("response", (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          readBody(res).then(
            (b) => reject(new DaemonError(status, errorMessageOf(status, b))),
            (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))),
          );
          return;
        }
        reject(new Error(`the daemon did not upgrade the connection (HTTP ${status})`));
        res.resume();
      });
      req.on("error", (e) => reject(this.connectionError(e)));
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The non-empty lines of a stream (JSON-lines bodies). */
export async function* textLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream) {
    buf += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line !== "") yield line;
    }
  }
  const rest = buf.trim();
  if (rest !== "") yield rest;
}

/** Decode a JSON-lines stream. */
export async function* jsonLines<T>(stream: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  for await (const line of textLines(stream)) yield JSON.parse(line) as T;
}

// --- multiplexed streams (stdcopy) ------------------------------------------------

export const STREAM_STDIN = 0;
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
export const STREAM_SYSTEMERR = 3;

export interface Frame {
  stream: number;
  data: Buffer;
}

/**
 * Incremental decoder of Docker's multiplexed framing: an 8-byte header
 * (stream type, three zero bytes, uint32 big-endian payload length) per frame.
 */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: Frame[] = [];
    let off = 0;
    while (this.pending.length - off >= 8) {
      const stream = this.pending[off] as number;
      if (stream > 3 || this.pending[off + 1] !== 0 || this.pending[off + 2] !== 0 || this.pending[off + 3] !== 0) {
        throw new Error(`Unrecognized input header: ${stream}`);
      }
      const len = this.pending.readUInt32BE(off + 4);
      if (this.pending.length - off - 8 < len) break;
      frames.push({ stream, data: this.pending.subarray(off + 8, off + 8 + len) });
      off += 8 + len;
    }
    this.pending = this.pending.subarray(off);
    return frames;
  }

  /** Bytes of an unfinished frame left at the end of the stream. */
  get remaining(): number {
    return this.pending.length;
  }
}

/** Encode one frame (for tests and tools). */
export function muxFrame(stream: number, data: Buffer | string): Buffer {
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(b.length, 4);
  return Buffer.concat([h, b]);
}

export interface Sink {
  write(chunk: Buffer): unknown;
}

/**
 * Copy a (multiplexed or raw) output stream to stdout/stderr; resolves at the
 * end of the stream. A systemerr frame rejects with its message, as docker's stdcopy does.
 */
export function copyOutput(src: Readable, opts: { mux: boolean; stdout: Sink; stderr: Sink }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const demux = opts.mux ? new Demuxer() : undefined;
    let sysErr = "";
    src.on("data", (chunk: Buffer) => {
      if (!demux) {
        opts.stdout.write(chunk);
        return;
      }
      let frames: Frame[];
      try {
        frames = demux.push(chunk);
      } catch (e) {
        src.destroy();
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      for (const f of frames) {
        if (f.stream === STREAM_STDERR) opts.stderr.write(f.data);
        else if (f.stream === STREAM_SYSTEMERR) sysErr += f.data.toString("utf8");
        else opts.stdout.write(f.data);
      }
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (sysErr !== "") reject(new Error(`error from daemon in stream: ${sysErr}`));
      else resolve();
    };
    src.on("end", finish);
    src.on("close", finish);
    src.on("error", (e: NodeJS.ErrnoException) => {
      // A reset after the container ended is a normal end of an attach.
      if (e.code === "ECONNRESET" || e.code === "EPIPE") finish();
      else if (!finished) {
        finished = true;
        reject(e);
      }
    });
  });
}
