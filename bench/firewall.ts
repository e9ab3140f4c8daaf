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

/**
 * Delete the rules and chains the run added (new since `before` and ours),
 * and restore built-in chain policies it changed. Returns what was done, and
 * what is still left over afterwards (should be nothing).
 */
export async function restoreFirewall(before: FirewallSnapshot, own: Ownership): Promise<{ done: string[]; left: string[] }> {
  const done: string[] = [];
  const now = await snapshotFirewall();
  for (const t of TABLES) {
    const old = new Set(before[t]);
    const added = now[t].filter((l) => !old.has(l));
    // Chains to remove: new DOCKER* chains, and new chains that new rules of ours jump to.
    const chains = new Set<string>();
    for (const l of added) {
      const a = splitRule(l);
      if (a[0] === "-N" && a[1] !== undefined && isDockerChain(a[1])) chains.add(a[1]);
    }
    for (const l of added) {
      const a = splitRule(l);
      const j = a.indexOf("-j");
      const target = j >= 0 ? a[j + 1] : undefined;
      if (a[0] === "-A" && target !== undefined && ruleIsOurs(a, own) && added.includes(`-N ${target}`)) chains.add(target);
    }
    // Jump and other rules of ours in chains that stay (built-in or other daemons' chains).
    for (const l of added) {
      const a = splitRule(l);
      if (a[0] !== "-A" || chains.has(a[1] ?? "") || !ruleIsOurs(a, own)) continue;
      const r = await exec("iptables", ["-w", "5", "-t", t, "-D", ...a.slice(1)], { timeoutMs: 15_000 });
      done.push(`${r.code === 0 ? "deleted" : "could not delete"} ${t}: ${l}`);
    }
    for (const c of chains) await exec("iptables", ["-w", "5", "-t", t, "-F", c], { timeoutMs: 15_000 });
    for (const c of chains) {
      const r = await exec("iptables", ["-w", "5", "-t", t, "-X", c], { timeoutMs: 15_000 });
      done.push(`${r.code === 0 ? "removed" : "could not remove"} chain ${t}/${c}`);
    }
    // Built-in policies (dockerd sets FORWARD to DROP when it turns ip_forward on).
    for (const l of before[t]) {
      const a = splitRule(l);
      if (a[0] !== "-P" || a.length !== 3) continue;
      const cur = now[t].find((x) => x.startsWith(`-P ${a[1] ?? ""} `));
      if (cur !== undefined && cur !== l) {
        const r = await exec("iptables", ["-w", "5", "-t", t, "-P", a[1] ?? "", a[2] ?? ""], { timeoutMs: 15_000 });
        done.push(`${r.code === 0 ? "restored" : "could not restore"} ${t}: ${l} (was ${cur})`);
      }
    }
  }
  const after = await snapshotFirewall();
  const left: string[] = [];
  for (const t of TABLES) {
    const old = new Set(before[t]);
    for (const l of after[t]) {
      const a = splitRule(l);
      if (old.has(l)) continue;
      if ((a[0] === "-N" && isDockerChain(a[1] ?? "")) || (a[0] === "-A" && ruleIsOurs(a, own))) left.push(`${t}: ${l}`);
    }
  }
  return { done, left };
}
