/**
 * HTTP server for the Docker Engine API: versioned routing, JSON bodies,
 * Docker's error bodies, chunked streams and the `Upgrade: tcp` hijack used by
 * attach and exec. Route tables live in routes/<area>.ts; handlers are thin.
 */
import { API_VERSION, MIN_API_VERSION } from "../util/apiversion.js";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { Duplex, Readable } from "node:stream";
import { EngineError, invalid, messageOf } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { errorBody, statusOf } from "./errors.js";

export interface Ctx {
  req: IncomingMessage;
  /** Null when the request came as an HTTP upgrade (hijack-only). */
  res: ServerResponse | null;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Negotiated API version of this request, e.g. "1.47". */
  version: string;
  body<T = unknown>(): Promise<T | undefined>;
  /** The raw request body (tar uploads). */
  stream(): Readable;
  json(status: number, value: unknown): void;
  status(status: number): void;
  /**
   * Take over the connection: answers 101 UPGRADED (or 200 when no upgrade was asked) and returns the socket.
   * `withHeaders`: the answer also carries the middleware headers (Api-Version, Server, …), as dockerd's
   * exec start writes them; its attach does not.
   */
  hijack(contentType: string, withHeaders?: boolean): Duplex;
  /**
   * Errors of this handler are answered as dockerd's attach answers them once it has taken the
   * connection: a bare status line, the raw-stream content type and the message as plain text.
   */
  rawErrors(): void;
  /** Take over the connection as it is (nothing written): the socket and the bytes read past the headers (websocket attach). */
  takeUpgrade(): { socket: Duplex; head: Buffer };
}

export type Handler = (ctx: Ctx) => Promise<void>;

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
}

export class Router {
  private readonly routes: Route[] = [];
  /** Method and pattern with the parameter names left out: what makes two routes the same. */
  private readonly keys = new Set<string>();

  /** Throws on a second registration of a (method, path): the first would silently win. */
  add(method: string, pattern: string, handler: Handler): this {
    const parts = pattern.split("/").filter(Boolean);
    const key = `${method} /${parts.map((p) => (p === "{name*}" ? "{*}" : p.startsWith("{") ? "{}" : p)).join("/")}`;
    if (this.keys.has(key)) throw new Error(`route ${method} ${pattern} is registered twice`);
    this.keys.add(key);
    this.routes.push({ method, parts, handler });
    return this;
  }

  get = (p: string, h: Handler) => this.add("GET", p, h);
  post = (p: string, h: Handler) => this.add("POST", p, h);
  put = (p: string, h: Handler) => this.add("PUT", p, h);
  delete = (p: string, h: Handler) => this.add("DELETE", p, h);
  head = (p: string, h: Handler) => this.add("HEAD", p, h);

  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | "methodNotAllowed" | undefined {
    const segs = path.split("/").filter(Boolean);
    let pathMatched = false;
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      pathMatched = true;
      if (r.method === method || (method === "HEAD" && r.method === "GET")) return { handler: r.handler, params };
    }
    return pathMatched ? "methodNotAllowed" : undefined;
  }
}

function matchParts(parts: string[], segs: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let si = 0;
  for (let pi = 0; pi < parts.length; pi++) {
    const p = parts[pi] as string;
    if (p === "{name*}") {
      // Image names contain slashes: take everything up to the remaining fixed suffix.
      const rest = parts.length - pi - 1;
      if (segs.length - si - rest < 1) return undefined;
      params["name"] = segs.slice(si, segs.length - rest).map(decodeSegment).join("/");
      si = segs.length - rest;
      continue;
    }
    const s = segs[si++];
    if (s === undefined) return undefined;
    if (p.startsWith("{") && p.endsWith("}")) params[p.slice(1, -1)] = decodeSegment(s);
    else if (p !== s) return undefined;
  }
  return si === segs.length ? params : undefined;
}

/** A path segment's value; bytes that are not UTF-8 are the client's mistake (400), not ours. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw invalid(`invalid URL escape in ${JSON.stringify(s)}`);
  }
}

/**
 * The path of a request target (origin-form, or absolute-form as Go's server
 * accepts it). Like dockerd, a target that does not parse or a path with a bad
 * percent-escape is a 400.
 */
function targetOf(raw: string): { path: string; query: URLSearchParams } {
  let url: URL;
  try {
    url = new URL(raw, "http://berth");
  } catch {
    throw invalid(`invalid request target ${JSON.stringify(raw.slice(0, 200))}`);
  }
  const bad = /%(?![0-9a-fA-F]{2})/.exec(url.pathname);
  if (bad) throw invalid(`invalid URL escape ${JSON.stringify(url.pathname.slice(bad.index, bad.index + 3))}`);
  return { path: url.pathname, query: url.searchParams };
}

/** JSON request bodies are read whole: beyond this (execve's own 2 MiB ARG_MAX bounds a real Cmd + Env) they are refused. */
export const MAX_JSON_BODY = 2 << 20;

function compareVersions(a: string, b: string): number {
  const [a1 = 0, a2 = 0] = a.split(".").map(Number);
  const [b1 = 0, b2 = 0] = b.split(".").map(Number);
  return a1 - b1 || a2 - b2;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/** Headers dockerd puts on every answer. */
export const COMMON_HEADERS = {
  "Api-Version": API_VERSION,
  "Docker-Experimental": "false",
  Ostype: "linux",
  Server: "Berth (linux)",
};

/** GET/HEAD /_ping, as dockerd answers it. The server answers it before the engine is ready. */
export async function ping(ctx: Ctx): Promise<void> {
  const res = requireRes(ctx);
  res.writeHead(200, {
    ...COMMON_HEADERS,
    "Builder-Version": "1",
    Swarm: "inactive",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    Pragma: "no-cache",
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": "2",
  });
  res.end(ctx.req.method === "HEAD" ? undefined : "OK");
}

/** Routes served while the engine starts: only /_ping (a client's readiness probe and version negotiation). */
const startingRouter = new Router().get("/_ping", ping).head("/_ping", ping);

export interface TlsOptions {
  cert: Buffer;
  key: Buffer;
  /** CA for client certificates; with verify, clients must present one it signed (dockerd's --tlsverify). */
  ca?: Buffer;
  verify: boolean;
}

/**
 * `routes` may still be coming (the engine starting): until then /_ping is answered and every other
 * request waits for them.
 */
export function createApiServer(routes: Router | Promise<Router>, log: Logger, tls?: TlsOptions): http.Server {
  let router: Router | undefined = routes instanceof Router ? routes : undefined;
  if (!router) void (routes as Promise<Router>).then((r) => (router = r), () => undefined);
  // maxHeaderSize: Go's http.DefaultMaxHeaderBytes (1 MiB), as dockerd: the CLI's X-Registry-Config
  // carries every saved credential and outgrows node's 16 KiB default; beyond it, a 431.
  const opts = { keepAlive: true, requestTimeout: 0, headersTimeout: 60_000, maxHeaderSize: 1 << 20 };
  const server: http.Server = tls
    ? https.createServer({ ...opts, allowHalfOpen: true, cert: tls.cert, key: tls.key, ...(tls.ca ? { ca: tls.ca } : {}), requestCert: tls.verify, rejectUnauthorized: tls.verify, minVersion: "TLSv1.2" })
    : http.createServer(opts);
  server.keepAliveTimeout = 60_000;

  const dispatch = async (req: IncomingMessage, res: ServerResponse | null, socket: Duplex, head: Buffer | null): Promise<void> => {
    const started = Date.now();
    let target: { path: string; query: URLSearchParams } | undefined;
    let targetError: unknown;
    try {
      target = targetOf(req.url ?? "/");
    } catch (e) {
      targetError = e;
    }
    let path = target?.path ?? "/";
    let version = API_VERSION;
    const vm = path.match(/^\/v(\d+\.\d+)(\/.*)$/);
    if (vm) {
      version = vm[1] as string;
      path = vm[2] as string;
    }
    let answered = false;
    let hijacked = false;
    let rawErrors = false;
    const headerLines = (h: Record<string, string>) => Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    const writeRawResponse = (status: number, body: string) => {
      const h = { ...COMMON_HEADERS, "Content-Type": "application/json", Date: new Date().toUTCString(), "Content-Length": String(Buffer.byteLength(body)), Connection: "close" };
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\n${headerLines(h)}\r\n${body}`);
    };
    // An upgrade request's body (exec start's JSON) is not parsed by node: it is
    // the first Content-Length bytes after the headers (`head`, then the socket).
    async function* upgradeBody(): AsyncGenerator<Buffer> {
      let want = Number(req.headers["content-length"] ?? 0) || 0;
      while (want > 0) {
        let chunk: Buffer | null;
        if (head && head.length > 0) {
          chunk = head;
          head = null;
        } else chunk = await readSocket(socket);
        if (!chunk) return;
        if (chunk.length > want) {
          head = chunk.subarray(want);
          chunk = chunk.subarray(0, want);
        }
        want -= chunk.length;
        yield chunk;
      }
    }
    const ctx: Ctx = {
      req,
      res,
      params: {},
      query: target?.query ?? new URLSearchParams(),
      version,
      async body<T>(): Promise<T | undefined> {
        const chunks: Buffer[] = [];
        let size = 0;
        const declared = Number(req.headers["content-length"] ?? 0);
        if (declared > MAX_JSON_BODY) throw invalid(`request body too large: ${declared} bytes (at most ${MAX_JSON_BODY})`);
        try {
          for await (const c of res ? (req as AsyncIterable<Buffer>) : upgradeBody()) {
            size += c.length;
            if (size > MAX_JSON_BODY) throw invalid(`request body too large: more than ${MAX_JSON_BODY} bytes`);
            chunks.push(c);
          }
        } catch (e) {
          if (e instanceof EngineError) throw e;
          throw invalid(`reading the request body: ${messageOf(e)}`);
        }
        const text = Buffer.concat(chunks).toString("utf8").trim();
        if (text === "") return undefined;
        try {
          return JSON.parse(text) as T;
        } catch (e) {
          throw invalid(`invalid JSON: ${messageOf(e)}`);
        }
      },
      stream: () => req,
      json(status, value) {
        answered = true;
        const body = JSON.stringify(value);
        if (res) {
          res.writeHead(status, { ...COMMON_HEADERS, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
          res.end(req.method === "HEAD" ? undefined : body);
        } else writeRawResponse(status, body);
      },
      status(status) {
        answered = true;
        if (res) {
          res.writeHead(status, COMMON_HEADERS);
          res.end();
        } else writeRawResponse(status, "");
      },
      rawErrors() {
        rawErrors = true;
      },
      takeUpgrade() {
        answered = true;
        hijacked = true;
        if (res) {
          // Not an upgrade request: the connection still becomes the handler's (it answers raw, as Go's hijackers do).
          const s = res.socket as Duplex;
          s.on("error", () => s.destroy());
          res.detachSocket(res.socket as import("node:net").Socket);
          return { socket: s, head: Buffer.alloc(0) };
        }
        const h = head ?? Buffer.alloc(0);
        head = null;
        return { socket, head: h };
      },
      hijack(contentType, withHeaders = false) {
        answered = true;
        hijacked = true;
        // Sorted as Go's Header.WriteSubset writes them.
        const extra = withHeaders ? headerLines(Object.fromEntries(Object.entries(COMMON_HEADERS).sort(([a], [b]) => (a < b ? -1 : 1)))) : "";
        if (res) {
          // Plain (non-upgrade) hijack: answer 200 and hand the raw socket over.
          const s = res.socket as Duplex;
          // Node's HTTP server still watches it: at the client's half-close it would end the socket,
          // cutting the output still on its way (a TTY exec's "hi" lost). The connection is the handler's now.
          for (const l of s.listeners("end")) s.off("end", l as () => void);
          s.on("error", () => s.destroy());
          s.once("finish", () => s.resume());
          res.detachSocket(res.socket as import("node:net").Socket);
          // dockerd's hijacked answers carry no Api-Version (its middleware headers are not written).
          s.write(`HTTP/1.1 200 OK\r\nContent-Type: ${contentType}\r\n${extra}\r\n`);
          return s;
        }
        socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${extra}\r\n`);
        if (head && head.length > 0) socket.unshift(head);
        return socket;
      },
    };
    // Answers dockerd gives before its routes run, with only the headers it sets by then.
    const early = (status: number, headers: Record<string, string>, body: string): void => {
      answered = true;
      if (res) {
        res.writeHead(status, { ...headers, "Content-Length": Buffer.byteLength(body) });
        res.end(req.method === "HEAD" ? undefined : body);
      } else writeRawResponse(status, body);
    };
    const { "Docker-Experimental": _experimental, ...versionHeaders } = COMMON_HEADERS;
    try {
      if (targetError !== undefined) throw targetError;
      if (vm && compareVersions(version, API_VERSION) > 0) {
        const message = `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`;
        early(400, { ...versionHeaders, "Content-Type": "application/json" }, JSON.stringify({ message }));
        return;
      }
      if (vm && compareVersions(version, MIN_API_VERSION) < 0) {
        const message = `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`;
        early(400, { ...versionHeaders, "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" }, `${message}\n`);
        return;
      }
      const pingOnly = typeof startingRouter.match(req.method ?? "GET", path) === "object";
      const m = (router ?? (pingOnly ? startingRouter : await routes)).match(req.method ?? "GET", path);
      // dockerd 20.10's router answers an unknown path, or a known path with another method, the same way.
      if (m === undefined || m === "methodNotAllowed") {
        early(404, { "Content-Type": "application/json" }, JSON.stringify({ message: "page not found" }));
        return;
      }
      ctx.params = m.params;
      await m.handler(ctx);
      if (!answered && !res?.headersSent) ctx.status(204);
    } catch (err) {
      // A request whose body broke off (bad chunked encoding, truncated, client gone)
      // fails in whatever consumed it: that is the client's doing, not an internal error.
      const broken = req.errored ?? undefined;
      const e = res && !req.complete && broken !== undefined && (err === broken || messageOf(err) === messageOf(broken)) ? invalid(`reading the request body: ${messageOf(broken)}`) : err;
      const status = statusOf(e);
      if (status >= 500) log.error(`${req.method} ${req.url}: ${messageOf(e)}`);
      else log.debug(`${req.method} ${req.url}: ${status} ${messageOf(e)}`);
      if (hijacked) {
        socket.destroy();
      } else if (rawErrors) {
        const s = res ? (res.socket as Duplex) : socket;
        if (res) res.detachSocket(res.socket as import("node:net").Socket);
        s.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n${messageOf(e)}\r\n`);
      } else if (res && res.headersSent) {
        // Mid-stream failure: Docker streams report it in-band where they can; otherwise cut.
        res.destroy();
      } else if (res) {
        const body = JSON.stringify(errorBody(e));
        res.writeHead(status, { ...COMMON_HEADERS, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
        res.end(body);
      } else writeRawResponse(status, JSON.stringify(errorBody(e)));
    } finally {
      log.debug(`${req.method} ${req.url} ${Date.now() - started}ms`);
    }
  };

  // Last line of defence: whatever escapes dispatch (a bug) costs this request, never the daemon.
  const guarded = (req: IncomingMessage, res: ServerResponse | null, socket: Duplex, head: Buffer | null): void => {
    dispatch(req, res, socket, head).catch((e: unknown) => {
      log.error(`${req.method} ${req.url}: unhandled: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      try {
        if (res && !res.headersSent) {
          res.writeHead(500, { ...COMMON_HEADERS, "Content-Type": "application/json", Connection: "close" });
          res.end(JSON.stringify({ message: "internal error" }));
        } else socket.destroy();
      } catch {
        socket.destroy();
      }
    });
  };
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    guarded(req, res, req.socket, null);
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Hold the bytes that follow the headers (exec start's body, early stdin) until a
    // handler reads them: a flowing socket without a 'data' listener would drop them.
    socket.pause();
    socket.on("error", () => socket.destroy());
    // Once we have ended our side (an error answer, the end of a stream), read and drop what
    // the client still sends: a paused socket would never see its EOF and never close.
    socket.once("finish", () => socket.resume());
    guarded(req, null, socket, head);
  });
  server.on("tlsClientError", (err: Error) => log.debug(`TLS handshake refused: ${err.message}`));
  // Requests node's parser refuses (bad request line, header bytes, lengths, chunk sizes):
  // answered as Go's server answers them for dockerd.
  server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
    log.debug(`refused a malformed request: ${err.code ?? ""} ${err.message}`);
    if (!(socket as import("node:net").Socket).writable) return void socket.destroy();
    const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${status}`);
  });
  return server;
}

/** The next chunk a paused socket receives (null at its end). */
function readSocket(socket: Duplex): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const done = (b: Buffer | null): void => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.pause();
      resolve(b);
    };
    const onData = (b: Buffer): void => done(b);
    const onEnd = (): void => done(null);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.resume();
  });
}

/** Start a chunked JSON-lines stream (progress, events). */
export function startJsonStream(res: ServerResponse, status = 200): void {
  res.writeHead(status, { ...COMMON_HEADERS, "Content-Type": "application/json" });
  res.flushHeaders();
}

/** Start a raw or multiplexed output stream; dockerd before API 1.42 names no Content-Type (undefined). */
export function startStream(res: ServerResponse, contentType: string | undefined): void {
  res.writeHead(200, contentType === undefined ? COMMON_HEADERS : { ...COMMON_HEADERS, "Content-Type": contentType });
  res.flushHeaders();
}

export function requireRes(ctx: Ctx): ServerResponse {
  if (!ctx.res) throw invalid("this endpoint cannot be used with an upgrade request");
  return ctx.res;
}

// --- query helpers -------------------------------------------------------------

export function qBool(q: URLSearchParams, name: string, def = false): boolean {
  const v = q.get(name);
  if (v === null || v === "") return def;
  return !["0", "false", "False", "FALSE", "no"].includes(v);
}

export function qInt(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw invalid(`invalid value for ${name}: ${JSON.stringify(v)}`);
  return Number(v);
}

/** Docker's `filters` query parameter: {"key": ["v"]} or the old {"key": {"v": true}}. */
export function qFilters(q: URLSearchParams): Record<string, string[]> {
  const raw = q.get("filters");
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(`invalid filter: ${raw}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw invalid(`invalid filter: ${raw}`);
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (Array.isArray(v)) out[k] = v.map(String);
    else if (typeof v === "object" && v !== null) out[k] = Object.entries(v as Record<string, unknown>).filter(([, b]) => b === true).map(([x]) => x);
    else throw invalid(`invalid filter: ${raw}`);
  }
  return out;
}
