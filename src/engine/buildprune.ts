/**
 * `POST /build/prune` query parameters, checked as dockerd 20.10 checks them
 * (its BuildKit cache prune answers even when builds use the legacy builder):
 * keep-storage is an integer, filters are the BuildKit cache's fields with at
 * most one value each, `until` (or its old name `unused-for`) a Go duration.
 * Bad input is answered 400 (dockerd answers some of it with 500).
 * keep-storage is checked but not applied: Berth's cache entries are images
 * whose layers other images share, so they have no size of their own to keep
 * under a budget (all, until and unused-for are applied).
 */
import { invalid } from "../util/errors.js";
import { parseDuration } from "../build/index.js";

export interface BuildPruneRequest {
  all: boolean;
  /** Only entries not used for this long (ms). */
  unusedForMs?: number;
}

/** Keys dockerd 20.10 accepts; label is accepted (with any number of values) and not applied, as there. */
const CACHE_FIELDS = ["id", "parent", "type", "description", "inuse", "shared", "private"];
const ACCEPTED = new Set([...CACHE_FIELDS, "until", "unused-for", "label", "label!"]);

const fail = (m: string): Error => invalid(`failed to prune build cache: ${m}`);

export function buildPruneRequestFromQuery(q: URLSearchParams, filters: Record<string, string[]>, all: boolean): BuildPruneRequest {
  const ks = q.get("keep-storage");
  if (ks !== null && ks !== "") {
    const why = !/^[+-]?\d+$/.test(ks) ? "invalid syntax" : BigInt(ks) > 2n ** 63n - 1n || BigInt(ks) < -(2n ** 63n) ? "value out of range" : undefined;
    if (why !== undefined) throw invalid(`keep-storage is in bytes and expects an integer, got ${ks}: strconv.Atoi: parsing ${JSON.stringify(ks)}: ${why}`);
  }
  for (const k of Object.keys(filters)) if (!ACCEPTED.has(k)) throw fail(`Invalid filter '${k}'`);
  const until = filters["until"] ?? [];
  const unused = filters["unused-for"] ?? [];
  if (until.length > 0 && unused.length > 0) throw fail(`conflicting filters: "until" and "unused-for"`);
  const durations = [...until, ...unused];
  if (durations.length > 1) throw fail("filters expect only one value");
  let unusedForMs: number | undefined;
  if (durations[0] !== undefined) {
    try {
      unusedForMs = parseDuration(durations[0]) / 1e6;
    } catch (e) {
      throw fail(`"${until.length > 0 ? "until" : "unused-for"}" filter expects a duration (e.g., '24h'): ${(e as Error).message}`);
    }
  }
  for (const f of CACHE_FIELDS) if ((filters[f]?.length ?? 0) > 1) throw fail("filters expect only one value");
  return { all, ...(unusedForMs !== undefined ? { unusedForMs } : {}) };
}
