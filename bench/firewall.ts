/**
 * The host firewall around a benchmark run. dockerd runs with its defaults
 * (iptables on), so it adds chains (DOCKER, DOCKER-USER, DOCKER-ISOLATION-*)
 * and rules (FORWARD jumps, MASQUERADE for its bridge) to the host's iptables
 * and may set the FORWARD policy; berthd adds its own chains, whose jump
 * rules carry the daemon's exec-root as a comment. Neither removes them on
 * shutdown. This file takes an `iptables -S` snapshot before the daemons
 * start and, at clean-up, deletes what the run added — and only that: other
 * daemons on the host (other berth instances, tests) add rules concurrently,
 * so a whole-table restore of the snapshot would clobber them.
 *
 * Hand-written because it is a diff of two `iptables -S` listings with a
 * filter for "ours"; iptables(8) itself does the work.
 */
import { exec } from "./lib.js";

const TABLES = ["raw", "mangle", "nat", "filter"] as const;
type Table = (typeof TABLES)[number];

export type FirewallSnapshot = Record<Table, string[]>;

/** `iptables -t T -S` for every table; a table that cannot be listed is empty. */
export async function snapshotFirewall(): Promise<FirewallSnapshot> {
  const out = {} as FirewallSnapshot;
  for (const t of TABLES) {
    const r = await exec("iptables", ["-w", "5", "-t", t, "-S"], { timeoutMs: 15_000 });
    out[t] = r.code === 0 ? r.stdout.split("\n").filter((l) => l.length > 0) : [];
  }
  return out;
}

/** Split one `iptables -S` line into arguments (double quotes, backslash escapes). */
export function splitRule(line: string): string[] {
  const args: string[] = [];
  let cur = "";
  let inArg = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string;
    if (quoted) {
      if (ch === "\\" && i + 1 < line.length) cur += line[++i];
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') {
      quoted = true;
      inArg = true;
    } else if (ch === " ") {
      if (inArg) args.push(cur);
      cur = "";
      inArg = false;
    } else {
      cur += ch;
      inArg = true;
    }
  }
  if (inArg) args.push(cur);
  return args;
}

export interface Ownership {
  /** Strings that mark a rule as the run's: its run directory, its bridges. */
  markers: readonly string[];
}

/** dockerd's chains are called DOCKER*; a rule is ours if it names one or carries a marker. */
const isDockerChain = (c: string): boolean => /^DOCKER(-|$)/.test(c);

function ruleIsOurs(args: readonly string[], own: Ownership): boolean {
  if (args.some((a) => isDockerChain(a))) return true;
  return args.some((a) => own.markers.some((m) => m !== "" && a.includes(m)));
}

/** What undoing a run's firewall changes takes, per table (pure: from two snapshots). */
export interface UndoPlan {
  /** Rules to delete: the arguments after `-D`. */
  deletes: { table: Table; args: string[]; line: string }[];
  /** Chains to flush and delete. */
  chains: { table: Table; chain: string }[];
  /** Built-in policies to set back. */
  policies: { table: Table; chain: string; policy: string; was: string }[];
}

/**
 * The run's changes: rules and chains that are new since `before` and ours
 * (DOCKER* chains and rules naming them, rules carrying a marker, and new
 * chains such rules jump to), and built-in policies that changed.
 */
export function planUndo(before: FirewallSnapshot, now: FirewallSnapshot, own: Ownership): UndoPlan {
  const plan: UndoPlan = { deletes: [], chains: [], policies: [] };
  for (const t of TABLES) {
    const old = new Set(before[t]);
    const added = now[t].filter((l) => !old.has(l));
    const newChains = new Set(added.map(splitRule).filter((a) => a[0] === "-N").map((a) => a[1] ?? ""));
    const chains = new Set([...newChains].filter(isDockerChain));
    for (const l of added) {
      const a = splitRule(l);
      const j = a.indexOf("-j");
      const target = j >= 0 ? a[j + 1] : undefined;
      if (a[0] === "-A" && target !== undefined && newChains.has(target) && ruleIsOurs(a, own)) chains.add(target);
    }
    // Rules of ours in chains that stay (built-in chains, chains that existed before).
    for (const l of added) {
      const a = splitRule(l);
      if (a[0] === "-A" && !chains.has(a[1] ?? "") && ruleIsOurs(a, own)) plan.deletes.push({ table: t, args: a.slice(1), line: l });
    }
    for (const chain of chains) plan.chains.push({ table: t, chain });
    for (const l of before[t]) {
      const a = splitRule(l);
      if (a[0] !== "-P" || a.length !== 3) continue;
      const cur = now[t].find((x) => x.startsWith(`-P ${a[1] ?? ""} `));
      if (cur !== undefined && cur !== l) plan.policies.push({ table: t, chain: a[1] ?? "", policy: a[2] ?? "", was: cur });
    }
  }
  return plan;
}

const iptables = (args: readonly string[]): ReturnType<typeof exec> => exec("iptables", ["-w", "5", ...args], { timeoutMs: 15_000 });

/**
 * Delete the rules and chains the run added (new since `before` and ours),
 * and restore built-in chain policies it changed. Returns what was done, and
 * what of the run is still there afterwards (should be nothing).
 */
export async function restoreFirewall(before: FirewallSnapshot, own: Ownership): Promise<{ done: string[]; left: string[] }> {
  const done: string[] = [];
  const plan = planUndo(before, await snapshotFirewall(), own);
  for (const d of plan.deletes) {
    const r = await iptables(["-t", d.table, "-D", ...d.args]);
    done.push(`${r.code === 0 ? "deleted" : "could not delete"} ${d.table}: ${d.line}`);
  }
  for (const c of plan.chains) await iptables(["-t", c.table, "-F", c.chain]);
  for (const c of plan.chains) {
    const r = await iptables(["-t", c.table, "-X", c.chain]);
    done.push(`${r.code === 0 ? "removed" : "could not remove"} chain ${c.table}/${c.chain}`);
  }
  for (const p of plan.policies) {
    const r = await iptables(["-t", p.table, "-P", p.chain, p.policy]);
    done.push(`${r.code === 0 ? "restored" : "could not restore"} ${p.table}: -P ${p.chain} ${p.policy} (was ${p.was})`);
  }
  const left = planUndo(before, await snapshotFirewall(), own);
  return {
    done,
    left: [...left.deletes.map((d) => `${d.table}: ${d.line}`), ...left.chains.map((c) => `${c.table}: chain ${c.chain}`)],
  };
}
