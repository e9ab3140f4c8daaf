/**
 * The pieces of dockerd's `filters` package every list/prune route shares: label matching and
 * the time values of since/until filters. One copy, one unit (seconds), so areas cannot drift.
 */
import { parseGoDuration } from "./duration.js";

/** filters.MatchKVList: every wanted "key" is present, every "key=value" equal. */
export function matchLabels(labels: Record<string, string> | null | undefined, wanted: readonly string[]): boolean {
  const l = labels ?? {};
  return wanted.every((w) => {
    const i = w.indexOf("=");
    if (i < 0) return Object.prototype.hasOwnProperty.call(l, w);
    return l[w.slice(0, i)] === w.slice(i + 1);
  });
}

/**
 * timetypes.GetTimestamp as dockerd applies it to since/until filters: a Go duration before
 * `now` ("10m", "1h30m"), unix seconds ("1700000000", "1700000000.5"), or an RFC 3339 date or
 * date-time (without a zone: UTC, as dockerd on a UTC host). Returns unix seconds, or undefined
 * for a value that is none of these (each caller answers with its area's dockerd message).
 */
export function parseTimestamp(value: string, now = Date.now()): number | undefined {
  if (value === "") return undefined;
  if (/^\d+(\.\d{1,9})?$/.test(value)) return Number(value);
  const d = parseGoDuration(value);
  if (d !== undefined) return (now - d) / 1000;
  let v = value;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) v += "T00:00:00";
  if (/T\d{2}$/.test(v)) v += ":00";
  if (/^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(v)) v += "Z";
  if (!/^\d{4}-\d{2}-\d{2}T/.test(v)) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t / 1000;
}
