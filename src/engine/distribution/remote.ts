/**
 * How this daemon reaches registries (shared by pull, push, login, search and
 * inspect): its insecure registries, mirrors, certs.d and proxies, one client
 * per operation, and a first contact that fails fast with Go's error text.
 */
import { EngineError, messageOf } from "../../util/errors.js";
import {
  type ProxyConfig,
  type RegistryEndpoint,
  RegistryClient,
  RegistryHttpError,
  Transport,
  isInsecureRegistry,
  originEndpoint,
  parseRegistryAuth,
  registryEndpointHost,
} from "../../registry/index.js";
import { GO_METHOD, describeNetError } from "./errors.js";
import { linkedAbort } from "./transfer.js";

/** How long the first contact with a registry may take (no internet: fail fast). */
export const PING_TIMEOUT_MS = 15_000;

export interface RemoteOptions {
  /** dockerd's --insecure-registry: hosts or CIDRs reachable over plain HTTP. */
  insecureRegistries?: string[];
  /** Docker Hub mirrors ("http://host:port/"), tried before docker.io for pulls. */
  registryMirrors?: string[];
  /** Outgoing proxies (the environment's, or daemon.json's). */
  proxies?: ProxyConfig;
  /** certs.d folders: per-registry TLS and hosts.toml (first with a folder for the host wins). */
  certsDirs?: string[];
}

/** The options are read at each use: a reload that changes them takes effect at the next operation. */
export class Remote {
  constructor(private readonly o: RemoteOptions) {}

  get insecure(): string[] {
    return this.o.insecureRegistries ?? [];
  }

  get hosts(): { registryMirrors: string[]; certsDirs: string[] } {
    return { registryMirrors: this.o.registryMirrors ?? [], certsDirs: this.o.certsDirs ?? [] };
  }

  /** Connections of one operation: proxies, certs.d (read afresh, so changes need no restart). */
  transport(): Transport {
    return new Transport({ proxies: this.o.proxies ?? {}, certsDirs: this.o.certsDirs ?? [] });
  }

  client(host: string, auth: string | undefined, signal?: AbortSignal, timeoutMs?: number, ep: RegistryEndpoint = originEndpoint(this.hosts, host)): RegistryClient {
    const creds = parseRegistryAuth(auth);
    const { serveraddress: _s, ...credentials } = creds ?? {};
    return new RegistryClient({
      host,
      ...(creds ? { credentials } : {}),
      insecureRegistries: this.insecure,
      userAgent: "docker/28.0.0 go/go1.23 (berth)",
      transport: this.transport(),
      endpoint: ep,
      ...(signal ? { signal } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  }

  pingUrl(host: string, ep?: RegistryEndpoint): string {
    if (ep?.fixedScheme) return `${ep.base.protocol}//${ep.base.host}${ep.apiPath}/`;
    const h = registryEndpointHost(host);
    return `${isInsecureRegistry(h, this.insecure) ? "http" : "https"}://${h}/v2/`;
  }

  /**
   * First contact (GET /v2/) with a short deadline: an unreachable registry
   * (docker.io without internet) fails fast with Go's error text. Auth
   * challenges are left to the real requests.
   */
  async reach(host: string, auth: string | undefined, signal?: AbortSignal, ep?: RegistryEndpoint): Promise<void> {
    const { ac, release } = linkedAbort(signal);
    const timer = setTimeout(() => ac.abort(new EngineError("unavailable", "GET /v2/: timed out")), PING_TIMEOUT_MS);
    try {
      await this.client(host, auth, ac.signal, PING_TIMEOUT_MS, ep).ping();
    } catch (e) {
      if (e instanceof RegistryHttpError) return; // it answered
      const reason = ac.signal.aborted && !signal?.aborted ? ac.signal.reason : e;
      const url = this.pingUrl(host, ep);
      const text = describeNetError(reason, "GET", url) ?? describeNetError(e, "GET", url);
      throw new EngineError("internal", text ?? `${GO_METHOD.GET} "${url}": ${messageOf(e)}`);
    } finally {
      clearTimeout(timer);
      release();
    }
  }
}
