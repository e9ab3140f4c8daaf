/**
 * Bounded load on loopback only: many concurrent API clients, many containers
 * started at once, a large log stream with rotation — no errors, bounded
 * memory, and fds/mounts/runtime state/monitors back to their baseline after.
 * BERTH_LONG=1 streams 1 GiB of logs instead of 64 MiB.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs, readFileSync } from "node:fs";
import http from "node:http";
import { leftovers, withDaemon } from "./harness.js";

const LONG = Boolean(process.env["BERTH_LONG"]);

function get(sock: string, path: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: sock, path, agent }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout ${path}`)));
    req.on("error", reject);
  });
}

function rssKiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+)/m);
  return Number(m?.[1] ?? 0);
}

async function fdCount(pid: number): Promise<number> {
  return (await fs.readdir(`/proc/${pid}/fd`)).length;
}

describe("berthd under bounded load", () => {
  const d = withDaemon();
  let pid = 0;
  before(async () => {
    pid = d.proc?.pid ?? 0;
  });

  it("serves 500 API requests from 50 concurrent clients without an error", async () => {
    await d.docker(["create", "--name", "target", "busybox", "true"]);
    const paths = ["/_ping", "/v1.47/version", "/v1.47/info", "/v1.47/containers/json?all=1", "/v1.47/images/json", "/v1.47/containers/target/json"];
    const fdsBefore = await fdCount(pid);
    let served = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 50 }, async (_v, client) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        for (let i = 0; i < 10; i++) {
          const status = await get(d.sock, paths[(client + i) % paths.length] as string, agent);
          assert.equal(status, 200);
          served++;
        }
        agent.destroy();
      }),
    );
    assert.equal(served, 500);
    assert.ok(Date.now() - started < 60_000);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await fdCount(pid)) <= fdsBefore + 5, "connections closed");
    await d.docker(["rm", "target"]);
  });

  it("starts 50 containers at once and cleans every one up", async () => {
    // One run first: the daemon's long-lived helpers (the mount server, the ip helper) start with the
    // first container and keep their pipes; what must come back to the baseline is per container.
    assert.equal((await d.docker(["run", "--rm", "busybox", "true"])).code, 0);
    const fdsBefore = await fdCount(pid);
    const runs = await Promise.all(Array.from({ length: 50 }, (_v, i) => d.docker(["run", "-d", "--name", `many${i}`, "busybox", "sleep", "30"], { timeoutMs: 120_000 })));
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const running = await d.docker(["ps", "-q"]);
    assert.equal(running.stdout.trim().split("\n").length, 50);
    const rm = await d.docker(["rm", "-f", ...Array.from({ length: 50 }, (_v, i) => `many${i}`)], { timeoutMs: 120_000 });
    assert.equal(rm.code, 0, rm.stderr);
    const left = await leftovers(d);
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] }, JSON.stringify(left));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok((await fdCount(pid)) <= fdsBefore + 5, `fds back to baseline (${fdsBefore} → ${await fdCount(pid)})`);
  });

  it(`streams ${LONG ? "1 GiB" : "64 MiB"} of logs within max-size rotation, with bounded daemon memory`, async () => {
    const bytes = LONG ? 1024 * 1024 * 1024 : 64 * 1024 * 1024;
    const rssBefore = rssKiB(pid);
    const r = await d.docker(
      ["run", "-d", "--name", "chatty", "--log-opt", "max-size=8m", "--log-opt", "max-file=2", "busybox", "sh", "-c", `yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c ${bytes}`],
      { timeoutMs: 60_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    const w = await d.docker(["wait", "chatty"], { timeoutMs: LONG ? 900_000 : 180_000 });
    assert.equal(w.stdout.trim(), "0");
    const logPath = (await d.docker(["inspect", "-f", "{{.LogPath}}", "chatty"])).stdout.trim();
    const files = (await fs.readdir(logPath.slice(0, logPath.lastIndexOf("/")))).filter((f) => f.includes("-json.log"));
    let total = 0;
    for (const f of files) total += (await fs.stat(`${logPath.slice(0, logPath.lastIndexOf("/"))}/${f}`)).size;
    assert.ok(files.length <= 2, `at most 2 log files: ${files.join(",")}`);
    assert.ok(total <= 2 * 8 * 1024 * 1024 + 64 * 1024, `logs bounded: ${total}`);
    const tail = await d.docker(["logs", "--tail", "2", "chatty"]); // the last line is cut by head -c
    assert.match(tail.stdout, /0123456789/);
    assert.ok(rssKiB(pid) - rssBefore < 64 * 1024, `daemon RSS grew by ${rssKiB(pid) - rssBefore} KiB`);
    await d.docker(["rm", "chatty"]);
  });
});
