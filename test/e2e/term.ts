/**
 * Helpers for interactive end-to-end tests: a real pseudo-terminal (a tmux pane)
 * running the docker CLI, and raw Engine API calls (plain and hijacked) over
 * the daemon's unix socket.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import net from "node:net";

function tmux(server: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("tmux", ["-L", server, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args.join(" ")}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

let counter = 0;

/** One tmux pane running a command; the pane's last line reports `CLI-EXIT=<code>`. */
export class Terminal {
  static readonly server = `berth-e2e-${process.pid}`;

  private constructor(readonly name: string) {}

  /** Start `command` (a shell command line) in a cols×rows terminal with env added. */
  static async open(command: string, env: Record<string, string>, cols = 100, rows = 30): Promise<Terminal> {
    const name = `t${++counter}`;
    const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await tmux(Terminal.server, ["new-session", "-d", "-s", name, "-x", String(cols), "-y", String(rows), ...envArgs, `${command}; echo CLI-EXIT=$?; sleep 600`]);
    return new Terminal(name);
  }

  /** Type text literally, then Enter. */
  async type(text: string): Promise<void> {
    await tmux(Terminal.server, ["send-keys", "-t", this.name, "-l", text]);
    await tmux(Terminal.server, ["send-keys", "-t", this.name, "Enter"]);
  }

  /** Send tmux key names (C-p, Enter, …), each in its own write as a person types them. */
  async keys(...keys: string[]): Promise<void> {
    for (const k of keys) {
      await tmux(Terminal.server, ["send-keys", "-t", this.name, k]);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  screen(): Promise<string> {
    return tmux(Terminal.server, ["capture-pane", "-p", "-J", "-t", this.name]);
  }

  /** Poll the screen until re matches (bounded); returns the match. */
  async waitFor(re: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    let last = "";
    while (Date.now() < end) {
      last = await this.screen();
      const m = last.match(re);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`terminal ${this.name}: ${re} did not appear within ${ms} ms; screen:\n${last}`);
  }

  /** The CLI's exit code, once it ended. */
  async exitCode(ms = 10_000): Promise<number> {
    return Number((await this.waitFor(/CLI-EXIT=(\d+)/, ms))[1]);
  }

  resize(cols: number, rows: number): Promise<string> {
    return tmux(Terminal.server, ["resize-window", "-t", this.name, "-x", String(cols), "-y", String(rows)]);
  }

  async close(): Promise<void> {
    await tmux(Terminal.server, ["kill-session", "-t", this.name]).catch(() => undefined);
  }

  static async closeAll(): Promise<void> {
    await tmux(Terminal.server, ["kill-server"]).catch(() => undefined);
  }
}

/** A plain Engine API request; the body is parsed as JSON when it is JSON. */
export function api(sock: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { socketPath: sock, method, path, headers: data !== undefined ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = text === "" ? undefined : JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(data);
  });
}

/**
 * A hijacked request (`Upgrade: tcp`, as the CLI sends for attach and exec start):
 * resolves with the status line, headers and the raw socket after them.
 */
export function hijack(sock: string, path: string, body?: unknown): Promise<{ status: number; headers: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(sock);
    const data = body === undefined ? "" : JSON.stringify(body);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`hijack ${path}: no response`));
    }, 15_000);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      clearTimeout(timer);
      s.off("data", onData);
      s.pause();
      const headers = buf.subarray(0, end).toString();
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) s.unshift(rest);
      resolve({ status: Number(headers.split(" ")[1]), headers, socket: s });
    };
    s.on("data", onData);
    s.on("error", reject);
    s.write(
      `POST ${path} HTTP/1.1\r\nHost: api\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n\r\n${data}`,
    );
  });
}

/** Collect a socket's bytes until it ends (bounded); resolves with what arrived and whether it ended. */
export function collect(s: net.Socket, ms: number, until?: RegExp): Promise<{ data: string; ended: boolean }> {
  return new Promise((resolve) => {
    let data = "";
    let done = false;
    const finish = (ended: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.off("data", onData);
      if (!ended) s.pause();
      resolve({ data, ended });
    };
    const onData = (c: Buffer): void => {
      data += c.toString("latin1");
      if (until?.test(data)) finish(false);
    };
    const timer = setTimeout(() => finish(false), ms);
    s.on("data", onData);
    s.once("end", () => finish(true));
    s.once("close", () => finish(true));
    s.resume();
  });
}
