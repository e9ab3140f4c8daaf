/**
 * One daemon per data root: two berthd started at the same instant on one data
 * root (each with its own exec root and socket, so only the data-root lock can
 * stop one of them) end with exactly one running; a lock left by a berthd killed
 * with SIGKILL (its containers still running) is taken over by the next one.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { BERTHD, Daemon } from "./harness.js";

const ROUNDS = 6;

function ping(sock: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: sock, path: "/_ping" }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

interface Contender {
  proc: ChildProcess;
  sock: string;
  stderr: string;
  exited: Promise<number>;
}

function contender(dir: string, name: string): Contender {
  const sock = path.join(dir, `${name}.sock`);
  const proc = spawn(process.execPath, [BERTHD, "-H", `unix://${sock}`, "--data-root", path.join(dir, "data"), "--exec-root", path.join(dir, `x-${name}`)], { stdio: ["ignore", "ignore", "pipe"] });
  const c: Contender = { proc, sock, stderr: "", exited: new Promise((r) => proc.once("exit", (code) => r(code ?? 128))) };
  proc.stderr?.on("data", (b: Buffer) => (c.stderr += b.toString()));
  return c;
}

/** Resolves with the contender that serves the API once it does, or with undefined when it exits. */
async function serving(c: Contender): Promise<Contender | undefined> {
  let done = false;
  void c.exited.then(() => (done = true));
  while (!done) {
    if (await ping(c.sock)) return c;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

async function stop(c: Contender): Promise<void> {
  if (c.proc.exitCode === null) {
    c.proc.kill("SIGTERM");
    await c.exited;
  }
}

describe("the data-root lock", () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  it(`lets exactly one of two berthd started at the same instant run (${ROUNDS} rounds, half of them over a stale lock); the other exits with a clear message`, async () => {
    const dir = mkdtempSync("/tmp/bt-lock-");
    dirs.push(dir);
    for (let round = 0; round < ROUNDS; round++) {
      const a = contender(dir, `a${round}`);
      const b = contender(dir, `b${round}`);
      try {
        const winners = (await Promise.all([serving(a), serving(b)])).filter((w) => w !== undefined);
        assert.equal(winners.length, 1, `round ${round}: ${winners.length} daemons serve one data root\nA: ${a.stderr}\nB: ${b.stderr}`);
        const winner = winners[0] as Contender;
        const loser = winner === a ? b : a;
        assert.equal(await loser.exited, 1);
        assert.match(loser.stderr, /^berthd: another berthd (\(pid \d+\) )?is using data-root \/tmp\/bt-lock-\w+\/data\n$/);
        assert.ok(await ping(winner.sock), "the winner still serves");
        // Odd rounds end with SIGKILL: the next round starts over a stale lock.
        if (round % 2 === 1) {
          winner.proc.kill("SIGKILL");
          await winner.exited;
        }
      } finally {
        await stop(a);
        await stop(b);
      }
      // The lock file is never removed (a clean stop releases the lock, it does not delete the file).
      await fs.access(path.join(dir, "data", "berthd.lock"));
    }
  });

  it("takes over the lock of a berthd killed with SIGKILL while its containers keep running", async () => {
    const d = new Daemon();
    try {
      await d.start();
      await d.loadBusybox();
      assert.equal((await d.docker(["run", "-d", "--name", "stayer", "busybox", "sleep", "1000"])).code, 0);
      await d.kill9();
      // The container's monitor outlives berthd: it must not hold the lock.
      await d.start();
      const r = await d.docker(["inspect", "-f", "{{.State.Running}}", "stayer"]);
      assert.equal(r.stdout.trim(), "true", r.stderr);
      const second = contender(d.dir, "second");
      // Same data root as d: refused while d runs.
      assert.equal(await second.exited, 1);
      assert.match(second.stderr, new RegExp(`another berthd \\(pid ${d.proc?.pid}\\) is using data-root`));
      await d.docker(["rm", "-f", "stayer"]);
    } finally {
      await d.destroy();
    }
  });
});
