/**
 * The web dashboard in a real browser (Debian's chromium driven by playwright-core) against a private
 * berthd started with --dashboard-addr 127.0.0.1:0, and `berth dashboard --read-only` against the same
 * daemon. Screenshots of each view go to dist/test-output/dashboard/ (BERTH_TEST_OUTPUT overrides).
 * A missing chromium fails the test: scripts/install-deps.sh installs it.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type Page, chromium } from "playwright-core";
import bcrypt from "bcryptjs";
import { WebSocket } from "ws";
import { freePort } from "./debregistry.js";
import { BERTH, Daemon, busyboxTarFile, until } from "./harness.js";

// The browser's globals, as far as the functions this file runs in the page use them (it compiles
// without the DOM library, which would change the types of the node code around it).
interface El {
  textContent: string | null;
  clientWidth: number;
  scrollTop: number;
  scrollHeight: number;
  getAttribute(name: string): string | null;
}
declare const document: { querySelector(s: string): El | null; querySelectorAll(s: string): El[] & ArrayLike<El> };
declare const window: unknown;
declare const location: { hash: string };
declare function requestAnimationFrame(f: (t: number) => void): number;

const CHROMIUM = "/usr/bin/chromium";
const OUT = process.env["BERTH_TEST_OUTPUT"] ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../test-output/dashboard");

/** A request to the dashboard from outside the browser: status and body. */
function request(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** An Engine API request on berthd's socket (the load test makes its 200 containers this way). */
function engine(sock: string, method: string, p: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: sock, method, path: p, headers: data ? { "Content-Type": "application/json", "Content-Length": data.length } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

/** Run `fn` over `items`, `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/** The WebSocket handshake's answer: the status of a refusal, or 101. */
function wsStatus(url: string, headers: Record<string, string>, protocols: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers });
    ws.on("open", () => {
      ws.close();
      resolve({ status: 101, body: "" });
    });
    ws.on("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
    });
    ws.on("error", () => undefined);
  });
}

describe("web dashboard (chromium)", { timeout: 420_000 }, () => {
  const d = new Daemon();
  let browser: Browser;
  let page: Page;
  let url = "";
  let base = "";
  let token = "";
  let roProc: ChildProcess | undefined;

  const shot = (name: string) => page.screenshot({ path: path.join(OUT, `${name}.png`) });
  const go = async (hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (scripts/install-deps.sh)`);
    mkdirSync(OUT, { recursive: true });
    await d.start(["--dashboard-addr", "127.0.0.1:0"]);
    await d.loadBusybox();
    let line: RegExpMatchArray | null = null;
    assert.ok(await until(async () => (line = (await d.log()).match(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]+)/)) !== null, 10_000), "berthd logs the dashboard URL");
    const m = line as unknown as RegExpMatchArray;
    base = m[1] as string;
    token = m[2] as string;
    url = `${base}/#token=${token}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
    page = await browser.newPage({ viewport: { width: 1400, height: 820 } });
    await page.goto(url);
    await page.waitForSelector(".dot.on", { timeout: 15_000 });
    // Set once: a reload would lose it, so every later check proves "without reload".
    await page.evaluate(() => ((window as unknown as { __loadMark: string }).__loadMark = "kept"));
  });

  after(async () => {
    roProc?.kill("SIGTERM");
    await browser?.close().catch(() => undefined);
    await d.destroy();
  });

  const notReloaded = async () => assert.equal(await page.evaluate(() => (window as unknown as { __loadMark?: string }).__loadMark), "kept", "the page was not reloaded");

  it("logs one URL line with the token, which is kept 0600 in the exec root", async () => {
    const log = await d.log();
    assert.equal(log.split("\n").filter((l) => l.includes("dashboard: http://")).length, 1);
    const { promises: fs } = await import("node:fs");
    const st = await fs.stat(path.join(d.execRoot, "dashboard.token"));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await fs.readFile(path.join(d.execRoot, "dashboard.token"), "utf8")).trim(), token);
  });

  it("shows a container started with the docker CLI without a reload, with its stats", async () => {
    const r = await d.docker(["run", "-d", "--name", "dash-web", "-e", "SECRET_TOKEN=hunter2", "busybox", "sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo out-$i; echo err-$i >&2; i=$((i+1)); sleep 0.3; done"]);
    assert.equal(r.code, 0, r.stderr);
    await page.waitForSelector('[data-name="dash-web"][data-state="running"]', { timeout: 15_000 });
    await page.waitForSelector('[data-name="dash-web"] [data-metric="cpu"] .num', { timeout: 15_000 });
    await notReloaded();
    await shot("containers");
  });

  it("follows a container's logs, stdout and stderr apart, and searches them", async () => {
    await go("#/c/dash-web/logs");
    await page.waitForSelector(".logline.stdout", { timeout: 10_000 });
    await page.waitForSelector(".logline.stderr", { timeout: 10_000 });
    const lastN = () => page.evaluate(() => Math.max(...[...document.querySelectorAll(".logline.stdout")].map((e) => Number(e.textContent?.match(/out-(\d+)/)?.[1] ?? -1))));
    const first = await lastN();
    await page.waitForFunction((n) => [...document.querySelectorAll(".logline.stdout")].some((e) => Number(e.textContent?.match(/out-(\d+)/)?.[1] ?? -1) > n + 2), first, { timeout: 10_000 });
    assert.match((await page.textContent(".logline.stderr")) ?? "", /^err-\d+$/);
    await page.fill('input[aria-label="Search logs"]', "err-1");
    const shown = await page.$$eval(".logline", (els) => els.map((e) => e.textContent ?? ""));
    assert.ok(shown.length > 0 && shown.every((t) => t.includes("err-1")), `search shows only matches: ${shown.join(",")}`);
    await page.fill('input[aria-label="Search logs"]', "");
    await shot("logs");
    await notReloaded();
  });

  it("masks the environment until asked, and shows inspect, processes and mounts", async () => {
    await go("#/c/dash-web/environment");
    await page.waitForSelector('[data-testid="env"] th:text("SECRET_TOKEN")');
    assert.ok(!(await page.textContent('[data-testid="env"]'))?.includes("hunter2"), "values are masked");
    await page.check('input[type="checkbox"]');
    await page.waitForSelector('[data-testid="env"] td:text("hunter2")');
    await shot("container-env");
    await go("#/c/dash-web/processes");
    await page.waitForSelector("table.grid td:has-text('sleep'), table.grid td:has-text('sh -c')", { timeout: 10_000 });
    await shot("container-processes");
    await go("#/c/dash-web/overview");
    await page.waitForSelector(".chart canvas");
    await shot("container-overview");
  });

  it("runs a shell in the exec terminal: typed input, its output, and a resize reaching the TTY", async () => {
    await go("#/c/dash-web/terminal");
    await page.waitForSelector('[data-testid="terminal-status"]:has-text("connected")', { timeout: 10_000 });
    await page.click(".terminal");
    await page.keyboard.type("echo $((6*7))-marker\n");
    await page.waitForFunction(() => document.querySelector(".xterm-rows")?.textContent?.includes("42-marker"), undefined, { timeout: 10_000 });
    const size = async (tag: string) => {
      await page.keyboard.type(`echo ${tag} $(stty size)\n`);
      const h = await page.waitForFunction((t) => document.querySelector(".xterm-rows")?.textContent?.match(new RegExp(`${t} (\\d+) (\\d+)`)), tag, { timeout: 10_000 });
      const m = (await h.jsonValue()) as string[];
      return { rows: Number(m[1]), cols: Number(m[2]) };
    };
    const before = await size("sz1");
    await page.setViewportSize({ width: 900, height: 700 });
    await page.waitForFunction((c) => {
      const t = document.querySelector(".xterm-screen") as El | null;
      return t !== null && t.clientWidth < c;
    }, 1300);
    const afterResize = await size("sz2");
    assert.ok(afterResize.cols < before.cols, `the TTY got narrower: ${before.cols} → ${afterResize.cols}`);
    await shot("terminal");
    await page.setViewportSize({ width: 1400, height: 820 });
    await notReloaded();
  });

  it("stops a container from the UI (with confirmation; Escape cancels) and shows the new state", async () => {
    await go("#/containers");
    // By keyboard: the action opens a modal, Escape cancels it and nothing happens.
    await page.focus('button[aria-label="Stop dash-web"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector("dialog.confirm[open]");
    await page.keyboard.press("Escape");
    await page.waitForSelector("dialog.confirm:not([open])", { state: "attached" });
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Status}}", "dash-web"])).stdout.trim(), "running", "a cancelled action does nothing");
    await page.click('button[aria-label="Stop dash-web"]');
    await page.click('dialog.confirm button:has-text("Confirm")');
    await page.waitForSelector('[data-name="dash-web"][data-state="exited"]', { timeout: 20_000 });
    const r = await d.docker(["inspect", "-f", "{{.State.Status}}", "dash-web"]);
    assert.equal(r.stdout.trim(), "exited");
    await notReloaded();
  });

  it("removes an image from the UI", async () => {
    const imp = await d.docker(["import", "--change", "LABEL dash=victim", await busyboxTarFile(), "dash-victim:1"]);
    assert.equal(imp.code, 0, imp.stderr);
    await go("#/images");
    await page.waitForSelector('[data-image="dash-victim:1"]', { timeout: 10_000 });
    await page.click('[data-image="busybox:latest"] button.link');
    await page.waitForSelector(".history .bar");
    await shot("images");
    await page.click('button[aria-label="Remove image dash-victim:1"]');
    await page.click('dialog.confirm button:has-text("Confirm")');
    await page.waitForSelector('[data-image="dash-victim:1"]', { state: "detached", timeout: 10_000 });
    const r = await d.docker(["image", "inspect", "dash-victim:1"]);
    assert.notEqual(r.code, 0, "the image is gone");
  });

  it("shows networks, volumes, disk usage and the events timeline", async () => {
    assert.equal((await d.docker(["volume", "create", "dash-vol"])).code, 0);
    for (const [hash, sel, name] of [
      ["#/networks", "td:text('none')", "networks"],
      ["#/volumes", "td:text('dash-vol')", "volumes"],
      ["#/disk", ".dfrow .bar", "disk"],
      ["#/events", ".timeline li:has-text('stop')", "events"],
    ] as const) {
      await go(hash);
      await page.waitForSelector(sel, { timeout: 10_000 });
      await shot(name);
    }
    await page.click('button[aria-label^="Theme"]');
    await go("#/containers");
    await page.waitForSelector('[data-name="dash-web"]');
    await shot("containers-dark");
    await notReloaded();
  });

  it("refuses an unauthenticated request, a cross-origin one, a foreign Host, and routes it does not proxy", async () => {
    const noToken = await request(`${base}/api/containers/json`);
    assert.equal(noToken.status, 401);
    assert.match(JSON.parse(noToken.body).message, /missing or wrong token/);
    const wrong = await request(`${base}/api/containers/json`, { headers: { Authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const auth = { Authorization: `Bearer ${token}` };
    const cross = await request(`${base}/api/containers/dash-web/start`, { method: "POST", headers: { ...auth, Origin: "http://evil.example" } });
    assert.equal(cross.status, 403);
    assert.equal(JSON.parse(cross.body).message, "dashboard: cross-origin request refused (Origin http://evil.example)");
    const noOrigin = await request(`${base}/api/containers/dash-web/start`, { method: "POST", headers: auth });
    assert.equal(noOrigin.status, 403);
    const rebinding = await request(`${base}/api/containers/json`, { headers: { ...auth, Host: "evil.example" } });
    assert.equal(rebinding.status, 421);
    const create = await request(`${base}/api/containers/create`, { method: "POST", headers: { ...auth, Origin: base } });
    assert.equal(create.status, 404, "creating containers is not among the proxied routes");
    const wsUrl = base.replace("http:", "ws:") + "/ws/feed";
    assert.equal((await wsStatus(wsUrl, { Origin: "http://evil.example" }, ["berth", `berth-token.${token}`])).status, 403);
    assert.equal((await wsStatus(wsUrl, { Origin: base }, ["berth"])).status, 401);
    assert.equal((await wsStatus(wsUrl, { Origin: base }, ["berth", `berth-token.${token}`])).status, 101);
    // A page on another origin that the browser is made to open: its request is refused, nothing changes.
    const other = await browser.newPage();
    await other.goto("about:blank");
    const status = await other.evaluate(async (b) => {
      try {
        const r = await fetch(`${b}/api/containers/dash-web/start`, { method: "POST", mode: "no-cors" });
        return r.type;
      } catch (e) {
        return String(e);
      }
    }, base);
    await other.close();
    assert.ok(status === "opaque" || /Failed to fetch/.test(status), status);
    assert.equal((await d.docker(["inspect", "-f", "{{.State.Status}}", "dash-web"])).stdout.trim(), "exited", "the cross-origin start did nothing");
  });

  it("berth dashboard --read-only serves the same UI through the CLI's connection and refuses every action", async () => {
    roProc = spawn(process.execPath, [BERTH, "dashboard", "--read-only"], { env: d.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    roProc.stdout?.on("data", (b: Buffer) => (out += b.toString()));
    assert.ok(await until(async () => /dashboard: http:\/\/127\.0\.0\.1:\d+\/#token=/.test(out), 10_000), `berth dashboard prints its URL: ${out}`);
    const m = out.match(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]+) \(read-only\)/) as RegExpMatchArray;
    const [roBase, roToken] = [m[1] as string, m[2] as string];
    const auth = { Authorization: `Bearer ${roToken}`, Origin: roBase };
    const start = await request(`${roBase}/api/containers/dash-web/start`, { method: "POST", headers: auth });
    assert.equal(start.status, 403);
    assert.equal(JSON.parse(start.body).message, "dashboard: read-only mode");
    const rm = await request(`${roBase}/api/images/busybox:latest`, { method: "DELETE", headers: auth });
    assert.equal(rm.status, 403);
    assert.equal((await wsStatus(`${roBase.replace("http:", "ws:")}/ws/exec/dash-web`, { Origin: roBase }, ["berth", `berth-token.${roToken}`])).status, 403);
    const list = await request(`${roBase}/api/containers/json?all=1`, { headers: auth });
    assert.equal(list.status, 200);
    const ro = await browser.newPage({ viewport: { width: 1400, height: 820 } });
    await ro.goto(`${roBase}/#token=${roToken}`);
    await ro.waitForSelector('[data-name="dash-web"]', { timeout: 15_000 });
    assert.equal(await ro.locator("header .badge:text('read-only')").count(), 1);
    assert.equal(await ro.locator('[data-name="dash-web"] .actions button').count(), 0, "no action buttons");
    await ro.screenshot({ path: path.join(OUT, "read-only.png") });
    await ro.close();
    roProc.kill("SIGTERM");
    await new Promise((r) => roProc?.once("exit", r));
    roProc = undefined;
  });

  it("berth dashboard --registry shows an htpasswd berth registry's repository, tag and size (credentials from docker login); a new page shows the last hour's events", async () => {
    const htpasswd = path.join(d.dir, "dash-htpasswd");
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync("wonderland", 4)}\n`);
    const regAddr = `127.0.0.1:${await freePort()}`;
    const reg = spawn(process.execPath, [BERTH, "registry", "serve", "--addr", regAddr, "--root", path.join(d.dir, "dash-reg"), "--htpasswd", htpasswd], { stdio: ["ignore", "pipe", "pipe"] });
    let dash: ChildProcess | undefined;
    try {
      let regOut = "";
      reg.stdout?.on("data", (b: Buffer) => (regOut += b.toString()));
      assert.ok(await until(async () => regOut.includes("berth registry listening on"), 10_000), `registry serve starts: ${regOut}`);
      const login = await d.docker(["login", "-u", "alice", "--password-stdin", regAddr], { input: "wonderland\n" });
      assert.equal(login.code, 0, login.stderr);
      assert.equal((await d.docker(["tag", "busybox:latest", `${regAddr}/tools/busybox:1.36`])).code, 0);
      const push = await d.docker(["push", `${regAddr}/tools/busybox:1.36`], { timeoutMs: 120_000 });
      assert.equal(push.code, 0, push.stderr);
      const manifest = JSON.parse((await d.docker(["manifest", "inspect", "--insecure", `${regAddr}/tools/busybox:1.36`])).stdout || "{}") as { layers?: { size: number }[] };
      dash = spawn(process.execPath, [BERTH, "dashboard", "--registry", `http://${regAddr}`], { env: d.env, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      dash.stdout?.on("data", (b: Buffer) => (out += b.toString()));
      assert.ok(await until(async () => /dashboard: http:\/\/127\.0\.0\.1:\d+\/#token=\S+/.test(out), 10_000), `berth dashboard prints its URL: ${out}`);
      const dashUrl = (out.match(/dashboard: (\S+)/) as RegExpMatchArray)[1] as string;
      const dBase = dashUrl.replace(/\/#token=.*/, "");
      const dToken = (dashUrl.match(/#token=(\S+)/) as RegExpMatchArray)[1] as string;
      // Only the registry view's reads are proxied: no other registry path, no bad repository name.
      const other = await request(`${dBase}/api/_registry/v2/_catalog`, { headers: { Authorization: `Bearer ${dToken}` } });
      assert.equal(other.status, 404);
      const bad = await request(`${dBase}/api/_registry/repositories/..%2Fx/tags`, { headers: { Authorization: `Bearer ${dToken}` } });
      assert.equal(bad.status, 400);
      const p = await browser.newPage({ viewport: { width: 1400, height: 820 } });
      await p.goto(dashUrl);
      await p.click("nav a:text('Registry')");
      const row = p.locator('tr[data-repo="tools/busybox"][data-tag="1.36"]');
      await row.waitFor({ timeout: 15_000 });
      const text = (await row.textContent()) ?? "";
      const size = (manifest.layers ?? []).reduce((a, l) => a + l.size, 0);
      assert.ok(size > 0, "docker manifest inspect reads the pushed layers");
      // The UI's bytes(): three significant digits, decimal units.
      const [n, unit] = size >= 1e6 ? [size / 1e6, "MB"] : [size / 1e3, "kB"];
      const shown = `${n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n)} ${unit}`;
      assert.ok(text.includes("tools/busybox") && text.includes("1.36") && text.includes(shown), `row "${text}" shows ${shown}`);
      await p.screenshot({ path: path.join(OUT, "registry.png") });
      // Events from before this page opened (dash-web's create, earlier tests' stop) are there at once.
      await p.click("nav a:text('Events')");
      await p.locator(".timeline li:has-text('create'):has-text('dash-web')").first().waitFor({ timeout: 10_000 });
      await p.close();
      // Without --registry the view is not offered.
      assert.equal(await page.locator("nav a:text('Registry')").count(), 0);
    } finally {
      dash?.kill("SIGTERM");
      reg.kill("SIGTERM");
      await d.docker(["rmi", `${regAddr}/tools/busybox:1.36`]);
    }
  });

  it("stays responsive with 200 containers streaming stats (time to update and frame time bounded)", { timeout: 360_000 }, async () => {
    const N = 200;
    const names = Array.from({ length: N }, (_, i) => `dash-load-${i}`);
    const t0 = Date.now();
    try {
      await pool(names, 12, async (name) => {
        const c = await engine(d.sock, "POST", `/containers/create?name=${name}`, { Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: "none" } });
        assert.equal(c.status, 201, c.body);
        const s = await engine(d.sock, "POST", `/containers/${name}/start`);
        assert.equal(s.status, 204, s.body);
      });
      const made = Date.now() - t0;
      await go("#/containers");
      // Every one of them appears and gets its stats stream (one per running container, shared).
      await page.waitForFunction((n) => (window as unknown as { __berth: { statsStreams: number } }).__berth.statsStreams >= n, N, { timeout: 60_000, polling: 500 });
      await page.waitForFunction((n) => (window as unknown as { __berth: { containers: { State: string }[] } }).__berth.containers.filter((c) => c.State === "running").length >= n, N, { timeout: 30_000, polling: 500 });
      // Measure 6 s: animation frame gaps, stats batches, and the time from the engine's read to the screen.
      const m = await page.evaluate(async () => {
        const w = window as unknown as { __berth: { perf: { batches: number; samples: number; latencies: number[] } } };
        const perf = w.__berth.perf;
        const b0 = perf.batches;
        const s0 = perf.samples;
        perf.latencies.length = 0;
        const gaps: number[] = [];
        let last = performance.now();
        const end = last + 6000;
        await new Promise<void>((resolve) => {
          const f = (t: number) => {
            gaps.push(t - last);
            last = t;
            if (t < end) requestAnimationFrame(f);
            else resolve();
          };
          requestAnimationFrame(f);
        });
        // Scroll the virtualised list: the last rows render, and the DOM holds only what is in view.
        const list = document.querySelector(".vlist") as El;
        list.scrollTop = list.scrollHeight;
        await new Promise((r) => setTimeout(r, 300));
        const sorted = [...gaps].sort((a, b) => a - b);
        const lat = [...perf.latencies].sort((a, b) => a - b);
        return {
          frames: gaps.length,
          p95Frame: sorted[Math.floor(sorted.length * 0.95)] ?? Infinity,
          maxFrame: sorted[sorted.length - 1] ?? Infinity,
          batches: perf.batches - b0,
          samples: perf.samples - s0,
          p50Latency: lat[Math.floor(lat.length * 0.5)] ?? Infinity,
          p95Latency: lat[Math.floor(lat.length * 0.95)] ?? Infinity,
          rowsInDom: document.querySelectorAll(".vrow").length,
          lastRowShown: [...document.querySelectorAll(".vrow [data-name]")].some((e) => /dash-load-/.test(e.getAttribute("data-name") ?? "")),
        };
      });
      console.log(`# dashboard load: ${N} containers made in ${made} ms; ${JSON.stringify(m)}`);
      await shot("containers-200");
      assert.ok(m.batches >= 3, `stats batches keep arriving (${m.batches} in 6 s)`);
      assert.ok(m.samples >= N, `samples of many containers arrive (${m.samples})`);
      assert.ok(m.p95Latency < 5000, `95% of stats reach the screen within 5 s of the engine's read (p95 ${m.p95Latency} ms)`);
      assert.ok(m.p95Frame < 250, `95% of frames within 250 ms (p95 ${m.p95Frame.toFixed(1)} ms)`);
      assert.ok(m.maxFrame < 2000, `no frame stalls 2 s (max ${m.maxFrame.toFixed(1)} ms)`);
      assert.ok(m.rowsInDom < 80, `the list is virtualised (${m.rowsInDom} rows in the DOM)`);
      assert.ok(m.lastRowShown);
    } finally {
      await pool(names, 12, async (name) => {
        await engine(d.sock, "DELETE", `/containers/${name}?force=1`);
      });
    }
  });
});
