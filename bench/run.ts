/**
 * Berth vs dockerd, side by side, in one run.
 *
 *   npm run bench                      # build, then run everything
 *   node dist/bench/run.js --record    # also append the results to bench/RESULTS.md
 *
 * See bench/README.md for what is measured and the caveats.
 */
import { promises as fs, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CASES, IMAGE, PartialResult, stopCaseServices, type BenchCase, type CaseCtx, type SnapshotCase, type TimedCase, type Unit } from "./cases.js";
import { Berthd, Dockerd, ENGINE_NAMES, removeShimSockets, type Engine, type EngineName } from "./engines.js";
import { restoreFirewall, snapshotFirewall, type FirewallSnapshot } from "./firewall.js";
import { scaleCase } from "./scale.js";
import { judge, TARGETS } from "./targets.js";
import {
  Apt,
  createBridge,
  deleteBridge,
  dockerClient,
  ensureBusybox,
  ensureDockerd,
  makeRootfsTar,
  removeNewHostPaths,
  snapshotHostPaths,
  type BridgeSpec,
} from "./host.js";
import {
  Deadline,
  descendants,
  errMsg,
  exec,
  listProcs,
  markdownTable,
  nowMs,
  oneLine,
  processRunning,
  signal,
  summary,
  textTable,
  unmountUnder,
  waitExit,
} from "./lib.js";

// ---------------------------------------------------------------- configuration

const USAGE = `usage: node dist/bench/run.js [--record] [--scale] [--only ID,ID...] [--engines dockerd,berth] [--list]

  --record    append a dated section with the results to bench/RESULTS.md
  --scale     also run the scale case (10, 100, 1000 idle containers; long)
  --only      run only these case ids (see --list; "scale" is allowed)
  --engines   run only these engines (default: dockerd,berth)
  --list      list the case ids and exit

environment:
  BENCH_RUNS=15        warm-up and measured iterations per timed case
  BENCH_TIMEOUT_S      overall time budget (default 1800, 3600 with --scale; cases stop early when it runs low)
  BENCH_SCALE_SIZES=10,100,1000   sizes of the scale case
  BENCH_BRIDGE=bbench0 BENCH_BRIDGE_CIDR=10.213.0.1/24   dockerd's private bridge
  BENCH_PRIVATE_CONTAINERD=1   run dockerd against a containerd started by the bench
  BERTHD_ARGS="..."    extra arguments for berthd
  DOCKERD_ARGS="..."   extra arguments for dockerd (give both engines the same, or the run is not a comparison)
  BERTHD_ENTRY=FILE    run this script instead of dist/src/daemon/main.js (for testing the bench)`;

interface Options {
  record: boolean;
  scale: boolean;
  only: Set<string> | undefined;
  engines: EngineName[];
  runs: number;
  budgetMs: number;
  bridge: BridgeSpec;
}

function parseOptions(argv: readonly string[]): Options | "help" | "list" {
  const o: Options = {
    record: false,
    scale: false,
    only: undefined,
    engines: [...ENGINE_NAMES],
    runs: intEnv("BENCH_RUNS", 15, 1, 1000),
    budgetMs: 0,
    bridge: {
      name: process.env.BENCH_BRIDGE ?? "bbench0",
      cidr: process.env.BENCH_BRIDGE_CIDR ?? "10.213.0.1/24",
    },
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    const value = (): string => {
      const eq = a.indexOf("=");
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--record") o.record = true;
    else if (a === "--scale") o.scale = true;
    else if (a === "--help" || a === "-h") return "help";
    else if (a === "--list") return "list";
    else if (a.startsWith("--only")) o.only = new Set(value().split(",").filter(Boolean));
    else if (a.startsWith("--engines")) {
      const names = value().split(",").filter(Boolean);
      for (const n of names) if (!ENGINE_NAMES.includes(n as EngineName)) throw new Error(`unknown engine ${n}`);
      o.engines = ENGINE_NAMES.filter((n) => names.includes(n));
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.only?.has("scale")) o.scale = true;
  if (o.only) for (const id of o.only) if (id !== "scale" && !CASES.some((c) => c.id === id)) throw new Error(`unknown case id ${id}`);
  o.budgetMs = intEnv("BENCH_TIMEOUT_S", o.scale ? 3600 : 1800, 60, 24 * 3600) * 1000;
  if (!/^[a-zA-Z0-9_-]{1,15}$/.test(o.bridge.name)) throw new Error(`bad bridge name ${o.bridge.name}`);
  if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(o.bridge.cidr)) throw new Error(`bad bridge cidr ${o.bridge.cidr}`);
  return o;
}

function intEnv(name: string, dflt: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be an integer in [${min}, ${max}]`);
  return v;
}

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TMP_PREFIX = "berth-bench-";
const HOST_PATHS_FILE = "host-paths-before.json";
const FIREWALL_FILE = "iptables-before.json";
/** Cases stop starting new iterations when less than this is left (kept for clean-up). */
const RESERVE_MS = 90_000;

// ---------------------------------------------------------------- logging

const T0 = Date.now();
function log(msg: string): void {
  process.stderr.write(`[bench ${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

// ---------------------------------------------------------------- results

type Cell =
  | { ok: true; value: number; n: number; planned: number; samples: number[]; note?: string }
  | { ok: false; error: string; samples: number[]; skipped?: boolean };

interface Row {
  id: string;
  title: string;
  unit: Unit;
  cells: Partial<Record<EngineName, Cell>>;
}

function okCell(samples: number[], planned: number, note?: string): Cell {
  return { ok: true, value: summary(samples).median, n: samples.length, planned, samples, note };
}

// ---------------------------------------------------------------- stale runs

/** Clean up after earlier runs that died without cleaning (their owner pid is gone). */
async function cleanStaleRuns(bridge: string): Promise<void> {
  const tmp = os.tmpdir();
  for (const name of await fs.readdir(tmp)) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const dir = path.join(tmp, name);
    let owner = NaN;
    try {
      owner = Number((await fs.readFile(path.join(dir, "owner.pid"), "utf8")).trim());
    } catch {
      /* no owner file: treat as stale */
    }
    if (Number.isInteger(owner) && owner !== process.pid && processRunning(owner)) {
      throw new Error(`another benchmark run (pid ${owner}, ${dir}) is in progress`);
    }
    log(`cleaning up stale run directory ${dir}`);
    const procs = await listProcs();
    const roots = new Set(procs.filter((p) => p.pid !== process.pid && p.argv.some((a) => a.includes(dir))).map((p) => p.pid));
    const all = new Set([...roots, ...descendants(procs, roots)]);
    for (const p of all) signal(p, "SIGKILL");
    for (const p of all) await waitExit(p, 2000, 50);
    await removeContainerCgroups(dir);
    await removeShimSockets(path.join(dir, "dockerd"));
    try {
      const before: unknown = JSON.parse(await fs.readFile(path.join(dir, HOST_PATHS_FILE), "utf8"));
      if (Array.isArray(before)) await removeNewHostPaths(new Set(before.map(String)), log);
    } catch {
      /* that run had not got that far */
    }
    try {
      const before = JSON.parse(await fs.readFile(path.join(dir, FIREWALL_FILE), "utf8")) as FirewallSnapshot;
      const fw = await restoreFirewall(before, { markers: [dir, bridge] });
      log(`  iptables: ${fw.done.length} change(s) of that run undone${fw.left.length > 0 ? `; left: ${fw.left.join("; ")}` : ""}`);
    } catch {
      /* that run had not got that far */
    }
    const stuck = await unmountUnder(dir);
    if (stuck.length === 0) await fs.rm(dir, { recursive: true, force: true });
    else log(`  still mounted, left in place: ${stuck.join(", ")}`);
  }
  await deleteBridge(bridge);
}

/** rmdir the cgroupfs cgroups (<ctrl>/docker/<id>) of a killed dockerd's containers. */
async function removeContainerCgroups(runDir: string): Promise<void> {
  let ids: string[] = [];
  try {
    ids = (await fs.readdir(path.join(runDir, "dockerd", "data", "containers"))).filter((n) => /^[0-9a-f]{64}$/.test(n));
  } catch {
    return;
  }
  let ctrls: string[] = [];
  try {
    ctrls = (await fs.readdir("/sys/fs/cgroup", { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return;
  }
  for (const id of ids) {
    for (const c of ["", ...ctrls]) await fs.rmdir(path.join("/sys/fs/cgroup", c, "docker", id)).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the run

class Run {
  readonly engines: Engine[] = [];
  /** Engine-level failure (start, image import): all of its cells are FAIL. */
  readonly engineError = new Map<EngineName, string>();
  readonly rows: Row[] = [];
  readonly notes: string[] = [];
  readonly env: Record<string, string> = {};
  private cleanupPromise: Promise<void> | undefined;
  /** Set on Ctrl-C / SIGTERM / watchdog: no new case or iteration starts. */
  aborted = false;
  private bridgeCreated = false;
  private ipForwardBefore: string | undefined;
  private hostPathsBefore: Set<string> | undefined;
  private firewallBefore: FirewallSnapshot | undefined;
  private berthBridgeBefore = true;

  constructor(
    readonly opts: Options,
    readonly dir: string,
    readonly deadline: Deadline,
  ) {}

  usable(): Engine[] {
    return this.engines.filter((e) => !this.engineError.has(e.name));
  }

  ctx(e: Engine, defaultTimeoutMs: number): CaseCtx {
    return {
      engine: e,
      docker: (args, timeoutMs) => e.docker(args, this.deadline.cap(timeoutMs ?? defaultTimeoutMs, 5000)),
      engines: this.usable(),
      workDir: this.dir,
      remainingMs: () => this.deadline.remainingMs(),
      log: (m) => log(`${e.name}: ${m}`),
    };
  }

  async prepare(): Promise<{ tar: string }> {
    this.ipForwardBefore = (await fs.readFile("/proc/sys/net/ipv4/ip_forward", "utf8").catch(() => "")).trim();
    this.hostPathsBefore = await snapshotHostPaths();
    this.firewallBefore = await snapshotFirewall();
    await fs.writeFile(path.join(this.dir, FIREWALL_FILE), JSON.stringify(this.firewallBefore));
    this.berthBridgeBefore = (await exec("ip", ["link", "show", "berth0"], { timeoutMs: 5000 })).code === 0;
    // Saved so that a later run can finish the clean-up if this one is SIGKILLed.
    await fs.writeFile(path.join(this.dir, HOST_PATHS_FILE), JSON.stringify([...this.hostPathsBefore]));
    const apt = new Apt(log);
    const cli = await dockerClient();
    this.env["docker CLI"] = `${cli} ${(await exec(cli, ["--version"], { timeoutMs: 10_000 })).stdout.trim()}`;

    const busybox = await ensureBusybox(apt, log, this.deadline.cap(600_000, 60_000));
    const tar = path.join(this.dir, "rootfs.tar");
    const method = await makeRootfsTar(busybox, tar, this.dir, log);
    this.env["busybox rootfs"] = `${method}, ${((await fs.stat(tar)).size / 1048576).toFixed(1)} MiB`;

    // The CLI talks only to the -H socket given per call: no host config, context or TLS settings.
    const dropped = new Set(["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"]);
    const cliEnv: NodeJS.ProcessEnv = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !dropped.has(k))),
      DOCKER_CONFIG: path.join(this.dir, "cli-config"),
      DOCKER_CLI_HINTS: "false",
      // `docker build` uses the legacy builder on both engines (dockerd 20.10 too).
      DOCKER_BUILDKIT: "0",
    };
    await fs.mkdir(path.join(this.dir, "cli-config"), { recursive: true });

    for (const name of this.opts.engines) {
      const edir = path.join(this.dir, name);
      await fs.mkdir(edir, { recursive: true });
      if (name === "dockerd") {
        let dockerd = "dockerd";
        try {
          dockerd = await ensureDockerd(apt, log, this.dir, this.deadline.cap(600_000, 60_000));
          await createBridge(this.opts.bridge, log);
          this.bridgeCreated = true;
        } catch (e) {
          this.engineError.set(name, `host set-up for dockerd failed: ${errMsg(e)}`);
        }
        this.engines.push(new Dockerd(edir, dockerd, this.opts.bridge.name, cli, cliEnv, log));
      } else {
        this.engines.push(new Berthd(edir, cli, cliEnv, log));
      }
    }
    return { tar };
  }

  async startEngines(tar: string): Promise<void> {
    const startRow: Row = { id: "first-start", title: "daemon first start on empty roots until /_ping (once)", unit: "ms", cells: {} };
    for (const e of this.usable()) {
      log(`starting ${e.name}`);
      try {
        await e.start(this.deadline.cap(60_000, 10_000));
        startRow.cells[e.name] = okCell([e.lastStartMs], 1);
      } catch (err) {
        this.engineError.set(e.name, `${e.name} did not start: ${errMsg(err)}`);
        continue;
      }
      if (e instanceof Dockerd) {
        this.env["dockerd"] = `${e.version} (${e.containerdMode}, --bridge=${this.opts.bridge.name}, iptables and ip-forward at their defaults (on)${process.env.DOCKERD_ARGS ? `, DOCKERD_ARGS=${process.env.DOCKERD_ARGS}` : ""})`;
        const ctrd = await exec("containerd", ["--version"], { timeoutMs: 10_000 });
        const runc = await exec("runc", ["--version"], { timeoutMs: 10_000 });
        this.env["containerd / runc"] = `${ctrd.stdout.trim().split(" ").slice(2).join(" ")} / ${runc.stdout.split("\n")[0] ?? ""}`;
      } else {
        this.env["berthd"] = `${e.version}${process.env.BERTHD_ARGS ? ` (BERTHD_ARGS=${process.env.BERTHD_ARGS})` : ""}`;
      }
      try {
        log(`${e.name}: docker import rootfs.tar ${IMAGE}`);
        await e.docker(["import", tar, IMAGE], this.deadline.cap(120_000, 10_000));
        await e.docker(["image", "inspect", IMAGE], 30_000);
      } catch (err) {
        this.engineError.set(e.name, `image import failed: ${errMsg(err)}\n${await e.logTail(15)}`);
      }
    }
    for (const e of this.engines) {
      const err = this.engineError.get(e.name);
      if (err !== undefined && startRow.cells[e.name] === undefined) startRow.cells[e.name] = { ok: false, error: err, samples: [] };
    }
    this.rows.push(startRow);
  }

  private failCells(): Partial<Record<EngineName, Cell>> {
    const cells: Partial<Record<EngineName, Cell>> = {};
    for (const [name, err] of this.engineError) cells[name] = { ok: false, error: err, samples: [] };
    return cells;
  }

  async runCases(): Promise<void> {
    const all: BenchCase[] = [...CASES, ...(this.opts.scale ? [scaleCase()] : [])];
    const cases = all.filter((c) => this.opts.only === undefined || this.opts.only.has(c.id));
    for (const c of cases) {
      if (this.aborted) return;
      if (this.deadline.remainingMs() < RESERVE_MS) {
        this.notes.push(`case ${c.id} skipped: time budget exhausted`);
        this.pushSkipped(c);
        continue;
      }
      log(`case ${c.id}: ${c.title}`);
      if (c.kind === "timed") await this.runTimed(c);
      else await this.runSnapshot(c);
      await this.resetEngines();
    }
  }

  /**
   * After a failure: if the daemon itself is gone, record that (with its log
   * tail) once as an engine error, so later cells say so instead of
   * "cannot connect". Returns a suffix for the failing cell's message.
   */
  private async checkDaemon(e: Engine, caseId: string): Promise<string> {
    const how = e.exited;
    if (how === undefined) return "";
    if (!this.engineError.has(e.name)) {
      this.engineError.set(e.name, `${e.name} ${how} during ${caseId}; its log ends:\n${await e.logTail(20)}`);
      log(`${e.name} ${how} during ${caseId}; its remaining cells are FAIL`);
    }
    return ` (daemon ${how})`;
  }

  private pushSkipped(c: BenchCase): void {
    const specs = c.kind === "timed" ? [{ id: c.id, title: c.title, unit: "ms" as Unit }] : c.metrics;
    for (const m of specs) {
      const cells = this.failCells();
      for (const e of this.usable()) cells[e.name] = { ok: false, error: "time budget exhausted", samples: [], skipped: true };
      this.rows.push({ id: c.kind === "timed" ? c.id : `${c.id}.${m.id}`, title: m.title, unit: m.unit, cells });
    }
  }

  private async resetEngines(): Promise<void> {
    for (const e of this.usable()) {
      if (!e.running) continue;
      try {
        await e.removeAllContainers(this.deadline.cap(120_000, 20_000));
      } catch (err) {
        log(`${e.name}: removing containers after the case failed: ${oneLine(errMsg(err))}`);
      }
    }
  }

  private async runTimed(c: TimedCase): Promise<void> {
    const { warmup, runs } = c.iterations?.(this.opts.runs) ?? { warmup: this.opts.runs, runs: this.opts.runs };
    const live = this.usable();
    const state = new Map<EngineName, { samples: number[]; error?: string }>();
    for (const e of live) {
      state.set(e.name, { samples: [] });
      if (c.setup) {
        try {
          await c.setup(this.ctx(e, c.opTimeoutMs));
        } catch (err) {
          state.set(e.name, { samples: [], error: `setup: ${errMsg(err)}${await this.checkDaemon(e, c.id)}` });
        }
      }
    }
    let stoppedEarly = false;
    for (let i = 0; i < warmup + runs; i++) {
      if (this.aborted) return;
      if (this.deadline.remainingMs() < RESERVE_MS) {
        stoppedEarly = true;
        break;
      }
      // Alternate the order so neither engine always runs right after the other.
      const order = i % 2 === 0 ? live : [...live].reverse();
      for (const e of order) {
        const s = state.get(e.name);
        if (!s || s.error !== undefined) continue;
        let t0 = nowMs();
        try {
          if (c.beforeEach) {
            await c.beforeEach(this.ctx(e, c.opTimeoutMs)); // not timed
            t0 = nowMs();
          }
          const own = await c.op(this.ctx(e, c.opTimeoutMs));
          if (i >= warmup) s.samples.push(typeof own === "number" ? own : nowMs() - t0);
        } catch (err) {
          s.error = `${i < warmup ? "warm-up" : "run"} ${i < warmup ? i + 1 : i - warmup + 1}: ${errMsg(err)}`;
          s.error += await this.checkDaemon(e, c.id);
          log(`${e.name}: ${c.id} FAILED: ${oneLine(s.error)}`);
          continue;
        }
      }
    }
    for (const e of live) {
      if (c.teardown) {
        try {
          await c.teardown(this.ctx(e, c.opTimeoutMs));
        } catch (err) {
          log(`${e.name}: ${c.id} teardown failed: ${oneLine(errMsg(err))}`);
        }
      }
    }
    const cells = this.failCells();
    for (const [name, s] of state) {
      if (s.error !== undefined) cells[name] = { ok: false, error: s.error, samples: s.samples };
      else if (s.samples.length === 0) cells[name] = { ok: false, error: "no measured iteration (time budget)", samples: [] };
      else cells[name] = okCell(s.samples, runs, stoppedEarly ? "stopped early: time budget" : undefined);
    }
    this.rows.push({ id: c.id, title: c.title, unit: "ms", cells });
    const parts = [...state].map(([n, s]) => `${n} ${s.error !== undefined ? "FAIL" : `${summary(s.samples).median.toFixed(1)} ms`}`);
    log(`case ${c.id}: ${parts.join(", ")}`);
  }

  private async runSnapshot(c: SnapshotCase): Promise<void> {
    const rows: Row[] = c.metrics.map((m) => ({ id: `${c.id}.${m.id}`, title: m.title, unit: m.unit, cells: this.failCells() }));
    // One engine at a time: the other one stays idle meanwhile.
    for (const e of this.usable()) {
      if (this.aborted) return;
      const ctx = this.ctx(e, 60_000);
      let values: Record<string, number> | undefined;
      let error: string | undefined;
      try {
        if (c.setup) await c.setup(ctx);
        values = await c.collect(ctx);
      } catch (err) {
        if (err instanceof PartialResult) values = err.values;
        error = errMsg(err) + (await this.checkDaemon(e, c.id));
        log(`${e.name}: ${c.id} FAILED: ${oneLine(error)}`);
      }
      if (c.teardown) {
        try {
          await c.teardown(ctx);
        } catch (err) {
          log(`${e.name}: ${c.id} teardown failed: ${oneLine(errMsg(err))}`);
        }
      }
      await this.resetEngines();
      c.metrics.forEach((m, i) => {
        const row = rows[i] as Row;
        const v = values?.[m.id];
        row.cells[e.name] =
          v !== undefined && Number.isFinite(v)
            ? okCell([v], 1)
            : { ok: false, error: error ?? `no value for ${m.id}`, samples: [] };
      });
      log(`case ${c.id} ${e.name}: ${c.metrics.map((m) => `${m.id}=${values?.[m.id]?.toFixed(1) ?? "FAIL"}`).join(" ")}`);
    }
    this.rows.push(...rows);
  }

  /** Idempotent, bounded clean-up of everything this run created. */
  cleanup(): Promise<void> {
    this.aborted = true;
    this.cleanupPromise ??= this.doCleanup();
    return this.cleanupPromise;
  }

  private async doCleanup(): Promise<void> {
    log("cleaning up");
    await stopCaseServices(log).catch((err: unknown) => log(`case services: ${errMsg(err)}`));
    // User-defined networks: dockerd removes their bridge and rules on `network rm`, not on shutdown.
    const markers: string[] = [this.dir, this.opts.bridge.name];
    for (const e of this.engines) {
      if (!e.running) continue;
      const nets = await e.docker(["network", "ls", "-q", "--filter", "type=custom"], 15_000).catch(() => undefined);
      for (const id of nets?.stdout.split(/\s+/).filter(Boolean) ?? []) {
        markers.push(`br-${id.slice(0, 12)}`);
        await e.docker(["network", "rm", id], 30_000).catch((err: unknown) => log(`${e.name}: network rm ${id}: ${oneLine(errMsg(err))}`));
      }
    }
    const outDir = path.join(REPO_ROOT, "bench", "out");
    for (const e of [...this.engines].reverse()) {
      try {
        for (const n of await e.stop()) {
          log(n);
          this.notes.push(n);
        }
      } catch (err) {
        log(`${e.name}: stop failed: ${errMsg(err)}`);
      }
      // Keep the daemon's log (bench/out is git-ignored): the run directory is removed below.
      try {
        await fs.mkdir(outDir, { recursive: true });
        await fs.copyFile(e.logFile, path.join(outDir, `${e.name}.log`));
      } catch {
        /* never started */
      }
    }
    if (this.bridgeCreated) await deleteBridge(this.opts.bridge.name).catch((err: unknown) => log(`bridge: ${errMsg(err)}`));
    for (const m of markers) if (m.startsWith("br-")) await deleteBridge(m).catch(() => undefined);
    // berth's shared bridge (and its loopback guard rule), if this run's berthd made it and nobody is attached.
    if (!this.berthBridgeBefore && this.opts.engines.includes("berth")) {
      const ports = await exec("ip", ["-o", "link", "show", "master", "berth0"], { timeoutMs: 5000 });
      if (ports.code === 0 && ports.stdout.trim() === "") {
        await deleteBridge("berth0");
        markers.push("berth loopback guard");
      }
    }
    if (this.firewallBefore) {
      try {
        const fw = await restoreFirewall(this.firewallBefore, { markers });
        log(`iptables: ${fw.done.length} change(s) undone`);
        for (const l of fw.left) {
          log(`iptables: still there: ${l}`);
          this.notes.push(`iptables rule left behind: ${l}`);
        }
      } catch (err) {
        log(`iptables clean-up failed: ${errMsg(err)}`);
      }
    }
    const fwd = (await fs.readFile("/proc/sys/net/ipv4/ip_forward", "utf8").catch(() => "")).trim();
    if (this.ipForwardBefore && fwd && fwd !== this.ipForwardBefore) {
      log(`restoring net.ipv4.ip_forward=${this.ipForwardBefore} (was changed to ${fwd})`);
      await fs.writeFile("/proc/sys/net/ipv4/ip_forward", this.ipForwardBefore).catch(() => undefined);
    }
    if (this.hostPathsBefore) await removeNewHostPaths(this.hostPathsBefore, log);
    const stuck = await unmountUnder(this.dir).catch(() => [this.dir]);
    if (stuck.length === 0) await fs.rm(this.dir, { recursive: true, force: true }).catch((err: unknown) => log(errMsg(err)));
    else log(`left ${this.dir} in place, still mounted: ${stuck.join(", ")}`);
    log("clean-up done");
  }
}

// ---------------------------------------------------------------- reporting

function fmtValue(v: number, unit: Unit): string {
  if (unit === "count") return String(Math.round(v));
  if (unit === "MiB") return `${v.toFixed(1)} MiB`;
  if (unit === "MB/s") return `${v.toFixed(1)} MB/s`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ms`;
}

interface Report {
  text: string;
  markdown: string;
}

function buildReport(run: Run): Report {
  const engines = run.opts.engines;
  const footnotes: string[] = [];
  const verdicts: string[] = [];
  const rowsOut = run.rows.map((r) => {
    const cells = engines.map((n) => {
      const c = r.cells[n];
      if (!c) return "-";
      if (!c.ok) {
        const err = c.error;
        let k = footnotes.findIndex((f) => f === `${n}: ${err}`);
        if (k < 0) k = footnotes.push(`${n}: ${err}`) - 1;
        return `${c.skipped === true ? "SKIP" : "FAIL"} [${k + 1}]`;
      }
      const partial = c.n < c.planned ? ` (n=${c.n})` : "";
      return fmtValue(c.value, r.unit) + partial;
    });
    const d = r.cells.dockerd;
    const b = r.cells.berth;
    const ratio = r.unit !== "count" && d?.ok && b?.ok && d.value > 0 ? `${(b.value / d.value).toFixed(2)}` : "-";
    const target = TARGETS[r.id];
    const verdict = judge(r.id, d?.ok ? d.value : undefined, b?.ok ? b.value : undefined);
    if (verdict !== undefined) verdicts.push(verdict);
    else if (target !== undefined) verdicts.push("no value");
    return [r.title, ...cells, ...(engines.length === 2 ? [ratio] : []), target?.text ?? "", verdict ?? (target ? "-" : "")];
  });
  const header = ["case", ...engines.map((n) => `${n} (median)`), ...(engines.length === 2 ? ["berth/dockerd"] : []), "target (issue 14)", "met"];
  const metLine =
    verdicts.length === 0
      ? "targets: none of the issue's rows ran"
      : `targets of issue 14: ${verdicts.filter((v) => v === "met").length} of ${Object.keys(TARGETS).length} met in this run${verdicts.length < Object.keys(TARGETS).length ? ` (${Object.keys(TARGETS).length - verdicts.length} row(s) not run)` : ""}`;
  const envLines = Object.entries(run.env).map(([k, v]) => `${k}: ${v}`);
  const failText = footnotes.map((f, i) => `[${i + 1}] ${oneLine(f, 600)}`);
  // Engine errors with more than one line carry the daemon's log tail: show them in full.
  const engineDetails = [...run.engineError].filter(([, e]) => e.includes("\n")).map(([n, e]) => `${n}: ${e}`);
  const notes = run.notes.map((n) => `note: ${n}`);

  const text = [
    textTable(header, rowsOut),
    "",
    metLine,
    "berth/dockerd < 1 means berth is faster / smaller (lower is better), except for MB/s rows (higher is better).",
    ...(failText.length ? ["", "failures:", ...failText] : []),
    ...(engineDetails.length ? ["", "engine errors (full):", ...engineDetails] : []),
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");

  const md = [
    `- host: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${os.release()}`,
    `- cases: ${run.opts.only ? [...run.opts.only].join(", ") : `all${run.opts.scale ? " + scale" : ""}`}; BENCH_RUNS=${run.opts.runs} (warm-up and measured iterations per timed case, fewer where the case says); medians`,
    ...envLines.map((l) => `- ${l}`),
    "",
    markdownTable(header, rowsOut),
    "",
    metLine,
    "",
    "berth/dockerd < 1 means berth is faster / smaller (lower is better), except for MB/s rows (higher is better).",
    ...(failText.length ? ["", "Failures:", "", ...failText.map((f) => `- ${f}`)] : []),
    ...(engineDetails.length
      ? ["", "<details><summary>engine errors</summary>", "", "```", ...engineDetails, "```", "", "</details>"]
      : []),
    ...(notes.length ? ["", ...notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
  return { text: [...envLines, "", text].join("\n"), markdown: md };
}

/** The revision measured and whether the tree had changes (tracked files) against it. */
async function gitDescribe(): Promise<{ revision: string; tree: string }> {
  const r = await exec("git", ["-C", REPO_ROOT, "rev-parse", "--short", "HEAD"], { timeoutMs: 5000 });
  const rev = r.code === 0 ? r.stdout.trim() : "no commit";
  const b = await exec("git", ["-C", REPO_ROOT, "rev-parse", "--abbrev-ref", "HEAD"], { timeoutMs: 5000 });
  const s = await exec("git", ["-C", REPO_ROOT, "status", "--porcelain", "--untracked-files=no"], { timeoutMs: 5000 });
  const changed = s.stdout.split("\n").filter((l) => l.trim() !== "").length;
  return {
    revision: `${rev}${b.code === 0 ? ` (${b.stdout.trim()})` : ""}`,
    tree: s.code !== 0 ? "unknown (git status failed)" : changed > 0 ? `DIRTY (${changed} tracked file(s) changed)` : "clean",
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${errMsg(e)}\n`);
    return 2;
  }
  if (parsed === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (parsed === "list") {
    for (const c of [...CASES, scaleCase()]) process.stdout.write(`${c.id.padEnd(18)} ${c.title}${c.id === "scale" ? " (only with --scale)" : ""}\n`);
    return 0;
  }
  const opts = parsed;
  if (process.getuid?.() !== 0) {
    process.stderr.write("the benchmark must run as root (it starts daemons, creates a bridge, mounts overlays)\n");
    return 2;
  }
  const deadline = new Deadline(opts.budgetMs);
  await cleanStaleRuns(opts.bridge.name);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), TMP_PREFIX));
  // With --userns-remap (BERTHD_ARGS / DOCKERD_ARGS) the remapped root must pass through to the data roots.
  await fs.chmod(dir, 0o711);
  await fs.writeFile(path.join(dir, "owner.pid"), `${process.pid}\n`);
  const run = new Run(opts, dir, deadline);

  // Ctrl-C / SIGTERM: clean up, then exit. A hard watchdog bounds the whole run.
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) {
      log(`${sig} again: still cleaning up (bounded), please wait`);
      return;
    }
    interrupted = true;
    log(`${sig}: stopping`);
    const hard = setTimeout(() => process.exit(130), 150_000);
    hard.unref();
    void run.cleanup().finally(() => process.exit(130));
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
  const watchdog = setTimeout(() => {
    log(`overall time limit (${opts.budgetMs / 1000} s + 60 s) reached: aborting`);
    const hard = setTimeout(() => process.exit(124), 90_000);
    hard.unref();
    void run.cleanup().finally(() => process.exit(124));
  }, opts.budgetMs + 60_000);
  watchdog.unref();

  let fatal: unknown;
  try {
    const { tar } = await run.prepare();
    const g = await gitDescribe();
    run.env["berth revision"] = g.revision;
    run.env["working tree"] = g.tree;
    await run.startEngines(tar);
    await run.runCases();
  } catch (e) {
    fatal = e;
  } finally {
    await run.cleanup(); // the same promise as the signal handler's, if it already started
  }
  if (interrupted) return 130;
  if (fatal !== undefined) {
    process.stderr.write(`benchmark aborted: ${fatal instanceof Error ? (fatal.stack ?? fatal.message) : errMsg(fatal)}\n`);
    if (run.rows.length === 0) return 1;
  }
  const report = buildReport(run);
  const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  process.stdout.write(`\n${report.text}\n\n--- markdown ---\n\n${report.markdown}\n`);

  const outDir = path.join(REPO_ROOT, "bench", "out");
  await fs.mkdir(outDir, { recursive: true });
  await fs.writeFile(
    path.join(outDir, "last.json"),
    `${JSON.stringify({ date: stamp, options: { ...opts, only: opts.only ? [...opts.only] : null }, env: run.env, rows: run.rows, engineErrors: Object.fromEntries(run.engineError), notes: run.notes }, null, 2)}\n`,
  );
  if (opts.record) {
    const file = path.join(REPO_ROOT, "bench", "RESULTS.md");
    const head = existsSync(file) ? "" : "# Benchmark results\n\nAppended by `node dist/bench/run.js --record`; newest last.\n";
    await fs.appendFile(file, `${head}\n## ${stamp}\n\n${report.markdown}\n`);
    log(`appended to ${file}`);
  }
  return fatal === undefined ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`benchmark crashed: ${e instanceof Error ? (e.stack ?? e.message) : errMsg(e)}\n`);
    process.exit(1);
  },
);
