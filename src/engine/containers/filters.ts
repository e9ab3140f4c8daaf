/** The container list's filters (dockerd 20.10's keys, checks and wording), and the since/until time values. */
import { invalid } from "../../util/errors.js";
import { matchLabels, parseTimestamp } from "../../util/filters.js";
import { regexpMatches } from "../../util/pathmatch.js";
import type { ContainerRecord } from "../types.js";

/** A since/until value (Go duration, unix seconds or RFC 3339) in unix seconds; 400 otherwise. */
export function parseTimeFilter(v: string): number {
  const t = parseTimestamp(v);
  if (t === undefined) throw invalid(`invalid time filter: ${v}`);
  return t;
}

export function matchContainer(r: ContainerRecord, f: Record<string, string[]>, resolveImage: (n: string) => string | undefined): boolean {
  for (const [key, values] of Object.entries(f)) {
    if (values.length === 0) continue;
    switch (key) {
      case "id":
        if (!values.some((v) => r.Id.startsWith(v))) return false;
        break;
      case "name":
        if (!values.some((v) => regexpMatches(v, r.Name.slice(1)))) return false;
        break;
      case "status":
        if (!values.includes(r.State.Status)) return false;
        break;
      case "exited":
        if (r.State.Status !== "exited" || !values.includes(String(r.State.ExitCode))) return false;
        break;
      case "label":
        if (!matchLabels(r.Config.Labels, values)) return false;
        break;
      case "ancestor":
        if (!values.some((v) => r.Config.Image === v || resolveImage(v) === r.Image)) return false;
        break;
      case "before":
      case "since":
        break;
      default:
        throw invalid(`Invalid filter '${key}'`);
    }
  }
  return true;
}

const LIST_FILTERS = ["id", "name", "status", "exited", "label", "ancestor", "before", "since"];
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/** dockerd checks the filters before looking at any container (its wording, 20.10). */
export function validateListFilters(f: Record<string, string[]>): void {
  for (const [key, values] of Object.entries(f)) {
    if (!LIST_FILTERS.includes(key)) throw invalid(`Invalid filter '${key}'`);
    if (key === "status") for (const v of values) if (!STATUSES.includes(v)) throw invalid(`Invalid filter 'status=${v}'`);
  }
}
