/**
 * Attaching the local terminal to a container: the hijacked attach connection,
 * output demultiplexing to stdout/stderr, stdin forwarding with half-close at
 * EOF, raw terminal mode and window-size propagation for `-t`, and signal
 * forwarding for non-tty sessions (docker's --sig-proxy).
 */
import { spawnSync } from "node:child_process";
import type { Socket } from "node:net";
import type { Client, Hijacked } from "./client.js";
import { copyOutput } from "./client.js";

export interface AttachStreams {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface Attachment {
  socket: Socket;
  /** Resolves when the container's output ends (stdin/stdout/stderr are pumped from the moment of attaching). */
  done: Promise<void>;
  /** Restore the terminal and stop reading stdin. */
  close(): void;
}

/**
 * libuv's raw mode keeps ONLCR, so the container's "\r\n" would reach the screen
 * as "\r\r\n"; docker's raw mode clears output processing. `stty -opost` on the
 * terminal does that; setRawMode(false) later restores the saved settings.
 */
function disableOutputProcessing(): void {
  const fd = process.stdout.isTTY ? 1 : 0;
  try {
    spawnSync("stty", ["-opost"], { stdio: [fd, "ignore", "ignore"], timeout: 2000 });
  } catch {
    // Without stty the output keeps its extra carriage returns.
  }
}

/** The input device must be a terminal when a tty is attached to stdin (docker's check). */
/** Wait for an attachment's output to end (an error is printed as docker prints it), then stop the resize watcher and close it. */
export async function followAttachment(attachment: Attachment, stopResize: () => void): Promise<void> {
  try {
    await attachment.done;
  } catch (e) {
    process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  } finally {
    stopResize();
    attachment.close();
  }
}

export function checkTty(streams: AttachStreams): void {
  if (streams.tty && streams.stdin && !process.stdin.isTTY) throw new Error("the input device is not a TTY");
}

/**
 * POST /containers/{id}/attach with the hijack; call before starting the
 * container. Streaming starts at once: a short-lived container may finish, and
 * the daemon close the connection, before the start request has returned.
 */
export async function attachContainer(client: Client, id: string, s: AttachStreams, detachKeys?: string): Promise<Attachment> {
  const hijacked = await client.hijack("POST", `/containers/${encodeURIComponent(id)}/attach`, {
    query: { stream: true, stdin: s.stdin || undefined, stdout: s.stdout || undefined, stderr: s.stderr || undefined, detachKeys },
  });
  return pumpHijacked(hijacked, s);
}

/** POST /exec/{id}/start with the hijack: the exec process starts and streams at once. */
export async function startExecAttached(client: Client, execId: string, s: AttachStreams, consoleSize: [number, number] | undefined): Promise<Attachment> {
  const hijacked = await client.hijack("POST", `/exec/${encodeURIComponent(execId)}/start`, {
    body: { Detach: false, Tty: s.tty, ...(consoleSize ? { ConsoleSize: consoleSize } : {}) },
  });
  return pumpHijacked(hijacked, s);
}

/** Connect the local stdin/stdout/stderr to a hijacked connection. */
export function pumpHijacked({ socket, contentType }: Hijacked, s: AttachStreams): Attachment {
  socket.setNoDelay(true);
  // The daemon names the framing; without a content type, the container's Tty setting decides.
  // Daemons before API 1.42 always say raw-stream; without "multiplexed" the tty setting decides.
  const mux = contentType.includes("multiplexed") || !s.tty;
  let rawMode = false;
  let stdinListening = false;
  const onData = (d: Buffer) => {
    if (!socket.destroyed) socket.write(d);
  };
  const onEnd = () => {
    // Half-close: the container sees EOF on its stdin, output keeps flowing.
    if (!socket.destroyed) socket.end();
  };

  const close = () => {
    if (stdinListening) {
      process.stdin.off("data", onData);
      process.stdin.off("end", onEnd);
      process.stdin.pause();
      stdinListening = false;
    }
    if (rawMode && process.stdin.isTTY) {
      process.stdin.setRawMode(false);
      rawMode = false;
    }
  };

  socket.on("error", () => undefined);
  const run = async (): Promise<void> => {
    if (s.stdin) {
      if (s.tty && process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        rawMode = true;
        disableOutputProcessing();
      }
      process.stdin.on("data", onData);
      process.stdin.on("end", onEnd);
      stdinListening = true;
      process.stdin.resume();
    }
    try {
      if (s.stdout || s.stderr) {
        await copyOutput(socket, { mux, stdout: process.stdout, stderr: process.stderr });
      } else {
        await new Promise<void>((resolve) => {
          socket.on("close", () => resolve());
          socket.resume();
        });
      }
    } finally {
      close();
    }
  };

  const done = run();
  done.catch(() => undefined);
  return { socket, done, close };
}

/** Send the terminal size now and on every SIGWINCH; returns a function that stops. */
export function monitorTtySize(client: Client, id: string, kind: "containers" | "exec" = "containers"): () => void {
  const out = process.stdout;
  if (!out.isTTY) return () => undefined;
  const resize = async (): Promise<void> => {
    const h = out.rows;
    const w = out.columns;
    if (!h || !w) return;
    try {
      await client.post(`/${kind}/${encodeURIComponent(id)}/resize`, { h, w });
    } catch {
      // Resizing is best effort (the process may have exited already).
    }
  };
  void resize();
  const onWinch = () => void resize();
  process.on("SIGWINCH", onWinch);
  return () => process.off("SIGWINCH", onWinch);
}

const PROXIED_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** Forward the signals the CLI receives to the container (docker's --sig-proxy). */
export function forwardSignals(client: Client, id: string): () => void {
  const handlers = PROXIED_SIGNALS.map((sig) => {
    const h = () => {
      client.post(`/containers/${encodeURIComponent(id)}/kill`, { signal: sig }).catch((e: unknown) => {
        process.stderr.write(`error sending signal ${sig}: ${e instanceof Error ? e.message : String(e)}\n`);
      });
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  return () => {
    for (const [sig, h] of handlers) process.off(sig, h);
  };
}
