/**
 * A private reference dockerd (Debian's 20.10) for tests that run the same
 * calls against berthd and dockerd: its own data/exec roots and socket, no
 * bridge, no iptables, an empty daemon.json (never the host's), its own
 * managed containerd under the exec root.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { DOCKER, run } from "./harness.js";

export const DOCKERD = "/usr/sbin/dockerd";

export class RefDockerd {
  readonly dir = mkdtempSync("/tmp/bt-dockerd-");
  readonly sock = path.join(this.dir, "d.sock");
  private proc: ChildProcess | undefined;

  static available(): boolean {
    return existsSync(DOCKERD);
  }

  get host(): string {
    return `unix://${this.sock}`;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, DOCKER_HOST: this.host, DOCKER_CONFIG: path.join(this.dir, "cfg"), BERTH_HOST: undefined };
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const cfg = path.join(this.dir, "daemon.json");
    await fs.writeFile(cfg, "{}\n");
    const log = createWriteStream(path.join(this.dir, "dockerd.log"));
    await new Promise<void>((r) => log.once("open", () => r()));
    const args = ["-H", this.host, "--data-root", path.join(this.dir, "root"), "--exec-root", path.join(this.dir, "exec"), "--pidfile", path.join(this.dir, "pid"), "--config-file", cfg, "--bridge=none", "--iptables=false", "--ip6tables=false"];
    this.proc = spawn(DOCKERD, args, { stdio: ["ignore", log, log], env: { ...process.env, PATH: `${process.env["PATH"] ?? ""}:/usr/sbin:/sbin` } });
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null) throw new Error(`dockerd exited with ${this.proc.exitCode}: ${await this.log()}`);
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`dockerd did not answer within ${timeoutMs} ms: ${await this.log()}`);
  }

  log(): Promise<string> {
    return fs.readFile(path.join(this.dir, "dockerd.log"), "utf8").catch(() => "");
  }

  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = http.request({ socketPath: this.sock, path: "/_ping" }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on("error", () => resolve(false));
      req.end();
    });
  }

  /** Remove every container, stop dockerd (and its containerd), and delete the roots. */
  async destroy(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      const ids = await run(DOCKER, ["ps", "-aq"], { env: this.env }).catch(() => ({ stdout: "" }));
      for (const id of ids.stdout.split("\n").filter(Boolean)) await run(DOCKER, ["rm", "-f", id], { env: this.env }).catch(() => undefined);
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    }
    const mounts = (await fs.readFile("/proc/self/mountinfo", "utf8"))
      .split("\n")
      .map((l) => l.split(" ")[4])
      .filter((m): m is string => m !== undefined && m.startsWith(this.dir))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run("umount", ["-l", m]).catch(() => undefined);
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
