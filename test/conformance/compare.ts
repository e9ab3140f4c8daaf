/**
 * Structural comparison of two normalised answers: same keys, same types, same
 * values; each difference is reported at its dotted path with both sides.
 */
export interface Difference {
  scenario: string;
  step: number;
  /** "status", "headers.content-type", "body.State.Status", "stdout", … */
  where: string;
  ref: string;
  berth: string;
  /** The allowlist entry's reason, when one covers it. */
  allowed?: string;
}

const MISSING = "<absent>";

function show(v: unknown): string {
  if (v === undefined) return MISSING;
  const s = JSON.stringify(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

/** "a.*.b" style globs against a dotted path. */
export function globMatch(glob: string, where: string): boolean {
  if (glob.endsWith("*") && !glob.endsWith(".*")) return where.startsWith(glob.slice(0, -1));
  const g = glob.split(".");
  const w = where.split(".");
  if (g.length !== w.length) return false;
  return g.every((p, i) => p === "*" || p === w[i]);
}

/**
 * Compare at `where`. Paths matching `ignore` are compared by type only (an
 * ignored object or array is not looked into); below a path matching `shape`
 * keys, lengths and types are compared but not primitive values.
 */
export function diff(ref: unknown, berth: unknown, where: string, ignore: readonly string[], out: Array<{ where: string; ref: string; berth: string }>, shape: readonly string[] = [], shapeOnly = false): void {
  const ignored = ignore.some((g) => globMatch(g, where));
  shapeOnly ||= shape.some((g) => globMatch(g, where));
  const tr = typeOf(ref);
  const tb = typeOf(berth);
  if (ref === undefined || berth === undefined || tr !== tb) {
    if (ref === undefined && berth === undefined) return;
    out.push({ where, ref: ref === undefined ? MISSING : `${tr} ${show(ref)}`, berth: berth === undefined ? MISSING : `${tb} ${show(berth)}` });
    return;
  }
  if (ignored) return;
  if (tr === "array") {
    const a = ref as unknown[];
    const b = berth as unknown[];
    if (a.length !== b.length) {
      out.push({ where: `${where}.length`, ref: `${a.length} ${show(a)}`, berth: `${b.length} ${show(b)}` });
      return;
    }
    a.forEach((x, i) => diff(x, b[i], `${where}.${i}`, ignore, out, shape, shapeOnly));
    return;
  }
  if (tr === "object") {
    const a = ref as Record<string, unknown>;
    const b = berth as Record<string, unknown>;
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff(a[k], b[k], `${where}.${k}`, ignore, out, shape, shapeOnly);
    return;
  }
  if (ref !== berth && !shapeOnly) out.push({ where, ref: show(ref), berth: show(berth) });
}
