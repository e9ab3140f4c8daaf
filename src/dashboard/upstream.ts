/**
 * The Engine API endpoint the dashboard talks to: berthd's own Unix socket, or for `berth dashboard`
 * the CLI's connection (Unix socket, TCP, TCP+TLS). Plain node:http/https requests; the dashboard
 * never reaches into the engine, so berthd's and the CLI's dashboards are the same code.
 */
import http from "node:http";
import https from "node:https";
import type net from "node:net";
import type tls from "node:tls";

export interface UpstreamTarget {
  socketPath?: string;
  host?: string;
  port?: number;
  /** TLS client options (CA, client certificate) for a tcp+tls endpoint. */
  tls?: tls.ConnectionOptions;
}

export interface Upstream {
  /** A request to the Engine API (path includes the query). */
  request(method: string, path: string, headers?: http.OutgoingHttpHeaders): http.ClientRequest;
  /** Send a request and collect a JSON (or empty) answer; a status >= 400 rejects with the daemon's message. */
  json<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** A hijacked connection (POST with Upgrade: tcp), as `docker exec -it` makes. */
  hijack(path: string, body: unknown): Promise<net.Socket>;
}

export class UpstreamError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function makeUpstream(t: UpstreamTarget): Upstream {
  const agent = t.tls ? new https.Agent({ keepAlive: true, maxSockets: 64, ...t.tls }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
  const streamAgent = t.tls ? new https.Agent({ ...t.tls }) : new http.Agent();
  const request = (method: string, path: string, headers: http.OutgoingHttpHeaders = {}, long = false): http.ClientRequest => {
    const opts: http.RequestOptions = { method, path, headers: { "User-Agent": "berth-dashboard", ...headers }, agent: long ? streamAgent : agent };
    if (t.socketPath) opts.socketPath = t.socketPath;
    else {
      opts.host = t.host;
      opts.port = t.port;
    }
    return t.tls ? https.request({ ...opts, ...t.tls }) : http.request(opts);
  };
  return {
    // Streams (logs -f, events, stats) hold their connection: they do not take the pooled ones.
    request: (method, path, headers) => request(method, path, headers, /[?&](follow|stream)=(1|true)/.test(path) || path.startsWith("/events")),
    json<T>(method: string, path: string, body?: unknown): Promise<T> {
      return new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
        const req = request(method, path, payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {});
        req.on("error", reject);
        req.on("response", (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let value: unknown;
            try {
              value = text === "" ? undefined : JSON.parse(text);
            } catch {
              value = text;
            }
            if ((res.statusCode ?? 500) >= 400) {
              const msg = typeof value === "object" && value !== null && "message" in value ? String((value as { message: unknown }).message) : text.trim();
              reject(new UpstreamError(res.statusCode ?? 500, msg));
            } else resolve(value as T);
          });
        });
        req.end(payload);
      });
    },
    hijack(path: string, body: unknown): Promise<net.Socket> {
      return new Promise((resolve, reject) => {
        const payload = Buffer.from(JSON.stringify(body));
        const req = request("POST", path, { "Content-Type": "application/json", "Content-Length": payload.length, Connection: "Upgrade", Upgrade: "tcp" }, true);
        req.on("error", reject);
        req.on("upgrade", (_res, socket, head) => {
          if (head.length > 0) socket.unshift(head);
          resolve(socket);
        });
        req.on("response", (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => reject(new UpstreamError(res.statusCode ?? 500, Buffer.concat(chunks).toString("utf8").trim() || `status ${res.statusCode}`)));
        });
        req.end(payload);
      });
    },
  };
}
