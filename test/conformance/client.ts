/**
 * Raw Engine API requests over a unix socket, as any client library sends them:
 * plain JSON answers, streams (chunked JSON lines, multiplexed or raw output,
 * tar bodies) and the `Upgrade: tcp` hijack of attach/exec. Hand-written because
 * the point is to see the wire exactly (status line, headers, frames, where a
 * stream ends) and no maintained library exposes all of it.
 */
import http from "node:http";
import type { Socket } from "node:net";
import { WebSocket } from "ws";

export interface ApiRequest {
  method: string;
  /** Path with query, e.g. /v1.41/containers/json?all=1 */
  path: string;
  headers?: Record<string, string>;
  /** JSON value (serialised), string or bytes. */
  body?: unknown;
  /** Ask for the hijack (`Connection: Upgrade`, `Upgrade: tcp`). */
  upgrade?: boolean;
  /** Bytes to send after the upgrade (stdin); the write side is then closed. */
  stdin?: string;
  /** Stop reading after this many ms (endless streams: events, logs -f, stats); the stream is then "open". */
  readMs?: number;
  timeoutMs?: number;
}

export interface Frame {
  stream: number;
  data: string;
}

export interface ApiResponse {
  status: number;
  statusText: string;
  headers: Record<string, string>;
  /** Raw body bytes (after the 101 for hijacks). */
  raw: Buffer;
  /** How the body ended: "end" (server closed or finished), "open" (cut by readMs). */
  ended: "end" | "open";
}

function encodeBody(body: unknown): Buffer | undefined {
  if (body === undefined) return undefined;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body);
  return Buffer.from(JSON.stringify(body));
}

function lowerHeaders(h: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

export function request(socketPath: string, r: ApiRequest): Promise<ApiResponse> {
  const body = encodeBody(r.body);
  const headers: Record<string, string> = { Host: "api", ...(r.headers ?? {}) };
  if (body !== undefined) {
    headers["Content-Type"] ??= Buffer.isBuffer(r.body) ? "application/x-tar" : "application/json";
    headers["Content-Length"] = String(body.length);
  }
  if (r.upgrade) {
    headers["Connection"] = "Upgrade";
    headers["Upgrade"] = "tcp";
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let cut: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => fail(new Error(`${r.method} ${r.path}: no complete answer within ${r.timeoutMs ?? 30_000} ms`)), r.timeoutMs ?? 30_000);
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (cut) clearTimeout(cut);
      req.destroy();
      reject(e);
    };
    const finish = (status: number, statusText: string, hdrs: Record<string, string>, ended: "end" | "open", stop: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (cut) clearTimeout(cut);
      stop();
      resolve({ status, statusText, headers: hdrs, raw: Buffer.concat(chunks), ended });
    };
    const req = http.request({ socketPath, method: r.method, path: r.path, headers, agent: false });
    req.on("error", (e) => fail(e));
    const collect = (src: NodeJS.ReadableStream & { destroy(): void }, status: number, text: string, hdrs: Record<string, string>): void => {
      src.on("data", (b: Buffer) => chunks.push(b));
      src.on("end", () => finish(status, text, hdrs, "end", () => undefined));
      src.on("close", () => finish(status, text, hdrs, "end", () => undefined));
      src.on("error", () => finish(status, text, hdrs, "end", () => undefined));
      if (r.readMs !== undefined) cut = setTimeout(() => finish(status, text, hdrs, "open", () => src.destroy()), r.readMs);
    };
    req.on("response", (res) => {
      collect(res, res.statusCode ?? 0, res.statusMessage ?? "", lowerHeaders(res.headers));
    });
    req.on("upgrade", (res, socket: Socket, head: Buffer) => {
      if (head.length > 0) chunks.push(head);
      collect(socket, res.statusCode ?? 0, res.statusMessage ?? "", lowerHeaders(res.headers));
      if (r.stdin !== undefined) socket.write(r.stdin);
      socket.end();
    });
    req.end(body);
  });
}

/** Docker's stdcopy framing: [stream, 0, 0, 0, size(4, BE)] + payload. Null if the bytes are not framed. */
export function demux(raw: Buffer): Frame[] | null {
  const frames: Frame[] = [];
  let off = 0;
  while (off < raw.length) {
    if (raw.length - off < 8) return null;
    const stream = raw[off] as number;
    if (stream > 3 || raw[off + 1] !== 0 || raw[off + 2] !== 0 || raw[off + 3] !== 0) return null;
    const size = raw.readUInt32BE(off + 4);
    if (off + 8 + size > raw.length) return null;
    frames.push({ stream, data: raw.subarray(off + 8, off + 8 + size).toString("utf8") });
    off += 8 + size;
  }
  // Transport chunking is not Docker's to define: merge consecutive frames of one stream.
  const merged: Frame[] = [];
  for (const f of frames) {
    const last = merged[merged.length - 1];
    if (last && last.stream === f.stream) last.data += f.data;
    else merged.push({ ...f });
  }
  return merged;
}

/** The answer to a websocket request: as ApiResponse (raw: every frame's payload in order), plus what kinds of frame came and the close code. */
export interface WsResponse extends ApiResponse {
  frameKinds: string[];
  closeCode?: number;
}

/**
 * A websocket request (GET …/attach/ws) with the `ws` client: the handshake's answer, then
 * the frames until the server closes (or `readMs` passes); `stdin` is sent as one text frame
 * once the socket is open. A refused handshake is answered as a plain response.
 */
export function wsRequest(socketPath: string, r: { path: string; stdin?: string; readMs?: number; timeoutMs?: number }): Promise<WsResponse> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws+unix://${socketPath}:${r.path}`);
    const chunks: Buffer[] = [];
    const kinds = new Set<string>();
    let status = 0;
    let statusText = "";
    let headers: Record<string, string> = {};
    let settled = false;
    const done = (v: WsResponse | Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (cut) clearTimeout(cut);
      if (v instanceof Error) reject(v);
      else resolve(v);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      done(new Error(`GET ${r.path}: no close within ${r.timeoutMs ?? 30_000} ms`));
    }, r.timeoutMs ?? 30_000);
    let cut: NodeJS.Timeout | undefined;
    const answer = (ended: "end" | "open", closeCode?: number): WsResponse => ({ status, statusText, headers, raw: Buffer.concat(chunks), ended, frameKinds: [...kinds].sort(), ...(closeCode !== undefined ? { closeCode } : {}) });
    ws.on("upgrade", (res) => {
      status = res.statusCode ?? 0;
      statusText = res.statusMessage ?? "";
      headers = lowerHeaders(res.headers);
    });
    ws.on("open", () => {
      if (r.stdin !== undefined) ws.send(r.stdin);
      if (r.readMs !== undefined)
        cut = setTimeout(() => {
          ws.terminate();
          done(answer("open"));
        }, r.readMs);
    });
    ws.on("message", (d: Buffer, binary: boolean) => {
      kinds.add(binary ? "binary" : "text");
      chunks.push(d);
    });
    ws.on("close", (code) => done(answer("end", code)));
    ws.on("unexpected-response", (_req, res) => {
      status = res.statusCode ?? 0;
      statusText = res.statusMessage ?? "";
      headers = lowerHeaders(res.headers);
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => done(answer("end")));
      res.on("error", () => done(answer("end")));
    });
    ws.on("error", (e) => done(e));
  });
}
