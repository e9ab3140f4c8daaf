/**
 * The hijacked exec/attach answers byte for byte as dockerd 20.10 writes them
 * (recorded from dockerd 20.10.24 over its socket): exec start's 101 carries the
 * middleware headers while attach's does not, attach errors come as a bare
 * status line with the raw-stream type and a plain-text message, a TTY exec's
 * output is raw (no multiplex header) with the terminal's echo and CR/LF, a
 * half-close of a TTY session's stdin ends the stream (not the process), and
 * exec resize parses sizes as Go's strconv.Atoi does.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { withDaemon } from "./harness.js";

/** Send one upgrade request, then `input` once the 101 arrived; resolve with everything read when the server ends. */
function hijack(sock: string, method: string, path: string, body: string | undefined, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const chunks: Buffer[] = [];
    let sent = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end of stream: ${JSON.stringify(Buffer.concat(chunks).toString("latin1"))}`));
    }, 15_000);
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      if (!sent && Buffer.concat(chunks).includes("\r\n\r\n") && input !== "") {
        sent = true;
        s.write(input);
      }
    });
    s.on("end", () => {
      clearTimeout(timer);
      s.end();
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    s.on("error", reject);
    const len = body === undefined ? "" : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
    s.write(`${method} ${path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${len}\r\n${body ?? ""}`);
  });
}

describe("hijacked exec and attach answers as dockerd 20.10 writes them", () => {
  const d = withDaemon({
    setup: async () => {
      const r = await d.docker(["run", "-dit", "--name", "hj", "busybox", "sh"]);
      assert.equal(r.code, 0, r.stderr);
    },
    teardown: async () => {
      await d.docker(["rm", "-f", "hj"]).catch(() => undefined);
    },
  });
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetchUnix(d.sock, method, path, body);
    return r;
  };

  it("answers a TTY exec start with a 101 carrying the API headers, then the raw terminal stream with echo and CR/LF", async () => {
    const { body } = await api("POST", "/v1.41/containers/hj/exec", { Cmd: ["sh", "-c", "read x; echo got $x; exit 7"], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const id = (JSON.parse(body) as { Id: string }).Id;
    const out = await hijack(d.sock, "POST", `/v1.41/exec/${id}/start`, JSON.stringify({ Tty: true, Detach: false }), "hi\r");
    assert.equal(
      out,
      "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n" +
        "Api-Version: 1.47\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Berth (linux)\r\n\r\nhi\r\ngot hi\r\n",
    );
    const info = JSON.parse((await api("GET", `/v1.41/exec/${id}/json`)).body) as { ExitCode: number; Running: boolean };
    assert.deepEqual([info.Running, info.ExitCode], [false, 7]);
  });

  it("ends a TTY exec session as soon as the client half-closes its stdin, while the process goes on to its exit code", async () => {
    const { body } = await api("POST", "/v1.41/containers/hj/exec", { Cmd: ["sh", "-c", "read x; sleep 2; exit 9"], Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true });
    const id = (JSON.parse(body) as { Id: string }).Id;
    const t0 = Date.now();
    const out = await hijackHalfClose(d.sock, `/v1.41/exec/${id}/start`, JSON.stringify({ Tty: true, Detach: false }), "hi\r");
    assert.ok(Date.now() - t0 < 1500, `the stream ended ${Date.now() - t0} ms after the start, not at the half-close`);
    assert.match(out, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    const running = JSON.parse((await api("GET", `/v1.41/exec/${id}/json`)).body) as { Running: boolean };
    assert.equal(running.Running, true);
    // The exec record is the event source here: polled (bounded) until the process's exit is recorded.
    let info = { Running: true, ExitCode: -1 };
    for (let i = 0; i < 80 && info.Running; i++) {
      info = JSON.parse((await api("GET", `/v1.41/exec/${id}/json`)).body) as { Running: boolean; ExitCode: number };
      if (info.Running) await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual([info.Running, info.ExitCode], [false, 9]);
  });

  it("ends a TTY attach as soon as the client half-closes its stdin, and the container keeps running", async () => {
    const t0 = Date.now();
    const out = await hijackHalfClose(d.sock, "/v1.41/containers/hj/attach?stream=1&stdin=1&stdout=1&stderr=1", "", "echo a\r");
    assert.ok(Date.now() - t0 < 1500, `the stream ended ${Date.now() - t0} ms after the attach, not at the half-close`);
    assert.match(out, /^HTTP\/1\.1 101 UPGRADED\r\n/);
    const r = await d.docker(["inspect", "-f", "{{.State.Status}}", "hj"]);
    assert.equal(r.stdout.trim(), "running");
  });

  it("delivers a TTY exec's output every time (30 runs) when the client half-closes at once, as the docker CLI does without stdin", async () => {
    // reference: dockerd 20.10 delivers it every time, with or without the upgrade headers.
    for (let i = 0; i < 30; i++) {
      const { body } = await api("POST", "/v1.41/containers/hj/exec", { Cmd: ["sh", "-c", `echo hi-${i}`], Tty: true, AttachStdout: true, AttachStderr: true });
      const id = (JSON.parse(body) as { Id: string }).Id;
      const out = await startHalfClosed(d.sock, `/v1.41/exec/${id}/start`, JSON.stringify({ Tty: true, Detach: false }), i % 2 === 0);
      assert.match(out, new RegExp(`^HTTP/1\\.1 (101 UPGRADED|200 OK)\r\n[^]*\r\n\r\nhi-${i}\r\n$`), `run ${i}: ${JSON.stringify(out)}`);
    }
  });

  it("gives `docker exec -t c sh -c 'echo hi'` its output every time (30 runs)", async () => {
    for (let i = 0; i < 30; i++) {
      const r = await d.docker(["exec", "-t", "hj", "sh", "-c", `echo hi-${i}`]);
      assert.deepEqual([r.code, r.stdout, r.stderr], [0, `hi-${i}\r\n`, ""], `run ${i}`);
    }
  });

  it("answers attach errors after taking the connection: bare status line, raw-stream type, plain-text message", async () => {
    assert.equal(
      await hijack(d.sock, "POST", "/v1.41/containers/nosuch/attach?stream=1&stdin=1&stdout=1", undefined, ""),
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nNo such container: nosuch\r\n",
    );
    assert.equal(
      await hijack(d.sock, "POST", "/v1.41/containers/hj/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-", undefined, ""),
      "HTTP/1.1 400 Bad Request\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nInvalid detach keys (ctrl-) provided\r\n",
    );
    // The same without the upgrade headers (a plain POST), as the docker CLI's non-upgrade clients see it.
    const plain = await api("POST", "/v1.41/containers/hj/attach?stream=1&stdout=1&detachKeys=bogus-key");
    assert.equal(plain.raw, "HTTP/1.1 400 Bad Request\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\nInvalid detach keys (bogus-key) provided\r\n");
  });

  it("parses exec resize sizes as dockerd does (strconv.Atoi's message), 404 for an unknown exec", async () => {
    const { body } = await api("POST", "/v1.41/containers/hj/exec", { Cmd: ["sh"], Tty: true });
    const id = (JSON.parse(body) as { Id: string }).Id;
    const bad = await api("POST", `/v1.41/exec/${id}/resize?h=x&w=100`);
    assert.deepEqual([bad.status, bad.body], [400, '{"message":"strconv.Atoi: parsing \\"x\\": invalid syntax"}']);
    const missing = await api("POST", `/v1.41/exec/${id}/resize?w=100`);
    assert.deepEqual([missing.status, missing.body], [400, '{"message":"strconv.Atoi: parsing \\"\\": invalid syntax"}']);
    const none = await api("POST", "/v1.41/exec/nosuch/resize?h=40&w=100");
    assert.deepEqual([none.status, none.body], [404, '{"message":"No such exec instance: nosuch"}']);
  });
});

/** An upgrade request whose client writes `input` after the 101 and then half-closes; resolves at the server's end. */
function hijackHalfClose(sock: string, path: string, body: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: sock, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let sent = false;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("the server did not end the stream after the half-close"));
    }, 10_000);
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      if (!sent && Buffer.concat(chunks).includes("\r\n\r\n")) {
        sent = true;
        s.end(input);
      }
    });
    s.on("end", () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    s.on("error", reject);
    s.write(`POST ${path} HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${body === "" ? "" : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`}\r\n${body}`);
  });
}

/** One HTTP/1.0-style request over the socket; the whole answer as read (raw) and split. */
function fetchUnix(sock: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string; raw: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const chunks: Buffer[] = [];
    const text = body === undefined ? "" : JSON.stringify(body);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const i = raw.indexOf("\r\n\r\n");
      resolve({ status: Number(raw.split(" ")[1]), body: i >= 0 ? raw.slice(i + 4) : "", raw });
    });
    s.on("error", reject);
    s.write(`${method} ${path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n${body === undefined ? "" : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`}\r\n${text}`);
  });
}

/** A hijacking request (with or without the upgrade headers) whose client half-closes right after it; resolves with all it read. */
function startHalfClosed(sock: string, path: string, body: string, upgrade: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ path: sock, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end of stream: ${JSON.stringify(Buffer.concat(chunks).toString("latin1"))}`));
    }, 15_000);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    s.on("error", reject);
    const up = upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "";
    s.end(`POST ${path} HTTP/1.1\r\nHost: docker\r\n${up}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
}
