/**
 * The one way berthd opens an outgoing HTTP(S) request (registries, token
 * servers, blob redirects, `docker import URL`, search): through the proxy the
 * environment or daemon.json chose (proxy.ts), with the host's certs.d trust
 * and client certificate (certsd.ts). Made per operation, so certs.d changes
 * apply to the next pull without a restart.
 */
import http from "node:http";
import https from "node:https";
import tls from "node:tls";
import { type HostTls, hostTls } from "./certsd.js";
import { ForwardAgent, type ProxyConfig, ProxySelector, TunnelAgent } from "./proxy.js";

export interface TransportOptions {
  proxies?: ProxyConfig;
  certsDirs?: string[];
}

export interface TransportRequest extends http.RequestOptions {
  /** Skip certificate checks (insecure registries, hosts.toml skip_verify). */
  insecureTls?: boolean;
  /** TLS material to use instead of the URL host's certs.d folder. */
  hostTls?: HostTls;
}

// Agents live as long as the daemon: one per proxy URL, so tunnels are reused (keep-alive).
const tunnelAgents = new Map<string, TunnelAgent>();
const forwardAgents = new Map<string, ForwardAgent>();

function cached<T>(m: Map<string, T>, key: string, make: () => T): T {
  let v = m.get(key);
  if (v === undefined) {
    v = make();
    m.set(key, v);
  }
  return v;
}

export class Transport {
  private readonly selector: ProxySelector;
  private readonly certsDirs: string[];
  private readonly tlsByHost = new Map<string, HostTls>();

  constructor(o: TransportOptions = {}) {
    this.selector = new ProxySelector(o.proxies ?? {});
    this.certsDirs = o.certsDirs ?? [];
  }

  /** The proxy a URL would go through (undefined: direct). */
  proxyFor(url: URL): URL | undefined {
    return this.selector.proxyFor(url);
  }

  private tlsFor(host: string): HostTls {
    return cached(this.tlsByHost, host, () => hostTls(this.certsDirs, host));
  }

  /** http(s).request for `url`, through the proxy if one applies; the caller ends it. */
  request(url: URL, options: TransportRequest, cb: (res: http.IncomingMessage) => void): http.ClientRequest {
    const { insecureTls, hostTls: given, ...rest } = options;
    const proxy = this.selector.proxyFor(url);
    if (url.protocol === "https:") {
      const t = given ?? this.tlsFor(url.host);
      const tlsOpts: https.RequestOptions = {
        ...(t.ca.length > 0 ? { ca: [...tls.rootCertificates, ...t.ca.map((b) => b.toString("utf8"))] } : {}),
        ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
        ...(insecureTls ? { rejectUnauthorized: false } : {}),
      };
      const agent = proxy ? { agent: cached(tunnelAgents, proxy.href, () => new TunnelAgent(proxy)) } : {};
      return https.request(url, { ...rest, ...tlsOpts, ...agent }, cb);
    }
    if (!proxy) return http.request(url, rest, cb);
    const agent = cached(forwardAgents, proxy.href, () => new ForwardAgent(proxy));
    const auth = agent.authorization;
    // Absolute-URI request line (RFC 9112 §3.2.2); the agent's connections go to the proxy.
    return http.request(
      {
        ...rest,
        host: url.hostname,
        port: url.port || 80,
        path: url.href,
        agent,
        headers: { ...(rest.headers as Record<string, string> | undefined), Host: url.host, ...(auth ? { "Proxy-Authorization": auth } : {}) },
      },
      cb,
    );
  }
}

/** Direct connections and no certs.d: what a client without daemon settings uses. */
export const DIRECT = new Transport();
