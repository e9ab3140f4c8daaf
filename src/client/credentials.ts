/**
 * Registry credentials as the docker CLI keeps them: `auths` in config.json
 * (base64 "user:password"), or a credential helper: `credHelpers[host]`, else
 * `credsStore`, run as `docker-credential-<name>` from the PATH with the helper
 * protocol (get/store/erase/list on stdin/stdout).
 */
import { spawnSync } from "node:child_process";
import type { AuthEntry, ConfigFile } from "./config.js";
import type { AuthConfig } from "./types.js";

/** The key docker uses for Docker Hub. */
export const DEFAULT_INDEX_SERVER = "https://index.docker.io/v1/";
/** The username a helper stores for an identity token. */
const TOKEN_USERNAME = "<token>";

export class CredentialHelperError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CredentialHelperError";
  }
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

/** A config file's auths entry as the API's AuthConfig. */
export function authFromEntry(server: string, entry: AuthEntry): AuthConfig {
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
  return Buffer.from(JSON.stringify(auth ?? {}), "utf8").toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

/** The helper that keeps `server`'s credentials, if any (credHelpers before credsStore). */
export function helperFor(cfg: ConfigFile, server: string): string | undefined {
  const host = convertToHostname(server);
  return cfg.credHelpers?.[host] ?? cfg.credHelpers?.[server] ?? (cfg.credsStore || undefined);
}

function runHelper(name: string, action: "get" | "store" | "erase" | "list", input: string, env: NodeJS.ProcessEnv): string {
  const bin = `docker-credential-${name}`;
  const r = spawnSync(bin, [action], { input, env, encoding: "utf8", timeout: 60_000 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new CredentialHelperError(`error getting credentials - err: exec: "${bin}": executable file not found in $PATH, out: \`\``);
    throw new CredentialHelperError(`error getting credentials - err: ${r.error.message}`);
  }
  const out = (r.stdout ?? "").trim();
  if (r.status !== 0) {
    const msg = out || (r.stderr ?? "").trim();
    if (msg === "credentials not found in native keychain") throw new NotFound();
    throw new CredentialHelperError(`error ${action === "get" ? "getting" : action === "store" ? "storing" : action === "erase" ? "erasing" : "listing"} credentials - err: exit status ${String(r.status)}, out: \`${msg}\``);
  }
  return out;
}

class NotFound extends Error {}

/** Credentials from a helper; undefined when it has none for `server`. */
export function helperGet(name: string, server: string, env: NodeJS.ProcessEnv = process.env): AuthConfig | undefined {
  let out: string;
  try {
    out = runHelper(name, "get", server, env);
  } catch (e) {
    if (e instanceof NotFound) return undefined;
    throw e;
  }
  const j = JSON.parse(out) as { ServerURL?: string; Username?: string; Secret?: string };
  if (j.Username === TOKEN_USERNAME) return { serveraddress: server, identitytoken: j.Secret ?? "" };
  return { serveraddress: server, username: j.Username ?? "", password: j.Secret ?? "" };
}

export function helperStore(name: string, auth: AuthConfig & { serveraddress: string }, env: NodeJS.ProcessEnv = process.env): void {
  const payload = auth.identitytoken
    ? { ServerURL: auth.serveraddress, Username: TOKEN_USERNAME, Secret: auth.identitytoken }
    : { ServerURL: auth.serveraddress, Username: auth.username ?? "", Secret: auth.password ?? "" };
  runHelper(name, "store", JSON.stringify(payload), env);
}

export function helperErase(name: string, server: string, env: NodeJS.ProcessEnv = process.env): void {
  try {
    runHelper(name, "erase", server, env);
  } catch (e) {
    if (!(e instanceof NotFound)) throw e;
  }
}

/** The servers a helper has credentials for (server → username). */
export function helperList(name: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out = runHelper(name, "list", "", env);
  return out === "" ? {} : (JSON.parse(out) as Record<string, string>);
}

/** The auths entry of `server` in the file (matching keys by hostname as docker does). */
function fileEntry(cfg: ConfigFile, server: string): { key: string; entry: AuthEntry } | undefined {
  const auths = cfg.auths ?? {};
  const direct = auths[server];
  if (direct) return { key: server, entry: direct };
  const want = convertToHostname(server);
  for (const [k, v] of Object.entries(auths)) if (convertToHostname(k) === want) return { key: k, entry: v };
  return undefined;
}

/** Credentials for a registry host (docker.io, localhost:5000, …), from its helper or the file. */
export function lookupAuth(cfg: ConfigFile, host: string, env: NodeJS.ProcessEnv = process.env): AuthConfig | undefined {
  const server = authKeyFor(host);
  const helper = helperFor(cfg, server);
  if (helper) return helperGet(helper, server, env);
  const found = fileEntry(cfg, server);
  return found ? authFromEntry(found.key, found.entry) : undefined;
}

/** Every credential known (build sends them all): the file's, then the store's and the helpers'. */
export function allAuths(cfg: ConfigFile, env: NodeJS.ProcessEnv = process.env): Record<string, AuthConfig> {
  const out: Record<string, AuthConfig> = {};
  for (const [k, v] of Object.entries(cfg.auths ?? {})) if (!cfg.credsStore) out[k] = authFromEntry(k, v);
  if (cfg.credsStore) {
    for (const server of Object.keys(helperList(cfg.credsStore, env))) {
      const a = helperGet(cfg.credsStore, server, env);
      if (a) out[server] = a;
    }
  }
  for (const [host, helper] of Object.entries(cfg.credHelpers ?? {})) {
    const a = helperGet(helper, host, env);
    if (a) out[host] = a;
  }
  return out;
}

/** Store credentials for `server` (login): in its helper (the file keeps an empty entry) or the file. */
export function storeAuth(cfg: ConfigFile, auth: AuthConfig & { serveraddress: string }, env: NodeJS.ProcessEnv = process.env): ConfigFile {
  const server = auth.serveraddress;
  const auths = { ...(cfg.auths ?? {}) };
  const helper = helperFor(cfg, server);
  if (helper) {
    helperStore(helper, auth, env);
    auths[server] = {};
  } else {
    auths[server] = auth.identitytoken
      ? { auth: Buffer.from(`${auth.username ?? ""}:`).toString("base64"), identitytoken: auth.identitytoken }
      : { auth: Buffer.from(`${auth.username ?? ""}:${auth.password ?? ""}`).toString("base64") };
  }
  return { ...cfg, auths };
}

/** Remove credentials for `server` (logout); `removed` says whether the file had an entry. */
export function removeAuth(cfg: ConfigFile, server: string, env: NodeJS.ProcessEnv = process.env): { cfg: ConfigFile; removed: boolean } {
  const helper = helperFor(cfg, server);
  if (helper) helperErase(helper, server, env);
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
