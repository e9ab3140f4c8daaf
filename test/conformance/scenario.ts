/**
 * The scenario format. A scenario file under scenarios/ exports `scenarios`
 * (and may export `allowlist`); the harness finds every file there, so adding
 * coverage never means touching the harness. Each scenario runs on a fresh
 * state (the harness removes what the previous one left) against both engines
 * in parallel, step by step; the steps' answers are then compared.
 *
 * Strings in `path`, `query`, `body`, `cli` and `stdin` may contain {{var}}:
 * a value saved earlier in the same scenario on the same engine (`save`), or
 * a built-in: {{image}} (the fixture image id), {{now}} (Unix seconds at that step);
 * {{name:12}} is the first 12 characters of a value (short ids).
 */
export interface ApiStep {
  /** HTTP method and path without the version prefix (/containers/json); the harness adds /v1.41. */
  api: string;
  query?: Record<string, string | number | boolean>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Send the path as written, without the /v1.41 prefix (unversioned clients, version errors). */
  unversioned?: boolean;
  /** Hijack with Upgrade: tcp. */
  upgrade?: boolean;
  stdin?: string;
  /** Cut an endless stream after this many ms (then only what arrived by then is compared). */
  readMs?: number;
  /** Open it as a websocket (GET …/attach/ws): `stdin` goes as one frame; the frame kinds and the close code are compared too. */
  websocket?: boolean;
  /** Body holds docker's stream framing (logs, attach, exec without TTY): compare decoded frames. */
  frames?: boolean;
}

export interface CliStep {
  /** docker CLI arguments (the harness adds -H). */
  cli: string[];
  stdin?: string;
}

export interface MarkStep {
  /** Save the current Unix time (seconds with milliseconds, rounded up) as {{name}}. */
  mark: string;
}

export type Step = (ApiStep | CliStep | MarkStep) & {
  /** Save values of the JSON answer as variables: {name: "Id"} or {name: "0.Id"} (dotted path). */
  save?: Record<string, string>;
  /** What to compare: everything (default), only the status/exit code, or nothing (set-up steps). */
  compare?: "full" | "status" | "none";
  /** Arrays whose order Docker does not define: sort them (after normalising) before comparing. */
  unordered?: boolean;
  /** Dotted paths (with * for any key or index) whose values are not compared (their type still is). */
  ignore?: string[];
  /** Dotted paths below which keys, lengths and types are compared, not values (version strings, kernel, counts). */
  shape?: string[];
};

export interface Scenario {
  /** Unique, "area/what-it-proves", e.g. "containers/start-twice-is-304". */
  name: string;
  steps: Step[];
}

export interface AllowEntry {
  /** Scenario name, or a prefix ending in "*". */
  scenario: string;
  /** Step index (0-based); all steps if absent. */
  step?: number;
  /** Where the difference is: "status", "header content-type", "body.State.Status", "stdout"; a prefix ending in "*" matches more. */
  where: string;
  /** Why Berth deliberately differs (or "fixed on branch …", "not fixed yet: …", "reference fails on this host: …"). */
  why: string;
}

export const isApi = (s: Step): s is ApiStep & Step => "api" in s;
export const isCli = (s: Step): s is CliStep & Step => "cli" in s;
export const isMark = (s: Step): s is MarkStep & Step => "mark" in s;
