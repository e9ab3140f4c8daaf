/**
 * Tests for berth-monitor and its client, against the real runc (needs root).
 * Build first: npx tsc -p tsconfig.json && node scripts/build-monitor.mjs
 * Run: node --test dist/src/runtime/monitor-client.test.js
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, promises as fs, readFileSync } from "node:fs";
import type net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import {
  attachMonitor,
  isMonitorAlive,
  monitorBinary,
  MonitorControl,
  readExitFile,
  spawnMonitor,
  type MonitorOptions,
} from "./monitor-client.js";

const execFileP = promisify(execFile);
const RUNC = process.env.BERTH_TEST_RUNC ?? "/usr/sbin/runc";
const BUSYBOX = "/bin/busybox";
const APPLETS = ["sh", "echo", "cat", "sleep", "stty", "head", "tr", "printf", "ip", "true"];
const RFC3339NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

const skip =
  process.getuid?.() !== 0
    ? "needs root"
    : !existsSync(RUNC)
      ? `needs runc at ${RUNC}`
      : !existsSync(BUSYBOX)
        ? `needs ${BUSYBOX}`
        : !existsSync(monitorBinary())
          ? `monitor binary missing: ${monitorBinary()} (run node scripts/build-monitor.mjs)`
          : false;

/** The parts of an OCI runtime spec (from `runc spec`) the tests edit. */
interface Spec {
  root?: { path: string; readonly: boolean };
  process: { args: string[]; terminal: boolean; rlimits?: Array<{ type: string; hard: number; soft: number }>; [k: string]: unknown };
  hostname?: string;
  linux: { namespaces: Array<{ type: string; path?: string }>; [k: string]: unknown };
  [k: string]: unknown;
}

let base = "";
let rootfs = "";
let runtimeRoot = "";
let template: Spec | undefined;
let seq = 0;
const ids: string[] = [];

interface Ctr {
  id: string;
  dir: string;
  bundle: string;
  stateDir: string;
  opts: MonitorOptions;
}

/** A bundle for args (rootfs shared), plus a state dir; tweak edits the spec. */
async function makeContainer(args: string[], tweak?: (spec: Spec) => void, extra?: Partial<MonitorOptions>): Promise<Ctr> {
  const n = ++seq;
  const id = `bm${process.pid}-${n}`;
  ids.push(id);
  const dir = path.join(base, String(n));
  const bundle = path.join(dir, "b");
  const stateDir = path.join(dir, "s");
  await fs.mkdir(bundle, { recursive: true });
  await fs.mkdir(stateDir, { recursive: true });
  assert.ok(template, "template spec loaded");
  const spec = structuredClone(template);
  spec.root = { path: rootfs, readonly: false };
  spec.process.args = args;
  spec.process.terminal = false;
  spec.process.rlimits = [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }];
  spec.hostname = id;
  tweak?.(spec);
  await fs.writeFile(path.join(bundle, "config.json"), JSON.stringify(spec));
  return {
    id,
    dir,
    bundle,
    stateDir,
    opts: { id, runtime: RUNC, runtimeRoot, stateDir, bundle, logPath: path.join(dir, "log.json"), ...extra },
  };
}

async function runcDelete(id: string): Promise<void> {
  await execFileP(RUNC, ["--root", runtimeRoot, "delete", "-f", id]).catch(() => undefined);
}

/** Kill a monitor left behind by a failed test, then delete the container. */
async function cleanup(c: Ctr): Promise<void> {
  try {
    const pid = Number.parseInt(await fs.readFile(path.join(c.stateDir, "monitor.pid"), "utf8"), 10);
    if (pid > 0 && (await isMonitorAlive(c.stateDir))) process.kill(pid, "SIGKILL");
  } catch {
    /* gone already */
  }
  await runcDelete(c.id);
}

function readAll(sock: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", reject);
    sock.on("close", () => resolve(Buffer.concat(chunks)));
  });
}

function demux(buf: Buffer): Array<[number, string]> {
  const frames: Array<[number, string]> = [];
  let off = 0;
  while (off < buf.length) {
    assert.ok(off + 8 <= buf.length, "truncated frame header");
    const stream = buf.readUInt8(off);
    const len = buf.readUInt32BE(off + 4);
    assert.deepEqual([...buf.subarray(off + 1, off + 4)], [0, 0, 0]);
    assert.ok(off + 8 + len <= buf.length, "truncated frame payload");
    frames.push([stream, buf.subarray(off + 8, off + 8 + len).toString("utf8")]);
    off += 8 + len;
  }
  return frames;
}

/** Join consecutive frames of the same stream (the monitor may split or merge reads). */
function coalesce(frames: Array<[number, string]>): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  for (const [s, d] of frames) {
    const last = out[out.length - 1];
    if (last && last[0] === s) last[1] += d;
    else out.push([s, d]);
  }
  return out;
}

/**
 * Runs c's process to its end under a fresh monitor (spawn, attach stdout and stderr unless
 * `attach` is false, start, wait): its exit code and what it wrote, as coalesced frames.
 */
async function runToEnd(c: Ctr, attach = true): Promise<{ exitCode: number; frames: Array<[number, string]> }> {
  await spawnMonitor(c.opts);
  const outP = attach ? readAll(await attachMonitor(c.stateDir, { stdin: false, stdout: true, stderr: true, stdinOnce: false })) : undefined;
  const ctl = await MonitorControl.connect(c.stateDir);
  try {
    await ctl.start();
    const { exitCode } = await ctl.wait();
    return { exitCode, frames: outP ? coalesce(demux(await outP)) : [] };
  } finally {
    ctl.close();
  }
}

interface LogEntry {
  log: string;
  stream: string;
  time: string;
}

async function readLog(file: string): Promise<LogEntry[]> {
  const text = await fs.readFile(file, "utf8");
  assert.ok(text === "" || text.endsWith("\n"), "log ends with a newline");
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as LogEntry);
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Pids of processes whose command line mentions s. */
function processesMentioning(s: string): number[] {
  const found: number[] = [];
  for (const e of readdirSafe("/proc")) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").includes(s)) found.push(Number(e));
    } catch {
      /* exited */
    }
  }
  return found;
}

function readdirSafe(dir: string): string[] {
  try {
    return execFileSync("ls", [dir], { encoding: "utf8" }).split("\n");
  } catch {
    return [];
  }
}

/** False if pid is gone or a zombie (a sandbox's pid 1 may not reap orphans). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function ppidOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^PPid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : -1;
}

void describe("berth-monitor", { skip }, () => {
  before(async () => {
    base = await fs.mkdtemp("/tmp/bm-");
    rootfs = path.join(base, "rootfs");
    runtimeRoot = path.join(base, "runc");
    await fs.mkdir(path.join(rootfs, "bin"), { recursive: true });
    for (const d of ["proc", "dev", "sys", "tmp", "etc"]) await fs.mkdir(path.join(rootfs, d));
    await fs.copyFile(BUSYBOX, path.join(rootfs, "bin", "busybox"));
    await fs.chmod(path.join(rootfs, "bin", "busybox"), 0o755);
    for (const a of APPLETS) await fs.symlink("busybox", path.join(rootfs, "bin", a));
    const tpl = path.join(base, "tpl");
    await fs.mkdir(tpl);
    await execFileP(RUNC, ["spec", "--bundle", tpl]);
    template = JSON.parse(await fs.readFile(path.join(tpl, "config.json"), "utf8")) as Spec;
  });

  after(async () => {
    for (const id of ids) await runcDelete(id);
    if (base) await fs.rm(base, { recursive: true, force: true });
  });

  void test("stdout and stderr arrive as separate frames, in order, and in the json log", async () => {
    const c = await makeContainer(["sh", "-c", "echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2"]);
    let ctl: MonitorControl | undefined;
    try {
      const { monitorPid, pid } = await spawnMonitor(c.opts);
      assert.ok(monitorPid > 0 && pid > 0 && monitorPid !== pid);
      assert.equal(await isMonitorAlive(c.stateDir), true);
      const att = await attachMonitor(c.stateDir, { stdin: false, stdout: true, stderr: true, stdinOnce: false });
      const outP = readAll(att);
      ctl = await MonitorControl.connect(c.stateDir);
      assert.equal(await ctl.start(), pid);
      const st = await ctl.wait();
      assert.equal(st.exitCode, 0);
      assert.match(st.finishedAt, RFC3339NANO);
      assert.deepEqual(coalesce(demux(await outP)), [
        [1, "out1\n"],
        [2, "err1\n"],
        [1, "out2\n"],
      ]);
      const log = await readLog(c.opts.logPath as string);
      assert.deepEqual(
        log.map((e) => [e.stream, e.log]),
        [
          ["stdout", "out1\n"],
          ["stderr", "err1\n"],
          ["stdout", "out2\n"],
        ],
      );
      for (const e of log) assert.match(e.time, RFC3339NANO);
      // key order as Docker writes it
      const first = (await fs.readFile(c.opts.logPath as string, "utf8")).split("\n")[0] ?? "";
      assert.match(first, /^\{"log":".*","stream":"stdout","time":"[^"]+"\}$/);
    } finally {
      ctl?.close();
      await cleanup(c);
    }
  });

  void test("exit code, wait after exit, exit file, sockets removed", async () => {
    const c = await makeContainer(["sh", "-c", "exit 3"]);
    const ctl0 = await spawnMonitor(c.opts).then(() => MonitorControl.connect(c.stateDir));
    try {
      await ctl0.start();
      assert.equal((await ctl0.wait()).exitCode, 3);
      await until("monitor exit", async () => !(await isMonitorAlive(c.stateDir)));
      const file = await readExitFile(c.stateDir);
      assert.equal(file?.exitCode, 3);
      assert.match(file?.finishedAt ?? "", RFC3339NANO);
      assert.equal(existsSync(path.join(c.stateDir, "ctl.sock")), false);
      assert.equal(existsSync(path.join(c.stateDir, "attach.sock")), false);
      await assert.rejects(MonitorControl.connect(c.stateDir), (e: NodeJS.ErrnoException) => e.code === "ENOENT");
      const t0 = Date.now();
      assert.deepEqual(await ctl0.wait(), file);
      assert.ok(Date.now() - t0 < 500, "wait after exit is immediate");
      // runc state is gone (the monitor ran `runc delete`)
      await assert.rejects(execFileP(RUNC, ["--root", runtimeRoot, "state", c.id]));
    } finally {
      ctl0.close();
      await cleanup(c);
    }
  });

  void test("stdin with stdin-once: cat echoes input and exits when it closes", async () => {
    const c = await makeContainer(["cat"], undefined, { stdin: true });
    let ctl: MonitorControl | undefined;
    try {
      await spawnMonitor(c.opts);
      const att = await attachMonitor(c.stateDir, { stdin: true, stdout: true, stderr: true, stdinOnce: true });
      const outP = readAll(att);
      ctl = await MonitorControl.connect(c.stateDir);
      await ctl.start();
      att.write("hello\n");
      att.end("world\n");
      const frames = coalesce(demux(await outP));
      assert.deepEqual(frames, [[1, "hello\nworld\n"]]);
      assert.equal((await ctl.wait()).exitCode, 0);
    } finally {
      ctl?.close();
      await cleanup(c);
    }
  });

  void test("kill with SIGTERM gives 143; close-stdin and resize errors", async () => {
    // Without a pid namespace `sleep` is not a namespace init, so SIGTERM kills it.
    const c = await makeContainer(["sleep", "100"], (s: Spec) => {
      s.linux.namespaces = s.linux.namespaces.filter((n) => n.type !== "pid");
    });
    let ctl: MonitorControl | undefined;
    try {
      await spawnMonitor(c.opts);
      ctl = await MonitorControl.connect(c.stateDir);
      await ctl.start();
      await assert.rejects(ctl.start(), /already started/);
      await assert.rejects(ctl.resize(24, 80), /not a terminal/);
      await ctl.closeStdin();
      const waiting = ctl.wait();
      await ctl.kill(15);
      const st = await waiting;
      assert.equal(st.exitCode, 143);
    } finally {
      ctl?.close();
      await cleanup(c);
    }
  });

  void test("the monitor outlives its client: spawn, disconnect, reconnect, wait", async () => {
    const c = await makeContainer(["sh", "-c", "sleep 0.5; exit 7"]);
    try {
      const { monitorPid } = await spawnMonitor(c.opts);
      assert.notEqual(ppidOf(monitorPid), process.pid, "monitor is not our child");
      const a = await MonitorControl.connect(c.stateDir);
      await a.start();
      a.close();
      assert.equal(await isMonitorAlive(c.stateDir), true);
      const b = await MonitorControl.connect(c.stateDir);
      try {
        const st = await b.wait();
        assert.equal(st.exitCode, 7);
      } finally {
        b.close();
      }
      await until("monitor exit", async () => !(await isMonitorAlive(c.stateDir)));
      await until("monitor process exit", () => !isRunning(monitorPid));
    } finally {
      await cleanup(c);
    }
  });

  void test("a bad bundle rejects with runc's message and leaves nothing running", async () => {
    const c = await makeContainer(["true"]);
    await fs.rm(path.join(c.bundle, "config.json"));
    try {
      await assert.rejects(spawnMonitor(c.opts), (e: Error) => {
        assert.equal((e as { kind?: string }).kind, "internal");
        assert.match(e.message, /config\.json/);
        return true;
      });
      assert.deepEqual(processesMentioning(c.stateDir), []);
      assert.equal(await isMonitorAlive(c.stateDir), false);
      assert.equal(existsSync(path.join(c.stateDir, "ctl.sock")), false);
      await assert.rejects(execFileP(RUNC, ["--root", runtimeRoot, "state", c.id]));
      // a missing binary is reported by runc create, too
      const d = await makeContainer(["/nonexistent-binary"]);
      await assert.rejects(spawnMonitor(d.opts), /nonexistent-binary/);
      assert.deepEqual(processesMentioning(d.stateDir), []);
      // argument errors come back the same way
      await assert.rejects(spawnMonitor({ ...c.opts, id: "-bad" }), /invalid container id/);
      await assert.rejects(spawnMonitor({ ...c.opts, stateDir: path.join(c.dir, "missing") }), /state directory/);
    } finally {
      await cleanup(c);
    }
  });

  void test("state dirs too deep for sun_path work (sockets via /proc/self/fd)", async () => {
    const c = await makeContainer(
      ["sh", "-c", "echo deep"],
      (s: Spec) => {
        s.process.terminal = true;
      },
      { tty: true },
    );
    const deep = path.join(c.dir, "d".repeat(60), "e".repeat(60));
    await fs.mkdir(deep, { recursive: true });
    assert.ok(Buffer.byteLength(path.join(deep, "ctl.sock")) > 107);
    let ctl: MonitorControl | undefined;
    try {
      await spawnMonitor({ ...c.opts, stateDir: deep });
      assert.ok(existsSync(path.join(deep, "ctl.sock")) && existsSync(path.join(deep, "attach.sock")));
      assert.equal(await isMonitorAlive(deep), true);
      const att = await attachMonitor(deep, { stdin: false, stdout: true, stderr: false, stdinOnce: false });
      const outP = readAll(att);
      ctl = await MonitorControl.connect(deep);
      await ctl.resize(24, 80);
      await ctl.start();
      assert.equal((await ctl.wait()).exitCode, 0);
      assert.match((await outP).toString("utf8"), /deep\r\n/);
    } finally {
      ctl?.close();
      await cleanup({ ...c, stateDir: deep });
    }
  });

  void test("tty mode: resize, echo through the pty, EOF via ^D", async () => {
    const c = await makeContainer(
      ["sh", "-c", "stty size; cat"],
      (s: Spec) => {
        s.process.terminal = true;
      },
      { tty: true, stdin: true },
    );
    let ctl: MonitorControl | undefined;
    try {
      await spawnMonitor(c.opts);
      ctl = await MonitorControl.connect(c.stateDir);
      await ctl.resize(30, 100);
      const att = await attachMonitor(c.stateDir, { stdin: true, stdout: true, stderr: false, stdinOnce: false });
      let out = "";
      att.on("data", (d: Buffer) => (out += d.toString("utf8")));
      const closed = new Promise((r) => att.on("close", r));
      await ctl.start();
      await until("stty output", () => out.includes("30 100"));
      att.write("ping\n");
      await until("echo", () => out.split("ping").length >= 3); // tty echo + cat's copy
      att.write("\x04"); // ^D at the start of a line: cat sees EOF
      assert.equal((await ctl.wait()).exitCode, 0);
      await closed;
      assert.match(out, /ping\r\nping\r\n/);
      const log = await readLog(c.opts.logPath as string);
      assert.ok(log.every((e) => e.stream === "stdout"));
      assert.ok(log.map((e) => e.log).join("").includes("30 100"));
    } finally {
      ctl?.close();
      await cleanup(c);
    }
  });

  void test("exec mode runs a second process in the running container", async () => {
    const c = await makeContainer(["sleep", "100"]);
    let ctl: MonitorControl | undefined;
    let ectl: MonitorControl | undefined;
    const execState = path.join(c.dir, "e");
    try {
      await spawnMonitor(c.opts);
      ctl = await MonitorControl.connect(c.stateDir);
      await ctl.start();
      await fs.mkdir(execState);
      const proc = { ...(template as Spec).process, args: ["sh", "-c", "echo from-exec; echo e-err >&2; exit 4"], terminal: false };
      const procFile = path.join(c.dir, "process.json");
      await fs.writeFile(procFile, JSON.stringify(proc));
      const spawned = await spawnMonitor({
        id: c.id,
        runtime: RUNC,
        runtimeRoot,
        stateDir: execState,
        execProcessFile: procFile,
        logPath: path.join(c.dir, "exec-log.json"),
      });
      assert.equal(spawned.pid, 0);
      const att = await attachMonitor(execState, { stdin: false, stdout: true, stderr: true, stdinOnce: false });
      const outP = readAll(att);
      ectl = await MonitorControl.connect(execState);
      await assert.rejects(ectl.kill(9), /not started/);
      const epid = await ectl.start();
      assert.ok(epid > 0);
      assert.equal((await ectl.wait()).exitCode, 4);
      const frames = coalesce(demux(await outP));
      assert.deepEqual(
        frames.filter((f) => f[0] === 1),
        [[1, "from-exec\n"]],
      );
      assert.deepEqual(
        frames.filter((f) => f[0] === 2),
        [[2, "e-err\n"]],
      );
      // an exec with a terminal: raw pty bytes, stdin through the pty
      const ttyState = path.join(c.dir, "t");
      await fs.mkdir(ttyState);
      const ttyProc = { ...(template as Spec).process, args: ["sh", "-c", "read x; echo got-$x; exit 2"], terminal: true };
      const ttyFile = path.join(c.dir, "tty-process.json");
      await fs.writeFile(ttyFile, JSON.stringify(ttyProc));
      await spawnMonitor({ id: c.id, runtime: RUNC, runtimeRoot, stateDir: ttyState, execProcessFile: ttyFile, tty: true, stdin: true });
      const tatt = await attachMonitor(ttyState, { stdin: true, stdout: true, stderr: true, stdinOnce: false });
      const toutP = readAll(tatt);
      const tctl = await MonitorControl.connect(ttyState);
      try {
        await assert.rejects(tctl.resize(10, 10), /not available/);
        tatt.write("abc\n"); // buffered until the pty exists
        await tctl.start();
        await tctl.resize(40, 120);
        assert.equal((await tctl.wait()).exitCode, 2);
        assert.match((await toutP).toString("utf8"), /got-abc\r\n/);
      } finally {
        tctl.close();
      }
      // the container itself is unaffected; SIGKILL on its init gives 137
      const st = JSON.parse(
        (await execFileP(RUNC, ["--root", runtimeRoot, "state", c.id])).stdout,
      ) as { status: string };
      assert.equal(st.status, "running");
      await ctl.kill(9);
      assert.equal((await ctl.wait()).exitCode, 137);
      // a failing exec reports the runtime's error and exit code 126
      await fs.rm(execState, { recursive: true });
      await fs.mkdir(execState);
      await spawnMonitor({ id: c.id, runtime: RUNC, runtimeRoot, stateDir: execState, execProcessFile: procFile });
      const e2 = await MonitorControl.connect(execState);
      try {
        await assert.rejects(e2.start(), /container|not running|stopped|exist/i);
        assert.equal((await e2.wait()).exitCode, 126);
      } finally {
        e2.close();
      }
    } finally {
      ctl?.close();
      ectl?.close();
      await cleanup(c);
    }
  });

  void test("json log: escaping, invalid UTF-8, 16 KiB split, partial last line", async () => {
    const script = [
      "printf 'a\\001b\\377c\"d\\\\e\\tf\\n'",
      "head -c 20000 /dev/zero | tr '\\0' a; echo",
      "head -c 16383 /dev/zero | tr '\\0' b; printf '\\303\\251\\n'",
      "printf tail",
    ].join("; ");
    const c = await makeContainer(["sh", "-c", script]);
    try {
      assert.equal((await runToEnd(c, false)).exitCode, 0);
      const log = (await readLog(c.opts.logPath as string)).map((e) => e.log);
      assert.deepEqual(log, [
        'a\x01b\ufffdc"d\\e\tf\n',
        "a".repeat(16384),
        `${"a".repeat(20000 - 16384)}\n`,
        "b".repeat(16383),
        "\u00e9\n",
        "tail",
      ]);
    } finally {
      await cleanup(c);
    }
  });

  void test("json log rotation with --log-max-size / --log-max-files", async () => {
    const c = await makeContainer(
      ["sh", "-c", "i=0; while [ $i -lt 60 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"],
      undefined,
      { logMaxSize: 1000, logMaxFiles: 3 },
    );
    try {
      assert.equal((await runToEnd(c, false)).exitCode, 0);
      const logPath = c.opts.logPath as string;
      assert.equal(existsSync(`${logPath}.3`), false);
      const files = [`${logPath}.2`, `${logPath}.1`, logPath];
      const entries: string[] = [];
      for (const f of files) {
        assert.ok((await fs.stat(f)).size <= 1000, `${f} within the size limit`);
        entries.push(...(await readLog(f)).map((e) => e.log));
      }
      // the surviving entries are the newest, contiguous lines
      const expected = Array.from({ length: 60 }, (_, i) => `line-${i}-${"x".repeat(20)}\n`);
      assert.deepEqual(entries, expected.slice(60 - entries.length));
      assert.ok(entries.length > 10 && entries.length < 60);
    } finally {
      await cleanup(c);
    }
  });

  void test("--loopback-up brings lo up in the container's network namespace", async () => {
    const c = await makeContainer(["ip", "-o", "link", "show", "lo"], undefined, { loopbackUp: true });
    try {
      const { exitCode, frames } = await runToEnd(c);
      assert.equal(exitCode, 0);
      assert.match(frames.map((f) => f[1]).join(""), /<LOOPBACK,UP,LOWER_UP>/);
    } finally {
      await cleanup(c);
    }
  });
  /** A runtime that logs like runc does with --log (a line in the file it names), then runs runc. */
  async function noisyRuntime(extra: string): Promise<string> {
    const f = path.join(base, `noisy-${++seq}.sh`);
    await fs.writeFile(
      f,
      `#!/bin/sh\nlog=\nprev=\nfor a in "$@"; do [ "$prev" = --log ] && log=$a; prev=$a; done\n` +
        `[ -n "$log" ] && echo 'time="2026-01-01T00:00:00Z" level=warning msg="noise from the runtime"' >> "$log"\n${extra}\nexec ${RUNC} "$@"\n`,
      { mode: 0o755 },
    );
    return f;
  }

  void test("the runtime's own log lines stay out of the container's output and log; its errors still reach the caller", async () => {
    const c = await makeContainer(["sh", "-c", "echo only-this; echo and-this >&2"], undefined, { runtime: await noisyRuntime("") });
    try {
      const { exitCode, frames } = await runToEnd(c);
      assert.equal(exitCode, 0);
      assert.deepEqual(frames, [
        [1, "only-this\n"],
        [2, "and-this\n"],
      ]);
      const log = await readLog(c.opts.logPath as string);
      assert.deepEqual(log.map((e) => e.log), ["only-this\n", "and-this\n"]);
      assert.match(await fs.readFile(path.join(c.stateDir, "runtime.log"), "utf8"), /noise from the runtime/);
    } finally {
      await cleanup(c);
    }
    const bad = await makeContainer(["true"], undefined, {
      runtime: await noisyRuntime(`echo 'time="2026-01-01T00:00:00Z" level=error msg="boom from the runtime log"' >> "$log"; exit 1`),
    });
    try {
      await assert.rejects(spawnMonitor(bad.opts), /boom from the runtime log/);
    } finally {
      await cleanup(bad);
    }
  });
});
