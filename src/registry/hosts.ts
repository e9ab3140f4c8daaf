/**
 * Where a registry's requests go: Docker Hub mirrors (daemon.json
 * `registry-mirrors` / `--registry-mirror`, tried in order before the origin)
 * and containerd-style per-registry hosts (`<certs.d>/<host>/hosts.toml`:
 * `server` names the origin, each `[host."URL"]` a mirror with `capabilities`,
 * `ca`, `client`, `skip_verify`, `override_path`, `header`). Mirrors serve
 * pull and resolve only; push, login and everything else go to the origin.
 *
 * Hand-written TOML reading: hosts.toml uses a handful of TOML forms (strings,
 * booleans, arrays, `[host."URL"]` tables); this reads exactly those and
 * rejects anything else with the line number, without a new dependency.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { EngineError } from "../util/errors.js";
import { type HostTls, hostFolder, hostTls } from "./certsd.js";

/** Where a registry host's API lives (docker.io → registry-1.docker.io). */
export function registryEndpointHost(host: string): string {
  return host === "docker.io" || host === "index.docker.io" ? "registry-1.docker.io" : host;
}

/** One place to send a registry's requests to. */
export interface RegistryEndpoint {
  /** scheme://host[:port] */
  base: URL;
  /** The path that replaces "/v2" in API paths ("/v2" unless hosts.toml says otherwise). */
  apiPath: string;
  mirror: boolean;
  /** Skip certificate checks (hosts.toml skip_verify). */
  skipVerify: boolean;
  /** Extra TLS material for this endpoint (certs.d, or hosts.toml ca/client). */
  tls: HostTls;
  headers: Record<string, string>;
  /** The scheme is the one written (mirrors, hosts.toml); false: the client chooses (https, or http for insecure registries). */
  fixedScheme: boolean;
}

// ---------------------------------------------------------------- hosts.toml

type TomlValue = string | boolean | TomlValue[];

export interface HostsToml {
  server?: string;
  /** Headers for the server (top-level [header]). */
  header: Record<string, string>;
  hosts: {
    url: string;
    capabilities: string[];
    ca: string[];
    client: [string, string | undefined][];
    skipVerify: boolean;
    overridePath: boolean;
    header: Record<string, string>;
  }[];
}

function tomlError(file: string, line: number, what: string): EngineError {
  return new EngineError("invalid", `${file}:${line}: ${what}`);
}

/** Read one value at s[i..]; returns it and the index after it. */
function readValue(s: string, i: number, fail: (w: string) => never): [TomlValue, number] {
  const c = s[i];
  if (c === '"') {
    let out = "";
    for (let j = i + 1; j < s.length; j++) {
      const ch = s[j] as string;
      if (ch === '"') return [out, j + 1];
      if (ch === "\\") {
        const e = s[++j];
        const map: Record<string, string> = { '"': '"', "\\": "\\", n: "\n", t: "\t", r: "\r", "/": "/" };
        if (e === undefined || map[e] === undefined) fail(`unsupported escape \\${e ?? ""}`);
        out += map[e as string];
      } else out += ch;
    }
    fail("unterminated string");
  }
  if (c === "'") {
    const end = s.indexOf("'", i + 1);
    if (end < 0) fail("unterminated string");
    return [s.slice(i + 1, end), end + 1];
  }
  if (s.startsWith("true", i)) return [true, i + 4];
  if (s.startsWith("false", i)) return [false, i + 5];
  if (c === "[") {
    const arr: TomlValue[] = [];
    let j = i + 1;
    for (;;) {
      while (j < s.length && /[\s,]/.test(s[j] as string)) j++;
      if (s[j] === "#") j = s.indexOf("\n", j) < 0 ? s.length : s.indexOf("\n", j);
      else if (s[j] === "]") return [arr, j + 1];
      else if (j >= s.length) fail("unterminated array");
      else {
        const [v, k] = readValue(s, j, fail);
        arr.push(v);
        j = k;
      }
    }
  }
  return fail(`unsupported value ${JSON.stringify(s.slice(i, i + 20))} (hosts.toml takes strings, booleans and arrays)`);
}

/** Dotted key: bare or quoted parts. */
function readKey(text: string, fail: (w: string) => never): string[] {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i < s.length) {
    while (s[i] === " " || s[i] === "\t") i++;
    if (s[i] === '"' || s[i] === "'") {
      const [v, j] = readValue(s, i, fail);
      parts.push(v as string);
      i = j;
    } else {
      const m = /^[A-Za-z0-9_-]+/.exec(s.slice(i));
      if (!m) fail(`bad key "${s}"`);
      parts.push(m[0]);
      i += m[0].length;
    }
    while (s[i] === " " || s[i] === "\t") i++;
    if (i < s.length) {
      if (s[i] !== ".") fail(`bad key "${s}"`);
      i++;
    }
  }
  return parts;
}

const strings = (v: TomlValue, fail: (w: string) => never, what: string): string[] => {
  if (typeof v === "string") return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
  return fail(`${what} must be a string or an array of strings`);
};

/** Parse a hosts.toml (containerd's docs/hosts.md keys). */
export function parseHostsToml(text: string, file = "hosts.toml"): HostsToml {
  const out: HostsToml = { header: {}, hosts: [] };
  let table: string[] = [];
  let i = 0;
  let line = 1;
  const fail = (w: string): never => {
    throw tomlError(file, line, w);
  };
  const hostEntry = (url: string): HostsToml["hosts"][number] => {
    let h = out.hosts.find((x) => x.url === url);
    if (!h) {
      h = { url, capabilities: ["pull", "resolve", "push"], ca: [], client: [], skipVerify: false, overridePath: false, header: {} };
      out.hosts.push(h);
    }
    return h;
  };
  while (i < text.length) {
    const eol = text.indexOf("\n", i) < 0 ? text.length : text.indexOf("\n", i);
    const raw = text.slice(i, eol);
    const t = raw.trim();
    if (t === "" || t.startsWith("#")) {
      i = eol + 1;
      line++;
      continue;
    }
    if (t.startsWith("[")) {
      if (t.startsWith("[[")) fail("arrays of tables are not used by hosts.toml");
      const end = t.lastIndexOf("]");
      if (end < 0 || !/^(\s*(#.*)?)$/.test(t.slice(end + 1))) fail("bad table header");
      table = readKey(t.slice(1, end), fail);
      if (table.length === 2 && table[0] === "host") hostEntry(table[1] as string);
      else if (!(table.length === 1 && table[0] === "header") && !(table.length === 3 && table[0] === "host" && table[2] === "header")) fail(`unknown table [${table.join(".")}]`);
      i = eol + 1;
      line++;
      continue;
    }
    const eq = raw.indexOf("=");
    if (eq < 0) fail("expected key = value");
    const key = readKey(raw.slice(0, eq), fail);
    let j = i + eq + 1;
    while (text[j] === " " || text[j] === "\t") j++;
    const [value, after] = readValue(text, j, fail);
    const restEol = text.indexOf("\n", after) < 0 ? text.length : text.indexOf("\n", after);
    if (!/^\s*(#.*)?$/.test(text.slice(after, restEol))) fail("unexpected text after the value");
    const full = [...table, ...key];
    const name = full.join(".");
    if (full[0] === "header" && full.length === 2) out.header[full[1] as string] = strings(value, fail, name).join(", ");
    else if (full.length === 1 && full[0] === "server") {
      if (typeof value !== "string") fail("server must be a string");
      out.server = value as string;
    } else if (full[0] === "host" && full.length === 4 && full[2] === "header") hostEntry(full[1] as string).header[full[3] as string] = strings(value, fail, name).join(", ");
    else if (full[0] === "host" && full.length === 3) {
      const h = hostEntry(full[1] as string);
      const k = full[2];
      if (k === "capabilities") h.capabilities = strings(value, fail, k);
      else if (k === "ca") h.ca = strings(value, fail, k);
      else if (k === "skip_verify" || k === "override_path") {
        if (typeof value !== "boolean") fail(`${k} must be true or false`);
        if (k === "skip_verify") h.skipVerify = value as boolean;
        else h.overridePath = value as boolean;
      } else if (k === "client") {
        if (typeof value === "string") h.client = [[value, undefined]];
        else if (Array.isArray(value)) {
          h.client = value.map((p) => {
            if (typeof p === "string") return [p, undefined] as [string, string | undefined];
            if (Array.isArray(p) && p.length >= 1 && p.length <= 2 && p.every((x) => typeof x === "string")) return [p[0] as string, p[1] as string | undefined];
            return fail("client must be a path or an array of [cert, key] pairs");
          });
        } else fail("client must be a path or an array of [cert, key] pairs");
      } else fail(`unknown key ${name}`);
    } else fail(`unknown key ${name}`);
    line += text.slice(i, restEol).split("\n").length;
    i = restEol + 1;
  }
  for (const h of out.hosts) {
    for (const c of h.capabilities) if (!["pull", "resolve", "push"].includes(c)) throw new EngineError("invalid", `${file}: host "${h.url}": unknown capability "${c}"`);
  }
  return out;
}

// ---------------------------------------------------------------- endpoints

export interface RegistryHostsOptions {
  /** --registry-mirror / daemon.json registry-mirrors, validated ("http://h:p/"). */
  registryMirrors?: string[];
  /** certs.d folders, first with a folder for the host wins. */
  certsDirs: string[];
}

function endpointFromUrl(raw: string, overridePath: boolean, what: string): { base: URL; apiPath: string } {
  let u: URL;
  try {
    u = new URL(raw.includes("://") ? raw : `https://${raw}`);
  } catch {
    throw new EngineError("invalid", `${what}: invalid URL "${raw}"`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new EngineError("invalid", `${what}: unsupported scheme in "${raw}"`);
  const p = u.pathname.replace(/\/+$/, "");
  // containerd: a path is the API root when override_path is set, otherwise "/v2" goes under it.
  const apiPath = p === "" ? "/v2" : overridePath ? p : p.endsWith("/v2") ? p : `${p}/v2`;
  return { base: new URL(`${u.protocol}//${u.host}`), apiPath };
}

function readPath(dir: string, p: string): string {
  return path.isAbsolute(p) ? p : path.join(dir, p);
}

/** The hosts.toml for a registry, if its certs.d folder has one. */
export function hostsTomlFor(o: RegistryHostsOptions, host: string): { dir: string; cfg: HostsToml } | undefined {
  const dir = hostFolder(o.certsDirs, host);
  if (dir === undefined) return undefined;
  const file = path.join(dir, "hosts.toml");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  return { dir, cfg: parseHostsToml(text, file) };
}

/** The origin of a registry (hosts.toml `server`, or the host itself; docker.io → registry-1.docker.io). */
export function originEndpoint(o: RegistryHostsOptions, host: string): RegistryEndpoint {
  const t = hostsTomlFor(o, host);
  if (t?.cfg.server !== undefined) {
    const { base, apiPath } = endpointFromUrl(t.cfg.server, false, `${t.dir}/hosts.toml: server`);
    const tls = base.host === host ? hostTls(o.certsDirs, host) : hostTls(o.certsDirs, base.host);
    return { base, apiPath, mirror: false, skipVerify: false, tls, headers: t.cfg.header, fixedScheme: true };
  }
  const ep = registryEndpointHost(host);
  return { base: new URL(`https://${ep}`), apiPath: "/v2", mirror: false, skipVerify: false, tls: hostTls(o.certsDirs, host), headers: t?.cfg.header ?? {}, fixedScheme: false };
}

/**
 * Where to pull `host`'s images from, in order: the Docker Hub mirrors (for
 * docker.io), the hosts.toml hosts able to pull (and resolve, when the
 * reference is a tag), then the origin.
 */
export function pullEndpoints(o: RegistryHostsOptions, host: string, byDigest: boolean): RegistryEndpoint[] {
  const out: RegistryEndpoint[] = [];
  if (host === "docker.io" || host === "index.docker.io") {
    for (const m of o.registryMirrors ?? []) {
      const { base, apiPath } = endpointFromUrl(m, false, "registry-mirror");
      out.push({ base, apiPath, mirror: true, skipVerify: false, tls: hostTls(o.certsDirs, base.host), headers: {}, fixedScheme: true });
    }
  }
  const t = hostsTomlFor(o, host);
  for (const h of t?.cfg.hosts ?? []) {
    if (!h.capabilities.includes("pull") || (!byDigest && !h.capabilities.includes("resolve"))) continue;
    const dir = t?.dir as string;
    const { base, apiPath } = endpointFromUrl(h.url, h.overridePath, `${dir}/hosts.toml: host`);
    const tls: HostTls = h.ca.length > 0 || h.client.length > 0 ? { ca: [], dir } : hostTls(o.certsDirs, base.host);
    for (const ca of h.ca) tls.ca.push(readFileSync(readPath(dir, ca)));
    const first = h.client[0];
    if (first) {
      tls.cert = readFileSync(readPath(dir, first[0]));
      tls.key = readFileSync(readPath(dir, first[1] ?? first[0]));
    }
    out.push({ base, apiPath, mirror: true, skipVerify: h.skipVerify, tls, headers: h.header, fixedScheme: true });
  }
  out.push(originEndpoint(o, host));
  return out;
}

