/**
 * The dashboard's HTTP server: the bundled UI (dist/dashboard, built by scripts/build-dashboard.mjs),
 * an authenticated, Origin-checked reverse proxy for the Engine API routes the UI uses (routes.ts),
 * the live feed (feed.ts) and the exec terminal (exec.ts) over WebSockets. It only talks to an Engine
 * API endpoint (upstream.ts), so `berthd --dashboard-addr` and `berth dashboard` serve the same thing.
 */
import { promises as fs } from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { type Gate, check } from "./auth.js";
import { Feed, type FeedOptions } from "./feed.js";
import { bridgeExec } from "./exec.js";
import { REPO_NAME, RegistryError, type RegistryView } from "./registry.js";
import { routeOf } from "./routes.js";
import type { Upstream } from "./upstream.js";

export const ASSETS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dashboard");

const TYPES: Record<string, string> = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml" };

const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
};

export interface ServerOptions {
  gate: Gate;
  upstream: Upstream;
  tls?: { cert: Buffer | string; key: Buffer | string };
  feed?: FeedOptions;
  assets?: string;
  /** The registry view's registry (--dashboard-registry); without it the view is hidden. */
  registry?: RegistryView;
}

export interface DashboardServer {
  server: http.Server;
  feed: Feed;
  close(): void;
}

function sendJson(res: http.ServerResponse, status: number, message: string): void {
  sendBody(res, status, { message });
}

function sendBody(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body), "Cache-Control": "no-store", ...SECURITY_HEADERS });
  res.end(body);
}

function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message });
  socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ""}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

async function serveStatic(root: string, urlPath: string, res: http.ServerResponse): Promise<void> {
  const rel = urlPath === "/" ? "index.html" : urlPath.slice(1);
  if (!/^(index\.html|assets\/[A-Za-z0-9_.-]+)$/.test(rel)) return sendJson(res, 404, "not found");
  const file = path.join(root, rel);
  const data = await fs.readFile(file).catch(() => undefined);
  if (!data) return sendJson(res, 404, "not found");
  res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream", "Content-Length": data.length, "Cache-Control": rel === "index.html" ? "no-cache" : "max-age=300", ...SECURITY_HEADERS });
  res.end(data);
}

/** GET /api/_registry/repositories, /api/_registry/repositories/<name>/tags: the registry view's reads. */
function serveRegistry(reg: RegistryView | undefined, apiPath: string, res: http.ServerResponse): void {
  if (!reg) return sendJson(res, 404, "dashboard: no registry is set (--dashboard-registry)");
  const tags = apiPath.match(/^\/_registry\/repositories\/(.+)\/tags$/);
  if (tags && !REPO_NAME.test(tags[1] as string)) return sendJson(res, 400, `dashboard: invalid repository name "${tags[1]}"`);
  if (!tags && apiPath !== "/_registry/repositories") return sendJson(res, 404, `dashboard: GET ${apiPath} is not available through the dashboard`);
  const work = tags ? reg.tags(tags[1] as string) : reg.catalog();
  work.then(
    (v) => sendBody(res, 200, v),
    (e: unknown) => sendJson(res, e instanceof RegistryError ? e.status : 502, e instanceof Error ? e.message : String(e)),
  );
}

function proxy(up: Upstream, req: http.IncomingMessage, res: http.ServerResponse, apiPath: string, search: string): void {
  const headers: http.OutgoingHttpHeaders = {};
  if (req.headers["content-type"]) headers["Content-Type"] = req.headers["content-type"];
  if (req.headers["content-length"]) headers["Content-Length"] = req.headers["content-length"];
  const out = up.request(req.method ?? "GET", apiPath + search, headers);
  out.on("response", (r) => {
    const h: http.OutgoingHttpHeaders = { "Cache-Control": "no-store", ...SECURITY_HEADERS };
    if (r.headers["content-type"]) h["Content-Type"] = r.headers["content-type"];
    res.writeHead(r.statusCode ?? 502, h);
    res.flushHeaders();
    r.pipe(res);
  });
  out.on("error", (e) => {
    if (!res.headersSent) sendJson(res, 502, `dashboard: the Engine API did not answer: ${e.message}`);
    else res.destroy();
  });
  // A browser that goes away (closed tab, stopped log follow) ends the upstream request too; a finished
  // one leaves its pooled connection alone.
  res.on("close", () => {
    if (!res.writableFinished) out.destroy();
  });
  req.pipe(out);
}

export function makeDashboardServer(opts: ServerOptions): DashboardServer {
  const { gate, upstream } = opts;
  const assets = opts.assets ?? ASSETS;
  const feed = new Feed(upstream, opts.feed);
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1 << 20, handleProtocols: (protos) => (protos.has("berth") ? "berth" : false) });

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    if (url.pathname.startsWith("/api/")) {
      const apiPath = url.pathname.slice(4);
      const method = req.method ?? "GET";
      const refused = check(gate, req, "api", method !== "GET" && method !== "HEAD");
      if (refused) return sendJson(res, refused.status, refused.message);
      if (apiPath === "/_dashboard" && method === "GET") return sendBody(res, 200, { readOnly: gate.readOnly, registry: opts.registry?.url ?? null });
      if (apiPath.startsWith("/_registry/") && method === "GET") return serveRegistry(opts.registry, apiPath, res);
      if (!routeOf(method, apiPath)) return sendJson(res, 404, `dashboard: ${method} ${apiPath} is not available through the dashboard`);
      return proxy(upstream, req, res, apiPath, url.search);
    }
    const refused = check(gate, req, "static", false);
    if (refused) return sendJson(res, refused.status, refused.message);
    if (req.method !== "GET" && req.method !== "HEAD") return sendJson(res, 405, "method not allowed");
    void serveStatic(assets, url.pathname, res);
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);

  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const exec = url.pathname.match(/^\/ws\/exec\/([A-Za-z0-9][A-Za-z0-9_.-]*)$/);
    if (url.pathname !== "/ws/feed" && !exec) return refuseUpgrade(socket, 404, "not found");
    const refused = check(gate, req, "websocket", exec !== null);
    if (refused) return refuseUpgrade(socket, refused.status, refused.message);
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (exec) void bridgeExec(ws, upstream, exec[1] as string, url.searchParams);
      else feed.add(ws);
    });
  });
  server.on("clientError", (_e, socket) => socket.destroy());

  return {
    server,
    feed,
    close() {
      feed.close();
      for (const ws of wss.clients) ws.terminate();
      server.close();
      server.closeAllConnections();
    },
  };
}

/** HOST:PORT, [V6]:PORT. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = addr.match(/^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/);
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`invalid dashboard address "${addr}": use HOST:PORT (for example 127.0.0.1:8080; port 0 picks a free one)`);
  return { host: (m[1] ?? m[2]) as string, port };
}

export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return net.isIPv4(host) && host.startsWith("127.");
}
