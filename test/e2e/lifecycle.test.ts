/**
 * Container lifecycle beyond the foundation: restart policies, stop/kill/rename/
 * pause, wait conditions, logs, and containers that outlive a daemon crash.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { run, sleep, until, leftovers, busyboxDaemon } from "./harness.js";



describe("docker CLI against berthd: container lifecycle", () => {
  const d = busyboxDaemon();

  const inspect = async (fmt: string, c: string) => (await d.docker(["inspect", "-f", fmt, c])).stdout.trim();

  it("brings a crashing container back with on-failure:N, at most N times", async () => {
    const r = await d.docker(["run", "-d", "--name", "crasher", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo ran; exit 1"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(await until(async () => (await inspect("{{.RestartCount}} {{.State.Status}}", "crasher")) === "2 exited", 10_000));
    const logs = await d.docker(["logs", "crasher"]);
    assert.equal(logs.stdout, "ran\nran\nran\n");
    await d.docker(["rm", "crasher"]);
  });

  it("restarts an always container until the user stops it", async () => {
    await d.docker(["run", "-d", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.3"]);
    assert.ok(await until(async () => Number(await inspect("{{.RestartCount}}", "forever")) >= 2, 10_000));
    const stop = await d.docker(["stop", "-t", "1", "forever"]);
    assert.equal(stop.code, 0, stop.stderr);
    await sleep(800);
    assert.equal(await inspect("{{.State.Running}}", "forever"), "false");
    await d.docker(["rm", "-f", "forever"]);
  });

  it("stops with the stop signal and kills after the timeout", async () => {
    await d.docker(["run", "-d", "--name", "stubborn", "busybox", "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    const t0 = Date.now();
    const r = await d.docker(["stop", "-t", "1", "stubborn"]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - t0 >= 900, "waited for the timeout");
    assert.equal(await inspect("{{.State.ExitCode}}", "stubborn"), "137"); // reference: dockerd 20.10
    await d.docker(["rm", "stubborn"]);
  });

  it("kills with a chosen signal, and answers 409 for a container that is not running", async () => {
    // PID 1 ignores signals it has no handler for (as under Docker), so the script traps USR1.
    await d.docker(["run", "-d", "--name", "victim", "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"]);
    assert.equal((await d.docker(["kill", "-s", "USR1", "victim"])).code, 0);
    assert.ok(await until(async () => (await inspect("{{.State.ExitCode}}", "victim")) === "42", 5000));
    const again = await d.docker(["kill", "victim"]);
    assert.equal(again.code, 1);
    // reference: dockerd 20.10 (the conformance suite's containers/kill-and-wait holds Berth to the same text)
    assert.match(again.stderr, /^Error response from daemon: Cannot kill container: victim: Container [0-9a-f]{64} is not running$/m);
    await d.docker(["rm", "victim"]);
  });

  it("renames, pauses and unpauses a running container", async () => {
    await d.docker(["run", "-d", "--name", "old", "busybox", "sleep", "60"]);
    assert.equal((await d.docker(["rename", "old", "new"])).code, 0);
    assert.equal(await inspect("{{.Name}}", "new"), "/new"); // reference: dockerd 20.10
    assert.equal((await d.docker(["pause", "new"])).code, 0);
    assert.equal(await inspect("{{.State.Status}} {{.State.Paused}}", "new"), "paused true"); // reference: dockerd 20.10
    assert.equal((await d.docker(["unpause", "new"])).code, 0);
    assert.equal(await inspect("{{.State.Status}}", "new"), "running");
    assert.equal((await d.docker(["rm", "-f", "new"])).code, 0);
  });

  it("waits for the exit code (docker wait) and follows logs until the end", async () => {
    await d.docker(["run", "-d", "--name", "waiter", "busybox", "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done; exit 5"]);
    const [w, l] = await Promise.all([d.docker(["wait", "waiter"]), d.docker(["logs", "-f", "waiter"])]);
    assert.equal(w.stdout.trim(), "5");
    assert.equal(l.stdout, "line1\nline2\nline3\n");
    const tail = await d.docker(["logs", "--tail", "1", "-t", "waiter"]);
    assert.match(tail.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z line3\n$/); // reference: dockerd 20.10
    await d.docker(["rm", "waiter"]);
  });

  it("keeps a running container running through kill -9 of berthd, and controls it afterwards", async () => {
    await d.docker(["run", "-d", "--name", "outlive", "busybox", "sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done"]);
    await d.docker(["run", "-d", "--name", "ender", "busybox", "sh", "-c", "sleep 1; exit 9"]);
    const pid = Number(await inspect("{{.State.Pid}}", "outlive"));
    assert.ok(pid > 0);
    await d.kill9();
    await sleep(1500);
    process.kill(pid, 0); // still alive without the daemon
    await d.start();
    assert.equal(await inspect("{{.State.Running}} {{.State.Pid}}", "outlive"), `true ${pid}`);
    assert.equal(await inspect("{{.State.Status}} {{.State.ExitCode}}", "ender"), "exited 9");
    const logs = await d.docker(["logs", "--tail", "2", "outlive"]);
    assert.match(logs.stdout, /^tick\d+\ntick\d+\n$/);
    const stop = await d.docker(["stop", "-t", "1", "outlive"]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await inspect("{{.State.Running}}", "outlive"), "false");
    await d.docker(["rm", "outlive", "ender"]);
  });

  it("thaws a container a crashed daemon left frozen (not paused by the user), and keeps a paused one paused", async () => {
    await d.docker(["run", "-d", "--name", "frozen", "busybox", "sleep", "300"]);
    await d.docker(["run", "-d", "--name", "paused", "busybox", "sleep", "300"]);
    assert.equal((await d.docker(["pause", "paused"])).code, 0);
    const id = await inspect("{{.Id}}", "frozen");
    const runtimeRoot = path.join(d.execRoot, "runtime", "runc");
    // What a daemon killed in the middle of a copy into the container leaves: frozen by the runtime.
    assert.equal((await run("runc", ["--root", runtimeRoot, "pause", id])).code, 0);
    const chk = await d.berth(["system", "check"]);
    assert.match(chk.stdout + chk.stderr, /frozen, but not paused by the user/);
    await d.kill9();
    await d.start();
    assert.match((await d.berth(["system", "check"])).stdout, /no problems found/);
    const state = async (name: string): Promise<string> => JSON.parse((await run("runc", ["--root", runtimeRoot, "state", await inspect("{{.Id}}", name)])).stdout).status as string;
    assert.equal(await state("frozen"), "running");
    assert.equal(await state("paused"), "paused");
    assert.equal(await inspect("{{.State.Paused}}", "paused"), "true");
    assert.equal((await d.docker(["exec", "frozen", "true"])).code, 0);
    await d.docker(["rm", "-f", "frozen", "paused"]);
  });

  it("attaches with start -a on every run of a container, not only the first", async () => {
    await d.docker(["create", "--name", "again", "busybox", "sh", "-c", "echo started; exit 6"]);
    for (let i = 0; i < 2; i++) {
      const r = await d.docker(["start", "-a", "again"]);
      assert.equal(r.stdout, "started\n");
      assert.equal(r.code, 6);
    }
    await d.docker(["rm", "again"]);
  });

  it("reports container events with filters and a time window (docker events)", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await d.docker(["run", "--rm", "--name", "evented", "busybox", "true"]);
    const until = Math.floor(Date.now() / 1000) + 1;
    const ev = await d.docker(["events", "--since", String(since), "--until", String(until), "--filter", "container=evented", "--format", "{{.Action}}"]);
    assert.equal(ev.code, 0, ev.stderr);
    assert.deepEqual(ev.stdout.trim().split("\n"), ["create", "attach", "start", "die", "destroy"]); // reference: dockerd 20.10
  });

  it("leaves nothing behind after 50 create/start/rm cycles", async () => {
    for (let i = 0; i < 50; i++) {
      const c = await d.docker(["run", "-d", "busybox", "true"]);
      assert.equal(c.code, 0, c.stderr);
      const id = c.stdout.trim();
      await d.docker(["wait", id]);
      const rm = await d.docker(["rm", id]);
      assert.equal(rm.code, 0, rm.stderr);
    }
    const left = await leftovers(d);
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] }, JSON.stringify(left));
    assert.equal((await d.docker(["ps", "-aq"])).stdout.trim(), "");
  });
});
