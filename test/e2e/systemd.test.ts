/**
 * Running under systemd without systemd as PID 1: socket activation through
 * Debian's systemd-socket-activate (LISTEN_FDS/LISTEN_FDNAMES, `-H fd://NAME`),
 * and the sd_notify protocol on a datagram socket this test listens on (a small
 * python3 receiver that reports each message with its sender's pid).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { BERTHD, Daemon, run, until } from "./harness.js";

const RECEIVER = `
import socket, struct, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print("bound", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for lvl, typ, data in anc:
        if lvl == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data)[0]
    print(json.dumps({"msg": msg.decode(), "pid": pid}), flush=True)
`;

interface Note {
  msg: string;
  pid: number;
}

class Receiver {
  readonly notes: Note[] = [];
  proc: ChildProcess | undefined;
  constructor(readonly sock: string) {}
  async start(): Promise<void> {
    const p = spawn("python3", ["-c", RECEIVER, this.sock], { stdio: ["ignore", "pipe", "inherit"] });
    this.proc = p;
    let buf = "";
    let bound: () => void = () => undefined;
    const ready = new Promise<void>((r) => (bound = r));
    p.stdout?.on("data", (b: Buffer) => {
      buf += b.toString();
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line === "bound") bound();
        else this.notes.push(JSON.parse(line) as Note);
      }
    });
    await ready;
  }
  /** Waits until a message containing `line` arrives after the first `from` messages; returns its index. */
  async wait(line: string, from = 0): Promise<number> {
    const find = () => this.notes.findIndex((n, i) => i >= from && n.msg.split("\n").includes(line));
    assert.ok(await until(async () => find() >= 0, 20_000), `no ${line} after message ${from}: ${JSON.stringify(this.notes)}`);
    return find();
  }
  stop(): void {
    this.proc?.kill("SIGKILL");
  }
}

describe("systemd: socket activation and readiness notification", () => {
  const d = new Daemon();
  const rx = new Receiver(path.join(d.dir, "notify.sock"));
  let activator: ChildProcess;
  let stderr = "";

  before(async () => {
    await rx.start();
    const config = path.join(d.dir, "none.json");
    await fs.writeFile(config, "{}\n");
    const log = createWriteStream(path.join(d.dir, "berthd.log"));
    // The activator passes on only the variables it is told to (-E), as systemd does for a unit.
    activator = spawn("systemd-socket-activate", ["-l", d.sock, "--fdname=berth-api", "-E", `NOTIFY_SOCKET=${rx.sock}`, process.execPath, BERTHD, "-H", "fd://berth-api", "--data-root", d.dataRoot, "--exec-root", d.execRoot, "--config-file", config], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    d.proc = activator;
    activator.stderr?.on("data", (b: Buffer) => {
      stderr += b.toString();
      log.write(b);
    });
    // The activator owns the socket first and starts berthd at the first connection.
    assert.ok(await until(async () => stderr.includes("Listening on"), 15_000), stderr);
  });
  after(async () => {
    rx.stop();
    await d.destroy();
  });

  it("the first client connection starts berthd, which serves on the inherited socket and then says READY=1", async () => {
    assert.equal(rx.notes.length, 0, "nothing before a client came");
    const r = await d.docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr + stderr);
    assert.equal(r.stdout.trim(), "0.1.0");
    const i = await rx.wait("READY=1");
    assert.equal(rx.notes[i]?.pid, activator.pid, "sent with berthd's pid (systemd's NotifyAccess=main)");
    assert.ok(rx.notes[i]?.msg.includes(`MAINPID=${activator.pid}`));
    assert.match(stderr, /API listening on fd:\/\/berth-api \(fd 3, berth-api\)/);
  });

  it("containers run, and neither they nor their monitors inherit NOTIFY_SOCKET or LISTEN_*", async () => {
    await d.loadBusybox();
    const r = await d.docker(["run", "-d", "busybox", "sleep", "300"]);
    assert.equal(r.code, 0, r.stderr);
    const pid = (await d.docker(["inspect", "-f", "{{.State.Pid}}", r.stdout.trim()])).stdout.trim();
    const env = await fs.readFile(`/proc/${pid}/environ`, "utf8");
    assert.doesNotMatch(env, /NOTIFY_SOCKET|LISTEN_/);
    const monitors = (await run("pgrep", ["-f", `berth-monitor.*${d.dir}`])).stdout.split("\n").filter(Boolean);
    assert.ok(monitors.length > 0);
    for (const m of monitors) assert.doesNotMatch(await fs.readFile(`/proc/${m}/environ`, "utf8"), /NOTIFY_SOCKET|LISTEN_/);
  });

  it("SIGHUP is framed by RELOADING=1 and READY=1", async () => {
    const from = rx.notes.length;
    activator.kill("SIGHUP");
    const a = await rx.wait("RELOADING=1", from);
    const b = await rx.wait("READY=1", a + 1);
    assert.ok(b > a);
    assert.match(rx.notes[a]?.msg ?? "", /MONOTONIC_USEC=\d+/);
  });

  it("SIGTERM sends STOPPING=1; the socket stays for systemd, the container keeps running", async () => {
    const from = rx.notes.length;
    const exited = new Promise((r) => activator.once("exit", r));
    activator.kill("SIGTERM");
    await rx.wait("STOPPING=1", from);
    await exited;
    assert.equal(activator.exitCode, 0);
    assert.ok(existsSync(d.sock), "the socket belongs to the socket unit, not to berthd");
    const running = (await run("runc", ["--root", path.join(d.execRoot, "runtime", "runc"), "list", "-q"])).stdout.trim();
    assert.notEqual(running, "");
  });
});

describe("systemd: -H fd:// outside socket activation", () => {
  it("exits 1 with dockerd's message", async () => {
    const dir = await fs.mkdtemp("/tmp/berth-fd-");
    try {
      const config = path.join(dir, "none.json");
      await fs.writeFile(config, "{}\n");
      const r = await run(process.execPath, [BERTHD, "-H", "fd://", "--data-root", path.join(dir, "data"), "--exec-root", path.join(dir, "x"), "--config-file", config]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /berthd: no sockets found via socket activation: make sure the service was started by systemd\n$/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
