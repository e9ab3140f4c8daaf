/**
 * The targets of issue #14, by result row: a ratio berth/dockerd (lower is
 * better) or an absolute bound on berth's value. The report shows the target
 * and whether this run met it.
 */
export interface Target {
  /** As printed in the report. */
  text: string;
  /** Judged on the ratio berth/dockerd, or on berth's own value. */
  on: "ratio" | "berth";
  max: number;
  /** Whether equal to `max` still meets it (<=) or not (<). */
  inclusive: boolean;
}

const ratio = (max: number): Target => ({ text: `<= ${max.toFixed(2)}`, on: "ratio", max, inclusive: true });

export const TARGETS: Readonly<Record<string, Target>> = {
  "idle-after-work.total": { text: "<= 50 MiB", on: "berth", max: 50, inclusive: true },
  "idle-ctrs-50.perCtr": { text: "< 0.5 MiB", on: "berth", max: 0.5, inclusive: false },
  "push-60mb": ratio(0.6),
  "exec-true": ratio(0.5),
  "list-json-50": ratio(0.5),
  images: ratio(0.8),
  "pull-60mb": ratio(0.5),
  "run-true": ratio(0.3),
  "run-none": ratio(0.35),
  "daemon-start": ratio(1.0),
};

/** "met" / "NOT met", or undefined when the row has no target or a value is missing. */
export function judge(rowId: string, dockerd: number | undefined, berth: number | undefined): string | undefined {
  const t = TARGETS[rowId];
  if (t === undefined || berth === undefined) return undefined;
  let v = berth;
  if (t.on === "ratio") {
    if (dockerd === undefined || !(dockerd > 0)) return undefined;
    v = berth / dockerd;
  }
  const ok = t.inclusive ? v <= t.max : v < t.max;
  return ok ? "met" : "NOT met";
}
