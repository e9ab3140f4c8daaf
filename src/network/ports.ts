/**
 * Published ports: Docker's PortBindings / ExposedPorts / PublishAllPorts turned
 * into concrete host ports. berthd reserves each host port by binding it itself
 * (as dockerd does), so a port held by a host process or another engine fails
 * cleanly; traffic never reaches these sockets — the kernel's DNAT takes it to
 * the container first.
 */
import dgram from "node:dgram";
import { readFileSync } from "node:fs";
import net from "node:net";
import { EngineError, errnoCode, invalid, messageOf } from "../util/errors.js";
import { parseIPv4 } from "./ipnet.js";

export type Proto = "tcp" | "udp" | "sctp";

export interface PortBinding {
  HostIp?: string | null;
  HostPort?: string | null;
}

/** What a container asks for: one container port, a host address, and a host port range (0-0 = any). */
export interface PortRequest {
  proto: Proto;
  containerPort: number;
  hostIp: string;
  hostPortStart: number;
  hostPortEnd: number;
}

/** A mapping in force. */
export interface PortMapping {
  proto: Proto;
  containerPort: number;
  hostIp: string;
  hostPort: number;
}

/** "80/tcp" → [80, "tcp"]; "53/udp"; "80" means tcp. */
export function parsePortKey(key: string): { port: number; proto: Proto } {
  const m = key.match(/^(\d+)(?:\/(tcp|udp|sctp))?$/i);
  const port = m ? Number(m[1]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw invalid(`invalid port specification: "${key}"`);
  return { port, proto: ((m[2] ?? "tcp").toLowerCase() as Proto) };
}

function parseHostPort(s: string, key: string): [number, number] {
  if (s === "" || s === "0") return [0, 0];
  const m = s.match(/^(\d+)(?:-(\d+))?$/);
  const a = m ? Number(m[1]) : NaN;
  const b = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || !(a >= 1 && a <= 65535 && b >= a && b <= 65535)) throw invalid(`invalid port specification: "${s}" for ${key}`);
  return [a, b];
}

/** The container's port requests, in Docker's order (sorted by port, then protocol). */
export function portRequests(exposed: Record<string, unknown> | undefined, bindings: Record<string, PortBinding[] | null | undefined> | undefined, publishAll: boolean): PortRequest[] {
  const keys = new Set<string>([...Object.keys(exposed ?? {}), ...Object.keys(bindings ?? {})]);
  const sorted = [...keys].map((k) => ({ k, ...parsePortKey(k) })).sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
  const out: PortRequest[] = [];
  for (const { k, port, proto } of sorted) {
    const bs = bindings?.[k];
    if (bs && bs.length > 0) {
      for (const b of bs) {
        const hostIp = b.HostIp || "0.0.0.0";
        if (parseIPv4(hostIp) === undefined) {
          if (hostIp.includes(":")) continue; // IPv6 host addresses: no IPv6 NAT here (Docker would use docker-proxy)
          throw invalid(`invalid IP address in port binding: ${hostIp}`);
        }
        const [s, e] = parseHostPort(b.HostPort ?? "", k);
        out.push({ proto, containerPort: port, hostIp, hostPortStart: s, hostPortEnd: e });
      }
    } else if (publishAll) {
      out.push({ proto, containerPort: port, hostIp: "0.0.0.0", hostPortStart: 0, hostPortEnd: 0 });
    }
  }
  return out;
}

/** The kernel's ephemeral port range, which Docker uses for unspecified host ports. */
export function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (a && b && a <= b) return [a, b];
  } catch {
    // fall through
  }
  return [32768, 60999];
}

type Holder = { close(): unknown };

function holdTcp(ip: string, port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer((c) => c.destroy());
    s.once("error", reject);
    s.listen({ host: ip, port, exclusive: true, backlog: 1 }, () => {
      s.off("error", reject);
      s.on("error", () => undefined);
      s.unref();
      resolve(s);
    });
  });
}

function holdUdp(ip: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: "udp4", reuseAddr: false });
    s.once("error", reject);
    s.bind({ address: ip, port, exclusive: true }, () => {
      s.off("error", reject);
      s.on("error", () => undefined);
      s.on("message", () => undefined);
      s.unref();
      resolve(s);
    });
  });
}

function key(proto: string, ip: string, port: number): string {
  return `${proto}/${ip}/${port}`;
}

function overlapsKey(proto: string, ip: string, port: number, taken: Set<string>): string | undefined {
  // 0.0.0.0:P conflicts with every a.b.c.d:P and the other way round.
  for (const k of taken) {
    const [p, i, n] = k.split("/");
    if (p === proto && Number(n) === port && (i === ip || i === "0.0.0.0" || ip === "0.0.0.0")) return k;
  }
  return undefined;
}

/** Host port reservations of one daemon. */
export class PortReservations {
  private readonly held = new Map<string, Holder>();
  /** Where the next ephemeral search starts, per protocol (Docker's allocator is per protocol). */
  private readonly next = new Map<string, number>();

  /** Allocate and reserve host ports for `reqs` (all or nothing); `containerIp` is for Docker's error message. */
  async reserve(reqs: PortRequest[], containerIp: string): Promise<PortMapping[]> {
    const done: PortMapping[] = [];
    try {
      for (const r of reqs) done.push(await this.reserveOne(r, containerIp));
      return done;
    } catch (e) {
      this.release(done);
      throw e;
    }
  }

  private async reserveOne(r: PortRequest, containerIp: string): Promise<PortMapping> {
    const taken = new Set(this.held.keys());
    if (r.hostPortStart !== 0) {
      let lastErr: unknown;
      for (let p = r.hostPortStart; p <= r.hostPortEnd; p++) {
        if (overlapsKey(r.proto, r.hostIp, p, taken)) {
          lastErr = new EngineError("conflict", `Bind for ${r.hostIp}:${p} failed: port is already allocated`);
          continue;
        }
        try {
          await this.hold(r.proto, r.hostIp, p);
          return { proto: r.proto, containerPort: r.containerPort, hostIp: r.hostIp, hostPort: p };
        } catch (e) {
          lastErr = bindError(r, p, containerIp, e);
        }
      }
      if (r.hostPortStart !== r.hostPortEnd && lastErr instanceof EngineError && /already allocated/.test(lastErr.message)) {
        throw new EngineError("conflict", `Bind for ${r.hostIp}:${r.hostPortStart}-${r.hostPortEnd} failed: port is already allocated`);
      }
      throw lastErr;
    }
    const [lo, hi] = ephemeralRange();
    const span = hi - lo + 1;
    let start = this.next.get(r.proto) ?? lo;
    if (start < lo || start > hi) start = lo;
    for (let i = 0; i < span; i++) {
      const p = lo + ((start - lo + i) % span);
      if (overlapsKey(r.proto, r.hostIp, p, taken)) continue;
      try {
        await this.hold(r.proto, r.hostIp, p);
        this.next.set(r.proto, p + 1);
        return { proto: r.proto, containerPort: r.containerPort, hostIp: r.hostIp, hostPort: p };
      } catch {
        // taken by a host process: try the next one
      }
    }
    throw new EngineError("conflict", `no available host port for ${r.containerPort}/${r.proto} in range ${lo}-${hi}`);
  }

  private async hold(proto: Proto, ip: string, port: number): Promise<void> {
    // SCTP has no socket API in Node: the allocation table alone guards it.
    const h: Holder | undefined = proto === "tcp" ? await holdTcp(ip, port) : proto === "udp" ? await holdUdp(ip, port) : undefined;
    this.held.set(key(proto, ip, port), h ?? { close: () => undefined });
  }

  /** Take over mappings of containers still running after a daemon restart (best effort). */
  async adopt(ms: PortMapping[]): Promise<string[]> {
    const failures: string[] = [];
    for (const m of ms) {
      if (this.held.has(key(m.proto, m.hostIp, m.hostPort))) continue;
      await this.hold(m.proto, m.hostIp, m.hostPort).catch((e: unknown) => failures.push(`${m.hostIp}:${m.hostPort}/${m.proto}: ${messageOf(e)}`));
    }
    return failures;
  }

  release(ms: PortMapping[]): void {
    for (const m of ms) {
      const k = key(m.proto, m.hostIp, m.hostPort);
      const h = this.held.get(k);
      this.held.delete(k);
      if (h) h.close();
    }
  }

  releaseAll(): void {
    for (const h of this.held.values()) h.close();
    this.held.clear();
  }

  get size(): number {
    return this.held.size;
  }
}

function bindError(r: PortRequest, port: number, containerIp: string, e: unknown): EngineError {
  const code = errnoCode(e);
  const why = code === "EADDRINUSE" ? "address already in use" : code === "EADDRNOTAVAIL" ? "cannot assign requested address" : messageOf(e);
  return new EngineError("conflict", `failed to bind host port for ${r.hostIp}:${port}:${containerIp}:${r.containerPort}/${r.proto}: ${why}`);
}
