/**
 * Terminals and attach against berthd with the real CLI in a pseudo-terminal
 * (tmux): an interactive `docker run -it` shell, `-t` output, resizes, and
 * `docker attach` with the detach keys (ctrl-p ctrl-q, --detach-keys), plus the
 * daemon's own detach-key scanning for API clients.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { withDaemon } from "./harness.js";
import { Terminal, api, collect, hijack } from "./term.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("terminals and attach against berthd", () => {
  const d = withDaemon({
    teardown: async () => {
      await Terminal.closeAll();
    },
  });
  let env: Record<string, string> = {};
  before(async () => {
    env = { DOCKER_HOST: d.env["DOCKER_HOST"] as string, DOCKER_CONFIG: d.env["DOCKER_CONFIG"] as string };
  });

  const running = async (c: string) => (await d.docker(["inspect", "-f", "{{.State.Running}}", c])).stdout.trim();

  it("runs an interactive shell with docker run -it --rm (typed input, output, exit code)", async () => {
    const t = await Terminal.open("docker run -it --rm --name itsh busybox sh", env);
    try {
      await t.waitFor(/# $/m);
      await t.type("echo hi-$((1+1))");
      await t.waitFor(/^hi-2\s*$/m);
      await t.type("exit 3");
      assert.equal(await t.exitCode(), 3);
    } finally {
      await t.close();
    }
    assert.doesNotMatch((await d.docker(["ps", "-a", "--format", "{{.Names}}"])).stdout, /itsh/);
  });

  it("prints a TTY container's output with \\r\\n line ends (docker run -t)", async () => {
    const r = await d.docker(["run", "-t", "--rm", "busybox", "sh", "-c", "echo one; echo two"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "one\r\ntwo\r\n");
  });

  it("gives the container the client's terminal size and follows resizes", async () => {
    const t = await Terminal.open("docker run -it --rm busybox sh", env, 100, 30);
    try {
      await t.waitFor(/# $/m);
      await t.type("stty size");
      await t.waitFor(/^30 100\s*$/m);
      await t.resize(80, 24);
      await sleep(300);
      await t.type("stty size");
      await t.waitFor(/^24 80\s*$/m);
      await t.type("exit");
      assert.equal(await t.exitCode(), 0);
    } finally {
      await t.close();
    }
  });

  it("detaches docker attach with ctrl-p ctrl-q and leaves the container running; attaching again works", async () => {
    assert.equal((await d.docker(["run", "-dit", "--name", "att", "busybox", "sh"])).code, 0);
    const t = await Terminal.open("docker attach att", env);
    try {
      await sleep(500);
      await t.type("echo att-$((2+2))");
      await t.waitFor(/^att-4\s*$/m);
      await t.keys("C-p", "C-q");
      await t.waitFor(/read escape sequence/);
      assert.equal(await t.exitCode(), 1);
    } finally {
      await t.close();
    }
    assert.equal(await running("att"), "true");
    const again = await Terminal.open("docker attach att", env);
    try {
      await sleep(500);
      await again.type("exit 4");
      assert.equal(await again.exitCode(), 4);
    } finally {
      await again.close();
    }
    assert.equal(await running("att"), "false");
    await d.docker(["rm", "att"]);
  });

  it("honours --detach-keys (ctrl-p ctrl-q then reach the shell)", async () => {
    assert.equal((await d.docker(["run", "-dit", "--name", "keys", "busybox", "sh"])).code, 0);
    const t = await Terminal.open("docker attach --detach-keys=ctrl-x,x keys", env);
    try {
      await sleep(500);
      await t.keys("C-p", "C-q");
      await t.type("echo still-$((3+3))");
      await t.waitFor(/^still-6\s*$/m);
      await t.keys("C-x", "x");
      await t.waitFor(/read escape sequence/);
    } finally {
      await t.close();
    }
    assert.equal(await running("keys"), "true");
    await d.docker(["rm", "-f", "keys"]);
  });

  it("closes an API client's attach when it sends the detach keys (daemon-side, TTY), even in one write", async () => {
    const c = await d.docker(["run", "-dit", "--name", "raw", "busybox", "sh"]);
    const id = c.stdout.trim();
    const { status, socket } = await hijack(d.sock, `/v1.47/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-a,b`);
    assert.equal(status, 101);
    socket.write("echo raw-$((3+4))\n");
    assert.match((await collect(socket, 5_000, /raw-7\r\n/)).data, /raw-7\r\n/);
    socket.write("\x01b");
    const end = await collect(socket, 5_000);
    assert.equal(end.ended, true, "the daemon did not close the attach");
    socket.destroy();
    assert.equal(await running("raw"), "true");
    // The default keys, ctrl-p ctrl-q, arriving in a single write.
    const second = await hijack(d.sock, `/v1.47/containers/${id}/attach?stream=1&stdin=1&stdout=1&stderr=1`);
    assert.equal(second.status, 101);
    second.socket.write("\x10\x11");
    assert.equal((await collect(second.socket, 5_000)).ended, true);
    second.socket.destroy();
    assert.equal(await running("raw"), "true");
    const bad = await api(d.sock, "POST", `/v1.47/containers/${id}/attach?stream=1&stdin=1&detachKeys=ctrl-%3F`);
    // reference: dockerd 20.10 (400 "Invalid detach keys (ctrl-?) provided", as plain text where Berth sends JSON)
    assert.equal(bad.status, 400);
    await d.docker(["rm", "-f", "raw"]);
  });

  it("detaches an exec's TTY session with the keys and the exec keeps running", async () => {
    assert.equal((await d.docker(["run", "-d", "--name", "ex", "busybox", "sleep", "1000"])).code, 0);
    const created = await api(d.sock, "POST", "/v1.47/containers/ex/exec", { Cmd: ["sh"], AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true });
    const id = (created.body as { Id: string }).Id;
    const { status, headers, socket } = await hijack(d.sock, `/v1.47/exec/${id}/start`, { Detach: false, Tty: true });
    assert.equal(status, 101);
    assert.match(headers, /Content-Type: application\/vnd\.docker\.raw-stream/i);
    socket.write("echo ex-$((4+4))\n");
    assert.match((await collect(socket, 5_000, /ex-8\r\n/)).data, /ex-8\r\n/);
    socket.write("\x10\x11");
    assert.equal((await collect(socket, 5_000)).ended, true);
    socket.destroy();
    const ins = (await api(d.sock, "GET", `/v1.47/exec/${id}/json`)).body as { Running: boolean; ExitCode: number | null };
    assert.equal(ins.Running, true);
    assert.equal(ins.ExitCode, null);
    await d.docker(["rm", "-f", "ex"]);
  });
});
