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
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Engine } from "./engines.js";
import { Apt } from "./host.js";
import { errMsg, mapLimit, median, nowMs, pidAlive, pssKiB, signal, sleep, waitExit, waitFor } from "./lib.js";

export interface CaseCtx {
  engine: Engine;
  /** docker CLI against this engine; throws on a non-zero exit. */
  docker(args: readonly string[], timeoutMs?: number): ReturnType<Engine["docker"]>;
  log(msg: string): void;
  /** All engines still usable in this run (e.g. to use one as the client of another's case). */
  engines: readonly Engine[];
  /** The run's private temporary directory (removed at the end of the run). */
  workDir: string;
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

// ---------------------------------------------------------------- local registries, ports, the 60 MB image

/** A free TCP port on 127.0.0.1 (bound and released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

/** GET http://127.0.0.1:port/v2/ answers (any HTTP status). */
function httpUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("error", () => done(false));
    s.once("connect", () => s.write("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
    s.once("data", (d: Buffer) => done(d.toString("latin1").startsWith("HTTP/")));
  });
}

export type RegistryKind = "berth" | "distribution";

interface Service {
  child: ChildProcess;
  port: number;
  root: string;
}

/** Registries started by cases, by key; stopped by the case's teardown or by stopCaseServices(). */
const services = new Map<string, Service>();
/** One port per key for the whole run, so image references stay the same across restarts. */
const ports = new Map<string, number>();

function berthRegistryEntry(): string {
  return fileURLToPath(new URL("../src/registry/main.js", import.meta.url));
}

async function distributionBinary(c: CaseCtx): Promise<string> {
  const bin = "/usr/bin/docker-registry";
  if (existsSync(bin)) return bin;
  c.log("installing Debian's docker-registry");
  try {
    await new Apt((m) => c.log(m)).install(["docker-registry"], 300_000);
  } catch (e) {
    throw new Error(`docker-registry is not installed and could not be installed: ${errMsg(e)}`);
  }
  if (!existsSync(bin)) throw new Error("docker-registry is not installed (apt-get install docker-registry)");
  return bin;
}

async function stopService(key: string): Promise<void> {
  const s = services.get(key);
  if (!s) return;
  services.delete(key);
  const pid = s.child.pid;
  if (pid !== undefined && s.child.exitCode === null && s.child.signalCode === null) {
    signal(pid, "SIGTERM");
    if (!(await waitExit(pid, 5000, 50))) {
      signal(pid, "SIGKILL");
      await waitExit(pid, 2000, 50);
    }
  }
}

/** Stop every registry a case left running (called by the runner's clean-up). */
export async function stopCaseServices(log: (m: string) => void): Promise<void> {
  for (const key of [...services.keys()]) {
    log(`stopping registry ${key}`);
    await stopService(key);
  }
}

/**
 * (Re)start a registry of `kind` under `key` with an empty storage root, on
 * 127.0.0.1 only; returns "127.0.0.1:PORT" (the same port for a key all run long).
 */
async function startRegistry(c: CaseCtx, kind: RegistryKind, key: string): Promise<string> {
  await stopService(key);
  let port = ports.get(key);
  if (port === undefined) {
    port = await freePort();
    ports.set(key, port);
  }
  const dir = path.join(c.workDir, "registries", key);
  await fs.rm(dir, { recursive: true, force: true });
  const root = path.join(dir, "storage");
  await fs.mkdir(root, { recursive: true });
  const addr = `127.0.0.1:${port}`;
  let cmd: string;
  let args: string[];
  if (kind === "berth") {
    cmd = process.execPath;
    args = [berthRegistryEntry(), "serve", "--addr", addr, "--root", root];
  } else {
    cmd = await distributionBinary(c);
    const cfg = path.join(dir, "config.yml");
    await fs.writeFile(
      cfg,
      ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${root}`, "http:", `  addr: ${addr}`, ""].join("\n"),
    );
    args = ["serve", cfg];
  }
  const logFd = await fs.open(path.join(dir, "registry.log"), "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { detached: true, stdio: ["ignore", logFd.fd, logFd.fd] });
  } finally {
    await logFd.close();
  }
  child.on("error", () => undefined);
  services.set(key, { child, port, root });
  const up = await waitFor(async () => child.exitCode !== null || (await httpUp(port)), { timeoutMs: 15_000, intervalMs: 100 });
  if (!up || child.exitCode !== null || child.pid === undefined || !pidAlive(child.pid)) {
    const tail = await fs.readFile(path.join(dir, "registry.log"), "utf8").catch(() => "");
    await stopService(key);
    throw new Error(`${kind} registry on ${addr} did not start: ${tail.slice(-500)}`);
  }
  return addr;
}

/** Total size of the regular files below `dir`. */
async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fs.stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
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

const THREE_RUNS = (): { warmup: number; runs: number } => ({ warmup: 0, runs: 3 });

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
  // ------------------------------------------------------------ images: registry, save/load
  {
    kind: "timed",
    id: "push-60mb",
    title: "docker push 60 MB 3-layer image (berth registry, 127.0.0.1, empty)",
    opTimeoutMs: 300_000,
    iterations: THREE_RUNS,
    async setup(c) {
      await ensureBig(c);
      await bigPayloadBytes(c);
    },
    async beforeEach(c) {
      // A fresh, empty registry every time, so every layer is really uploaded.
      const reg = await startRegistry(c, "berth", "push");
      const ref = `${reg}/bench-push-${c.engine.name}:latest`;
      caseState.set(stateKey(c, "ref"), ref);
      await c.docker(["tag", BIG, ref]);
    },
    async op(c) {
      await c.docker(["push", getState(c, "ref")]);
      // Make sure the layers were really uploaded (a directory walk, a few ms).
      const stored = await duBytes(services.get("push")?.root ?? "");
      if (stored < 50e6) throw new Error(`registry holds only ${stored} bytes after the push`);
    },
    async teardown(c) {
      await stopService("push");
      const ref = caseState.get(stateKey(c, "ref"));
      if (ref !== undefined) await c.docker(["rmi", ref]);
    },
  },
  {
    kind: "timed",
    id: "pull-60mb",
    title: "docker pull 60 MB 3-layer image (berth registry, 127.0.0.1)",
    opTimeoutMs: 300_000,
    iterations: THREE_RUNS,
    async setup(c) {
      // One registry for both engines: started by the first setup, never restarted here.
      const reg = services.has("pull") ? `127.0.0.1:${String(ports.get("pull"))}` : await startRegistry(c, "berth", "pull");
      await ensureBig(c);
      const ref = `${reg}/bench-pull-${c.engine.name}:latest`;
      await c.docker(["tag", BIG, ref]);
      await c.docker(["push", ref], 300_000);
      caseState.set(stateKey(c, "ref"), ref);
      await rmiBig(c);
    },
    async beforeEach(c) {
      await rmiBig(c); // busybox stays: only the two 28 MiB layers are pulled
    },
    async op(c) {
      await c.docker(["pull", getState(c, "ref")]);
    },
    async teardown(c) {
      await c.docker(["tag", getState(c, "ref"), BIG]); // keep the image for the later cases
      await c.docker(["rmi", getState(c, "ref")]);
      await stopService("pull");
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
];
