/**
 * The scale case (opt-in, `--scale`): for each size N (10, 100, 1,000 by
 * default; BENCH_SCALE_SIZES), N idle running containers (see IDLE_CMD), then
 * `docker ps`, `GET /containers/json?all=1`, `docker run --rm busybox true`,
 * the engine's memory, and a daemon restart (stop, start, until /_ping and
 * until the API lists all N). One engine at a time; the other stays idle
 * with no containers.
 *
 * Containers are made and removed through the Engine API (create + start,
 * 8 in flight), the same calls for both engines, so that a thousand docker
 * CLI processes do not compete with the daemons for the two cores.
 */
import type { CaseCtx, MetricSpec, SnapshotCase } from "./cases.js";
import { enginePss, IMAGE, PartialResult, waitContainerCount } from "./cases.js";
import { apiRequest, errMsg, mapLimit, median, nowMs, sleep } from "./lib.js";

const LABEL_KEY = "berth-bench";
/** Above this, idle containers use --network none (dockerd's bench bridge is a /24). */
const BRIDGE_MAX = 200;
/** Samples of each timed operation per size. */
const SAMPLES = 5;
const PARALLEL = 8;
/**
 * An idle container that stops on SIGTERM: a bare `sleep` as PID 1 ignores it,
 * so every stop would wait out the 10 s stop timeout, and dockerd's restart
 * (which stops its containers) would measure that timeout, not the daemon.
 */
const IDLE_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];

export function scaleSizes(): number[] {
  const raw = process.env.BENCH_SCALE_SIZES ?? "10,100,1000";
  const sizes = raw.split(",").map((x) => Number(x.trim()));
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 2000)) {
    throw new Error(`BENCH_SCALE_SIZES must be a list of integers in [1, 2000], got ${raw}`);
  }
  return sizes;
}

function metricsFor(sizes: readonly number[]): MetricSpec[] {
  const out: MetricSpec[] = [];
  for (const n of sizes) {
    const net = n > BRIDGE_MAX ? ", --network none" : "";
    out.push(
      { id: `create.${n}`, title: `scale ${n}: create + start ${n} idle containers (API, ${PARALLEL} at a time${net})`, unit: "ms" },
      { id: `ps.${n}`, title: `scale ${n}: docker ps`, unit: "ms" },
      { id: `list.${n}`, title: `scale ${n}: GET /containers/json?all=1`, unit: "ms" },
      { id: `run.${n}`, title: `scale ${n}: docker run --rm busybox true`, unit: "ms" },
      { id: `pss.${n}`, title: `scale ${n}: idle PSS, daemon`, unit: "MiB" },
      { id: `pssAll.${n}`, title: `scale ${n}: idle PSS, daemon + all helpers (incl. per-container)`, unit: "MiB" },
      { id: `restart.${n}`, title: `scale ${n}: daemon restart, spawn until /_ping`, unit: "ms" },
      { id: `restartAll.${n}`, title: `scale ${n}: daemon restart, spawn until the API lists all ${n}`, unit: "ms" },
    );
  }
  return out;
}

async function allIds(c: CaseCtx): Promise<string[]> {
  const list = await c.engine.api("GET", "/containers/json?all=1", undefined, 60_000);
  if (!Array.isArray(list)) throw new Error("GET /containers/json did not return a list");
  return list.map((x) => String((x as { Id?: unknown }).Id));
}

/** Remove every container (DELETE ?force=1, in parallel); bounded by the per-call timeout. */
async function removeAll(c: CaseCtx): Promise<void> {
  const ids = await allIds(c);
  const res = await mapLimit(ids, PARALLEL, (id) => c.engine.api("DELETE", `/containers/${id}?force=1`, undefined, 120_000));
  const bad = res.filter((r) => r.status === "rejected");
  if (bad.length > 0) throw new Error(`${bad.length} of ${ids.length} containers could not be removed: ${errMsg((bad[0] as PromiseRejectedResult).reason)}`);
}

async function createRunning(c: CaseCtx, n: number, timeoutMs: number): Promise<number> {
  const network = n > BRIDGE_MAX ? "none" : "default";
  const t0 = nowMs();
  const res = await mapLimit(
    Array.from({ length: n }, (_v, i) => i),
    PARALLEL,
    async (i) => {
      if (nowMs() - t0 > timeoutMs) throw new Error(`creating ${n} containers took over ${timeoutMs} ms`);
      const body = { Image: IMAGE, Cmd: IDLE_CMD, Labels: { [LABEL_KEY]: "1" }, HostConfig: { NetworkMode: network } };
      const created = (await c.engine.api("POST", `/containers/create?name=bench-scale-${n}-${i}`, body, 60_000)) as { Id?: string } | undefined;
      if (typeof created?.Id !== "string") throw new Error("container create returned no Id");
      await c.engine.api("POST", `/containers/${created.Id}/start`, undefined, 60_000);
    },
  );
  const bad = res.filter((r) => r.status === "rejected");
  if (bad.length > 0) throw new Error(`${bad.length} of ${n} containers failed: ${errMsg((bad[0] as PromiseRejectedResult).reason)}`);
  return nowMs() - t0;
}

async function timedMedian(what: string, fn: () => Promise<void>): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = nowMs();
    try {
      await fn();
    } catch (e) {
      throw new Error(`${what}: ${errMsg(e)}`);
    }
    xs.push(nowMs() - t0);
  }
  return median(xs);
}

export function scaleCase(sizes: readonly number[] = scaleSizes()): SnapshotCase {
  return {
    kind: "snapshot",
    id: "scale",
    title: `scale: ${sizes.join(", ")} idle containers`,
    metrics: metricsFor(sizes),
    async collect(c) {
      const out: Record<string, number> = {};
      try {
        await measureSizes(c, sizes, out);
      } catch (e) {
        await removeAll(c).catch(() => undefined);
        throw new PartialResult(errMsg(e), out);
      }
      await removeAll(c);
      return out;
    },
  };
}

async function measureSizes(c: CaseCtx, sizes: readonly number[], out: Record<string, number>): Promise<void> {
  for (const n of sizes) {
    // A size takes minutes at 1,000 on dockerd: do not start one that cannot finish within the budget.
    const need = 60_000 + n * 600;
    if (c.remainingMs() < need) throw new Error(`time budget: ${Math.round(c.remainingMs() / 1000)} s left, size ${n} needs about ${need / 1000} s`);
    c.log(`scale ${n}: removing all containers, then creating ${n}`);
    await removeAll(c);
    out[`create.${n}`] = await createRunning(c, n, Math.max(120_000, n * 1500));
    const running = await c.engine.api("GET", "/containers/json", undefined, 60_000);
    if (!Array.isArray(running) || running.length !== n) {
      throw new Error(`expected ${n} running containers, the API lists ${Array.isArray(running) ? running.length : "none"}`);
    }
    await sleep(3000); // idle
    const mem = await enginePss(c);
    out[`pss.${n}`] = mem.daemon / 1024;
    out[`pssAll.${n}`] = (mem.daemon + mem.helpers + mem.perContainer) / 1024;
    out[`ps.${n}`] = await timedMedian("docker ps", async () => {
      const lines = (await c.docker(["ps"], 120_000)).stdout.trimEnd().split("\n").length;
      if (lines !== n + 1) throw new Error(`printed ${lines} lines, expected ${n + 1}`);
    });
    out[`list.${n}`] = await timedMedian("GET /containers/json", async () => {
      const r = await apiRequest(c.engine.sock, "GET", "/containers/json?all=1", undefined, 60_000);
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    });
    out[`run.${n}`] = await timedMedian("docker run", async () => {
      await c.docker(["run", "--rm", IMAGE, "true"], 120_000);
    });
    // Restart as a user would: each engine does on shutdown what it does by default
    // (dockerd stops its containers; berth leaves them running).
    const note = await c.engine.stopDaemon(Math.max(60_000, n * 200));
    if (note !== undefined) c.log(note);
    await c.engine.start(120_000);
    out[`restart.${n}`] = c.engine.lastStartMs;
    const t1 = nowMs();
    if (!(await waitContainerCount(c.engine, n, 300_000))) throw new Error(`after the restart the API did not list ${n} containers within 300 s`);
    out[`restartAll.${n}`] = c.engine.lastStartMs + (nowMs() - t1);
    c.log(`scale ${n}: ${Object.entries(out).filter(([k]) => k.endsWith(`.${n}`)).map(([k, v]) => `${k.split(".")[0] ?? k}=${v.toFixed(1)}`).join(" ")}`);
  }
}
