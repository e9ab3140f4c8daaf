/**
 * The benchmark cases: a plain list, run in order against every engine.
 *
 * To add a case (pull/push against a local registry, build, network, ...),
 * append an object to CASES:
 *  - kind "timed": `op` is one measured operation. The runner does the
 *    warm-up and measured iterations, alternating engines iteration by
 *    iteration, and reports the median wall time of `op`.
 *  - kind "snapshot": `collect` returns one value per declared metric, for one
 *    engine at a time (e.g. memory use while something is running).
 * `setup` and `teardown` run once per engine around the case. Anything that
 * throws marks only that engine's cell FAIL; all containers are removed
 * between cases by the runner anyway.
 */
import { promises as fs } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Engine, EngineProcs } from "./engines.js";
import { duBytes, freePort, loadFreshImage, ports, services, startRegistry, stopService, uploadFreshImage, type RegistryKind } from "./images.js";
import { apiRequest, errMsg, mapLimit, median, nowMs, pssKiB, sleep } from "./lib.js";

export { stopCaseServices } from "./images.js";

export interface CaseCtx {
  engine: Engine;
  /** docker CLI against this engine; throws on a non-zero exit. */
  docker(args: readonly string[], timeoutMs?: number): ReturnType<Engine["docker"]>;
  log(msg: string): void;
  /** All engines still usable in this run (e.g. to use one as the client of another's case). */
  engines: readonly Engine[];
  /** The run's private temporary directory (removed at the end of the run). */
  workDir: string;
  /** Time left in the run's budget. */
  remainingMs(): number;
}

export type Unit = "ms" | "MiB" | "count" | "MB/s";

export interface TimedCase {
  kind: "timed";
  id: string;
  title: string;
  /** Hard limit for one `op`. */
  opTimeoutMs: number;
  /** Iterations for a given BENCH_RUNS (default: n warm-up, n measured). */
  iterations?(n: number): { warmup: number; runs: number };
  setup?(c: CaseCtx): Promise<void>;
  /** Before every iteration (warm-up and measured), not timed. */
  beforeEach?(c: CaseCtx): Promise<void>;
  /** One measured operation; its wall time is the sample, unless it returns its own (ms). */
  op(c: CaseCtx): Promise<void | number>;
  teardown?(c: CaseCtx): Promise<void>;
}

export interface MetricSpec {
  id: string;
  title: string;
  unit: Unit;
}

export interface SnapshotCase {
  kind: "snapshot";
  id: string;
  title: string;
  metrics: readonly MetricSpec[];
  setup?(c: CaseCtx): Promise<void>;
  collect(c: CaseCtx): Promise<Record<string, number>>;
  teardown?(c: CaseCtx): Promise<void>;
}

export type BenchCase = TimedCase | SnapshotCase;

/** Thrown by a snapshot case's collect when it failed part-way: the values it has are still reported. */
export class PartialResult extends Error {
  constructor(
    message: string,
    readonly values: Record<string, number>,
  ) {
    super(message);
    this.name = "PartialResult";
  }
}

export const IMAGE = "busybox:latest";

const LABEL = "berth-bench=1";

async function expectCount(c: CaseCtx, args: readonly string[], want: number, what: string): Promise<void> {
  const out = (await c.docker(args)).stdout.split(/\s+/).filter(Boolean);
  if (out.length !== want) throw new Error(`expected ${want} ${what}, found ${out.length}`);
}

/** Run `count` copies of `args` with at most `parallel` in flight; throws the first failure. */
async function dockerMany(c: CaseCtx, count: number, parallel: number, args: readonly string[], timeoutMs: number): Promise<void> {
  const results = await mapLimit(
    Array.from({ length: count }, (_v, i) => i),
    parallel,
    () => c.docker(args, timeoutMs),
  );
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length > 0) {
    const first = failed[0] as PromiseRejectedResult;
    throw new Error(`${failed.length}/${count} failed; first: ${errMsg(first.reason)}`);
  }
}

const MiB = (kib: number): number => kib / 1024;

/** PSS in KiB of each group of an engine's processes (the containers' own processes are not counted). */
export async function enginePss(c: CaseCtx): Promise<{ daemon: number; helpers: number; perContainer: number; helperCount: number; perCount: number; rssKiB: number }> {
  const p: EngineProcs = await c.engine.processes();
  if (p.daemon.length === 0) throw new Error("daemon process not found");
  const sum = async (xs: EngineProcs["daemon"]): Promise<number> => {
    let t = 0;
    for (const x of xs) t += await pssKiB(x.pid);
    return t;
  };
  return {
    daemon: await sum(p.daemon),
    helpers: await sum(p.helpers),
    perContainer: await sum(p.perContainer),
    helperCount: p.helpers.length,
    perCount: p.perContainer.length,
    rssKiB: [...p.daemon, ...p.helpers].reduce((s, x) => s + x.rssKiB, 0),
  };
}

/** Median over `n` samples, 1 s apart, of enginePss. */
async function enginePssMedian(c: CaseCtx, n = 3): Promise<Awaited<ReturnType<typeof enginePss>>> {
  const xs: Awaited<ReturnType<typeof enginePss>>[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) await sleep(1000);
    xs.push(await enginePss(c));
  }
  const m = (f: (x: (typeof xs)[number]) => number): number => median(xs.map(f));
  return {
    daemon: m((x) => x.daemon),
    helpers: m((x) => x.helpers),
    perContainer: m((x) => x.perContainer),
    helperCount: m((x) => x.helperCount),
    perCount: m((x) => x.perCount),
    rssKiB: m((x) => x.rssKiB),
  };
}

/** Wait until the engine's API lists `want` containers (all=1); bounded. */
export async function waitContainerCount(e: Engine, want: number, timeoutMs: number): Promise<boolean> {
  const t0 = Date.now();
  for (let i = 0; i < 100_000 && Date.now() - t0 < timeoutMs; i++) {
    try {
      const list = await e.api("GET", "/containers/json?all=1", undefined, 30_000);
      if (Array.isArray(list) && list.length === want) return true;
    } catch {
      /* not ready yet */
    }
    await sleep(20);
  }
  return false;
}

/** The ~60 MB test image: busybox + two layers of 28 MiB random data each (docker run dd + docker commit). */
export const BIG = "bench-big:latest";
const BIG_MAKER = "bench-big-maker";

async function ensureBig(c: CaseCtx): Promise<void> {
  try {
    await c.docker(["image", "inspect", "--format", "{{.Id}}", BIG]);
    return;
  } catch {
    /* make it */
  }
  c.log(`making ${BIG}`);
  let from = IMAGE;
  for (const [n, to] of [
    [1, "bench-big:step1"],
    [2, BIG],
  ] as const) {
    await c.docker(["rm", "-f", BIG_MAKER]).catch(() => undefined);
    await c.docker(["run", "--name", BIG_MAKER, "--label", LABEL, from, "dd", "if=/dev/urandom", `of=/blob${n}`, "bs=1M", "count=28"], 120_000);
    await c.docker(["commit", BIG_MAKER, to], 120_000);
    await c.docker(["rm", "-f", BIG_MAKER]);
    from = to;
  }
  await c.docker(["rmi", "bench-big:step1"]);
}

/** Bytes of the big image that a registry transfers (its size minus the busybox base). */
async function bigPayloadBytes(c: CaseCtx, ref = BIG): Promise<number> {
  const size = async (r: string): Promise<number> => Number((await c.docker(["image", "inspect", "--format", "{{.Size}}", r])).stdout.trim());
  const n = (await size(ref)) - (await size(IMAGE));
  if (!Number.isFinite(n) || n < 50e6) throw new Error(`unexpected size of ${ref}: ${n} bytes beyond busybox`);
  return n;
}

/** Remove every local name of the big image (its own and the registry references), so a pull transfers its layers. */
async function rmiBig(c: CaseCtx): Promise<void> {
  const names = (await c.docker(["images", "--format", "{{.Repository}}:{{.Tag}}"])).stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("bench-big:") || /^127\.0\.0\.1:\d+\/bench-/.test(l));
  if (names.length > 0) await c.docker(["rmi", "-f", ...names], 120_000);
}

/** The same CaseCtx, but with another engine as the docker client. */
function withClient(c: CaseCtx, client: Engine, timeoutMs: number): CaseCtx {
  return { ...c, engine: client, docker: (args, t) => client.docker(args, t ?? timeoutMs), log: (m) => c.log(`(via ${client.name}) ${m}`) };
}

/** Send `total` bytes to 127.0.0.1:port; resolves with ms from connect until the peer closed after our EOF. */
function sendBytes(port: number, total: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1_000_000, 0x61);
    const sock = net.connect({ host: "127.0.0.1", port });
    let sent = 0;
    let t0 = 0;
    let done = false;
    const finish = (err: Error | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(nowMs() - t0);
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms (${sent} bytes queued)`)), timeoutMs);
    const pump = (): void => {
      while (sent < total) {
        const ok = sock.write(chunk);
        sent += chunk.length;
        if (!ok) {
          sock.once("drain", pump);
          return;
        }
      }
      sock.end();
    };
    sock.once("connect", () => {
      t0 = nowMs();
      pump();
    });
    sock.on("error", (e) => finish(e));
    sock.on("close", () => finish(sent < total ? new Error(`connection closed after ${sent} bytes`) : undefined));
  });
}

const BUILD_DOCKERFILE = [
  `FROM ${IMAGE}`,
  "COPY hello.txt /hello.txt",
  "RUN echo built > /built.txt && wc -c /hello.txt",
  "ENV BENCH_BUILD=1",
  "",
].join("\n");

async function buildContext(c: CaseCtx): Promise<string> {
  const dir = path.join(c.workDir, `build-ctx-${c.engine.name}`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, "Dockerfile"), BUILD_DOCKERFILE);
  await fs.writeFile(path.join(dir, "hello.txt"), "hello from the berth benchmark\n".repeat(128));
  return dir;
}

/** Per-engine state of a case (ports, references), set in setup. */
const caseState = new Map<string, string>();
const stateKey = (c: CaseCtx, what: string): string => `${c.engine.name}:${what}`;
function getState(c: CaseCtx, what: string): string {
  const v = caseState.get(stateKey(c, what));
  if (v === undefined) throw new Error(`no ${what} (setup failed?)`);
  return v;
}

/** Iterations of the heavy cases (daemon starts, push, pull): 1 warm-up, max(5, ⌈N/3⌉) measured. */
const HEAVY = (n: number): { warmup: number; runs: number } => ({ warmup: 1, runs: Math.max(5, Math.ceil(n / 3)) });

/** The image the fresh push/pull cases use (per engine and registry), removed before every iteration. */
async function rmiIfPresent(c: CaseCtx, ref: string | undefined): Promise<void> {
  if (ref === undefined) return;
  // (not `docker images -q REF`: berth 0.1.0 answers 500 "Invalid regular expression" for a reference with a "-")
  const have = await c.docker(["image", "inspect", "--format", "{{.Id}}", ref]).then(
    () => true,
    () => false,
  );
  if (have) await c.docker(["rmi", "-f", ref], 120_000);
}

let freshCounter = 0;

/** After a pull (checked before the next iteration, so not timed): the image is there with all its bytes. */
async function checkPulled(c: CaseCtx, ref: string | undefined): Promise<void> {
  if (ref === undefined) return;
  const size = Number((await c.docker(["image", "inspect", "--format", "{{.Size}}", ref])).stdout.trim());
  if (!(size >= 60e6)) throw new Error(`${ref} after the pull: ${size} bytes, expected at least 60 MB`);
}

/** Idle containers for the per-container memory growth: enough that the daemon's own ups and downs (GC) divide out. */
const IDLE_N = 50;

export const CASES: readonly BenchCase[] = [
  {
    kind: "timed",
    id: "daemon-start",
    title: "daemon start until /_ping and then GET /containers/json answer (restart on its roots)",
    opTimeoutMs: 60_000,
    iterations: HEAVY,
    async beforeEach(c) {
      const note = await c.engine.stopDaemon(30_000); // not timed
      if (note !== undefined) c.log(note);
    },
    async op(c) {
      await c.engine.start(60_000);
      // berthd answers /_ping while its engine still loads (dockerd only once it is ready), so the
      // time that counts for a user is until the first real request answers: both engines get it.
      const t1 = nowMs();
      await apiRequest(c.engine.sock, "GET", "/containers/json?all=1", undefined, 30_000);
      return c.engine.lastStartMs + (nowMs() - t1);
    },
  },
  {
    kind: "timed",
    id: "run-true",
    title: "docker run --rm busybox true",
    opTimeoutMs: 60_000,
    async op(c) {
      await c.docker(["run", "--rm", IMAGE, "true"]);
    },
  },
  {
    kind: "timed",
    id: "run-none",
    title: "docker run --rm --network none busybox true (dockerd: --bridge=none)",
    opTimeoutMs: 60_000,
    async setup(c) {
      // As in the issue: dockerd without its default bridge for this case only.
      if (c.engine.name === "dockerd") await c.engine.restart(30_000, ["--bridge=none"]);
    },
    async op(c) {
      await c.docker(["run", "--rm", "--network", "none", IMAGE, "true"]);
    },
    async teardown(c) {
      if (c.engine.name === "dockerd") await c.engine.restart(30_000);
    },
  },
  {
    kind: "timed",
    id: "run-echo",
    title: "docker run --rm busybox echo hello",
    opTimeoutMs: 60_000,
    async op(c) {
      const r = await c.docker(["run", "--rm", IMAGE, "echo", "hello"]);
      if (r.stdout !== "hello\n") throw new Error(`unexpected output ${JSON.stringify(r.stdout.slice(0, 100))}`);
    },
  },
  {
    kind: "timed",
    id: "exec-true",
    title: "docker exec (running ctr) true",
    opTimeoutMs: 60_000,
    async setup(c) {
      await c.docker(["run", "-d", "--label", LABEL, "--name", "bench-exec", IMAGE, "sleep", "3600"]);
    },
    async op(c) {
      await c.docker(["exec", "bench-exec", "true"]);
    },
    async teardown(c) {
      await c.docker(["rm", "-f", "bench-exec"]);
    },
  },
  {
    kind: "timed",
    id: "ps-a-50",
    title: "docker ps -a (50 containers)",
    opTimeoutMs: 60_000,
    async setup(c) {
      await dockerMany(c, 50, 4, ["create", "--label", LABEL, IMAGE, "true"], 60_000);
      await expectCount(c, ["ps", "-aq"], 50, "containers");
    },
    async op(c) {
      const r = await c.docker(["ps", "-a"]);
      const lines = r.stdout.trimEnd().split("\n").length;
      if (lines !== 51) throw new Error(`docker ps -a printed ${lines} lines, expected 51`);
    },
  },
  {
    kind: "timed",
    id: "list-json-50",
    title: "GET /containers/json?all=1 (50 containers, HTTP on the socket)",
    opTimeoutMs: 30_000,
    async setup(c) {
      await dockerMany(c, 50, 4, ["create", "--label", LABEL, IMAGE, "true"], 60_000);
      await expectCount(c, ["ps", "-aq"], 50, "containers");
    },
    async op(c) {
      // A new connection per request, as curl makes one; the parse below is not timed.
      const t0 = nowMs();
      const r = await apiRequest(c.engine.sock, "GET", "/containers/json?all=1", undefined, 30_000);
      const ms = nowMs() - t0;
      const list: unknown = r.status === 200 ? JSON.parse(r.body) : undefined;
      if (!Array.isArray(list) || list.length !== 50) throw new Error(`HTTP ${r.status}, ${Array.isArray(list) ? list.length : "no"} containers listed, expected 50`);
      return ms;
    },
  },
  {
    kind: "timed",
    id: "run-parallel-20",
    title: "20 x docker run --rm busybox true, in parallel (wall)",
    opTimeoutMs: 300_000,
    // 20 containers per iteration: fewer iterations keep the whole run within budget.
    iterations: (n) => ({ warmup: Math.max(1, Math.ceil(n / 5)), runs: Math.max(3, Math.ceil(n / 2)) }),
    async op(c) {
      await dockerMany(c, 20, 20, ["run", "--rm", IMAGE, "true"], 300_000);
    },
  },
  {
    kind: "snapshot",
    id: "idle-ctrs-50",
    title: `memory with 0, then ${IDLE_N} running \`sleep 3600\` containers`,
    metrics: [
      { id: "daemon", title: `idle RSS, daemon (${IDLE_N} ctrs running)`, unit: "MiB" },
      { id: "helpers", title: "idle RSS, helpers incl. per-container ones, sum", unit: "MiB" },
      { id: "total", title: "idle RSS, daemon + helpers", unit: "MiB" },
      { id: "totalPss", title: `idle PSS, daemon + helpers (${IDLE_N} ctrs running)`, unit: "MiB" },
      { id: "perCtr", title: `PSS growth per idle container (0 vs ${IDLE_N} ctrs, daemon + all helpers)`, unit: "MiB" },
      { id: "helperCount", title: `per-container helper processes (${IDLE_N} ctrs)`, unit: "count" },
    ],
    async collect(c) {
      await expectCount(c, ["ps", "-aq"], 0, "containers");
      await sleep(3000); // idle
      const zero = await enginePssMedian(c);
      await dockerMany(c, IDLE_N, 4, ["run", "-d", "--label", LABEL, IMAGE, "sleep", "3600"], 60_000);
      await expectCount(c, ["ps", "-q", "--filter", "status=running"], IDLE_N, "running containers");
      await sleep(3000); // let the daemon go idle
      const samples: { daemon: number; helpers: number; pss: number; count: number }[] = [];
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(1000);
        const p = await c.engine.processes();
        if (p.daemon.length === 0) throw new Error("daemon process not found");
        let pss = 0;
        for (const x of [...p.daemon, ...p.helpers, ...p.perContainer]) pss += await pssKiB(x.pid);
        samples.push({
          daemon: p.daemon.reduce((s, x) => s + x.rssKiB, 0),
          helpers: [...p.helpers, ...p.perContainer].reduce((s, x) => s + x.rssKiB, 0),
          pss,
          count: p.perContainer.length,
        });
      }
      const daemon = MiB(median(samples.map((s) => s.daemon)));
      const helpers = MiB(median(samples.map((s) => s.helpers)));
      const pssN = median(samples.map((s) => s.pss));
      const pss0 = zero.daemon + zero.helpers + zero.perContainer;
      return {
        daemon,
        helpers,
        total: daemon + helpers,
        totalPss: MiB(pssN),
        perCtr: MiB((pssN - pss0) / IDLE_N),
        helperCount: median(samples.map((s) => s.count)),
      };
    },
  },
  // ------------------------------------------------------------ images: registry, save/load
  {
    kind: "timed",
    id: "push-60mb",
    title: "docker push of a fresh 60 MB 3-layer image (127.0.0.1, empty berth registry)",
    opTimeoutMs: 300_000,
    iterations: HEAVY,
    async beforeEach(c) {
      // Not timed: an empty registry and a new random image, so nothing of it was ever compressed.
      await rmiIfPresent(c, caseState.get(stateKey(c, "ref")));
      const reg = await startRegistry(c, "berth", "push");
      const ref = `${reg}/bench-push-${c.engine.name}:${++freshCounter}`;
      caseState.set(stateKey(c, "ref"), ref);
      await loadFreshImage(c, ref);
    },
    async op(c) {
      await c.docker(["push", getState(c, "ref")]);
      // Make sure the layers were really uploaded (a directory walk, a few ms).
      const stored = await duBytes(services.get("push")?.root ?? "");
      if (stored < 60e6) throw new Error(`registry holds only ${stored} bytes after the push`);
    },
    async teardown(c) {
      await stopService("push");
      const ref = caseState.get(stateKey(c, "ref"));
      caseState.delete(stateKey(c, "ref"));
      await rmiIfPresent(c, ref);
    },
  },
  {
    kind: "timed",
    id: "pull-60mb",
    title: "docker pull of a fresh 60 MB 3-layer image (127.0.0.1, berth registry)",
    opTimeoutMs: 300_000,
    iterations: HEAVY,
    async beforeEach(c) {
      // Not timed: a new random image, put into the registry by the bench itself (not by a daemon,
      // which could keep its compressed blobs), so the pull transfers and unpacks all 3 layers.
      const reg = services.has("pull") ? `127.0.0.1:${String(ports.get("pull"))}` : await startRegistry(c, "berth", "pull");
      await checkPulled(c, caseState.get(stateKey(c, "ref")));
      await rmiIfPresent(c, caseState.get(stateKey(c, "ref")));
      const tag = String(++freshCounter);
      await uploadFreshImage(reg, `bench-pull-${c.engine.name}`, tag);
      caseState.set(stateKey(c, "ref"), `${reg}/bench-pull-${c.engine.name}:${tag}`);
    },
    async op(c) {
      await c.docker(["pull", getState(c, "ref")]);
    },
    async teardown(c) {
      const ref = caseState.get(stateKey(c, "ref"));
      await checkPulled(c, ref);
      caseState.delete(stateKey(c, "ref"));
      await rmiIfPresent(c, ref);
      await stopService("pull"); // teardowns run after all iterations of both engines
    },
  },
  {
    kind: "timed",
    id: "save-load",
    title: "docker save 60 MB image | docker load",
    opTimeoutMs: 300_000,
    iterations: (n) => ({ warmup: 1, runs: Math.max(3, Math.ceil(n / 3)) }),
    async setup(c) {
      await ensureBig(c);
    },
    async op(c) {
      const r = await c.engine.shell(`$DOCKER save ${BIG} | $DOCKER load`, 300_000);
      if (!r.stdout.includes(BIG)) throw new Error(`docker load printed ${JSON.stringify(r.stdout.slice(0, 200))}`);
    },
  },
  {
    kind: "snapshot",
    id: "registry-throughput",
    title: "registry throughput, berthd as the client of both registries",
    metrics: [
      { id: "push", title: "registry push MB/s, berthd client [dockerd col: docker-registry]", unit: "MB/s" },
      { id: "pull", title: "registry pull MB/s, berthd client [dockerd col: docker-registry]", unit: "MB/s" },
    ],
    // The "dockerd" column measures Debian's docker-registry (distribution), the
    // "berth" column berth's registry; both with the berth daemon as the client.
    async collect(c) {
      const client = c.engines.find((e) => e.name === "berth");
      if (!client) throw new Error("needs the berth engine as the client");
      const kind: RegistryKind = c.engine.name === "dockerd" ? "distribution" : "berth";
      const b = withClient(c, client, 300_000);
      await ensureBig(b);
      const bytes = await bigPayloadBytes(b);
      const pushMs: number[] = [];
      const pullMs: number[] = [];
      let ref = "";
      try {
        for (let i = 0; i < 3; i++) {
          const reg = await startRegistry(b, kind, "throughput"); // empty each time
          ref = `${reg}/bench-tp:latest`;
          await b.docker(["tag", BIG, ref]);
          const t0 = nowMs();
          await b.docker(["push", ref]);
          pushMs.push(nowMs() - t0);
        }
        await rmiBig(b);
        for (let i = 0; i < 3; i++) {
          if (i > 0) await b.docker(["rmi", ref]);
          const t0 = nowMs();
          await b.docker(["pull", ref]);
          pullMs.push(nowMs() - t0);
        }
        await b.docker(["tag", ref, BIG]);
        await b.docker(["rmi", ref]);
      } finally {
        await stopService("throughput");
      }
      c.log(`${kind} registry: ${(bytes / 1e6).toFixed(1)} MB; push ms ${pushMs.map((x) => x.toFixed(0)).join(",")}; pull ms ${pullMs.map((x) => x.toFixed(0)).join(",")}`);
      return { push: bytes / 1e3 / median(pushMs), pull: bytes / 1e3 / median(pullMs) };
    },
  },
  // ------------------------------------------------------------ build
  {
    kind: "timed",
    id: "build-cold",
    title: "docker build --no-cache, 4 steps (legacy builder)",
    opTimeoutMs: 120_000,
    iterations: (n) => ({ warmup: Math.max(1, Math.ceil(n / 5)), runs: Math.max(3, Math.ceil(n / 2)) }),
    async setup(c) {
      caseState.set(stateKey(c, "ctx"), await buildContext(c));
    },
    async op(c) {
      await c.docker(["build", "--no-cache", "-t", "bench-build:latest", getState(c, "ctx")]);
    },
  },
  {
    kind: "timed",
    id: "build-cached",
    title: "docker build, same 4 steps, all cached (legacy builder)",
    opTimeoutMs: 120_000,
    async setup(c) {
      const ctx = await buildContext(c);
      caseState.set(stateKey(c, "ctx"), ctx);
      await c.docker(["build", "-t", "bench-build:latest", ctx]);
    },
    async op(c) {
      await c.docker(["build", "-t", "bench-build:latest", getState(c, "ctx")]);
    },
  },
  {
    kind: "timed",
    id: "images",
    title: "docker images",
    opTimeoutMs: 30_000,
    async setup(c) {
      await ensureBig(c);
      await c.docker(["build", "-q", "-t", "bench-build:latest", await buildContext(c)]);
    },
    async op(c) {
      const lines = (await c.docker(["images"])).stdout.trimEnd().split("\n").length;
      if (lines < 4) throw new Error(`docker images printed ${lines} lines, expected at least 4`);
    },
  },
  // ------------------------------------------------------------ network
  {
    kind: "timed",
    id: "run-publish",
    title: "docker run --rm -p 127.0.0.1:PORT:80 busybox true",
    opTimeoutMs: 60_000,
    async setup(c) {
      caseState.set(stateKey(c, "port"), String(await freePort()));
    },
    async op(c) {
      await c.docker(["run", "--rm", "-p", `127.0.0.1:${getState(c, "port")}:80`, IMAGE, "true"]);
    },
  },
  {
    kind: "timed",
    id: "run-usernet",
    title: "docker run --rm --network benchnet busybox true",
    opTimeoutMs: 60_000,
    async setup(c) {
      await c.docker(["network", "rm", "benchnet"]).catch(() => undefined);
      await c.docker(["network", "create", "benchnet"]);
    },
    async op(c) {
      await c.docker(["run", "--rm", "--network", "benchnet", IMAGE, "true"]);
    },
    async teardown(c) {
      await c.docker(["network", "rm", "benchnet"]);
    },
  },
  {
    kind: "snapshot",
    id: "loopback-throughput",
    title: "host -> published port (127.0.0.1) -> container nc, 200 MB",
    metrics: [{ id: "mbps", title: "loopback -> -p 127.0.0.1:PORT:80 -> nc, 200 MB, MB/s", unit: "MB/s" }],
    async collect(c) {
      const total = 200_000_000;
      const ms: number[] = [];
      let lastErr = "";
      for (let attempt = 0; attempt < 6 && ms.length < 3; attempt++) {
        const port = await freePort();
        const name = `bench-nc-${attempt}`;
        // -i keeps nc's stdin open (and empty), so it only ever reads from the socket.
        await c.docker(["run", "-d", "-i", "--label", LABEL, "--name", name, "-p", `127.0.0.1:${port}:80`, IMAGE, "sh", "-c", "nc -l -p 80 >/dev/null"]);
        await sleep(1000); // let nc listen: a connection before that is closed by the port forwarder
        try {
          ms.push(await sendBytes(port, total, 120_000));
        } catch (e) {
          lastErr = errMsg(e);
          c.log(`loopback attempt ${attempt + 1} failed: ${lastErr}`);
        }
        await c.docker(["rm", "-f", name]);
      }
      if (ms.length === 0) throw new Error(`no transfer completed: ${lastErr}`);
      c.log(`loopback ms: ${ms.map((x) => x.toFixed(0)).join(",")}`);
      return { mbps: total / 1e3 / median(ms) };
    },
  },
  // ------------------------------------------------------------ memory after work (last: it restarts the daemons)
  {
    kind: "snapshot",
    id: "idle-after-work",
    title: "idle memory after a workload (fresh daemon; pull 60 MB, 3 builds, 50 containers run and removed)",
    metrics: [
      { id: "daemon", title: "idle PSS after work, daemon", unit: "MiB" },
      { id: "helpers", title: "idle PSS after work, daemon's helpers", unit: "MiB" },
      { id: "total", title: "idle PSS after work, daemon + helpers", unit: "MiB" },
      { id: "rss", title: "idle RSS after work, daemon + helpers", unit: "MiB" },
      { id: "helperCount", title: "daemon's helper processes after work", unit: "count" },
    ],
    async setup(c) {
      await c.engine.restart(30_000); // the same start for both: a fresh daemon process on its roots
      caseState.set(stateKey(c, "reg"), await startRegistry(c, "berth", `work-${c.engine.name}`));
    },
    async collect(c) {
      const tag = String(++freshCounter);
      const ref = `${getState(c, "reg")}/bench-work:${tag}`;
      // Untimed workload: a new 60 MB image (put into the registry by the bench) pulled, builds, runs.
      await uploadFreshImage(getState(c, "reg"), "bench-work", tag);
      await c.docker(["pull", ref], 300_000);
      const ctx = await buildContext(c);
      for (let i = 0; i < 3; i++) await c.docker(["build", "--no-cache", "-q", "-t", "bench-work-build:latest", ctx], 120_000);
      await dockerMany(c, 50, 4, ["run", "--rm", "--label", LABEL, IMAGE, "true"], 60_000);
      await expectCount(c, ["ps", "-aq"], 0, "containers");
      await sleep(10_000); // idle
      const m = await enginePssMedian(c);
      if (m.perCount !== 0) throw new Error(`${m.perCount} per-container helper(s) still running with no container`);
      await c.docker(["rmi", ref, "bench-work-build:latest"], 120_000).catch((e: unknown) => c.log(`removing the workload's images: ${errMsg(e)}`));
      return {
        daemon: MiB(m.daemon),
        helpers: MiB(m.helpers),
        total: MiB(m.daemon + m.helpers),
        rss: MiB(m.rssKiB),
        helperCount: m.helperCount,
      };
    },
    async teardown(c) {
      await stopService(`work-${c.engine.name}`);
    },
  },
];
