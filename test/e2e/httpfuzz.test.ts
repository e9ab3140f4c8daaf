/**
 * Fuzzing of the raw HTTP layer (below what a client library would send):
 * request lines, headers, Content-Length / Transfer-Encoding combinations,
 * chunked-encoding errors, truncated bodies and hijacked (Upgrade: tcp) attach
 * and exec connections that send garbage or close early. Inputs come from a
 * seeded generator (BERTH_FUZZ_SEED reproduces a run). The daemon must answer
 * every request with a status below 500 (or close the connection), never log
 * an internal error, still answer /_ping afterwards and hold no more file
 * descriptors than before.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import net from "node:net";
import { until, withDaemon } from "./harness.js";

const COUNT = process.env["BERTH_LONG"] ? 6000 : 1500;
const SEED = Number(process.env["BERTH_FUZZ_SEED"] ?? 0x5eed);

/** mulberry32: small, seedable, good enough to pick fuzz inputs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Exchange {
  /** The first status code the daemon answered (0: none, connection closed or timed out). */
  status: number;
  raw: string;
}

/** Send raw bytes on a fresh connection; read until the daemon closes or `waitMs` passes. */
function exchange(sock: string, parts: Buffer[], opts: { endAfter: boolean; waitMs: number }): Promise<Exchange> {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    const got: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      const raw = Buffer.concat(got).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
      resolve({ status: m ? Number(m[1]) : 0, raw: raw.slice(0, 400) });
    };
    const timer = setTimeout(finish, opts.waitMs);
    s.on("data", (b: Buffer) => {
      if (size < 64 * 1024) got.push(b);
      size += b.length;
    });
    s.on("error", finish);
    s.on("close", finish);
    s.on("connect", () => {
      for (const p of parts) s.write(p);
      if (opts.endAfter) s.end();
    });
  });
}

const METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE", "FOO", "get", "G ET", "", "POST\0", "ÄÖ"];
const PATHS = [
  "/_ping", "/version", "/info", "/containers/json", "/containers/fz/json", "/containers/create", "/images/json",
  "/images/busybox/json", "/images/a/b/c/json", "/containers/fz/logs?stdout=1", "/exec/x/json", "/volumes", "/networks",
  "/containers/fz/attach?stream=1&stdout=1", "/images/create?fromImage=", "/build", "/events?until=1",
];
const TARGET_MUTATIONS: ((p: string, r: () => number) => string)[] = [
  (p) => p,
  (p) => `/v1.47${p}`,
  (p) => `/v1.12${p}`,
  (p) => `/v99.99${p}`,
  (p) => `/vx${p}`,
  (p) => `/v1.x${p}`,
  (p) => `/v${"9".repeat(40)}.0${p}`,
  (p) => `http://berth${p}`,
  (p) => `http://[${p}`,
  (p) => `http://[::1]:99999${p}`,
  (p) => `https://user:pw@h${p}`,
  (p) => `//${p}`,
  (p) => `${p}%zz`,
  (p) => p.replace("/", "/%"),
  (p) => `${p}/%E0%A4%A`,
  (p) => `${p}%00`,
  (p) => `${p}?%zz=%`,
  (p) => `${p}#frag`,
  (p) => p.slice(1),
  () => "*",
  () => "",
  (p) => `${p}/${"a".repeat(9000)}`,
  (p) => `${p}/../../..`,
  (p) => p.replace(/[a-z]/g, (c) => `%${c.charCodeAt(0).toString(16)}`),
  (p, r) => p.split("").map((c) => (r() < 0.1 ? String.fromCharCode(Math.floor(r() * 256)) : c)).join(""),
];
const VERSIONS = ["HTTP/1.1", "HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/9.9", "HTTP/1.1x", "http/1.1", "", "HTTP/1.1 extra", "HTTP/"];
const HEADER_SETS: ((r: () => number) => string[])[] = [
  () => ["Host: berth"],
  () => [],
  () => ["Host: berth", "Host: other"],
  () => ["Host: berth", `X-Big: ${"a".repeat(20_000)}`],
  () => ["Host: berth", ...Array.from({ length: 3000 }, (_, i) => `X-${i}: v`)],
  () => ["Host: berth", "X-Bad: \x01\x02\x7f"],
  () => ["Host: berth", "No-Colon-Here"],
  () => ["Host: berth", " folded: continuation"],
  () => ["Host: berth", "Bad Name: v"],
  () => ["Host: berth", "Content-Type: application/json"],
  () => ["Host: berth", "Connection: Upgrade", "Upgrade: tcp"],
  () => ["Host: berth", "Expect: 100-continue"],
  () => ["Host: berth", "X-Registry-Auth: %%%not-base64"],
  () => ["Host: berth", "X-Registry-Config: e30"],
  (r) => ["Host: berth", `X-Rand: ${Buffer.from(Array.from({ length: 40 }, () => Math.floor(r() * 256))).toString("latin1")}`],
];
type Body = { headers: string[]; bytes: Buffer; endAfter: boolean };
const BODIES: ((r: () => number) => Body)[] = [
  () => ({ headers: [], bytes: Buffer.alloc(0), endAfter: false }),
  () => ({ headers: ["Content-Length: 2"], bytes: Buffer.from("{}"), endAfter: false }),
  () => ({ headers: ["Content-Length: 10"], bytes: Buffer.from("{}"), endAfter: true }),
  () => ({ headers: ["Content-Length: 10"], bytes: Buffer.from("{}"), endAfter: false }),
  () => ({ headers: ["Content-Length: -1"], bytes: Buffer.from("{}"), endAfter: false }),
  () => ({ headers: ["Content-Length: 1e3"], bytes: Buffer.from("{}"), endAfter: false }),
  () => ({ headers: ["Content-Length: 99999999999999999999999"], bytes: Buffer.from("{}"), endAfter: true }),
  () => ({ headers: ["Content-Length: 2", "Content-Length: 3"], bytes: Buffer.from("{}x"), endAfter: false }),
  () => ({ headers: ["Content-Length: 2", "Transfer-Encoding: chunked"], bytes: Buffer.from("2\r\n{}\r\n0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Transfer-Encoding: chunked"], bytes: Buffer.from("2\r\n{}\r\n0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Transfer-Encoding: chunked"], bytes: Buffer.from("zz\r\n{}\r\n0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Transfer-Encoding: chunked"], bytes: Buffer.from("5\r\n{}\r\n0\r\n\r\n"), endAfter: true }),
  () => ({ headers: ["Transfer-Encoding: chunked"], bytes: Buffer.from("2\r\n{}"), endAfter: true }),
  () => ({ headers: ["Transfer-Encoding: chunked"], bytes: Buffer.from("ffffffffffffffffff\r\n{}\r\n"), endAfter: true }),
  () => ({ headers: ["Transfer-Encoding: chunked"], bytes: Buffer.from("2;ext=\x01\r\n{}\r\n0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Transfer-Encoding: gzip, chunked"], bytes: Buffer.from("2\r\n{}\r\n0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Transfer-Encoding: chunked, identity"], bytes: Buffer.from("0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], bytes: Buffer.from("0\r\n\r\n"), endAfter: false }),
  () => ({ headers: ["Content-Type: application/json", "Content-Length: 9"], bytes: Buffer.from('{"Image":'), endAfter: false }),
  () => ({ headers: ["Content-Type: application/json", "Content-Length: 4"], bytes: Buffer.from("\xff\xfe\0\0", "latin1"), endAfter: false }),
  () => ({ headers: ["Content-Type: application/x-tar", "Content-Length: 1024"], bytes: Buffer.alloc(100, 7), endAfter: true }),
  (r) => {
    const b = Buffer.from(Array.from({ length: Math.floor(r() * 600) }, () => Math.floor(r() * 256)));
    return { headers: [`Content-Length: ${b.length}`], bytes: b, endAfter: r() < 0.5 };
  },
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}

/** One random request: raw bytes, whether the client half-closes after them. */
function generate(r: () => number): { parts: Buffer[]; endAfter: boolean; label: string } {
  if (r() < 0.05) {
    // Pure garbage in place of a request.
    const b = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
    return { parts: [b], endAfter: r() < 0.5, label: `garbage ${b.toString("hex").slice(0, 40)}` };
  }
  const target = pick(r, TARGET_MUTATIONS)(pick(r, PATHS), r);
  const line = `${pick(r, METHODS)} ${target} ${pick(r, VERSIONS)}`;
  const body = pick(r, BODIES)(r);
  const headers = [...pick(r, HEADER_SETS)(r), ...body.headers];
  const head = Buffer.from(`${line}\r\n${headers.join("\r\n")}${headers.length ? "\r\n" : ""}\r\n`, "latin1");
  // Sometimes split the request at a random byte to exercise the incremental parser.
  const all = Buffer.concat([head, body.bytes]);
  const cut = r() < 0.2 ? Math.floor(r() * all.length) : all.length;
  const parts = cut < all.length ? [all.subarray(0, cut), all.subarray(cut)] : [all];
  return { parts, endAfter: body.endAfter || r() < 0.2, label: JSON.stringify(all.toString("latin1").slice(0, 160)) };
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe("HTTP-level fuzzing of the API socket", () => {
  const d = withDaemon();
  let execId = "";
  before(async () => {
    const r = await d.docker(["run", "-d", "-i", "--name", "fz", "busybox", "sleep", "300"]);
    assert.equal(r.code, 0, r.stderr);
    const body = '{"Cmd":["cat"],"AttachStdin":true,"AttachStdout":true}';
    const req = `POST /v1.47/containers/fz/exec HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const e = await exchange(d.sock, [Buffer.from(req)], { endAfter: false, waitMs: 10_000 });
    const m = /"Id":"([0-9a-f]+)"/.exec(e.raw);
    assert.ok(m, e.raw);
    execId = m[1] as string;
  });

  it("answers the request lines that used to kill or 500 the daemon with a 4xx", async () => {
    const cases: [string, number][] = [
      ["GET http://[/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400],
      ["GET /containers/%zz/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400],
      ["GET /v1.47/images/a%zz/b/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400],
      ["GET /vx/containers/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404],
      ["GET http://foo/v1.40/containers/json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200],
      ["POST /containers/create HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400],
    ];
    // Headers: 1 MiB in all, as Go's server allows dockerd (the CLI's X-Registry-Config can be large); beyond, a 431.
    cases.push([`GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Registry-Config: ${"e".repeat(200_000)}\r\n\r\n`, 200]);
    cases.push([`GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ${"a".repeat(1_100_000)}\r\n\r\n`, 431]);
    for (const [req, want] of cases) {
      const e = await exchange(d.sock, [Buffer.from(req)], { endAfter: false, waitMs: 5_000 });
      assert.equal(e.status, want, `${JSON.stringify(req)} → ${e.raw}`);
      assert.ok(await d.ping(), `daemon gone after ${JSON.stringify(req)}`);
    }
    // Truncated bodies from clients that give up, JSON and uploads (import, load, build, cp),
    // and a chunked upload that breaks: a 400 or a closed connection, never a 500 or a logged error.
    const tarStart = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), Buffer.alloc(600, 0x41)]);
    const uploads: [string, Buffer][] = [
      ["POST /containers/create HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 40", Buffer.from('{"Ima')],
      ["POST /v1.47/images/create?fromSrc=-&repo=trunc HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 4096", tarStart],
      ["POST /v1.47/images/load HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 4096", Buffer.alloc(700, 0x42)],
      ["POST /v1.47/build?t=trunc HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 4096", tarStart],
      ["PUT /v1.47/containers/fz/archive?path=/tmp HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: 4096", Buffer.alloc(700, 0)],
      ["POST /v1.47/images/create?fromSrc=-&repo=trunc HTTP/1.1\r\nTransfer-Encoding: chunked", Buffer.concat([Buffer.from("a\r\n"), tarStart.subarray(0, 10), Buffer.from("\r\nzz\r\n")])],
    ];
    const errorsBefore = (await d.log()).split("\n").filter((l) => l.includes("level=error")).length;
    for (const [head, body] of uploads) {
      const t = await exchange(d.sock, [Buffer.from(`${head}\r\nHost: x\r\n\r\n`), body], { endAfter: true, waitMs: 5_000 });
      assert.ok(t.status < 500, `${head} → ${t.raw}`);
    }
    assert.ok(await d.ping());
    // The cp upload froze the container while it extracted: a client that gave up must not leave it frozen.
    const ex = await d.docker(["exec", "fz", "true"], { timeoutMs: 20_000 });
    assert.equal(ex.code, 0, ex.stderr);
    const errors = (await d.log()).split("\n").filter((l) => l.includes("level=error"));
    assert.deepEqual(errors.slice(errorsBefore), [], "internal errors logged for truncated requests");
  });

  it(`survives ${COUNT} seeded random raw requests and hijacks without a 500 or leaked descriptors`, async () => {
    const pid = d.proc?.pid as number;
    const baseFds = fdCount(pid);
    const r = rng(SEED);
    const failures: string[] = [];
    let answered = 0;
    let closed = 0;
    const hijacks: (() => { parts: Buffer[]; endAfter: boolean; label: string })[] = [
      () => {
        const g = Buffer.from(Array.from({ length: Math.floor(r() * 2000) }, () => Math.floor(r() * 256)));
        const head = "POST /v1.47/containers/fz/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n";
        return { parts: [Buffer.from(head), g], endAfter: r() < 0.7, label: "attach + garbage" };
      },
      () => {
        const bodies = ['{"Detach":false,"Tty":false}', '{"Detach":', "\x00\x01garbage", '{"Tty":"yes"}', "[]", ""];
        const b = pick(r, bodies);
        const cl = r() < 0.3 ? b.length + 50 : b.length;
        const head = `POST /v1.47/exec/${execId}/start HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${cl}\r\n\r\n`;
        const g = Buffer.from(Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256)));
        return { parts: [Buffer.from(head + b, "latin1"), g], endAfter: true, label: `exec start ${JSON.stringify(b)} cl=${cl}` };
      },
      () => {
        const head = `POST /v1.47/containers/${pick(r, ["fz", "nope", "%zz", ""])}/attach?stream=1&stdin=1 HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: ${pick(r, ["tcp", "h2c", "websocket", ""])}\r\nContent-Length: ${pick(r, ["0", "-5", "abc", "10"])}\r\n\r\n`;
        return { parts: [Buffer.from(head)], endAfter: r() < 0.5, label: `attach ${JSON.stringify(head.slice(0, 80))}` };
      },
    ];
    const CONCURRENCY = 8;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < COUNT) {
        next++;
        const input = r() < 0.08 ? pick(r, hijacks)() : generate(r);
        const e = await exchange(d.sock, input.parts, { endAfter: input.endAfter, waitMs: 400 });
        if (e.status >= 500) failures.push(`${input.label} → ${e.raw.split("\r\n\r\n")[0]}`);
        if (e.status > 0) answered++;
        else closed++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.ok(await d.ping(), "daemon does not answer /_ping after the fuzzing");
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${COUNT} inputs answered 5xx (seed ${SEED})`);
    // Every connection the fuzzer opened is gone once the container it attached to is:
    // an attach whose client half-closed is kept for the output (docker attach closes
    // its write side at stdin's EOF and keeps reading), as dockerd keeps it.
    const rm = await d.docker(["rm", "-f", "fz"]);
    assert.equal(rm.code, 0, rm.stderr);
    const settled = await until(async () => fdCount(pid) <= baseFds + 2, 15_000);
    assert.ok(settled, `daemon holds ${fdCount(pid)} fds, ${baseFds} before the fuzzing`);
    const errors = (await d.log()).split("\n").filter((l) => l.includes("level=error"));
    assert.deepEqual(errors.slice(0, 5), [], "internal errors logged while fuzzing");
    console.log(`http fuzz: ${COUNT} inputs (seed ${SEED}), ${answered} answered, ${closed} closed or unanswered, 0 crashes`);
  });
});
