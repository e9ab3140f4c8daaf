/**
 * The exec terminal: a browser WebSocket bridged to a hijacked `exec -it` (a shell with a TTY) on the
 * Engine API. Binary frames carry the terminal's bytes both ways; a text frame
 * `{"type":"resize","cols":C,"rows":R}` resizes the TTY (POST /exec/{id}/resize).
 */
import type { WebSocket } from "ws";
import type { Upstream } from "./upstream.js";

const SHELL = ["/bin/sh"];

function size(v: string | null, fallback: number): number {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 && n < 10000 ? n : fallback;
}

export async function bridgeExec(ws: WebSocket, up: Upstream, container: string, query: URLSearchParams): Promise<void> {
  const cols = size(query.get("cols"), 80);
  const rows = size(query.get("rows"), 24);
  let execId: string;
  try {
    const created = await up.json<{ Id: string }>("POST", `/containers/${encodeURIComponent(container)}/exec`, {
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: true,
      Cmd: SHELL,
      Env: ["TERM=xterm-256color"],
      ConsoleSize: [rows, cols],
    });
    execId = created.Id;
  } catch (e) {
    ws.close(1011, (e instanceof Error ? e.message : String(e)).slice(0, 120));
    return;
  }
  const socket = await up.hijack(`/exec/${execId}/start`, { Detach: false, Tty: true, ConsoleSize: [rows, cols] }).catch((e: unknown) => {
    ws.close(1011, (e instanceof Error ? e.message : String(e)).slice(0, 120));
    return undefined;
  });
  if (!socket) return;
  // The page may have gone while the exec started: its shell must not stay behind.
  if (ws.readyState !== ws.OPEN) {
    socket.destroy();
    return;
  }
  socket.on("data", (b: Buffer) => {
    if (ws.readyState === ws.OPEN) ws.send(b, { binary: true });
  });
  socket.on("close", () => ws.close(1000, "exited"));
  socket.on("error", () => ws.close(1011, "connection to the engine failed"));
  // Input and resizes in the order the browser sent them: keys typed after a resize reach the shell
  // only once the TTY has its new size.
  let order: Promise<unknown> = Promise.resolve();
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      order = order.then(() => socket.write(data));
      return;
    }
    let m: { type?: string; cols?: unknown; rows?: unknown };
    try {
      m = JSON.parse(data.toString("utf8")) as typeof m;
    } catch {
      return; // not a control message: ignored
    }
    const c = size(String(m.cols), 0);
    const r = size(String(m.rows), 0);
    if (m.type === "resize" && c > 0 && r > 0) order = order.then(() => up.json("POST", `/exec/${execId}/resize?h=${r}&w=${c}`).catch(() => undefined));
  });
  ws.on("close", () => socket.destroy());
}
