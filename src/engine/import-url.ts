/**
 * POST /images/create?fromSrc=<URL>: dockerd downloads the archive itself
 * (remotecontext.GetWithStatusError: http:// is assumed without a scheme,
 * redirects are followed, a 4xx/5xx is an error with the answer's body) and
 * reports "Downloading from <url>" then "Importing" progress. Hand-written: a
 * GET with Go's error wording; node's http has no redirect following.
 */
import http from "node:http";
import { Transform, type Readable } from "node:stream";
import type { Transport } from "../registry/index.js";
import { EngineError, errnoCode, invalid, notFound } from "../util/errors.js";
import { describeNetError } from "./distribution/errors.js";
import { progress, status, throttled, type ProgressSink } from "./progress.js";

const MAX_REDIRECTS = 10;
const CONNECT_TIMEOUT_MS = 30_000;

function get(transport: Transport, url: URL, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method: "GET", timeout: CONNECT_TIMEOUT_MS, ...(signal ? { signal } : {}) }, resolve);
    req.on("timeout", () => req.destroy(new EngineError("internal", "request timed out")));
    req.on("error", reject);
    req.end();
  });
}

async function readSome(res: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    chunks.push(c as Buffer);
    n += (c as Buffer).length;
    if (n >= max) break;
  }
  res.destroy();
  return Buffer.concat(chunks).toString("utf8").slice(0, max);
}

/** Open the archive at `src` (the fromSrc parameter): its body and length (-1 if unknown). */
export async function openImportUrl(src: string, transport: Transport, signal?: AbortSignal): Promise<{ url: string; body: Readable; length: number; headers: http.IncomingHttpHeaders }> {
  const text = src.includes("://") ? src : `http://${src}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(`parse "${text}": invalid URL`);
  }
  const first = url.toString();
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new EngineError("internal", `Get "${first}": unsupported protocol scheme "${url.protocol.slice(0, -1)}"`);
  for (let hop = 0; ; hop++) {
    let res: http.IncomingMessage;
    try {
      res = await get(transport, url, signal);
    } catch (e) {
      const msg = describeNetError(e, "GET", url.toString()) ?? `Get "${url.toString()}": ${e instanceof Error ? e.message : String(e)}`;
      throw errnoCode(e) === "ENOTFOUND" ? notFound(msg) : new EngineError("internal", msg);
    }
    const code = res.statusCode ?? 0;
    if (code >= 300 && code < 400 && res.headers.location !== undefined) {
      res.resume();
      if (hop + 1 >= MAX_REDIRECTS) throw new EngineError("internal", `Get "${url.toString()}": stopped after ${MAX_REDIRECTS} redirects`);
      url = new URL(res.headers.location, url);
      continue;
    }
    if (code >= 400) {
      const body = (await readSome(res, 64 * 1024)).trim();
      const msg = `failed to GET ${first} with status ${code} ${http.STATUS_CODES[code] ?? ""}: ${body}`;
      if (code === 404) throw notFound(msg);
      if (code === 400) throw invalid(msg);
      throw new EngineError("internal", msg);
    }
    const length = Number(res.headers["content-length"] ?? -1);
    return { url: first, body: res, length: Number.isFinite(length) ? length : -1, headers: res.headers };
  }
}

/** The body with dockerd's "Downloading from" line and "Importing" progress (no id) on `out`. */
export function importProgress(opened: { url: string; body: Readable; length: number }, out: ProgressSink): Readable {
  out(status(undefined, `Downloading from ${opened.url}`));
  let n = 0;
  const tick = (b: number): void => {
    const { id: _id, ...m } = progress("", "Importing", b, opened.length);
    out(m);
  };
  const bar = throttled(100, tick);
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      bar.update(n);
      cb(null, chunk);
    },
    flush(cb) {
      bar.flush(n);
      cb();
    },
  });
  opened.body.on("error", (e) => counter.destroy(e));
  return opened.body.pipe(counter);
}
