/**
 * Where the client connects, resolved as the docker CLI does: `-H` / $DOCKER_HOST
 * (and BERTH_HOST) or a context (`--context`, $DOCKER_CONTEXT, `currentContext`
 * in config.json), with TLS from `--tls`/`--tlsverify`/`--tlscacert`/`--tlscert`/
 * `--tlskey`, $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH, or a context's TLS material.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { configDir as resolveConfigDir, readConfig } from "./config.js";
import { ContextError, ContextStore, DEFAULT_CONTEXT, type TlsMaterial } from "./contexts.js";

export const DEFAULT_HOST = "unix:///run/berth/berth.sock";
const PLAIN_PORT = 2375;
const TLS_PORT = 2376;

export interface TlsOptions extends TlsMaterial {
  /** Check the daemon's certificate against `ca` (--tlsverify); false is --tls alone. */
  verify: boolean;
}

/** A parsed daemon address. */
export interface Endpoint {
  /** The address as given (for messages). */
  host: string;
  socketPath?: string;
  hostname?: string;
  port?: number;
  tls?: TlsOptions;
}

export interface ConnectOptions {
  /** `-H`: a daemon address (unix:///path, /path, tcp://host:port, http://host:port). */
  host?: string;
  /** `--context`: a named context (conflicts with `host`). */
  context?: string;
  /** `--config`: the configuration directory. */
  configDir?: string;
  tls?: boolean;
  tlsVerify?: boolean;
  tlsCaCert?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** The environment to read DOCKER_* from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The address when nothing names one (default: berthd's socket). */
  defaultHost?: string;
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Parse a host: unix:///path, /path, tcp://host:port, http(s)://host:port. */
export function parseHost(host: string, tls = false): Omit<Endpoint, "host" | "tls"> {
  if (host.startsWith("unix://")) {
    const p = host.slice("unix://".length);
    if (p === "") throw new ConfigError(`invalid host: ${host}`);
    return { socketPath: p };
  }
  if (host.startsWith("/")) return { socketPath: host };
  const m = host.match(/^(?:tcp|https?):\/\/(\[[^\]]+\]|[^:/]*)(?::(\d+))?\/?$/);
  if (m) {
    const hostname = (m[1] ?? "").replace(/^\[|\]$/g, "") || "127.0.0.1";
    return { hostname, port: m[2] ? Number(m[2]) : tls || host.startsWith("https:") ? TLS_PORT : PLAIN_PORT };
  }
  throw new ConfigError(`invalid host: ${host} (use unix:///path/to/socket or tcp://host:port)`);
}

/** The context in use, by docker's rules (cli/command.resolveContextName). */
export function resolveContextName(opts: ConnectOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.context && opts.host) throw new ConfigError("conflicting options: cannot specify both --host and --context");
  if (opts.context) return opts.context;
  if (opts.host) return DEFAULT_CONTEXT;
  if (env["DOCKER_HOST"] || env["BERTH_HOST"]) return DEFAULT_CONTEXT;
  if (env["DOCKER_CONTEXT"]) return env["DOCKER_CONTEXT"];
  const current = readConfig(path.join(resolveConfigDir(env, opts.configDir), "config.json")).currentContext;
  return current || DEFAULT_CONTEXT;
}

/** The default context's address: `-H`, then BERTH_HOST, then DOCKER_HOST, then the default. */
export function defaultContextHost(opts: ConnectOptions = {}): string {
  const env = opts.env ?? process.env;
  return opts.host || env["BERTH_HOST"] || env["DOCKER_HOST"] || opts.defaultHost || DEFAULT_HOST;
}

function readPem(file: string, required: boolean): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!required && code === "ENOENT") return undefined;
    // Go's *PathError wording, as docker prints it.
    throw new ConfigError(code === "ENOENT" ? `open ${file}: no such file or directory` : code === "EACCES" ? `open ${file}: permission denied` : String(e));
  }
}

/** The TLS settings of the default context, or undefined for plain HTTP. */
function flagTls(opts: ConnectOptions, cfgDir: string): TlsOptions | undefined {
  const env = opts.env ?? process.env;
  const verify = opts.tlsVerify ?? (env["DOCKER_TLS_VERIFY"] ?? "") !== "";
  if (!verify && !opts.tls) return undefined;
  const certPath = env["DOCKER_CERT_PATH"] || cfgDir;
  return {
    verify,
    // docker 28 reads the CA whenever TLS is on (--tls alone too); default cert/key files only when they exist.
    ca: readPem(opts.tlsCaCert ?? path.join(certPath, "ca.pem"), true),
    cert: readPem(opts.tlsCert ?? path.join(certPath, "cert.pem"), opts.tlsCert !== undefined),
    key: readPem(opts.tlsKey ?? path.join(certPath, "key.pem"), opts.tlsKey !== undefined),
  };
}

/** Resolve the endpoint to connect to; ConfigError "unable to resolve docker endpoint: …" when it cannot be. */
export function resolveEndpoint(opts: ConnectOptions = {}): Endpoint & { context: string } {
  try {
    return resolve(opts);
  } catch (e) {
    if (e instanceof ConfigError && /^conflicting options/.test(e.message)) throw e;
    if (e instanceof ConfigError || e instanceof ContextError) throw new ConfigError(`unable to resolve docker endpoint: ${e.message}`);
    throw e;
  }
}

function resolve(opts: ConnectOptions): Endpoint & { context: string } {
  const env = opts.env ?? process.env;
  const cfgDir = resolveConfigDir(env, opts.configDir);
  const context = resolveContextName(opts);
  if (context === DEFAULT_CONTEXT) {
    const host = defaultContextHost(opts);
    const tls = flagTls(opts, cfgDir);
    return { host, ...parseHost(host, tls !== undefined), ...(tls ? { tls } : {}), context };
  }
  const store = new ContextStore(cfgDir);
  const ep = store.get(context).Endpoints.docker;
  if (!ep?.Host) throw new ContextError(`context "${context}" has no docker endpoint`);
  const material = store.tls(context);
  const hasTls = material.ca !== undefined || material.cert !== undefined || ep.SkipTLSVerify;
  const tls: TlsOptions | undefined = hasTls ? { ...material, verify: !ep.SkipTLSVerify } : undefined;
  return { host: ep.Host, ...parseHost(ep.Host, tls !== undefined), ...(tls ? { tls } : {}), context };
}
