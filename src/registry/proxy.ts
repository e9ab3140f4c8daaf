/**
 * Outgoing proxies for everything berthd fetches (registries, token servers,
 * `docker import URL`, search), chosen as Go's net/http/httpproxy chooses them,
 * since dockerd uses it: HTTP_PROXY for http:// URLs, HTTPS_PROXY for https://
 * (upper case first, then lower case), NO_PROXY with hosts, `.domain` /
 * `*.domain` suffixes, `host:port`, IPs, CIDRs and `*`; loopback names and IPs
 * never go through a proxy. https goes through a CONNECT tunnel, http as an
 * absolute-URI request to the proxy; the proxy URL's userinfo becomes
 * Proxy-Authorization: Basic.
 *
 * Hand-written: the client is built on node:http/https agents (undici's
 * ProxyAgent only serves fetch), and the maintained agent packages would be a
 * new dependency for two small agents (~60 lines) whose errors must read as Go's.
 */
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import type { Duplex } from "node:stream";
import { EngineError } from "../util/errors.js";

/** The daemon's proxy settings (daemon.json `proxies`, or the environment). */
export interface ProxyConfig {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

/** HTTP_PROXY/HTTPS_PROXY/NO_PROXY, upper case winning over lower case, as Go reads them. */
export function proxyConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  const any = (...names: string[]): string | undefined => {
    for (const n of names) {
      const v = env[n];
      if (v !== undefined && v !== "") return v;
    }
    return undefined;
  };
  const out: ProxyConfig = {};
  const h = any("HTTP_PROXY", "http_proxy");
  const s = any("HTTPS_PROXY", "https_proxy");
  const n = any("NO_PROXY", "no_proxy");
  if (h !== undefined) out.httpProxy = h;
  if (s !== undefined) out.httpsProxy = s;
  if (n !== undefined) out.noProxy = n;
  return out;
}

/** dockerd's maskCredentials: any userinfo shows as xxxxx:xxxxx (docker info). */
export function maskProxyCredentials(raw: string | undefined): string {
  if (raw === undefined || raw === "") return "";
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return raw;
  }
  if (u.username === "" && u.password === "" && !raw.includes("@")) return raw;
  u.username = "xxxxx";
  u.password = "xxxxx";
  const s = u.toString();
  // URL adds "/" to a bare authority; Go's String() does not.
  return raw.endsWith("/") || u.pathname !== "/" ? s : s.replace(/\/$/, "");
}

/** Go's parseProxy: a value without a scheme is an http:// proxy. */
export function parseProxyUrl(raw: string): URL {
  try {
    const u = new URL(raw);
    if (u.host !== "" && /^[a-z][a-z0-9+.-]*:$/i.test(u.protocol) && raw.includes("://")) return u;
  } catch {
    // fall through
  }
  try {
    return new URL(`http://${raw}`);
  } catch {
    throw new EngineError("invalid", `invalid proxy address "${raw}"`);
  }
}

type Matcher = (host: string, port: string, ip: string | undefined) => boolean;

function splitHostPort(s: string): { host: string; port: string } | undefined {
  if (s.startsWith("[")) {
    const m = /^\[([^\]]*)\]:(\d*)$/.exec(s);
    return m ? { host: m[1] as string, port: m[2] as string } : undefined;
  }
  const i = s.lastIndexOf(":");
  if (i < 0 || s.indexOf(":") !== i) return undefined;
  return { host: s.slice(0, i), port: s.slice(i + 1) };
}

function ipBytes(ip: string): Buffer | undefined {
  if (net.isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!net.isIPv6(ip)) return undefined;
  let text = ip.replace(/%.*$/, "");
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = (v4[1] as string).split(".").map(Number);
    text = `${text.slice(0, -(v4[1] as string).length)}${(((b[0] as number) << 8) | (b[1] as number)).toString(16)}:${(((b[2] as number) << 8) | (b[3] as number)).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  const groups = tail === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill("0"), ...ts];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** A v4-mapped v6 address compares as its v4 address, as in Go. */
function norm(b: Buffer): Buffer {
  if (b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return b.subarray(12);
  return b;
}

function inCidr(ip: Buffer, base: Buffer, bits: number): boolean {
  if (ip.length !== base.length) return false;
  for (let i = 0; i < ip.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    const mask = take === 0 ? 0 : (0xff << (8 - take)) & 0xff;
    if (((ip[i] as number) & mask) !== ((base[i] as number) & mask)) return false;
  }
  return true;
}

const isLoopback = (ip: Buffer): boolean => (ip.length === 4 ? ip[0] === 127 : ip.equals(Buffer.from([...Array(15).fill(0), 1])));

/** Which URLs go through which proxy: one ProxyConfig, its NO_PROXY compiled once. */
export class ProxySelector {
  private readonly http: URL | undefined;
  private readonly https: URL | undefined;
  private readonly ipMatchers: Matcher[] = [];
  private readonly domainMatchers: Matcher[] = [];

  constructor(readonly config: ProxyConfig) {
    this.http = config.httpProxy ? parseProxyUrl(config.httpProxy) : undefined;
    this.https = config.httpsProxy ? parseProxyUrl(config.httpsProxy) : undefined;
    for (const raw of (config.noProxy ?? "").split(",")) {
      let phrase = raw.trim().toLowerCase();
      if (phrase === "") continue;
      if (phrase === "*") {
        this.ipMatchers.length = 0;
        this.domainMatchers.length = 0;
        this.domainMatchers.push(() => true);
        return;
      }
      const cidr = /^(.+)\/(\d{1,3})$/.exec(phrase);
      const cidrBase = cidr ? ipBytes(cidr[1] as string) : undefined;
      if (cidr && cidrBase) {
        const base = norm(cidrBase);
        const bits = Number(cidr[2]) - (cidrBase.length === 16 && base.length === 4 ? 96 : 0);
        this.ipMatchers.push((_h, _p, ip) => ip !== undefined && inCidr(norm(ipBytes(ip) as Buffer), base, bits));
        continue;
      }
      let port = "";
      const hp = splitHostPort(phrase);
      if (hp) {
        if (hp.host === "") continue;
        phrase = hp.host;
        port = hp.port;
      }
      const asIp = ipBytes(phrase);
      if (asIp) {
        const want = norm(asIp);
        this.ipMatchers.push((_h, p, ip) => ip !== undefined && norm(ipBytes(ip) as Buffer).equals(want) && (port === "" || port === p));
        continue;
      }
      if (phrase.startsWith("*.")) phrase = phrase.slice(1);
      let matchHost = false;
      if (!phrase.startsWith(".")) {
        matchHost = true;
        phrase = `.${phrase}`;
      }
      const suffix = phrase;
      this.domainMatchers.push((h, p) => (h.endsWith(suffix) || (matchHost && h === suffix.slice(1))) && (port === "" || port === p));
    }
  }

  /** The proxy for this URL, or undefined for a direct connection. */
  proxyFor(url: URL): URL | undefined {
    const proxy = url.protocol === "https:" ? this.https : url.protocol === "http:" ? this.http : undefined;
    if (proxy === undefined) return undefined;
    return this.useProxy(url) ? proxy : undefined;
  }

  private useProxy(url: URL): boolean {
    const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
    const port = url.port || (url.protocol === "https:" ? "443" : "80");
    if (host === "localhost") return false;
    const ipb = ipBytes(host);
    if (ipb && isLoopback(norm(ipb))) return false;
    const ip = ipb ? host : undefined;
    if (ip !== undefined && this.ipMatchers.some((m) => m(host, port, ip))) return false;
    return !this.domainMatchers.some((m) => m(host, port, ip));
  }
}

function proxyAuth(proxy: URL): string | undefined {
  if (proxy.username === "" && proxy.password === "") return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString("base64")}`;
}

/** A connection to the proxy itself (TLS for an https:// proxy), errors worded as Go's "proxyconnect tcp: …". */
function dialProxy(proxy: URL): Promise<net.Socket> {
  const port = Number(proxy.port || (proxy.protocol === "https:" ? 443 : 80));
  const host = proxy.hostname.replace(/^\[|\]$/g, "");
  if (proxy.protocol !== "http:" && proxy.protocol !== "https:") {
    return Promise.reject(new EngineError("invalid", `proxyconnect tcp: unsupported proxy scheme "${proxy.protocol.slice(0, -1)}" (http and https proxies are supported)`));
  }
  return new Promise((resolve, reject) => {
    const sock: net.Socket = proxy.protocol === "https:" ? tls.connect({ host, port, servername: net.isIP(host) ? "" : host }) : net.connect({ host, port });
    const ready = proxy.protocol === "https:" ? "secureConnect" : "connect";
    const onErr = (e: Error & { code?: string }): void => {
      const addr = `${host.includes(":") ? `[${host}]` : host}:${port}`;
      const why = e.code === "ECONNREFUSED" ? "connect: connection refused" : e.code === "ENOTFOUND" ? `lookup ${host}: no such host` : e.message;
      reject(new EngineError("unavailable", `proxyconnect tcp: dial tcp ${addr}: ${why}`));
    };
    sock.once("error", onErr);
    sock.once(ready, () => {
      sock.off("error", onErr);
      resolve(sock);
    });
  });
}

/** CONNECT host:port through the proxy; the raw tunnel once the proxy said 200. */
export async function connectTunnel(proxy: URL, host: string, port: number): Promise<net.Socket> {
  const sock = await dialProxy(proxy);
  const authority = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const auth = proxyAuth(proxy);
  sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ""}\r\n`);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const fail = (e: Error): void => {
      cleanup();
      sock.destroy();
      reject(e);
    };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > 16 << 10) fail(new EngineError("unavailable", "proxyconnect: proxy answer too long"));
        return;
      }
      cleanup();
      const status = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?/.exec(buf.subarray(0, end).toString("latin1"));
      if (!status || status[1] !== "200") {
        sock.destroy();
        // Go's wording: the status text alone ("Proxy Authentication Required").
        reject(new EngineError(status?.[1] === "407" ? "unauthorized" : "unavailable", status ? (status[2] ?? `status ${status[1]}`) : "malformed proxy answer"));
        return;
      }
      const rest = buf.subarray(end + 4);
      if (rest.length > 0) sock.unshift(rest);
      resolve(sock);
    };
    // Go's wording when the proxy hangs up before answering.
    const onClose = (): void => fail(new EngineError("unavailable", "unexpected EOF"));
    const cleanup = (): void => {
      sock.off("data", onData);
      sock.off("error", fail);
      sock.off("close", onClose);
    };
    sock.on("data", onData);
    sock.on("error", fail);
    sock.on("close", onClose);
  });
}

type Callback = (err: Error | null, stream: Duplex) => void;

/** https:// through a proxy: each new connection is a CONNECT tunnel, TLS to the origin inside it. */
export class TunnelAgent extends https.Agent {
  constructor(private readonly proxy: URL) {
    super({ keepAlive: true, timeout: 60_000 });
  }

  override createConnection(options: tls.ConnectionOptions & { host?: string; port?: number }, cb?: Callback): Duplex {
    const host = (options.host ?? "localhost").replace(/^\[|\]$/g, "");
    connectTunnel(this.proxy, host, Number(options.port ?? 443)).then(
      (raw) => {
        const { host: _h, port: _p, path: _path, ...rest } = options as tls.ConnectionOptions & { host?: string; port?: number; path?: string };
        cb?.(null, tls.connect({ ...rest, socket: raw }));
      },
      (e: unknown) => cb?.(e as Error, undefined as unknown as Duplex),
    );
    return undefined as unknown as Duplex;
  }
}

/** http:// through a proxy: connections go to the proxy; requests carry the absolute URI (see requestViaProxy). */
export class ForwardAgent extends http.Agent {
  constructor(private readonly proxy: URL) {
    super({ keepAlive: true, timeout: 60_000 });
  }

  override createConnection(_options: net.NetConnectOpts, cb?: Callback): Duplex {
    dialProxy(this.proxy).then(
      (s) => cb?.(null, s),
      (e: unknown) => cb?.(e as Error, undefined as unknown as Duplex),
    );
    return undefined as unknown as Duplex;
  }

  /** The header that authenticates each forwarded request. */
  get authorization(): string | undefined {
    return proxyAuth(this.proxy);
  }
}
