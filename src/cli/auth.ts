/**
 * Registry credentials as the docker CLI keeps them: `auths[server].auth`
 * (base64 "user:pass") in $DOCKER_CONFIG/config.json or ~/.docker/config.json,
 * and the X-Registry-Auth header (base64url JSON) built from them.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** The key docker uses for Docker Hub. */
export const DEFAULT_INDEX_SERVER = "https://index.docker.io/v1/";

export interface AuthConfig {
  username?: string;
  password?: string;
  serveraddress?: string;
  identitytoken?: string;
}

export interface ConfigFile {
  auths?: Record<string, { auth?: string; identitytoken?: string; email?: string }>;
  [k: string]: unknown;
}

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  return env["DOCKER_CONFIG"] || path.join(env["HOME"] || os.homedir(), ".docker");
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(configDir(env), "config.json");
}

export function readConfig(file = configPath()): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return {};
  }
  if (text.trim() === "") return {};
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as ConfigFile) : {};
  } catch (e) {
    throw new Error(`loading config file: ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Write the config file atomically with mode 0600 (its directory 0700). */
export function writeConfig(cfg: ConfigFile, file = configPath()): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(cfg, null, "\t")}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** registry.ConvertToHostname: drop the scheme and any path. */
export function convertToHostname(url: string): string {
  let s = url.replace(/^https?:\/\//, "");
  const slash = s.indexOf("/");
  if (slash >= 0) s = s.slice(0, slash);
  return s;
}

/** The registry host of an image reference (docker.io for familiar names). */
export function registryHostOf(ref: string): string {
  const first = ref.split("/")[0] ?? "";
  if (ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")) return first;
  return "docker.io";
}

/** The config key for a registry host (Docker Hub's is the v1 index URL). */
export function authKeyFor(host: string): string {
  return host === "docker.io" || host === "index.docker.io" || host === "registry-1.docker.io" ? DEFAULT_INDEX_SERVER : host;
}

/** Credentials stored for `host` (matching keys by hostname as docker does). */
export function lookupAuth(cfg: ConfigFile, host: string): AuthConfig | undefined {
  const key = authKeyFor(host);
  const auths = cfg.auths ?? {};
  let entry = auths[key];
  let server = key;
  if (!entry) {
    const want = convertToHostname(key);
    for (const [k, v] of Object.entries(auths)) {
      if (convertToHostname(k) === want) {
        entry = v;
        server = k;
        break;
      }
    }
  }
  if (!entry) return undefined;
  return authFromEntry(server, entry);
}

/** A config file's auths entry (base64 "user:password", identity token) as the API's AuthConfig. */
export function authFromEntry(server: string, entry: NonNullable<ConfigFile["auths"]>[string]): AuthConfig {
  const out: AuthConfig = { serveraddress: server };
  if (entry.auth) {
    const text = Buffer.from(entry.auth, "base64").toString("utf8");
    const i = text.indexOf(":");
    if (i >= 0) {
      out.username = text.slice(0, i);
      out.password = text.slice(i + 1);
    }
  }
  if (entry.identitytoken) out.identitytoken = entry.identitytoken;
  return out;
}

/** base64url (with padding, as Go's URLEncoding) of the JSON auth config; "e30=" for none. */
export function encodeAuthHeader(auth: AuthConfig | undefined): string {
  const json = JSON.stringify(auth ?? {});
  return Buffer.from(json, "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The X-Registry-Auth header value for pulling/pushing `ref`. */
export function registryAuthHeader(ref: string, cfg?: ConfigFile): string {
  let c = cfg;
  if (!c) {
    try {
      c = readConfig();
    } catch {
      c = {};
    }
  }
  return encodeAuthHeader(lookupAuth(c, registryHostOf(ref)));
}

/** Store credentials for `server` (login). */
export function storeAuth(cfg: ConfigFile, server: string, username: string, password: string, identitytoken?: string): ConfigFile {
  const auths = { ...(cfg.auths ?? {}) };
  auths[server] = identitytoken
    ? { auth: Buffer.from(`${username}:`).toString("base64"), identitytoken }
    : { auth: Buffer.from(`${username}:${password}`).toString("base64") };
  return { ...cfg, auths };
}

/** Remove credentials for `server` (logout); `removed` says whether there were any. */
export function removeAuth(cfg: ConfigFile, server: string): { cfg: ConfigFile; removed: boolean } {
  const auths = { ...(cfg.auths ?? {}) };
  let removed = false;
  for (const k of Object.keys(auths)) {
    if (k === server || convertToHostname(k) === convertToHostname(server)) {
      delete auths[k];
      removed = true;
    }
  }
  return { cfg: { ...cfg, auths }, removed };
}
