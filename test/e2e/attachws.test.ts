/**
 * Websocket attach (GET /containers/{id}/attach/ws) as dockerd 20.10 serves it
 * (recorded from dockerd 20.10.24): the container's output as binary frames
 * (text frames below API 1.28), stdout and stderr interleaved without stdcopy
 * framing, frames sent go to stdin, a 1000 close frame when the container ends;
 * an unknown container is a JSON 404 before the handshake, a request that is
 * not a handshake Go's bare 400.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { WebSocket } from "ws";
import { busyboxDaemon } from "./harness.js";

interface Session {
  frames: Array<{ data: string; binary: boolean }>;
  code: number;
}

/** Attach, send `input` once `when` has arrived, collect every frame until the server closes. */
function attachWs(sock: string, path: string, when: string, input: string, origin?: string): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws+unix://${sock}:${path}`, origin !== undefined ? { origin } : {});
    const frames: Session["frames"] = [];
    let sent = false;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no close within 20 s: ${JSON.stringify(frames)}`));
    }, 20_000);
    ws.on("message", (d: Buffer, binary) => {
      frames.push({ data: d.toString(), binary });
      if (!sent && frames.map((f) => f.data).join("").includes(when)) {
        sent = true;
        ws.send(input);
      }
    });
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve({ frames, code });
    });
    ws.on("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => reject(new Error(`${res.statusCode ?? 0} ${body}`)));
    });
    ws.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function rawGet(sock: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    const chunks: Buffer[] = [];
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("end", () => {
      s.end();
      resolve(Buffer.concat(chunks).toString());
    });
    s.on("error", reject);
    s.write(`GET ${path} HTTP/1.1\r\nHost: docker\r\n\r\n`);
  });
}

describe("websocket attach", () => {
  const d = busyboxDaemon();

  it("streams a running container's stdout and stderr as binary frames, feeds frames to stdin, and closes with 1000 when it exits", async () => {
    const r = await d.docker(["run", "-d", "-i", "--name", "ws1", "busybox", "sh", "-c", "echo ready; read line; echo got:$line; echo err:$line >&2"]);
    assert.equal(r.code, 0, r.stderr);
    const s = await attachWs(d.sock, "/v1.41/containers/ws1/attach/ws?logs=1&stream=1", "ready\n", "hello\n");
    assert.equal(s.frames.map((f) => f.data).join(""), "ready\ngot:hello\nerr:hello\n");
    assert.ok(s.frames.every((f) => f.binary), JSON.stringify(s.frames));
    assert.equal(s.code, 1000);
    const w = await d.docker(["wait", "ws1"]);
    assert.equal(w.stdout.trim(), "0");
  });

  it("replays only the logs and closes without stream, in text frames below API 1.28", async () => {
    const s = await attachWs(d.sock, "/v1.27/containers/ws1/attach/ws?logs=1&stdout=0", "\u0000never", "");
    assert.equal(s.frames.map((f) => f.data).join(""), "ready\ngot:hello\nerr:hello\n");
    assert.ok(s.frames.every((f) => !f.binary), JSON.stringify(s.frames));
    assert.equal(s.code, 1000);
  });

  it("refuses a handshake that carries a browser Origin with 403 (stricter than dockerd: no cross-site websocket hijacking)", async () => {
    await assert.rejects(attachWs(d.sock, "/v1.41/containers/ws1/attach/ws?logs=1", "x", "", "http://evil.example"), /^Error: 403 \{"message":"websocket attach from a browser origin \(http:\/\/evil.example\) is refused"\}/);
  });

  it("answers an unknown container with a JSON 404 and bad detach keys with a JSON 400 before the handshake, and a plain GET with Go's 400", async () => {
    await assert.rejects(attachWs(d.sock, "/v1.41/containers/nosuch/attach/ws?stream=1", "x", ""), /^Error: 404 \{"message":"No such container: nosuch"\}/);
    await assert.rejects(attachWs(d.sock, "/v1.41/containers/ws1/attach/ws?stream=1&detachKeys=bogus-keys", "x", ""), /^Error: 400 \{"message":"Invalid detach keys \(bogus-keys\) provided"\}/);
    assert.equal(await rawGet(d.sock, "/v1.41/containers/ws1/attach/ws?stream=1"), "HTTP/1.1 400 Bad Request\r\n\r\nnot websocket protocol");
  });
});
