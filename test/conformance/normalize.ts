/**
 * Turns one engine's answer into a comparable tree: what differs by nature
 * between two daemons (ids, generated names, times, addresses, pids, its own
 * paths and version) becomes a placeholder, consistently within a scenario so
 * that "the same id twice" still compares. Everything else is left as it came.
 */
import { demux, type ApiResponse } from "./client.js";

/** Per engine, per scenario: saved variables and the ids seen so far. */
export class Normalizer {
  private readonly hex = new Map<string, string>();
  readonly vars = new Map<string, string>();
  /** 64-hex values both engines answered (layer digests, the fixture's ids): the same thing, left as they are. */
  common = new Set<string>();

  constructor(
    /** Engine-specific strings (data-root, exec-root, socket dir) → placeholder. */
    private readonly paths: ReadonlyArray<[string, string]>,
  ) {}

  private hexName(h: string): string {
    let n = this.hex.get(h);
    if (n === undefined) {
      n = `<hex#${this.hex.size + 1}>`;
      this.hex.set(h, n);
    }
    return n;
  }

  str(s: string): string {
    for (const [p, name] of this.paths) s = s.split(p).join(name);
    // Saved variables first (longest first), so "<c1>" reads better than "<hex#3>".
    const vars = [...this.vars.entries()].filter(([, v]) => v.length >= 4).sort((a, b) => b[1].length - a[1].length);
    for (const [k, v] of vars) {
      if (/^[0-9a-f]{64}$/.test(v)) {
        s = s.split(v).join(`<${k}>`).split(v.slice(0, 12)).join(`<${k}:12>`);
      } else if (v.length >= 8 || /^[0-9a-f]+$/.test(v)) s = s.split(v).join(`<${k}>`);
    }
    s = s.replace(/\b[0-9a-f]{64}\b/g, (h) => (this.common.has(h) ? h : this.hexName(h)));
    s = s.replace(/\b[0-9a-f]{12}\b/g, (h) => {
      for (const [full, name] of this.hex) if (full.startsWith(h)) return `${name.slice(0, -1)}:12>`;
      return /[a-f]/.test(h) && /[0-9]/.test(h) ? "<hex12>" : h;
    });
    s = s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)/g, (t) => (t.startsWith("0001-01-01") ? t : "<time>"));
    s = s.replace(/\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b/g, "<mac>");
    s = s.replace(/\b(\d{1,3}\.){3}\d{1,3}\b/g, (ip) => (ip === "0.0.0.0" || ip.startsWith("127.") ? ip : "<ip>"));
    // `docker ps` durations: "Up 2 seconds", "Exited (0) Less than a second ago".
    s = s.replace(/(\bUp|\(\d+\)) (Less than a second|About a minute|About an hour|\d+ (second|minute|hour)s?)/g, "$1 <duration>");
    return s;
  }

  value(v: unknown, key?: string): unknown {
    if (typeof v === "string") return this.str(v);
    if (typeof v === "number" && key !== undefined && VOLATILE_NUMBERS.has(key)) return "<number>";
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      // Keys in sorted order: placeholders are numbered the same whatever order each engine wrote them in.
      for (const [k, x] of Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[this.str(k)] = this.value(x, k);
      return out;
    }
    return v;
  }
}

/** Numbers that differ by nature: pids, times, writable-layer sizes. */
const VOLATILE_NUMBERS = new Set(["Pid", "Created", "time", "timeNano", "SizeRw", "SizeRootFs", "Uptime", "ExitCodeTime", "IPPrefixLen"]);

/** Headers a client may look at; anything else (Date, Content-Length vs chunked) is transport. */
const HEADERS = ["content-type", "api-version", "docker-experimental", "ostype", "server", "swarm", "builder-version", "cache-control", "pragma", "x-docker-container-path-stat", "connection", "upgrade"];

function headerValue(name: string, v: string, n: Normalizer): unknown {
  if (name === "api-version") return /^\d+\.\d+$/.test(v) ? "<version>" : v;
  if (name === "server") return "<server>";
  if (name === "connection" || name === "upgrade") return v.toLowerCase();
  if (name === "x-docker-container-path-stat") {
    try {
      return n.value(JSON.parse(Buffer.from(v, "base64").toString("utf8")));
    } catch {
      return `<undecodable ${v}>`;
    }
  }
  return n.str(v);
}

export function normalizeResponse(r: ApiResponse, n: Normalizer, opts: { frames?: boolean; unordered?: boolean }): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const h of HEADERS) if (r.headers[h] !== undefined) headers[h] = headerValue(h, r.headers[h], n);
  const out: Record<string, unknown> = { status: r.status, headers, body: normalizeBody(r, n, opts) };
  if (r.status === 101 || opts.frames) out["ended"] = r.ended;
  return out;
}

function normalizeBody(r: ApiResponse, n: Normalizer, opts: { frames?: boolean; unordered?: boolean }): unknown {
  if (r.raw.length === 0) return "";
  const type = (r.headers["content-type"] ?? "").split(";")[0]?.trim() ?? "";
  if (opts.frames) {
    const f = demux(r.raw);
    return f === null ? { raw: n.str(r.raw.toString("utf8")) } : { frames: f.map((x) => ({ stream: x.stream, data: n.str(x.data) })) };
  }
  const text = r.raw.toString("utf8");
  if (type === "application/json") {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      const lines = text.split("\n").filter((l) => l.trim() !== "");
      try {
        v = { jsonLines: collapseProgress(lines.map((l) => JSON.parse(l) as unknown)) };
      } catch {
        return { invalidJson: n.str(text) };
      }
    }
    const norm = n.value(v);
    return opts.unordered ? sortArrays(norm) : norm;
  }
  if (type === "application/x-tar" || type === "application/octet-stream") return { bytes: r.raw.length > 0 ? "<non-empty>" : "<empty>" };
  return n.str(text);
}

/**
 * Progress ticks ("Downloading", "Pushing", "Extracting" with progressDetail.current)
 * come as often and with sizes as each engine's transfer and compressor make them:
 * a run of ticks of one id and status becomes one line, its numbers and bar placeholders.
 * "Verifying Checksum" goes: dockerd's transfer manager passes a watcher only the latest
 * status of a layer, so that short-lived one shows or not by timing.
 */
function collapseProgress(lines: unknown[]): unknown[] {
  const out: Array<Record<string, unknown>> = [];
  for (const l of lines) {
    if (l === null || typeof l !== "object") return lines;
    const o = l as Record<string, unknown> & { progressDetail?: { current?: unknown } };
    if (o["status"] === "Verifying Checksum") continue;
    if (typeof o.progressDetail?.current !== "number") {
      out.push(o);
      continue;
    }
    const prev = out[out.length - 1];
    if (prev !== undefined && prev["progress"] === "<progress>" && prev["id"] === o["id"] && prev["status"] === o["status"]) continue;
    out.push({ ...o, progress: "<progress>", progressDetail: { current: "<n>", total: "<n>" } });
  }
  return out;
}

/** Sort every array by the JSON of its (normalised) elements. */
export function sortArrays(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortArrays).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, sortArrays(x)]));
  return v;
}

/** The value at a dotted path ("Id", "0.Id", "State.Pid"). */
export function pick(v: unknown, dotted: string): unknown {
  let cur = v;
  for (const k of dotted.split(".")) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}
