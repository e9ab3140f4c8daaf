/**
 * Runs scenarios on both engines (in parallel, each engine's steps in order),
 * normalises the answers, compares them and applies the allowlist.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Engine } from "../../bench/engines.js";
import { exec } from "../../bench/lib.js";
import { request, wsRequest, type WsResponse } from "./client.js";
import { diff, globMatch, type Difference } from "./compare.js";
import { API, resetEngine, type Pair } from "./engines.js";
import { Normalizer, normalizeResponse, pick, sortArrays } from "./normalize.js";
import { isApi, isCli, isMark, type AllowEntry, type Scenario, type Step } from "./scenario.js";

export interface Loaded {
  scenarios: Scenario[];
  allowlist: AllowEntry[];
}

/** Every scenarios/*.js next to this file (compiled from scenarios/*.ts), plus allowlist.js. */
export async function loadScenarios(): Promise<Loaded> {
  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "scenarios");
  const scenarios: Scenario[] = [];
  const allowlist: AllowEntry[] = [];
  const files = readdirSync(dir).filter((f) => f.endsWith(".js")).sort();
  for (const f of files) {
    const mod = (await import(pathToFileURL(path.join(dir, f)).href)) as { scenarios?: Scenario[]; allowlist?: AllowEntry[] };
    scenarios.push(...(mod.scenarios ?? []));
    allowlist.push(...(mod.allowlist ?? []));
  }
  const central = (await import("./allowlist.js")) as { allowlist: AllowEntry[] };
  allowlist.push(...central.allowlist);
  const names = new Set<string>();
  for (const s of scenarios) {
    if (names.has(s.name)) throw new Error(`duplicate scenario name ${s.name}`);
    names.add(s.name);
  }
  return { scenarios, allowlist };
}

export interface StepRecord {
  method?: string;
  path?: string;
  obs: Record<string, unknown>;
  /** Normalises the answer (run once both engines are done, see runScenario). */
  finish?: () => void;
  /** The raw text seen (scanned for ids both engines share). */
  rawText?: string;
}

/** Ids both engines answered are the same object (an image or layer digest): they are compared as they are. */
function shareIds(a: RunResult, b: RunResult): void {
  const hexes = (r: RunResult): Set<string> => new Set(r.records.flatMap((x) => x.rawText?.match(/\b[0-9a-f]{64}\b/g) ?? []));
  const ha = hexes(a);
  const common = new Set([...hexes(b)].filter((h) => ha.has(h)));
  for (const r of [a, b]) {
    r.normalizer.common = common;
    for (const rec of r.records) rec.finish?.();
  }
}

export interface RunResult {
  records: StepRecord[];
  normalizer: Normalizer;
}

function subst(s: string, vars: Map<string, string>): string {
  return s.replace(/\{\{(\w+)(?::(\d+))?\}\}/g, (_m, k: string, len?: string) => {
    if (k === "now") return (Date.now() / 1000).toFixed(3);
    const v = vars.get(k);
    if (v === undefined) throw new Error(`{{${k}}} is not set`);
    return len === undefined ? v : v.slice(0, Number(len));
  });
}

function substDeep(v: unknown, vars: Map<string, string>): unknown {
  if (typeof v === "string") return subst(v, vars);
  if (Array.isArray(v)) return v.map((x) => substDeep(x, vars));
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [subst(k, vars), substDeep(x, vars)]));
  return v;
}

export interface CliConfig {
  cli: string;
  env: NodeJS.ProcessEnv;
}

/** One engine's run of a scenario: the normalised observation of every step. */
export async function runOn(e: Engine, cli: CliConfig, imageId: string, sc: Scenario): Promise<RunResult> {
  const vars = new Map<string, string>([["image", imageId]]);
  const n = new Normalizer([
    [e.dataRoot, "<data-root>"],
    [e.execRoot, "<exec-root>"],
    [e.dir, "<engine-dir>"],
  ]);
  n.vars.set("image", imageId);
  const out: StepRecord[] = [];
  for (const step of sc.steps) {
    let rec: StepRecord;
    let json: unknown;
    if (isMark(step)) {
      // One millisecond on: an event of the millisecond the mark is taken in is before it (until is inclusive).
      vars.set(step.mark, ((Date.now() + 1) / 1000).toFixed(3));
      rec = { obs: {} };
    } else if (isApi(step)) {
      const [method = "GET", rawPath = "/"] = step.api.split(" ");
      const p = subst(rawPath, vars);
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(step.query ?? {})) qs.set(k, subst(String(v), vars));
      const full = `${step.unversioned ? "" : `/${API}`}${p}${qs.size > 0 ? `?${qs.toString()}` : ""}`;
      const opts = { ...(step.stdin !== undefined ? { stdin: subst(step.stdin, vars) } : {}), ...(step.readMs !== undefined ? { readMs: step.readMs } : {}), timeoutMs: 60_000 };
      const r: Awaited<ReturnType<typeof request>> & Partial<WsResponse> = step.websocket ? await wsRequest(e.sock, { path: full, ...opts }) : await request(e.sock, {
        method,
        path: full,
        body: substDeep(step.body, vars),
        ...(step.headers ? { headers: step.headers } : {}),
        ...(step.upgrade ? { upgrade: true } : {}),
        ...opts,
      });
      try {
        json = JSON.parse(r.raw.toString("utf8"));
      } catch {
        json = undefined;
      }
      const done: StepRecord = { method, path: `${p}${qs.size > 0 ? `?${qs.toString()}` : ""}`, obs: {}, rawText: `${r.raw.toString("utf8")} ${JSON.stringify(r.headers)}` };
      if (step.save) saveVars(step.save, json, vars, n);
      done.finish = () => {
        done.obs = normalizeResponse(r, n, { ...(step.frames ? { frames: true } : {}), ...(step.unordered ? { unordered: true } : {}) });
        if (step.websocket) done.obs["websocket"] = { frameKinds: r.frameKinds, close: r.closeCode ?? null };
      };
      rec = done;
    } else if (isCli(step)) {
      const args = step.cli.map((a) => subst(a, vars));
      const r = await exec(cli.cli, ["-H", e.host, ...args], { timeoutMs: 60_000, env: cli.env, ...(step.stdin !== undefined ? { input: subst(step.stdin, vars) } : {}) });
      const trimmed = r.stdout.trim();
      try {
        json = JSON.parse(trimmed);
      } catch {
        json = trimmed;
      }
      if (step.save) saveVars(step.save, json, vars, n);
      const done: StepRecord = { obs: {}, rawText: `${r.stdout} ${r.stderr}` };
      done.finish = () => {
        let stdout: unknown = n.str(r.stdout);
        if (step.unordered) stdout = (stdout as string).split("\n").sort().join("\n");
        if (typeof json === "object" && json !== null) stdout = step.unordered ? sortArrays(n.value(json)) : n.value(json);
        done.obs = { exit: r.timedOut ? "timeout" : r.code, stdout, stderr: n.str(r.stderr) };
      };
      rec = done;
    } else throw new Error(`${sc.name}: a step needs api, cli or mark`);
    out.push(rec);
  }
  return { records: out, normalizer: n };
}

function saveVars(save: Record<string, string>, json: unknown, vars: Map<string, string>, n: Normalizer): void {
  for (const [name, at] of Object.entries(save)) {
    const v = at === "" ? json : pick(json, at);
    if (typeof v !== "string" && typeof v !== "number") throw new Error(`save ${name}: nothing at ${at} in ${JSON.stringify(json)?.slice(0, 200)}`);
    const s = String(v).replace(/^sha256:/, "");
    vars.set(name, s);
    n.vars.set(name, s);
  }
}

export interface ScenarioResult {
  scenario: Scenario;
  differences: Difference[];
  records: StepRecord[];
  /** Berth's observations (for CONF_DUMP). */
  berthRecords?: StepRecord[];
  error?: string;
}

export async function runScenario(pair: Pair, cli: CliConfig, sc: Scenario, allow: readonly AllowEntry[]): Promise<ScenarioResult> {
  let ref: StepRecord[];
  let berth: StepRecord[];
  try {
    const [a, b] = await Promise.all([runOn(pair.ref, cli, pair.imageId, sc), runOn(pair.berth, cli, pair.imageId, sc)]);
    shareIds(a, b);
    ref = a.records;
    berth = b.records;
  } catch (e) {
    return { scenario: sc, differences: [], records: [], error: e instanceof Error ? e.message : String(e) };
  } finally {
    await Promise.all([resetEngine(pair.ref, pair), resetEngine(pair.berth, pair)]);
  }
  const differences: Difference[] = [];
  sc.steps.forEach((step: Step, i) => {
    const a = ref[i]?.obs ?? {};
    const b = berth[i]?.obs ?? {};
    const found: Array<{ where: string; ref: string; berth: string }> = [];
    if (step.compare === "none") return;
    const keys = step.compare === "status" ? ["status", "exit"] : [...new Set([...Object.keys(a), ...Object.keys(b)])];
    const top = (g: string): string => (/^(body|stdout|stderr|headers|status|exit|ended)(\.|$)/.test(g) ? g : `body.${g}`);
    const ignore = (step.ignore ?? []).map(top);
    const withStdout = (gs: readonly string[], mapped: string[]) => [...mapped, ...gs.map((g) => `stdout.${g}`)];
    const shape = (step.shape ?? []).map(top);
    for (const k of keys) diff(a[k], b[k], k, withStdout(step.ignore ?? [], ignore), found, withStdout(step.shape ?? [], shape));
    for (const d of found) {
      const entry = allow.find((x) => matchesScenario(x.scenario, sc.name) && (x.step === undefined || x.step === i) && globMatch(x.where, d.where));
      differences.push({ scenario: sc.name, step: i, ...d, ...(entry ? { allowed: entry.why } : {}) });
    }
  });
  return { scenario: sc, differences, records: ref, berthRecords: berth };
}

export function matchesScenario(pattern: string, name: string): boolean {
  return pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}
