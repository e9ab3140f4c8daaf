/**
 * The dashboard at 1,000 containers, without making 1,000 containers: the dashboard server (the same
 * code berthd and `berth dashboard` start) in front of a fake Engine API on a Unix socket this test
 * starts — /_ping, /version, /containers/json with 1,000 running containers, /events (recent ones end,
 * live ones held open), and a stats stream per container — driven in Debian's chromium.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium } from "playwright-core";
import { type Dashboard, startDashboard } from "../../src/dashboard/index.js";

interface El {
  scrollTop: number;
  scrollHeight: number;
  getAttribute(name: string): string | null;
}
declare const document: { querySelector(s: string): El | null; querySelectorAll(s: string): El[] & ArrayLike<El> };
declare const window: unknown;
declare function requestAnimationFrame(f: (t: number) => void): number;

const CHROMIUM = "/usr/bin/chromium";
const OUT = process.env["BERTH_TEST_OUTPUT"] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../test-output/dashboard");
const N = 1000;
const name = (i: number) => `fake-${String(i).padStart(4, "0")}`;
const idOf = (i: number) => i.toString(16).padStart(64, "0");

/** The fake engine: what the dashboard reads, and the stats streams it holds open. */
function fakeEngine(): { server: http.Server; statsStreams: () => number } {
  const now = Math.floor(Date.now() / 1000);
  const list = Array.from({ length: N }, (_, i) => ({
    Id: idOf(i),
    Names: [`/${name(i)}`],
    Image: "busybox",
    ImageID: `sha256:${"b".repeat(64)}`,
    Command: "sleep 600",
    Created: now - 600,
    State: "running",
    Status: "Up 10 minutes",
    Ports: i % 10 === 0 ? [{ IP: "127.0.0.1", PrivatePort: 80, PublicPort: 20000 + i, Type: "tcp" }] : [],
    Labels: {},
    Mounts: [],
    NetworkSettings: { Networks: { none: {} } },
  }));
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://engine");
    const json = (v: unknown) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify(v));
    };
    if (url.pathname === "/_ping") return void res.end("OK");
    if (url.pathname === "/version") return json({ Version: "fake", ApiVersion: "1.41" });
    if (url.pathname === "/containers/json") return json(list);
    if (url.pathname === "/events") {
      res.writeHead(200, { "Content-Type": "application/json" });
      // The recent events (since & until) end; the live stream stays open until the dashboard leaves.
      if (url.searchParams.has("until")) return void res.end(`${JSON.stringify({ Type: "container", Action: "start", Actor: { ID: idOf(0), Attributes: { name: name(0) } }, time: now - 60, timeNano: (now - 60) * 1e9 })}\n`);
      res.flushHeaders();
      return;
    }
    const stats = url.pathname.match(/^\/containers\/([0-9a-f]{64})\/stats$/);
    if (stats) {
      res.writeHead(200, { "Content-Type": "application/json" });
      let n = 0;
      const send = () => {
        n++;
        const sys = n * 2e9;
        res.write(`${JSON.stringify({ read: new Date().toISOString(), cpu_stats: { cpu_usage: { total_usage: n * 1e7 }, system_cpu_usage: sys, online_cpus: 2 }, precpu_stats: { cpu_usage: { total_usage: (n - 1) * 1e7 }, system_cpu_usage: sys - 2e9, online_cpus: 2 }, memory_stats: { usage: 1e6 + n, limit: 1e9, stats: {} }, networks: { eth0: { rx_bytes: n * 100, tx_bytes: n * 50 } } })}\n`);
      };
      send();
      const timer = setInterval(send, 1000);
      streams.add(res);
      res.on("close", () => {
        clearInterval(timer);
        streams.delete(res);
      });
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ message: `fake engine: no ${url.pathname}` }));
  });
  return { server, statsStreams: () => streams.size };
}

describe("web dashboard at 1,000 containers (fake Engine API, chromium)", { timeout: 60_000 }, () => {
  const dir = mkdtempSync("/tmp/bt-dash1000-");
  const sock = path.join(dir, "engine.sock");
  const engine = fakeEngine();
  let dash: Dashboard;
  let browser: Browser;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (scripts/install-deps.sh)`);
    mkdirSync(OUT, { recursive: true });
    await new Promise<void>((resolve) => engine.server.listen(sock, resolve));
    dash = await startDashboard({ addr: "127.0.0.1:0", readOnly: false, upstream: { socketPath: sock } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  });
  after(async () => {
    await browser?.close();
    dash?.close();
    engine.server.closeAllConnections();
    engine.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("renders the list, shows the last container when scrolled to the end, keeps fewer than 100 rows in the DOM and frames bounded", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
    const t0 = Date.now();
    await page.goto(dash.url);
    await page.waitForSelector(`[data-name="${name(0)}"][data-state="running"]`, { timeout: 15_000 });
    const firstPaint = Date.now() - t0;
    // The feed holds one stats stream per running container, and their samples reach the rows.
    await page.waitForFunction((n) => (window as unknown as { __berth: { statsStreams: number } }).__berth.statsStreams >= n, N, { timeout: 20_000, polling: 250 });
    await page.waitForSelector(`[data-name="${name(0)}"] [data-metric="cpu"] .num`, { timeout: 10_000 });
    const m = await page.evaluate(async () => {
      const list = document.querySelector(".vlist") as El;
      const frame = () => new Promise<number>((r) => requestAnimationFrame(r));
      const gaps: number[] = [];
      let last = await frame();
      // Scroll to the end in 20 steps, one per frame, then measure 2 s more with stats arriving.
      for (let s = 1; s <= 20; s++) {
        list.scrollTop = (list.scrollHeight * s) / 20;
        const t = await frame();
        gaps.push(t - last);
        last = t;
      }
      const end = last + 2000;
      while (last < end) {
        const t = await frame();
        gaps.push(t - last);
        last = t;
      }
      const sorted = [...gaps].sort((a, b) => a - b);
      return {
        rowsInDom: document.querySelectorAll(".vrow").length,
        names: [...document.querySelectorAll(".vrow [data-name]")].map((e) => e.getAttribute("data-name")),
        p95Frame: sorted[Math.floor(sorted.length * 0.95)] ?? Infinity,
        maxFrame: sorted[sorted.length - 1] ?? Infinity,
      };
    });
    console.log(`# dashboard 1000: first row in ${firstPaint} ms; ${m.rowsInDom} rows in the DOM; p95 frame ${m.p95Frame.toFixed(1)} ms, max ${m.maxFrame.toFixed(1)} ms`);
    await page.screenshot({ path: path.join(OUT, "containers-1000.png") });
    assert.ok(m.names.includes(name(N - 1)), `the last container is shown at the end (${m.names.slice(-3).join(", ")})`);
    assert.ok(!m.names.includes(name(0)), "the first one has left the DOM");
    assert.ok(m.rowsInDom < 100, `the list is virtualised (${m.rowsInDom} rows in the DOM)`);
    assert.ok(m.p95Frame < 250, `95% of frames within 250 ms (p95 ${m.p95Frame.toFixed(1)} ms)`);
    assert.ok(m.maxFrame < 2000, `no frame stalls 2 s (max ${m.maxFrame.toFixed(1)} ms)`);
    // The recent event the fake engine kept is in the events view without waiting for a live one.
    await page.evaluate(() => ((globalThis as unknown as { location: { hash: string } }).location.hash = "#/events"));
    await page.waitForSelector(`.timeline li:has-text('start'):has-text('${name(0)}')`, { timeout: 5_000 });
    await page.close();
    // The last session left: every upstream stream is closed (the fake engine sees them end).
    const deadline = Date.now() + 5000;
    while (engine.statsStreams() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(engine.statsStreams(), 0);
  });
});
