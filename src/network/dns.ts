/**
 * Name resolution between containers on user-defined networks, served by
 * Debian's aardvark-dns (the resolver netavark/podman use): one process per
 * daemon, configured by one file per network in `<exec-root>/network/dns/`,
 * listening on each network's gateway address, port 53. It is a separate
 * process, so containers keep resolving names while berthd restarts.
 *
 * Config format (aardvark-dns 1.x): first line the gateway address(es) [and
 * network DNS servers]; then one line per container:
 *   <id> <ipv4> <ipv6> <name,alias,...> [dns servers]
 * A SIGHUP makes it re-read the directory; with no files left it exits.
 */
import { spawn } from "node:child_process";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { errnoCode, messageOf } from "../util/errors.js";
import { ensureDir } from "../util/fsutil.js";
import { parseIPv4 } from "./ipnet.js";

export interface DnsEntry {
  id: string;
  ip: string;
  /** IPv6 networks: answered to AAAA queries. */
  ip6?: string;
  names: string[];
  dnsServers?: string[];
}

export interface DnsNetwork {
  name: string;
  gateway: string;
  entries: DnsEntry[];
}

const CANDIDATES = ["/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns", "/usr/local/libexec/podman/aardvark-dns", "/usr/local/lib/podman/aardvark-dns"];

/** The aardvark-dns binary, if installed. */
export function findAardvark(): string | undefined {
  for (const c of CANDIDATES) if (existsSync(c)) return c;
  for (const d of (process.env["PATH"] ?? "").split(":")) if (d && existsSync(path.join(d, "aardvark-dns"))) return path.join(d, "aardvark-dns");
  return undefined;
}

const NAME_OK = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function renderConfig(n: DnsNetwork): string {
  const lines = [n.gateway];
  for (const e of n.entries) {
    const names = [...new Set(e.names.filter((x) => NAME_OK.test(x)).map((x) => x.toLowerCase()))];
    if (names.length === 0) continue;
    const dns = (e.dnsServers ?? []).filter((s) => parseIPv4(s) !== undefined);
    lines.push(`${e.id} ${e.ip} ${e.ip6 ?? ""} ${names.join(",")}${dns.length > 0 ? ` ${dns.join(",")}` : ""}`);
  }
  return `${lines.join("\n")}\n`;
}

/** "a.b.c.d" → the hex form of /proc/net/udp's local_address (little-endian hosts). */
function procHex(ip: string, port: number): string {
  const b = ip.split(".").map((x) => Number(x).toString(16).padStart(2, "0").toUpperCase());
  const le = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
  const ipHex = le ? [b[3], b[2], b[1], b[0]].join("") : b.join("");
  return `${ipHex}:${port.toString(16).padStart(4, "0").toUpperCase()}`;
}

/** UDP sockets bound on the host: local "HEXIP:PORT" → inode. */
async function udpSockets(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const text = await fs.readFile("/proc/net/udp", "utf8").catch(() => "");
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[1]) out.set(f[1], f[9] ?? "");
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Aardvark {
  private chain: Promise<void> = Promise.resolve();
  /** Gateways aardvark-dns failed to bind once (something else holds port 53 there): not waited for again. */
  private readonly unbindable = new Set<string>();
  private written = new Map<string, string>();

  constructor(
    readonly dir: string,
    readonly bin: string | undefined,
    private readonly warn: (msg: string) => void,
    readonly port = 53,
  ) {}

  get available(): boolean {
    return this.bin !== undefined;
  }

  /** The running server's pid, if any. */
  async pid(): Promise<number | undefined> {
    const text = await fs.readFile(path.join(this.dir, "aardvark.pid"), "utf8").catch(() => "");
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    return cmd.includes("aardvark-dns") && cmd.includes(this.dir) ? pid : undefined;
  }

  /** Make the server answer for exactly these networks (serialized; waits until it serves them). */
  update(nets: DnsNetwork[]): Promise<void> {
    const next = this.chain.then(() => this.doUpdate(nets));
    // The chain only orders updates: each caller gets its own update's failure.
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async doUpdate(nets: DnsNetwork[]): Promise<void> {
    if (!this.bin) return;
    await ensureDir(this.dir, 0o700); // root only (aardvark-dns runs as root); tightens an older 0755
    const wanted = new Map<string, string>();
    for (const n of nets) if (n.entries.length > 0) wanted.set(n.name, renderConfig(n));
    const present = (await fs.readdir(this.dir)).filter((f) => f !== "aardvark.pid" && !f.startsWith("."));
    let changed = false;
    for (const f of present) {
      if (!wanted.has(f)) {
        await fs.rm(path.join(this.dir, f), { force: true });
        changed = true;
      }
    }
    for (const [name, text] of wanted) {
      const file = path.join(this.dir, name);
      if (this.written.get(name) === text && present.includes(name)) continue;
      const tmp = path.join(this.dir, `.${name}.tmp`);
      await fs.writeFile(tmp, text);
      await fs.rename(tmp, file);
      changed = true;
    }
    this.written = wanted;
    const pid = await this.pid();
    if (!changed && (pid !== undefined || wanted.size === 0)) return;
    const gateways = nets.filter((n) => n.entries.length > 0).map((n) => procHex(n.gateway, this.port));
    if (pid !== undefined) {
      const before = await udpSockets();
      try {
        process.kill(pid, "SIGHUP");
      } catch (e) {
        if (errnoCode(e) !== "ESRCH") throw e;
      }
      // With no networks left it may stay up, idle: nothing waits on it (a later network reuses it).
      if (wanted.size === 0) return;
      // aardvark-dns re-reads its config on SIGHUP and keeps the sockets it has: wait only for
      // gateways it was not serving yet (a new network), not for a rebind that never comes.
      await this.waitBound(gateways.filter((g) => before.get(g) === undefined), new Set());
      return;
    }
    if (wanted.size === 0) return;
    await this.start();
    await this.waitBound(gateways, new Set());
  }

  private start(): Promise<void> {
    const bin = this.bin as string;
    return new Promise((resolve, reject) => {
      // aardvark-dns forks: the parent exits once the server is about to serve.
      const child = spawn(bin, ["--config", this.dir, "-p", String(this.port), "run"], { stdio: ["ignore", "ignore", "pipe"], detached: true });
      let err = "";
      child.stderr.on("data", (b: Buffer) => (err += b.toString()));
      child.on("error", reject);
      child.on("close", (code) => {
        if (code === 0) resolve();
        else reject(new Error(`aardvark-dns exited with ${code}: ${err.replace(/failed to connect to syslog[^\n]*\n?/g, "").trim()}`));
      });
    });
  }

  /** Until every gateway socket is bound by a fresh socket (inode not in `old`), at most ~1 s. */
  private async waitBound(all: string[], old: Set<string>): Promise<void> {
    const gateways = all.filter((g) => !this.unbindable.has(g));
    for (let i = 0; i < 200; i++) {
      const now = await udpSockets();
      if (gateways.every((g) => {
        const ino = now.get(g);
        return ino !== undefined && !old.has(ino);
      })) return;
      await sleep(5);
    }
    const now = await udpSockets();
    const missing = gateways.filter((g) => now.get(g) === undefined);
    for (const g of missing) this.unbindable.add(g);
    this.warn(`aardvark-dns did not bind ${gateways.join(", ")} in time`);
  }

  private async waitGone(pid: number): Promise<void> {
    for (let i = 0; i < 200; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await sleep(5);
    }
  }

  /** Stop the server and drop its configuration. */
  async stop(): Promise<void> {
    await this.chain;
    const pid = await this.pid();
    if (pid !== undefined) {
      try {
        process.kill(pid, "SIGTERM");
      } catch (e) {
        this.warn(`stopping aardvark-dns: ${messageOf(e)}`);
      }
      await this.waitGone(pid);
    }
    this.written.clear();
  }
}

/**
 * aardvark-dns servers left by daemons whose exec-root is gone (a test's temp
 * directory removed): their pids, found by command line.
 */
export async function strayAardvarks(): Promise<number[]> {
  const out: number[] = [];
  for (const p of await fs.readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await fs.readFile(`/proc/${p}/cmdline`, "utf8").catch(() => "");
    if (!cmd.includes("aardvark-dns")) continue;
    const args = cmd.split("\0");
    const i = args.indexOf("--config");
    const dir = i >= 0 ? args[i + 1] : undefined;
    if (!dir || !dir.includes("/network/dns")) continue;
    if (!existsSync(dir)) out.push(Number(p));
  }
  return out;
}
