/**
 * Output formatting shared by the CLI commands, matching the docker CLI:
 * go-units sizes and durations, Go's tabwriter tables, id truncation, the
 * `--format` handling (table / json / Go template) and time parsing for
 * `--since`/`--until`.
 */
import { humanDuration, parseGoDuration } from "../util/duration.js";
import { type TemplateFuncs, Template, parseTemplate } from "./template.js";

export { Template, parseTemplate };

// --- numbers and sizes (github.com/docker/go-units) ---------------------------

/** Go's `fmt.Sprintf("%.*g", precision, v)`. */
export function goFormatG(v: number, precision: number): string {
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : v < 0 ? "-Inf" : "NaN";
  if (v === 0) return "0";
  const p = Math.max(1, precision);
  const exp = Number(v.toExponential(p - 1).split("e")[1]);
  if (exp < -4 || exp >= p) {
    const [mant = "", e = "0"] = v.toExponential(p - 1).split("e");
    const m = stripZeros(mant);
    const en = Number(e);
    return `${m}e${en < 0 ? "-" : "+"}${String(Math.abs(en)).padStart(2, "0")}`;
  }
  return stripZeros(v.toFixed(Math.max(0, p - 1 - exp)));
}

function stripZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

const DECIMAL_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

function customSize(size: number, precision: number, base: number, units: string[]): string {
  let i = 0;
  while (size >= base && i < units.length - 1) {
    size /= base;
    i++;
  }
  return `${goFormatG(size, precision)}${units[i] ?? ""}`;
}

/** units.HumanSizeWithPrecision: decimal units, e.g. "4.26MB" with precision 3. */
export function humanSize(bytes: number, precision = 3): string {
  return customSize(bytes, precision, 1000, DECIMAL_UNITS);
}

/** units.BytesSize: binary units with precision 4, e.g. "7.631GiB". */
export function bytesSize(bytes: number): string {
  return customSize(bytes, 4, 1024, BINARY_UNITS);
}

/** units.RAMInBytes: "512m", "1g", "100" (binary multiples), used by `-m/--memory`. */
export function ramInBytes(s: string): number {
  const m = s.trim().match(/^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i);
  if (!m) throw new Error(`invalid size: '${s}'`);
  const mult: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.floor(Number(m[1]) * (mult[(m[2] ?? "").toLowerCase()] ?? 1));
}

// --- durations ----------------------------------------------------------------

export { humanDuration, parseGoDuration };

/** "3 seconds ago" for a unix time in seconds. */
export function ago(unixSeconds: number, now = Date.now()): string {
  return `${humanDuration(now - unixSeconds * 1000)} ago`;
}

/**
 * The docker CLI's timetypes.GetTimestamp for `--since`/`--until`: a Go duration
 * (relative to now), an RFC 3339 date (local time without zone) or a unix
 * timestamp, returned as the "seconds[.nanoseconds]" string the API takes.
 */
export function getTimestamp(value: string, now = Date.now()): string {
  const d = value !== "0" ? parseGoDuration(value) : undefined;
  if (d !== undefined) return String(Math.trunc((now - d) / 1000));
  if (/^\d+(\.\d{1,9})?$/.test(value)) return value;
  if (value.includes("-")) {
    const hasZone = /[zZ+]/.test(value) || (value.match(/-/g) ?? []).length === 3;
    let v = value;
    if (/^\d{4}-\d{2}-\d{2}$/.test(v)) v += "T00:00:00";
    if (/T\d{2}$/.test(v)) v += ":00";
    const ms = Date.parse(hasZone ? v : v.replace(/Z$/, ""));
    if (!Number.isNaN(ms)) {
      const frac = value.match(/\.(\d{1,9})/);
      const nanos = frac ? Number((frac[1] ?? "").padEnd(9, "0")) : 0;
      return `${Math.floor(ms / 1000)}.${String(nanos).padStart(9, "0")}`;
    }
    throw new Error(`parsing time "${value}": invalid timestamp`);
  }
  throw new Error(`failed to parse value as time or duration: "${value}"`);
}

/** Go's time.Format(RFC3339NanoFixed) in local time: 2024-05-01T10:00:00.123456789+02:00. */
export function formatRfc3339NanoLocal(timeNano: bigint | number): string {
  const ns = BigInt(timeNano);
  const ms = Number(ns / 1_000_000n);
  const d = new Date(ms);
  const nanos = String(ns % 1_000_000_000n).padStart(9, "0");
  return `${localDate(d)}T${localClock(d)}.${nanos}${zoneOffset(d, true)}`;
}

/** Go's time.Unix(s, 0).Format(time.RFC3339) in local time: 2024-05-01T10:00:00+02:00. */
export function formatRfc3339Local(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${localDate(d)}T${localClock(d)}${zoneOffset(d, true)}`;
}

/** Go's time.Time.String() in local time: "2024-05-01 10:00:00 +0200 CEST". */
export function formatGoTime(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  return `${localDate(d)} ${localClock(d)} ${zoneOffset(d, false)} ${zoneName(d)}`;
}

const pad2 = (n: number): string => String(n).padStart(2, "0");
const localDate = (d: Date): string => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
const localClock = (d: Date): string => `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;

function zoneOffset(d: Date, rfc: boolean): string {
  const off = -d.getTimezoneOffset();
  if (rfc && off === 0) return "Z";
  const sign = off < 0 ? "-" : "+";
  const a = Math.abs(off);
  return `${sign}${pad2(Math.trunc(a / 60))}${rfc ? ":" : ""}${pad2(a % 60)}`;
}

function zoneName(d: Date): string {
  if (d.getTimezoneOffset() === 0 && (process.env["TZ"] === undefined || process.env["TZ"] === "" || process.env["TZ"] === "UTC")) return "UTC";
  try {
    const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(d).find((p) => p.type === "timeZoneName");
    if (part && /^[A-Z]{2,5}$/.test(part.value)) return part.value;
  } catch {
    // fall through
  }
  return zoneOffset(d, false);
}

// --- ids and strings ------------------------------------------------------------

/** stringid.TruncateID: drop the algorithm prefix, keep 12 hex digits. */
export function shortId(id: string): string {
  const i = id.indexOf(":");
  return (i >= 0 ? id.slice(i + 1) : id).slice(0, 12);
}

/** formatter.Ellipsis: cut to `max` characters with a trailing "…". */
export function ellipsis(s: string, max: number): string {
  const rs = [...s];
  if (max <= 0) return "";
  if (rs.length <= max) return s;
  if (max === 1) return rs[0] ?? "";
  return `${rs.slice(0, max - 1).join("")}…`;
}

/** Go's strconv.Quote (printable Unicode kept, control characters escaped). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\x07") out += "\\a";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (ch === "\v") out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** The short form of an image reference docker prints: "busybox:latest" for "docker.io/library/busybox". */
export function familiarReference(ref: string): string {
  let name = ref;
  let suffix = "";
  const at = name.indexOf("@");
  if (at >= 0) {
    suffix = name.slice(at);
    name = name.slice(0, at);
  }
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  let tag = "";
  if (colon > slash) {
    tag = name.slice(colon);
    name = name.slice(0, colon);
  } else if (suffix === "") tag = ":latest";
  if (name.startsWith("docker.io/library/")) name = name.slice("docker.io/library/".length);
  else if (name.startsWith("docker.io/")) name = name.slice("docker.io/".length);
  else if (name.startsWith("index.docker.io/library/")) name = name.slice("index.docker.io/library/".length);
  return `${name}${tag}${suffix}`;
}

/** Split "repo[:tag]" (the tag is after the last colon that follows the last slash). */
export function splitRepoTag(ref: string): { repo: string; tag: string } {
  const at = ref.indexOf("@");
  if (at >= 0) return { repo: ref.slice(0, at), tag: "" };
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: "" };
}

// --- tables (Go's text/tabwriter with minwidth 10, tabwidth 1, padding 3) ------

/**
 * Align tab-separated lines like `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`:
 * each tab-terminated cell is padded to max(width + 3, 10) over the block of
 * consecutive lines that have that column; the last cell of a line is not padded.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const endsWithNewline = text.endsWith("\n");
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split("\n").map((l) => l.split("\t"));
  const widths: number[][] = lines.map(() => []);
  // Column blocks: for column c, runs of consecutive lines with more than c+1 cells.
  const maxCols = Math.max(0, ...lines.map((l) => l.length - 1));
  for (let c = 0; c < maxCols; c++) {
    let start = 0;
    while (start < lines.length) {
      if ((lines[start]?.length ?? 0) - 1 <= c) {
        start++;
        continue;
      }
      let end = start;
      let w = 0;
      while (end < lines.length && (lines[end]?.length ?? 0) - 1 > c) {
        w = Math.max(w, runeLength(lines[end]?.[c] ?? ""));
        end++;
      }
      const width = Math.max(w + padding, minWidth);
      for (let i = start; i < end; i++) (widths[i] as number[])[c] = width;
      start = end;
    }
  }
  const out = lines.map((cells, i) =>
    cells
      .map((cell, c) => {
        if (c === cells.length - 1) return cell;
        const w = widths[i]?.[c] ?? 0;
        return cell + " ".repeat(Math.max(0, w - runeLength(cell)));
      })
      .join(""),
  );
  return out.join("\n") + (endsWithNewline ? "\n" : "");
}

function runeLength(s: string): number {
  return [...s].length;
}

/** Render rows (arrays of cells) as a docker table. */
export function table(rows: string[][]): string {
  return tabwrite(rows.map((r) => `${r.join("\t")}\n`).join(""));
}

// --- --format -----------------------------------------------------------------

export interface FormatSpec {
  kind: "table" | "json" | "raw";
  template: string;
}

/**
 * Interpret a `--format` value as docker does: "table ..." (header plus rows
 * aligned), "json" (one JSON object per line), or a plain Go template. `\t` and
 * `\n` escapes are expanded.
 */
export function parseFormat(format: string): FormatSpec {
  const f = format;
  if (f === "json") return { kind: "json", template: "{{json .}}" };
  if (f === "table" || f.startsWith("table ")) {
    return { kind: "table", template: expandEscapes(f.slice("table".length).trim()) };
  }
  return { kind: "raw", template: expandEscapes(f.trim()) };
}

function expandEscapes(s: string): string {
  return s.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
}

/**
 * Render items with a format spec. `headers` maps field names to table headers
 * (`{{.ID}}` → "CONTAINER ID"); for a "table" format with an empty template,
 * `defaultTable` is used.
 */
export function renderFormatted(items: object[], format: string, headers: Record<string, string>, defaultTable: string): string {
  const spec = parseFormat(format);
  const tmplText = spec.kind === "table" && spec.template === "" ? defaultTable : spec.template;
  const tmpl = parseTemplate(tmplText);
  let out = "";
  if (spec.kind === "table") {
    const headerFuncs: TemplateFuncs = {};
    for (const fn of ["json", "join", "split", "upper", "lower", "title", "pad", "truncate"]) headerFuncs[fn] = (v: unknown) => v;
    out += `${tmpl.execute(headers, { headerMode: true, funcs: headerFuncs })}\n`;
  }
  // `{{json .}}` of a formatter context goes through Go's json.Marshal, which escapes <, > and &.
  const funcs: TemplateFuncs = {
    json: (v: unknown) => (v !== null && typeof v === "object" && items.includes(v) ? goJsonHtmlEscape(JSON.stringify(v)) : v === undefined ? "null" : JSON.stringify(v)),
  };
  for (const item of items) out += `${tmpl.execute(item, { funcs })}\n`;
  return spec.kind === "table" ? tabwrite(out) : out;
}

/** Go's json.Marshal HTML escaping: <, >, &, U+2028 and U+2029 as \u escapes. */
export function goJsonHtmlEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** JSON the way Go's json.MarshalIndent(v, "", "    ") lays it out (docker inspect). */
export function indentJson(v: unknown): string {
  return goJsonHtmlEscape(JSON.stringify(v, null, 4) ?? "null");
}

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/**
 * Check an image reference the way docker's reference.ParseNormalizedNamed does;
 * returns an error message or undefined.
 */
export function referenceError(ref: string): string | undefined {
  let name = ref;
  const at = name.indexOf("@");
  if (at >= 0) {
    if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(name.slice(at + 1))) return "invalid reference format";
    name = name.slice(0, at);
  }
  const { repo, tag } = splitRepoTag(name);
  if (name.includes(":") && name.lastIndexOf(":") > name.lastIndexOf("/") && !TAG_RE.test(tag)) return "invalid reference format";
  if (repo === "") return "invalid reference format";
  const parts = repo.split("/");
  const first = parts[0] ?? "";
  const hasDomain = parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost" || first !== first.toLowerCase());
  if (hasDomain && !DOMAIN_RE.test(first)) return "invalid reference format";
  const path = hasDomain ? parts.slice(1) : parts;
  if (path.length === 0) return "invalid reference format";
  for (const p of path) {
    if (!PATH_COMPONENT_RE.test(p)) {
      if (PATH_COMPONENT_RE.test(p.toLowerCase())) return `invalid reference format: repository name (${hasDomain ? path.join("/") : parts.length === 1 ? `library/${repo}` : repo}) must be lowercase`;
      return "invalid reference format";
    }
  }
  if (repo.length > 255) return "invalid reference format: repository name must not be more than 255 characters";
  return undefined;
}
