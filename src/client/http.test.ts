import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { Duplex } from "node:stream";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, it } from "node:test";
import {
  Berth,
  DaemonError,
  Demuxer,
  buildQuery,
  copyOutput,
  errorMessageOf,
  jsonLines,
  muxFrame,
  negotiateVersion,
  defaultContextHost,
  parseHost,
} from "./index.js";

describe("host and query helpers", () => {
  it("parses hosts", () => {
    assert.deepEqual(parseHost("unix:///run/berth/berth.sock"), { socketPath: "/run/berth/berth.sock" });
    assert.deepEqual(parseHost("/tmp/x.sock"), { socketPath: "/tmp/x.sock" });
    assert.deepEqual(parseHost("tcp://127.0.0.1:2375"), { hostname: "127.0.0.1", port: 2375 });
    assert.deepEqual(parseHost("tcp://[::1]:2376"), { hostname: "::1", port: 2376 });
    assert.throws(() => parseHost("ssh://x"));
  });

  it("resolves the host from flag and environment", () => {
    assert.equal(defaultContextHost({ host: "unix:///a", env: { BERTH_HOST: "unix:///b" } }), "unix:///a");
    assert.equal(defaultContextHost({ env: { BERTH_HOST: "unix:///b", DOCKER_HOST: "unix:///c" } }), "unix:///b");
    assert.equal(defaultContextHost({ env: { DOCKER_HOST: "unix:///c" } }), "unix:///c");
    assert.equal(defaultContextHost({ env: {} }), "unix:///run/berth/berth.sock");
  });

  it("builds queries", () => {
    assert.equal(buildQuery({ all: true, limit: 3, skip: undefined, f: false }), "?all=1&limit=3&f=0");
    assert.equal(buildQuery({ changes: ["CMD x", "ENV a=b"] }), "?changes=CMD+x&changes=ENV+a%3Db");
    assert.equal(buildQuery({}), "");
  });

  it("negotiates the API version", () => {
    assert.equal(negotiateVersion("1.47"), "1.47");
    assert.equal(negotiateVersion("1.50"), "1.47");
    assert.equal(negotiateVersion("1.41"), "1.41");
    assert.equal(negotiateVersion(undefined), "1.24");
  });

  it("extracts error messages", () => {
    assert.equal(errorMessageOf(404, Buffer.from('{"message":"No such container: x"}')), "No such container: x");
    assert.equal(errorMessageOf(500, Buffer.from("boom\n")), "boom");
    assert.equal(errorMessageOf(502, Buffer.alloc(0)), "502 Bad Gateway");
  });
});

describe("stream decoding", () => {
  it("demultiplexes frames split across chunks", () => {
    const data = Buffer.concat([muxFrame(1, "hello\n"), muxFrame(2, "oops\n"), muxFrame(1, "")]);
    const d = new Demuxer();
    const frames = [...d.push(data.subarray(0, 5)), ...d.push(data.subarray(5, 17)), ...d.push(data.subarray(17))];
    assert.deepEqual(
      frames.map((f) => [f.stream, f.data.toString()]),
      [
        [1, "hello\n"],
        [2, "oops\n"],
        [1, ""],
      ],
    );
    assert.equal(d.remaining, 0);
  });

  it("rejects garbage headers", () => {
    assert.throws(() => new Demuxer().push(Buffer.from("hello world!")), /Unrecognized input header/);
  });

  it("copies demuxed output to the right sinks", async () => {
    const src = new PassThrough();
    const out: string[] = [];
    const err: string[] = [];
    const p = copyOutput(src, { mux: true, stdout: { write: (b: Buffer) => out.push(b.toString()) }, stderr: { write: (b: Buffer) => err.push(b.toString()) } });
    src.write(muxFrame(1, "a"));
    src.write(muxFrame(2, "b"));
    src.end(muxFrame(1, "c"));
    await p;
    assert.equal(out.join(""), "ac");
    assert.equal(err.join(""), "b");
  });

  it("copies raw output unchanged", async () => {
    const src = new PassThrough();
    const out: string[] = [];
    const p = copyOutput(src, { mux: false, stdout: { write: (b: Buffer) => out.push(b.toString()) }, stderr: { write: () => undefined } });
    src.end("\x01\x00raw");
    await p;
    assert.equal(out.join(""), "\x01\x00raw");
  });

  it("reports systemerr frames", async () => {
    const src = new PassThrough();
    const p = copyOutput(src, { mux: true, stdout: { write: () => undefined }, stderr: { write: () => undefined } });
    src.end(muxFrame(3, "boom"));
    await assert.rejects(p, /boom/);
  });

  it("decodes JSON lines", async () => {
    async function* chunks(): AsyncGenerator<Buffer> {
      yield Buffer.from('{"a":1}\n{"a"');
      yield Buffer.from(":2}\n\n");
      yield Buffer.from('{"a":3}');
    }
    const got: unknown[] = [];
    for await (const v of jsonLines(chunks())) got.push(v);
    assert.deepEqual(got, [{ a: 1 }, { a: 2 }, { a: 3 }]);
  });
});

describe("Berth against a fake daemon", () => {
  let dir: string;
  let sock: string;
  let server: http.Server;
  const seen: string[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "berth-cli-"));
    sock = path.join(dir, "d.sock");
    server = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === "/_ping") {
        res.writeHead(200, { "Api-Version": "1.45" });
        res.end("OK");
      } else if (req.url?.endsWith("/version")) {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end('{"Version":"x"}');
      } else if (req.url?.includes("/missing")) {
        res.writeHead(404, { "Content-Type": "application/json" });
        res.end('{"message":"No such container: missing"}');
      } else if (req.url?.includes("/stream")) {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.write('{"status":"one"}\n');
        setTimeout(() => res.end('{"status":"two"}\n'), 10);
      } else {
        res.writeHead(204);
        res.end();
      }
    });
    server.on("upgrade", (req: http.IncomingMessage, socket: Duplex) => {
      seen.push(`UPGRADE ${req.method} ${req.url} ${req.headers["upgrade"]}`);
      socket.write("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n");
      socket.write(muxFrame(1, "ready\n"));
      // Echo stdin back on stderr until the client half-closes.
      socket.on("data", (d: Buffer) => socket.write(muxFrame(2, d)));
      socket.on("end", () => socket.end(muxFrame(1, "bye\n")));
    });
    await new Promise<void>((r) => server.listen(sock, r));
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("negotiates and prefixes the version", async () => {
    const c = new Berth(`unix://${sock}`);
    assert.deepEqual(await c.get("/version"), { Version: "x" });
    assert.equal(await c.apiVersion(), "1.45");
    assert.ok(seen.includes("GET /v1.45/version"));
    c.close();
  });

  it("turns error statuses into DaemonError", async () => {
    const c = new Berth({ host: `unix://${sock}`, version: "1.47" });
    await assert.rejects(c.get("/containers/missing/json"), (e: unknown) => e instanceof DaemonError && e.status === 404 && e.message === "Error response from daemon: No such container: missing");
    c.close();
  });

  it("reads JSON streams", async () => {
    const c = new Berth({ host: `unix://${sock}`, version: "1.47" });
    const got: unknown[] = [];
    for await (const m of await c.jsonStream("POST", "/stream")) got.push(m);
    assert.deepEqual(got, [{ status: "one" }, { status: "two" }]);
    c.close();
  });

  it("hijacks the connection and half-closes stdin", async () => {
    const c = new Berth({ host: `unix://${sock}`, version: "1.47" });
    const { socket, contentType } = await c.hijack("POST", "/containers/x/attach", { query: { stream: true, stdin: true } });
    assert.equal(contentType, "application/vnd.docker.multiplexed-stream");
    const out: string[] = [];
    const err: string[] = [];
    const done = copyOutput(socket, { mux: true, stdout: { write: (b: Buffer) => out.push(b.toString()) }, stderr: { write: (b: Buffer) => err.push(b.toString()) } });
    socket.write("hi\n");
    setTimeout(() => socket.end(), 20);
    await done;
    assert.equal(out.join(""), "ready\nbye\n");
    assert.equal(err.join(""), "hi\n");
    assert.ok(seen.includes("UPGRADE POST /v1.47/containers/x/attach?stream=1&stdin=1 tcp"));
    c.close();
  });

  it("reports an unreachable daemon", async () => {
    const c = new Berth(`unix://${dir}/nothing.sock`);
    await assert.rejects(c.get("/version"), /Cannot connect to the Berth daemon at unix:\/\/.*nothing\.sock\. Is the berthd daemon running\?/);
    c.close();
  });
});
