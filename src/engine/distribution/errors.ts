/**
 * Docker's words for what goes wrong talking to a registry: Go's net/http error
 * texts (dockerd reports those verbatim) and the pull errors' wording.
 */
import { readFileSync } from "node:fs";
import { EngineError, errnoCode } from "../../util/errors.js";
import { type Reference, formatReference, withDefaultTag } from "../../image/index.js";
import { RegistryHttpError } from "../../registry/index.js";

export const GO_METHOD: Record<string, string> = { GET: "Get", HEAD: "Head", POST: "Post", PUT: "Put", PATCH: "Patch" };

/**
 * The DNS server Go's resolver names in "lookup x on <server>: no such host": the first
 * nameserver of resolv.conf (Go asks them in order), or its default 127.0.0.1:53.
 */
export function goNameserver(resolvConf: string): string {
  for (const line of resolvConf.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1]) return m[1].includes(":") ? `[${m[1]}]:53` : `${m[1]}:53`;
  }
  return "127.0.0.1:53";
}

let nameserver: string | undefined;
function hostNameserver(): string {
  if (nameserver === undefined) {
    try {
      nameserver = goNameserver(readFileSync("/etc/resolv.conf", "utf8"));
    } catch {
      nameserver = goNameserver("");
    }
  }
  return nameserver;
}

/** Go's net/http error text for a failed request, as dockerd reports it. */
export function describeNetError(e: unknown, method: string, url: string): string | undefined {
  const code = errnoCode(e);
  const u = new URL(url);
  const prefix = `${GO_METHOD[method] ?? method} "${url}": `;
  const addr = (e as { address?: string; port?: number }).address;
  const port = (e as { port?: number }).port;
  const target = addr !== undefined ? `${addr.includes(":") ? `[${addr}]` : addr}:${port ?? u.port}` : u.host;
  switch (code) {
    case "ECONNREFUSED":
      return `${prefix}dial tcp ${target}: connect: connection refused`;
    case "ENOTFOUND":
      return `${prefix}dial tcp: lookup ${u.hostname} on ${hostNameserver()}: no such host`;
    case "EAI_AGAIN":
      return `${prefix}dial tcp: lookup ${u.hostname}: Temporary failure in name resolution`;
    case "ETIMEDOUT":
      return `${prefix}dial tcp ${target}: i/o timeout`;
    case "EHOSTUNREACH":
      return `${prefix}dial tcp ${target}: connect: no route to host`;
    case "ENETUNREACH":
      return `${prefix}dial tcp ${target}: connect: network is unreachable`;
    case "ECONNRESET":
      return `${prefix}read tcp ${target}: read: connection reset by peer`;
    // Certificate checks, in Go's crypto/x509 words.
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
      return `${prefix}x509: certificate signed by unknown authority`;
    case "CERT_HAS_EXPIRED":
    case "CERT_NOT_YET_VALID":
      return `${prefix}x509: certificate has expired or is not yet valid`;
    default:
      if (e instanceof EngineError && /timed out$/.test(e.message)) return `${prefix}net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`;
      return undefined;
  }
}

/**
 * Docker's wording for registry errors met before or while pulling; `pingUrl` is
 * the registry's /v2/ address as contacted.
 */
export function pullError(e: unknown, ref: Reference, pingUrl: string, repoPath: string, creds: boolean): unknown {
  if (e instanceof RegistryHttpError) {
    const code = e.code;
    if (code === "MANIFEST_UNKNOWN" || (e.status === 404 && code === undefined)) {
      return new EngineError("notFound", `manifest for ${formatReference(withDefaultTag(ref))} not found: ${code ? e.registryMessage : "manifest unknown: manifest unknown"}`);
    }
    if (code === "NAME_UNKNOWN") return new EngineError("notFound", `repository ${ref.repo} not found: ${e.registryMessage}`);
    if (code === "DENIED" || e.status === 403) {
      return new EngineError("notFound", `pull access denied for ${ref.repo}, repository does not exist or may require 'docker login': ${e.registryMessage}`);
    }
    if (e.status === 401) {
      if (!creds) return new EngineError("internal", `Head "${pingUrl.replace(/\/v2\/$/, "")}/v2/${repoPath}/manifests/${ref.digest ?? ref.tag ?? "latest"}": no basic auth credentials`);
      return new EngineError("internal", e.registryMessage === `unexpected status 401` ? "unauthorized: authentication required" : e.registryMessage);
    }
    return e;
  }
  const net = describeNetError(e, "GET", pingUrl);
  if (net) return new EngineError("internal", net);
  return e;
}
