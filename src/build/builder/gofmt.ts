/**
 * The few Go fmt renderings that appear in Docker's build history and output
 * (`CMD ["sh" "-c" "x"]`, `VOLUME [/a /b]`, `HEALTHCHECK &{Test:[…] Interval:30s …}`),
 * so images built here record what Docker's legacy builder records.
 */

/** strconv.Quote (close enough: JSON escaping with Go's \x/\u forms for control characters). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (c === 7) out += "\\a";
    else if (c === 8) out += "\\b";
    else if (c === 12) out += "\\f";
    else if (c === 11) out += "\\v";
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** fmt's %q of a []string: ["a" "b"]. */
export function goQuoteSlice(v: readonly string[] | null | undefined): string {
  return `[${(v ?? []).map(goQuote).join(" ")}]`;
}

/** fmt's %v of a []string: [a b]. */
export function goSlice(v: readonly string[] | null | undefined): string {
  return `[${(v ?? []).join(" ")}]`;
}

/** time.Duration.String for nanoseconds: 1h2m3.5s, 500ms, 0s. */
export function goDuration(ns: number): string {
  if (ns === 0) return "0s";
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e3) out = `${n}ns`;
  else if (n < 1e6) out = `${trim(n / 1e3)}µs`;
  else if (n < 1e9) out = `${trim(n / 1e6)}ms`;
  else {
    const h = Math.floor(n / 3600e9);
    n -= h * 3600e9;
    const m = Math.floor(n / 60e9);
    n -= m * 60e9;
    const s = `${trim(n / 1e9)}s`;
    out = h > 0 ? `${h}h${m}m${s}` : m > 0 ? `${m}m${s}` : s;
  }
  return neg ? `-${out}` : out;
}

function trim(x: number): string {
  return String(Number(x.toFixed(9)));
}

/** fmt's %+v of a *HealthConfig. */
export function goHealthcheck(h: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number }): string {
  return `&{Test:${goSlice(h.Test)} Interval:${goDuration(h.Interval ?? 0)} Timeout:${goDuration(h.Timeout ?? 0)} StartPeriod:${goDuration(h.StartPeriod ?? 0)} StartInterval:${goDuration(h.StartInterval ?? 0)} Retries:${h.Retries ?? 0}}`;
}
