/**
 * `docker exec` against berthd with the real CLI: output and exit codes, env /
 * workdir / user, stdin, detached execs, a terminal, Docker's errors, the exec
 * inspect endpoint, and that nothing of an exec is left once it ended.
 */
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Daemon, withDaemon } from "./harness.js";
import { Terminal, api } from "./term.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await sleep(50);
  }
  return false;
}

/** Exec monitors of this daemon still alive. */
async function execMonitors(d: Daemon): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const argv = (await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (argv[0]?.endsWith("berth-monitor") && argv.includes("--exec") && argv.some((a) => a.startsWith(d.dir))) out.push(Number(pid));
  }
  return out;
}

/** Exec state dirs left under the containers' state dirs. */
async function execStateDirs(d: Daemon): Promise<string[]> {
  const root = path.join(d.execRoot, "c");
  const out: string[] = [];
  for (const c of existsSync(root) ? await fs.readdir(root) : []) {
    const dir = path.join(root, c, "exec");
    for (const e of existsSync(dir) ? await fs.readdir(dir) : []) out.push(path.join(dir, e));
  }
  return out;
}

interface ExecInspect {
  ID: string;
  Running: boolean;
  ExitCode: number | null;
  Pid: number;
  ContainerID: string;
  OpenStdout: boolean;
  ProcessConfig: { tty: boolean; entrypoint: string; arguments: string[]; privileged: boolean; user: string };
}

describe("docker exec against berthd", () => {
  const d = withDaemon({
    teardown: async () => {
      await Terminal.closeAll();
    },
  });
  let cid = "";
  before(async () => {
    const r = await d.docker(["run", "-d", "--name", "box", "-e", "FROM_CTR=yes", "busybox", "sleep", "1000"]);
    assert.equal(r.code, 0, r.stderr);
    cid = r.stdout.trim();
  });

  it("prints the command's output (docker exec c echo hi)", async () => {
    const r = await d.docker(["exec", "box", "echo", "hi"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "hi\n");
    assert.equal(r.stderr, "");
  });

  it("exits with the command's exit code and keeps stdout and stderr apart", async () => {
    const r = await d.docker(["exec", "box", "sh", "-c", "exit 7"]);
    assert.equal(r.code, 7);
    const s = await d.docker(["exec", "box", "sh", "-c", "echo out; echo err >&2; echo out2"]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.stdout, "out\nout2\n");
    assert.equal(s.stderr, "err\n");
  });

  it("applies -e, -w and -u on top of the container's environment", async () => {
    const r = await d.docker(["exec", "-e", "A=b", "-w", "/tmp", "-u", "nobody", "box", "sh", "-c", "echo $A $(pwd) $(id -u) $FROM_CTR $HOME $HOSTNAME"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `b /tmp 65534 yes /home ${cid.slice(0, 12)}`);
    const root = await d.docker(["exec", "box", "sh", "-c", "echo $(id -u) $(pwd) $TERM"]);
    assert.equal(root.stdout.trim(), "0 /");
  });

  it("pipes stdin with -i and ends the exec when the input ends", async () => {
    const r = await d.docker(["exec", "-i", "box", "cat"], { input: "piped\nline two\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "piped\nline two\n");
    const big = Buffer.alloc(3 * 1024 * 1024, "abcdefgh\n");
    const wc = await d.docker(["exec", "-i", "box", "wc", "-c"], { input: big });
    assert.equal(wc.stdout.trim(), String(big.length));
  });

  it("runs detached with -d (the file it touches appears)", async () => {
    const r = await d.docker(["exec", "-d", "box", "touch", "/tmp/x"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
    assert.ok(await until(async () => (await d.docker(["exec", "box", "test", "-f", "/tmp/x"])).code === 0, 5_000), "/tmp/x was not created");
  });

  it("answers 127 and Docker's message for a command that does not exist, 126 for one that is not executable", async () => {
    const r = await d.docker(["exec", "box", "nosuchcmd"]);
    // reference: dockerd 20.10 exits 126 here; moby 23+ (setExitCodeFromError, kept by Berth) answers 127. Text identical.
    assert.equal(r.code, 127);
    // dockerd writes a failed exec start into the stream's stdout.
    assert.equal(
      r.stdout,
      'OCI runtime exec failed: exec failed: unable to start container process: exec: "nosuchcmd": executable file not found in $PATH: unknown\r\n',
    );
    const x = await d.docker(["exec", "box", "/etc/passwd"]);
    assert.equal(x.code, 126); // reference: dockerd 20.10
    assert.match(x.stdout, /^OCI runtime exec failed: .*permission denied: unknown\r\n$/);
  });

  it("refuses unknown containers, unknown users and containers that are not running, with Docker's messages", async () => {
    const nf = await d.docker(["exec", "nosuchbox", "true"]);
    assert.equal(nf.code, 1);
    assert.match(nf.stderr, /No such container: nosuchbox/);
    // dockerd 20.10 creates the exec; its start fails in the stream (stdout) with exit code 126.
    const u = await d.docker(["exec", "-u", "nosuchuser", "box", "true"]);
    assert.equal(u.code, 126);
    assert.equal(u.stdout, "unable to find user nosuchuser: no matching entries in passwd file\r\n");
    const c = await d.docker(["create", "--name", "idle", "busybox", "true"]);
    const id = c.stdout.trim();
    const st = await d.docker(["exec", "idle", "echo", "hi"]);
    assert.equal(st.code, 1);
    // reference: dockerd 20.10 says "Container <id> is not running"; Berth keeps moby 23+'s lowercase "container".
    assert.match(st.stderr, new RegExp(`Error response from daemon: container ${id} is not running`));
    await d.docker(["pause", "box"]);
    const p = await d.docker(["exec", "box", "true"]);
    await d.docker(["unpause", "box"]);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /Container box is paused, unpause the container before exec/); // reference: dockerd 20.10
    await d.docker(["rm", "idle"]);
  });

  it("gives a terminal with -t (\\r\\n line ends) and an interactive shell with -it that follows resizes", async () => {
    const t = await d.docker(["exec", "-t", "box", "echo", "tty-out"]);
    assert.equal(t.code, 0, t.stderr);
    assert.equal(t.stdout, "tty-out\r\n");
    const term = await Terminal.open("docker exec -it box sh", { DOCKER_HOST: d.env["DOCKER_HOST"] as string, DOCKER_CONFIG: d.env["DOCKER_CONFIG"] as string }, 90, 25);
    try {
      await term.waitFor(/# $/m);
      await term.type("echo hi-$((1+1)); stty size; echo term=$TERM");
      await term.waitFor(/^hi-2\s*\n25 90\s*\nterm=xterm/m);
      await term.resize(70, 20);
      await sleep(300);
      await term.type("stty size");
      await term.waitFor(/^20 70\s*$/m);
      await term.type("exit 5");
      assert.equal(await term.exitCode(), 5);
    } finally {
      await term.close();
    }
  });

  it("serves exec create / start / inspect / resize over the API as Docker does", async () => {
    const created = await api(d.sock, "POST", "/v1.47/containers/box/exec", { Cmd: ["sh", "-c", "sleep 0.5; exit 4"], AttachStdout: true, User: "nobody", DetachKeys: "ctrl-x,y" });
    assert.equal(created.status, 201); // reference: dockerd 20.10 (and every status and field below)
    const id = (created.body as { Id: string }).Id;
    assert.match(id, /^[0-9a-f]{64}$/);
    const before = (await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).body as ExecInspect & { DetachKeys: string };
    assert.equal(before.Running, false);
    assert.equal(before.ExitCode, null);
    assert.equal(before.Pid, 0);
    assert.equal(before.ContainerID, cid);
    assert.equal(before.DetachKeys, Buffer.from([24, 121]).toString("base64"));
    assert.deepEqual(before.ProcessConfig, { tty: false, entrypoint: "sh", arguments: ["-c", "sleep 0.5; exit 4"], privileged: false, user: "nobody" });
    assert.match((await d.docker(["inspect", "-f", "{{json .ExecIDs}}", "box"])).stdout, new RegExp(id));

    const start = await api(d.sock, "POST", `/v1.47/exec/${id}/start`, { Detach: true });
    assert.equal(start.status, 200);
    const running = (await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).body as ExecInspect;
    assert.equal(running.Running, true);
    assert.ok(running.Pid > 0);
    assert.equal((await api(d.sock, "POST", `/v1.47/exec/${id}/resize?h=10&w=10`)).status, 200);

    assert.ok(await until(async () => ((await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).body as ExecInspect).Running === false, 5_000));
    const done = (await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).body as ExecInspect;
    assert.equal(done.ExitCode, 4);
    assert.equal((await d.docker(["inspect", "-f", "{{json .ExecIDs}}", "box"])).stdout.trim(), "null");
    // reference: dockerd 20.10 answers a resize of an exec that ended with 404 "no such exec".
    assert.deepEqual(await api(d.sock, "POST", `/v1.47/exec/${id}/resize?h=10&w=10`), { status: 404, body: { message: "no such exec" } });

    const again = await api(d.sock, "POST", `/v1.47/exec/${id}/start`, { Detach: true });
    assert.equal(again.status, 409);
    // reference: dockerd 20.10 says "Error: Exec command <id> has already run"; Berth keeps moby 23+'s wording.
    assert.deepEqual(again.body, { message: `exec command ${id} has already run` });
    assert.deepEqual(await api(d.sock, "GET", "/v1.47/exec/nosuchexec/json"), { status: 404, body: { message: "No such exec instance: nosuchexec" } });
    assert.deepEqual(await api(d.sock, "POST", "/v1.47/containers/box/exec", {}), { status: 400, body: { message: "No exec command specified" } });
  });

  it("records the exit code a `docker exec` reported (GET /exec/{id}/json after the CLI's flow)", async () => {
    const seen: string[] = [];
    const r = await d.docker(["exec", "box", "sh", "-c", "exit 9"]);
    assert.equal(r.code, 9);
    // The exec the CLI ran is the newest one of the container's events.
    const ev = await d.docker(["events", "--since", "0", "--until", String(Math.floor(Date.now() / 1000) + 1), "--filter", "event=exec_die", "--format", "{{.Actor.Attributes.execID}} {{.Actor.Attributes.exitCode}}"]);
    for (const line of ev.stdout.trim().split("\n")) seen.push(line);
    const last = seen.at(-1)?.split(" ") ?? [];
    assert.equal(last[1], "9", ev.stdout + ev.stderr);
    const ins = (await api(d.sock, "GET", `/v1.47/exec/${last[0]}/json`)).body as ExecInspect;
    assert.equal(ins.ExitCode, 9);
    assert.equal(ins.Running, false);
  });

  it("leaves no exec monitors or exec state dirs once execs ended", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await d.docker(["exec", "box", "true"])).code, 0);
    assert.ok(await until(async () => (await execMonitors(d)).length === 0 && (await execStateDirs(d)).length === 0, 5_000), `monitors ${String(await execMonitors(d))} dirs ${String(await execStateDirs(d))}`);
  });

  it("ends a container's execs with it and forgets them when it stops", async () => {
    const created = await api(d.sock, "POST", "/v1.47/containers/box/exec", { Cmd: ["sleep", "1000"] });
    const id = (created.body as { Id: string }).Id;
    assert.equal((await api(d.sock, "POST", `/v1.47/exec/${id}/start`, { Detach: true })).status, 200);
    assert.equal(((await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).body as ExecInspect).Running, true);
    assert.equal((await execMonitors(d)).length, 1);
    assert.equal((await d.docker(["kill", "box"])).code, 0);
    assert.ok(await until(async () => (await d.docker(["inspect", "-f", "{{.State.Running}}", "box"])).stdout.trim() === "false", 10_000));
    assert.ok(await until(async () => (await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).status === 404, 5_000), "the exec outlived its container");
    assert.ok(await until(async () => (await execMonitors(d)).length === 0, 5_000), "the exec's monitor outlived the container");
    const st = await d.docker(["exec", "box", "true"]);
    assert.equal(st.code, 1);
    assert.match(st.stderr, /is not running/);
  });
});
