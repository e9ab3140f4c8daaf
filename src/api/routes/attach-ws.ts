/**
 * `GET /containers/{id}/attach/ws`: attach over a websocket, as dockerd 20.10
 * serves it (x/net/websocket): the container is looked up first (a JSON error
 * before any handshake), a request that is not a websocket handshake gets Go's
 * bare 400 and its message, then the output goes out as binary frames (text
 * frames below API 1.28), stdout and stderr interleaved without stdcopy framing,
 * and every frame received goes to stdin. stdin, stdout and stderr are always
 * attached (the query's flags are ignored, as dockerd ignores them); logs and
 * stream are honoured. The socket closes with a 1000 close frame when the
 * container's output ends. Bad detach keys are a JSON 400 before the handshake. The websocket protocol itself is the `ws` package's;
 * this file only adapts a WebSocket to the Duplex the engine's attach writes to.
 */
import { Duplex } from "node:stream";
import type { WebSocket, WebSocketServer } from "ws";
import type { ContainerService } from "../../engine/index.js";
import { parseDetachKeys } from "../../engine/index.js";
import { EngineError } from "../../util/errors.js";
import { type Router, qBool, versionAtLeast } from "../server.js";

/** `ws` is loaded on the first websocket attach, not at every daemon start (it is a fifth of the routes' load time). */
let wss: Promise<WebSocketServer> | undefined;
function server(): Promise<WebSocketServer> {
  wss ??= import("ws").then((m) => new m.WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false }));
  return wss;
}

/** The WebSocket as a byte stream: frames in are reads, writes are frames out. */
function wsStream(ws: WebSocket, binary: boolean): Duplex {
  const d = new Duplex({
    read() {
      ws.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      // A write after the peer went away fails, which ends the attach (as Go's conn.Write does).
      if (ws.readyState !== ws.OPEN) return cb(new Error("websocket closed"));
      ws.send(chunk, { binary }, (err) => cb(err ?? null));
    },
    final(cb) {
      if (ws.readyState === ws.OPEN) ws.close(1000);
      cb();
    },
    destroy(err, cb) {
      if (ws.readyState === ws.OPEN) ws.close(1000);
      cb(err);
    },
  });
  d.on("error", () => undefined); // the attach sees the end through 'close'; never an unhandled error
  ws.on("message", (data: Buffer) => {
    if (!d.push(data)) ws.pause();
  });
  ws.on("close", () => d.push(null));
  ws.on("error", () => d.destroy());
  return d;
}

/** Go's x/net/websocket refusal: status line, no headers, the message as the body. */
function handshakeError(req: { headers: Record<string, string | string[] | undefined> }): { status: string; extra: string; message: string } | undefined {
  const h = (k: string): string => String(req.headers[k] ?? "");
  if (h("upgrade").toLowerCase() !== "websocket" || !h("connection").toLowerCase().includes("upgrade")) return { status: "400 Bad Request", extra: "", message: "not websocket protocol" };
  if (h("sec-websocket-key") === "") return { status: "400 Bad Request", extra: "", message: "mismatch challenge/response" };
  if (h("sec-websocket-version") !== "13") return { status: "400 Bad Request", extra: "Sec-WebSocket-Version: 13\r\n", message: "missing or bad WebSocket Version" };
  return undefined;
}

/** What the websocket attach uses of the engine. */
export interface AttachWsBackend {
  containers: Pick<ContainerService, "get" | "attach">;
}

export function attachWsRoutes(r: Router, engine: AttachWsBackend): void {
  const cs = engine.containers;
  r.get("/containers/{id}/attach/ws", async (ctx) => {
    const id = ctx.params["id"] ?? "";
    cs.get(id); // 404 before the handshake
    const q = ctx.query;
    // Browsers always send Origin, Docker's clients never do: a web page must not reach a container's
    // stdin/stdout through a daemon listening on loopback TCP (cross-site websocket hijacking).
    // Stricter than dockerd 20.10, which checks no origin (docs/security.md).
    if (ctx.req.headers.origin !== undefined) throw new EngineError("forbidden", `websocket attach from a browser origin (${ctx.req.headers.origin}) is refused`);
    const keys = q.get("detachKeys");
    const detachKeys = keys ? parseDetachKeys(keys) : undefined; // 400 before the handshake, as dockerd
    const binary = versionAtLeast(ctx.version, "1.28");
    const refused = handshakeError(ctx.req);
    if (refused) {
      ctx.takeUpgrade().socket.end(`HTTP/1.1 ${refused.status}\r\n${refused.extra}\r\n${refused.message}`);
      return;
    }
    const wsServer = await server();
    const { socket, head } = ctx.takeUpgrade();
    const ws = await new Promise<WebSocket>((resolve) => {
      wsServer.handleUpgrade(ctx.req, socket as import("node:net").Socket, head, resolve);
      socket.resume(); // the server pauses upgrade sockets until a handler reads them
    });
    const client = wsStream(ws, binary);
    await cs.attach(id, client, { stdin: true, stdout: true, stderr: true, stream: qBool(q, "stream"), logs: qBool(q, "logs"), unmuxed: true, ...(detachKeys ? { detachKeys } : {}) });
  });
}
