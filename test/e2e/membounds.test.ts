/**
 * Hostile images must not exhaust the daemon's memory. A tiny hostile registry
 * on 127.0.0.1 serves huge configs and manifests (declared or streamed);
 * `docker import` and `docker load` get tar bombs (gzip'ed zero blocks, many
 * headers behind long PAX records) and an archive with a huge manifest.json.
 * Each request must fail with a clear error or succeed, and the daemon's peak
 * RSS (VmHWM, reset through /proc/<pid>/clear_refs before each step) must stay
 * far below the size of what it was fed.
 */
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createWriteStream, promises as fs } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createGzip } from "node:zlib";
import { pack as tarPack, type Header } from "tar-stream";
import { withDaemon } from "./harness.js";

const MiB = 1 << 20;
/** What one hostile request may add to the daemon's peak RSS. */
const GROWTH_LIMIT = 96 * MiB;

function status(pid: number, field: string): Promise<number> {
  return fs.readFile(`/proc/${pid}/status`, "utf8").then((s) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN) * 1024);
}

/** Run `step` and return how far the daemon's peak RSS rose above its RSS before it. */
async function peakGrowth(pid: number, step: () => Promise<void>, label = ""): Promise<number> {
  await fs.writeFile(`/proc/${pid}/clear_refs`, "5"); // resets VmHWM to the current RSS
  const before = await status(pid, "VmRSS");
  await step();
  const growth = (await status(pid, "VmHWM")) - before;
  if (label) console.log(`membounds: ${label}: peak RSS +${Math.round(growth / MiB)} MiB (from ${Math.round(before / MiB)} MiB)`);
  return growth;
}

/** One tar entry (header, PAX record, contents, padding), without the end-of-archive blocks. */
async function tarEntry(h: Partial<Header> & { name: string }, body?: string): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  p.entry({ mtime: new Date(1_600_000_000_000), ...h }, body ?? "");
  p.finalize();
  await done;
  const all = Buffer.concat(chunks);
  return all.subarray(0, all.length - 1024);
}

/** Write parts (repeated `times`) through gzip into `file`; returns the sha256 of the uncompressed stream. */
async function gzipFile(file: string, parts: { buf: Buffer; times: number }[]): Promise<string> {
  const gz = createGzip({ level: 9 });
  const out = createWriteStream(file);
  const closed = new Promise<void>((resolve, reject) => {
    out.on("close", resolve);
    out.on("error", reject);
  });
  gz.pipe(out);
  const hash = createHash("sha256");
  for (const { buf, times } of parts) {
    for (let i = 0; i < times; i++) {
      hash.update(buf);
      if (!gz.write(buf)) await new Promise((r) => gz.once("drain", r));
    }
  }
  gz.end();
  await closed;
  return `sha256:${hash.digest("hex")}`;
}

/** A `docker save`-format archive (uncompressed tar) with the given members. */
async function archive(file: string, members: { name: string; data: Buffer }[]): Promise<void> {
  const p = tarPack();
  const out = createWriteStream(file);
  const closed = new Promise<void>((resolve, reject) => {
    out.on("close", resolve);
    out.on("error", reject);
  });
  p.pipe(out);
  for (const m of members) p.entry({ name: m.name, mtime: new Date(0) }, m.data);
  p.finalize();
  await closed;
}

interface Evil {
  host: string;
  close(): Promise<void>;
}

/**
 * A hostile registry: manifests whose config is declared huge, has no size and
 * streams without end, or a manifest that is itself an endless stream.
 */
async function startEvilRegistry(opts: { tokenBomb?: boolean } = {}): Promise<Evil> {
  const cfgDigest = `sha256:${"c".repeat(64)}`;
  const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${"d".repeat(64)}`, size: 10 };
  const manifests: Record<string, unknown> = {
    bigconfig: { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgDigest, size: 8 * 1024 * MiB }, layers: [layer] },
    nosize: { schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgDigest }, layers: [layer] },
  };
  /** Stream `total` bytes of JSON-ish filler (a string that never ends), stopping if the client goes. */
  const endless = (res: http.ServerResponse, prefix: string, total: number): void => {
    res.writeHead(200, { "Content-Type": "application/vnd.oci.image.manifest.v1+json" });
    const chunk = Buffer.alloc(MiB, 0x61);
    let sent = 0;
    const pump = (): void => {
      while (sent < total && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      res.end();
    };
    res.write(prefix);
    pump();
  };
  let host = "";
  const server = http.createServer((req, res) => {
    const u = req.url ?? "";
    if (opts.tokenBomb) {
      // Every request needs a token, and the token endpoint answers without end.
      if (u.startsWith("/token")) return endless(res, '{"token":"', 256 * MiB);
      res.writeHead(401, { "WWW-Authenticate": `Bearer realm="http://${host}/token",service="evil"`, "Content-Type": "application/json" });
      return void res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}');
    }
    if (u === "/v2/") return void res.end("{}");
    const m = /^\/v2\/evil\/manifests\/(\w+)$/.exec(u);
    if (m && m[1] === "endless") return endless(res, '{"schemaVersion":2,"x":"', 256 * MiB);
    if (m && manifests[m[1] as string]) {
      const body = JSON.stringify(manifests[m[1] as string]);
      res.writeHead(200, { "Content-Type": "application/vnd.oci.image.manifest.v1+json", "Content-Length": Buffer.byteLength(body) });
      return void res.end(body);
    }
    if (u === `/v2/evil/blobs/${cfgDigest}`) return endless(res, '{"architecture":"', 256 * MiB);
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}');
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("memory bounds against hostile images", () => {
  const d = withDaemon({
    busybox: false,
    teardown: async () => {
      await evil.close();
    },
  });
  let evil: Evil;
  let pid = 0;
  before(async () => {
    pid = d.proc?.pid as number;
    evil = await startEvilRegistry();
  });

  it("refuses a config declared at 8 GiB, a config without a size that never ends, and an endless manifest, in bounded memory", async () => {
    for (const [tag, want] of [
      ["bigconfig", /too large/],
      ["nosize", /too large/],
      ["endless", /too large|larger than/],
    ] as const) {
      let r = { code: 0, stderr: "" };
      const growth = await peakGrowth(pid, async () => {
        r = await d.docker(["pull", `${evil.host}/evil:${tag}`], { timeoutMs: 60_000 });
      }, `pull ${tag}`);
      assert.notEqual(r.code, 0, `pull ${tag} succeeded`);
      assert.match(r.stderr, want, `pull ${tag}: ${r.stderr}`);
      assert.ok(growth < GROWTH_LIMIT, `pull ${tag}: daemon RSS peaked ${Math.round(growth / MiB)} MiB above its start`);
    }
    assert.ok(await d.ping());
  });

  it("refuses an authorization token that never ends, in bounded memory", async () => {
    const tokens = await startEvilRegistry({ tokenBomb: true });
    try {
      let r = { code: 0, stderr: "" };
      const growth = await peakGrowth(pid, async () => {
        r = await d.docker(["pull", `${tokens.host}/evil:latest`], { timeoutMs: 60_000 });
      }, "pull with an endless token");
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /larger than 1048576 bytes/, r.stderr);
      assert.ok(growth < GROWTH_LIMIT, `daemon RSS peaked ${Math.round(growth / MiB)} MiB above its start`);
    } finally {
      await tokens.close();
    }
  });

  it("imports a gzip bomb of many headers behind 64 KiB PAX records and zero blocks in bounded memory", async () => {
    // 3,000 × (PAX record of 64 KiB + a directory header): 192 MiB of headers, then 64 MiB of zero blocks; ~260 KiB gzip'ed.
    const entry = await tarEntry({ name: "d/", type: "directory", mode: 0o755, pax: { comment: "p".repeat(64 * 1024) } });
    const file = path.join(d.dir, "headers.tar.gz");
    await gzipFile(file, [{ buf: entry, times: 3000 }, { buf: Buffer.alloc(MiB), times: 64 }]);
    let r = { code: 0, stdout: "", stderr: "" };
    const growth = await peakGrowth(pid, async () => {
      r = await d.docker(["import", file, "headerbomb:1"], { timeoutMs: 120_000 });
    }, "import of 192 MiB of PAX headers and 64 MiB of zero blocks");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(growth < GROWTH_LIMIT, `import: daemon RSS peaked ${Math.round(growth / MiB)} MiB above its start for a ${Math.round((entry.length * 3000) / MiB)} MiB layer`);
  });

  it("loads an archive whose layer is a 192 MiB gzip'ed zero-block bomb in bounded memory, and saves it back", async () => {
    const file = path.join(d.dir, "zeros.tar.gz");
    const hello = await tarEntry({ name: "hello" }, "hi\n");
    const diffId = await gzipFile(file, [{ buf: hello, times: 1 }, { buf: Buffer.alloc(MiB), times: 192 }]);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: {}, rootfs: { type: "layers", diff_ids: [diffId] } }));
    const cfgName = `${createHash("sha256").update(config).digest("hex")}.json`;
    const arch = path.join(d.dir, "zeros-archive.tar");
    await archive(arch, [
      { name: "manifest.json", data: Buffer.from(JSON.stringify([{ Config: cfgName, RepoTags: ["zerobomb:1"], Layers: ["layer.tar.gz"] }])) },
      { name: cfgName, data: config },
      { name: "layer.tar.gz", data: await fs.readFile(file) },
    ]);
    let r = { code: 0, stdout: "", stderr: "" };
    const growth = await peakGrowth(pid, async () => {
      r = await d.docker(["load", "-i", arch], { timeoutMs: 120_000 });
    }, "load of a 192 MiB zero-block layer");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /zerobomb:1/);
    assert.ok(growth < GROWTH_LIMIT, `load: daemon RSS peaked ${Math.round(growth / MiB)} MiB above its start`);
    // The layer tar replayed from its tar-split is the original one (same diffId), streamed.
    const saved = path.join(d.dir, "saved.tar");
    const saveGrowth = await peakGrowth(pid, async () => {
      r = await d.docker(["save", "-o", saved, "zerobomb:1"], { timeoutMs: 120_000 });
    }, "save of it");
    assert.equal(r.code, 0, r.stderr);
    assert.ok(saveGrowth < GROWTH_LIMIT, `save: daemon RSS peaked ${Math.round(saveGrowth / MiB)} MiB above its start`);
    await fs.rm(saved, { force: true });
  });

  it("refuses a load archive whose manifest.json is 64 MiB, without reading it whole", async () => {
    const arch = path.join(d.dir, "bigmanifest.tar");
    const manifest = Buffer.from(`[{"Config":"c.json","Layers":[],"RepoTags":["${"a".repeat(64 * MiB)}"]}]`);
    await archive(arch, [
      { name: "manifest.json", data: manifest },
      { name: "c.json", data: Buffer.from("{}") },
    ]);
    let r = { code: 0, stdout: "", stderr: "" };
    const growth = await peakGrowth(pid, async () => {
      r = await d.docker(["load", "-i", arch], { timeoutMs: 60_000 });
    }, "load with a 64 MiB manifest.json");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /manifest\.json is too large/);
    assert.ok(growth < GROWTH_LIMIT / 2, `load: daemon RSS peaked ${Math.round(growth / MiB)} MiB above its start`);
    assert.ok(await d.ping());
  });
});
