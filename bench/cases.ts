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
import type { Engine } from "./engines.js";
import { errMsg, mapLimit, median, pssKiB, sleep } from "./lib.js";

export interface CaseCtx {
  engine: Engine;
  /** docker CLI against this engine; throws on a non-zero exit. */
  docker(args: readonly string[], timeoutMs?: number): ReturnType<Engine["docker"]>;
  log(msg: string): void;
}

export type Unit = "ms" | "MiB" | "count";

export interface TimedCase {
  kind: "timed";
  id: string;
  title: string;
  /** Hard limit for one `op`. */
  opTimeoutMs: number;
  /** Iterations for a given BENCH_RUNS (default: n warm-up, n measured). */
  iterations?(n: number): { warmup: number; runs: number };
  setup?(c: CaseCtx): Promise<void>;
  op(c: CaseCtx): Promise<void>;
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

export const CASES: readonly BenchCase[] = [
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
    id: "idle-rss-20",
    title: "idle RSS with 20 running `sleep 3600` containers",
    metrics: [
      { id: "daemon", title: "idle RSS, daemon (20 ctrs running)", unit: "MiB" },
      { id: "helpers", title: "idle RSS, per-container helpers, sum", unit: "MiB" },
      { id: "total", title: "idle RSS, daemon + helpers", unit: "MiB" },
      { id: "totalPss", title: "idle PSS, daemon + helpers", unit: "MiB" },
      { id: "helperCount", title: "helper processes", unit: "count" },
    ],
    async setup(c) {
      await dockerMany(c, 20, 4, ["run", "-d", "--label", LABEL, IMAGE, "sleep", "3600"], 60_000);
      await expectCount(c, ["ps", "-q", "--filter", "status=running"], 20, "running containers");
      await sleep(3000); // let the daemon go idle
    },
    async collect(c) {
      const samples: { daemon: number; helpers: number; pss: number; count: number }[] = [];
      for (let i = 0; i < 3; i++) {
        if (i > 0) await sleep(1000);
        const p = await c.engine.processes();
        if (p.daemon.length === 0) throw new Error("daemon process not found");
        let pss = 0;
        for (const x of [...p.daemon, ...p.helpers]) pss += await pssKiB(x.pid);
        samples.push({
          daemon: p.daemon.reduce((s, x) => s + x.rssKiB, 0),
          helpers: p.helpers.reduce((s, x) => s + x.rssKiB, 0),
          pss,
          count: p.helpers.length,
        });
      }
      const daemon = MiB(median(samples.map((s) => s.daemon)));
      const helpers = MiB(median(samples.map((s) => s.helpers)));
      return {
        daemon,
        helpers,
        total: daemon + helpers,
        totalPss: MiB(median(samples.map((s) => s.pss))),
        helperCount: median(samples.map((s) => s.count)),
      };
    },
  },
];
