/**
 * The berth CLI's live commands on a real terminal (a tmux pane) and on a pipe:
 * `stats` redraws one table in place on a terminal and appends tables on a pipe;
 * `attach` detaches with the key sequence and leaves the container running (what
 * docker prints and returns then is in tty.test.ts).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { BERTH, busyboxDaemon } from "./harness.js";
import { Terminal } from "./term.js";

describe("berth stats and attach, live", () => {
  const d = busyboxDaemon();
  after(() => Terminal.closeAll());
  const berthLine = (args: string) => `${process.execPath} -- ${BERTH} -H unix://${d.sock} ${args}`;

  it("stats on a terminal redraws a single table in place, follows containers that start and stop, and ends with 0 on ctrl-c", async () => {
    const r = await d.docker(["run", "-d", "--name", "live-1", "busybox", "sleep", "300"]);
    assert.equal(r.code, 0, r.stderr);
    const t = await Terminal.open(berthLine("stats --format 'table {{.Name}}\\t{{.PIDs}}'"), {});
    try {
      await t.waitFor(/NAME\s+PIDS\s*\n\s*live-1\s+1\b/, 20_000);
      // A second process in the container: the row changes in place, under the one header.
      const e = await d.docker(["exec", "-d", "live-1", "sleep", "300"]);
      assert.equal(e.code, 0, e.stderr);
      await t.waitFor(/live-1\s+2\b/, 20_000);
      const later = await t.screen();
      assert.equal((later.match(/NAME/g) ?? []).length, 1, later);
      assert.doesNotMatch(later, /live-1\s+1\b/, later);
      // A container started now joins the table; one that stops leaves it.
      assert.equal((await d.docker(["run", "-d", "--name", "live-2", "busybox", "sleep", "300"])).code, 0);
      await t.waitFor(/live-2\s+1\b/, 20_000);
      assert.equal((await d.docker(["kill", "live-2"])).code, 0);
      const end = Date.now() + 20_000;
      while ((await t.screen()).includes("live-2") && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      const after2 = await t.screen();
      assert.doesNotMatch(after2, /live-2/, after2);
      assert.match(after2, /live-1\s+2\b/);
      await t.keys("C-c");
      assert.equal(await t.exitCode(), 0);
    } finally {
      await t.close();
    }
  });

  it("stats on a pipe prints a new table at each refresh until interrupted", async () => {
    const child = spawn(process.execPath, ["--", BERTH, "-H", `unix://${d.sock}`, "stats", "--format", "{{.Name}} {{.PIDs}}", "live-1"], { stdio: ["ignore", "pipe", "pipe"] });
    let outText = "";
    const seenTwice = new Promise<void>((resolve) => {
      child.stdout.on("data", (b: Buffer) => {
        outText += b.toString();
        if ((outText.match(/^live-1 \d+$/gm) ?? []).length >= 2) resolve();
      });
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    await seenTwice;
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    child.kill("SIGINT");
    assert.equal(await exited, 0);
    clearTimeout(timer);
    assert.ok(!outText.includes("\u001b[2J"), "no screen clearing on a pipe");
  });

  it("attach detaches on ctrl-p ctrl-q as docker does (\"read escape sequence\", status 1) and the container keeps running", async () => {
    const r = await d.docker(["run", "-dit", "--name", "att-1", "busybox", "sh"]);
    assert.equal(r.code, 0, r.stderr);
    const t = await Terminal.open(berthLine("attach att-1"), {});
    try {
      await t.type("echo marker-$((6*7))");
      await t.waitFor(/marker-42/);
      await t.keys("C-p", "C-q");
      await t.waitFor(/read escape sequence/);
      assert.equal(await t.exitCode(), 1);
      const s = await d.docker(["inspect", "-f", "{{.State.Running}}", "att-1"]);
      assert.equal(s.stdout.trim(), "true");
    } finally {
      await t.close();
    }
  });
});
