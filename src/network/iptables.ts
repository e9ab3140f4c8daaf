/**
 * The firewall: every rule of a daemon lives in its own chains (nat BERTH and
 * BERTH-POSTROUTING, filter BERTH-FORWARD and BERTH-INPUT, raw BERTH-RAW), entered from the
 * built-in chains by jump rules that carry the daemon's exec-root as a
 * comment. A change rewrites those chains whole from the current model in one
 * `iptables-restore --noflush` (atomic per table; no rule-by-rule bookkeeping,
 * nothing half-applied). The host's policies are never touched.
 *
 * Daemons with another exec-root (tests, a second engine) get suffixed chains,
 * so they never rewrite each other's rules; jumps whose exec-root has vanished
 * are collected at start-up with their chains.
 */
import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { bestEffort } from "../util/besteffort.js";
import { run } from "../util/exec.js";

export interface FwBridge {
  name: string;
  /** "a.b.c.d/n" */
  subnet: string;
  internal: boolean;
}

export interface FwPort {
  bridge: string;
  proto: string;
  containerIp: string;
  containerPort: number;
  /** "0.0.0.0" for every address. */
  hostIp: string;
  hostPort: number;
}

export interface FwModel {
  bridges: FwBridge[];
  ports: FwPort[];
}

export interface ChainNames {
  dnat: string;
  postrouting: string;
  forward: string;
  input: string;
  /** raw PREROUTING: drops remote packets for ports published on loopback addresses. */
  raw: string;
}

type Table = "raw" | "nat" | "filter";
type Tables = Record<Table, string[]>;
const TABLES: readonly Table[] = ["raw", "nat", "filter"];
const isTable = (t: string): t is Table => (TABLES as readonly string[]).includes(t);

export const DEFAULT_EXEC_ROOT = "/run/berth";

export function chainNames(execRoot: string): ChainNames {
  const s = execRoot === DEFAULT_EXEC_ROOT ? "" : `-${createHash("sha256").update(execRoot).digest("hex").slice(0, 6)}`;
  return { dnat: `BERTH${s}`, postrouting: `BERTH-POSTROUTING${s}`, forward: `BERTH-FORWARD${s}`, input: `BERTH-INPUT${s}`, raw: `BERTH-RAW${s}` };
}

export function ownerComment(execRoot: string): string {
  return `berth:${execRoot}`;
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, "\\$&")}"`;
}

/** The jump rules into a daemon's chains, as [table, chain, rule-after-chain, insertAtTop]. */
export function jumpRules(n: ChainNames, execRoot: string): { table: Table; chain: string; spec: string; top: boolean }[] {
  const c = `-m comment --comment ${quote(ownerComment(execRoot))}`;
  return [
    { table: "nat", chain: "PREROUTING", spec: `-m addrtype --dst-type LOCAL ${c} -j ${n.dnat}`, top: false },
    { table: "nat", chain: "OUTPUT", spec: `-m addrtype --dst-type LOCAL ${c} -j ${n.dnat}`, top: false },
    { table: "nat", chain: "POSTROUTING", spec: `${c} -j ${n.postrouting}`, top: false },
    { table: "filter", chain: "FORWARD", spec: `${c} -j ${n.forward}`, top: true },
    { table: "filter", chain: "INPUT", spec: `${c} -j ${n.input}`, top: true },
    { table: "raw", chain: "PREROUTING", spec: `${c} -j ${n.raw}`, top: true },
  ];
}

/** The complete contents of a daemon's chains for a model, per table (flush included). */
export function renderChains(n: ChainNames, m: FwModel): Tables {
  const raw: string[] = [`:${n.raw} - [0:0]`];
  const nat: string[] = [`:${n.dnat} - [0:0]`, `:${n.postrouting} - [0:0]`];
  const filter: string[] = [`:${n.forward} - [0:0]`, `:${n.input} - [0:0]`];
  const internal = new Set(m.bridges.filter((b) => b.internal).map((b) => b.name));
  const ports = m.ports.filter((p) => !internal.has(p.bridge));
  const proto = (p: FwPort) => `-p ${p.proto} -m ${p.proto} --dport`;

  for (const p of ports) {
    const dst = p.hostIp && p.hostIp !== "0.0.0.0" ? `-d ${p.hostIp}/32 ` : "";
    nat.push(`-A ${n.dnat} ${dst}${proto(p)} ${p.hostPort} -j DNAT --to-destination ${p.containerIp}:${p.containerPort}`);
    // A port on a loopback address answers the host's loopback only: a LAN neighbour that routes
    // 127.0.0.1 to this host would otherwise be DNATed in (bridges are guarded by loopguard.ts).
    if (p.hostIp.startsWith("127.")) raw.push(`-A ${n.raw} -d ${p.hostIp}/32 ! -i lo ${proto(p)} ${p.hostPort} -j DROP`);
  }
  for (const b of m.bridges) {
    if (!b.internal) nat.push(`-A ${n.postrouting} -s ${b.subnet} ! -o ${b.name} -j MASQUERADE`);
    // Published ports reached from the host's loopback (route_localnet) or hairpinned from the same bridge.
    nat.push(`-A ${n.postrouting} -s 127.0.0.0/8 -o ${b.name} -j MASQUERADE`);
    nat.push(`-A ${n.postrouting} -s ${b.subnet} -o ${b.name} -m conntrack --ctstate DNAT -j MASQUERADE`);
  }

  // Replies first, then published ports (from anywhere, also other bridges), then isolation, then egress.
  for (const b of m.bridges) {
    filter.push(`-A ${n.forward} -o ${b.name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
    filter.push(`-A ${n.forward} -i ${b.name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  }
  for (const p of ports) {
    filter.push(`-A ${n.forward} -d ${p.containerIp}/32 -o ${p.bridge} ${proto(p)} ${p.containerPort} -m conntrack --ctstate DNAT -j ACCEPT`);
  }
  for (const b of m.bridges) {
    if (b.internal) {
      filter.push(`-A ${n.forward} -i ${b.name} ! -o ${b.name} -j DROP`);
      filter.push(`-A ${n.forward} -o ${b.name} ! -i ${b.name} -j DROP`);
    }
    filter.push(`-A ${n.forward} -i ${b.name} -o ${b.name} -j ACCEPT`);
    // Containers on different bridges (ours, other engines' br-*, berth*) never talk directly.
    for (const other of ["br-+", "berth+"]) {
      filter.push(`-A ${n.forward} -i ${b.name} -o ${other} -j DROP`);
      filter.push(`-A ${n.forward} -o ${b.name} -i ${other} -j DROP`);
    }
    if (!b.internal) filter.push(`-A ${n.forward} -i ${b.name} -j ACCEPT`);
    // The embedded DNS (aardvark-dns) answers on the gateway address.
    filter.push(`-A ${n.input} -i ${b.name} -p udp -m udp --dport 53 -j ACCEPT`);
    filter.push(`-A ${n.input} -i ${b.name} -p tcp -m tcp --dport 53 -j ACCEPT`);
  }
  return { raw, nat, filter };
}

function restoreText(tables: Tables): string {
  let out = "";
  for (const t of TABLES) {
    if (tables[t].length === 0) continue;
    out += `*${t}\n${tables[t].join("\n")}\nCOMMIT\n`;
  }
  return out;
}

export interface SaveScan {
  /** Jumps present for each chain name, per table. */
  jumpsTo: Set<string>;
  /** Stale jump rules to delete ("-D ..." lines) and stale chains, per table. */
  stale: Tables & { chains: { table: Table; chain: string }[] };
}

/**
 * Read `iptables-save` output: which of our jumps exist, and which jumps (with
 * their chains) belong to daemons whose exec-root is gone.
 */
export async function scanSave(save: string, isAlive: (execRoot: string) => Promise<boolean>): Promise<SaveScan> {
  const jumpsTo = new Set<string>();
  const stale: SaveScan["stale"] = { raw: [], nat: [], filter: [], chains: [] };
  let table: Table | undefined;
  const alive = new Map<string, boolean>();
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) {
      const t = line.slice(1).trim();
      table = isTable(t) ? t : undefined;
      continue;
    }
    if (!table || !line.startsWith("-A ")) continue;
    const j = line.match(/ -j (BERTH[\w-]*)\s*$/);
    if (!j) continue;
    jumpsTo.add(`${table}/${j[1]}`);
    const c = line.match(/--comment "?berth:([^"\s]+)"?/);
    if (!c) continue;
    const root = c[1] as string;
    let a = alive.get(root);
    if (a === undefined) {
      a = await isAlive(root);
      alive.set(root, a);
    }
    if (!a) {
      stale[table].push(`-D${line.slice(2)}`);
      stale.chains.push({ table, chain: j[1] as string });
    }
  }
  return { jumpsTo, stale };
}

export interface FirewallOptions {
  execRoot: string;
  restore?: string;
  save?: string;
}

/** Applies models for one daemon; changes are serialized and coalesced. */
export class Firewall {
  readonly names: ChainNames;
  private readonly restoreBin: string;
  private readonly saveBin: string;
  private pending: FwModel | undefined;
  private running: Promise<void> | undefined;
  private lastApplied = "";

  constructor(private readonly opts: FirewallOptions) {
    this.names = chainNames(opts.execRoot);
    this.restoreBin = opts.restore ?? "iptables-restore";
    this.saveBin = opts.save ?? "iptables-save";
  }

  /** At start-up: collect dead daemons' rules, make sure our jumps exist, write our chains. */
  async init(model: FwModel): Promise<{ collected: number }> {
    const { stdout } = await run(this.saveBin, []);
    const scan = await scanSave(stdout, (root) => fs.stat(root).then(() => true, () => false));
    const tables = renderChains(this.names, model);
    const extra: Tables = { raw: [], nat: [], filter: [] };
    for (const t of TABLES) extra[t].push(...scan.stale[t]);
    const seen = new Set<string>();
    for (const c of scan.stale.chains) {
      const k = `${c.table}/${c.chain}`;
      if (seen.has(k)) continue;
      seen.add(k);
      extra[c.table].push(`-F ${c.chain}`, `-X ${c.chain}`);
    }
    for (const j of jumpRules(this.names, this.opts.execRoot)) {
      const target = j.spec.split(" -j ")[1] as string;
      if (scan.jumpsTo.has(`${j.table}/${target}`)) continue;
      extra[j.table].push(`${j.top ? "-I" : "-A"} ${j.chain} ${j.spec}`);
    }
    // Declare (create/flush) our chains first, then jumps and stale removal, then our rules.
    const decl = (lines: string[]) => lines.filter((l) => l.startsWith(":"));
    const rules = (lines: string[]) => lines.filter((l) => !l.startsWith(":"));
    const merged: Tables = { raw: [], nat: [], filter: [] };
    for (const t of TABLES) merged[t] = [...decl(tables[t]), ...extra[t], ...rules(tables[t])];
    const text = restoreText(merged);
    await run(this.restoreBin, ["--noflush"], { input: text });
    this.lastApplied = restoreText(tables);
    return { collected: seen.size };
  }

  /** Rewrite our chains for a model (skipped when nothing changed). */
  apply(model: FwModel): Promise<void> {
    this.pending = model;
    if (!this.running) this.running = this.drain();
    return this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending) {
        const m = this.pending;
        this.pending = undefined;
        const text = restoreText(renderChains(this.names, m));
        if (text === this.lastApplied) continue;
        await run(this.restoreBin, ["--noflush"], { input: text });
        this.lastApplied = text;
      }
    } finally {
      this.running = undefined;
    }
  }

  /** Remove our jumps and chains entirely (used by tests and an explicit cleanup). */
  async removeAll(): Promise<void> {
    const { stdout } = await run(this.saveBin, []);
    const mine = new Set(Object.values(this.names));
    const out: Tables = { raw: [], nat: [], filter: [] };
    const exists = new Set<string>();
    let table: Table | undefined;
    for (const line of stdout.split("\n")) {
      if (line.startsWith("*")) {
        const t = line.slice(1).trim();
        table = isTable(t) ? t : undefined;
      } else if (table && line.startsWith(":")) {
        exists.add(`${table}/${line.slice(1).split(" ")[0] ?? ""}`);
      } else if (table && line.startsWith("-A ")) {
        const j = line.match(/ -j (\S+)\s*$/);
        const chain = line.split(" ")[1] ?? "";
        if (j && mine.has(j[1] as string) && !mine.has(chain)) out[table].push(`-D${line.slice(2)}`);
      }
    }
    for (const c of [this.names.dnat, this.names.postrouting]) if (exists.has(`nat/${c}`)) out.nat.push(`-F ${c}`, `-X ${c}`);
    for (const c of [this.names.forward, this.names.input]) if (exists.has(`filter/${c}`)) out.filter.push(`-F ${c}`, `-X ${c}`);
    if (exists.has(`raw/${this.names.raw}`)) out.raw.push(`-F ${this.names.raw}`, `-X ${this.names.raw}`);
    await run(this.restoreBin, ["--noflush"], { input: restoreText(out) }).catch(bestEffort("removing iptables chains"));
    this.lastApplied = "";
  }
}
