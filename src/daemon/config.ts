/**
 * berthd's configuration: dockerd's daemon.json (`--config-file`, default
 * /etc/berth/daemon.json) merged with the command-line flags, with dockerd's
 * rules and wording: unknown keys and a key given both as a flag and in the
 * file are errors; values are type-checked as Go's JSON decoder does. Hand-written
 * (no schema library) because the point is dockerd's exact messages, which name
 * Go types and print values with Go's %v.
 *
 * Pure apart from reading the file: main.ts (start) and reload.ts (SIGHUP) use it.
 */
import { promises as fs } from "node:fs";
import { errnoCode, messageOf } from "../util/errors.js";
import { isLogLevel } from "../util/log.js";
import { type AddressPool, type Ulimit, checkDns, checkDnsSearch, checkPool, checkUlimit, showPools, showUlimits } from "./config-defaults.js";

export type { AddressPool, Ulimit };

export const DEFAULT_CONFIG_FILE = "/etc/berth/daemon.json";

type Kind = "bool" | "string" | "strings" | "int" | "stringMap" | "boolMap" | "runtimes" | "proxies" | "ulimits" | "pools";

interface KeyDef {
  /** dockerd's daemon.json key. */
  key: string;
  /** The Settings field, which is also the commander attribute of the flag (if berthd has one). */
  field: keyof Settings;
  kind: Kind;
  /** Applied by SIGHUP without a restart. */
  reloadable: boolean;
}

export interface RuntimeDef {
  path: string;
}

export interface ProxySettings {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

/** Everything berthd can be configured with: flags and daemon.json, merged. */
export interface Settings {
  host?: string[];
  dataRoot: string;
  execRoot: string;
  pidfile?: string;
  debug: boolean;
  logLevel: string;
  defaultRuntime: string;
  runtimes: Record<string, RuntimeDef>;
  group: string;
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
  dashboardAddr?: string;
  dashboardReadOnly?: boolean;
  dashboardRegistry?: string;
  usernsRemap?: string;
  bip?: string;
  insecureRegistry: string[];
  registryMirror: string[];
  label: string[];
  maxConcurrentDownloads: number;
  maxConcurrentUploads: number;
  logDriver: string;
  logOpt: Record<string, string>;
  proxies: ProxySettings;
  liveRestore: boolean;
  features: Record<string, boolean>;
  storageDriver: string;
  /** dns, dns-search, dns-opts: a container's resolv.conf when it sets none of its own. */
  dns: string[];
  dnsSearch: string[];
  dnsOpt: string[];
  /** default-ulimits, by name. */
  defaultUlimit: Record<string, Ulimit>;
  /** default-address-pools: where networks without --subnet (and a new default bridge) get theirs. */
  defaultAddressPool: AddressPool[];
}

export const KEYS: readonly KeyDef[] = [
  { key: "hosts", field: "host", kind: "strings", reloadable: false },
  { key: "data-root", field: "dataRoot", kind: "string", reloadable: false },
  { key: "exec-root", field: "execRoot", kind: "string", reloadable: false },
  { key: "pidfile", field: "pidfile", kind: "string", reloadable: false },
  { key: "debug", field: "debug", kind: "bool", reloadable: true },
  { key: "log-level", field: "logLevel", kind: "string", reloadable: true },
  { key: "default-runtime", field: "defaultRuntime", kind: "string", reloadable: true },
  { key: "runtimes", field: "runtimes", kind: "runtimes", reloadable: true },
  { key: "group", field: "group", kind: "string", reloadable: false },
  { key: "tls", field: "tls", kind: "bool", reloadable: false },
  { key: "tlsverify", field: "tlsverify", kind: "bool", reloadable: false },
  { key: "tlscacert", field: "tlscacert", kind: "string", reloadable: false },
  { key: "tlscert", field: "tlscert", kind: "string", reloadable: false },
  { key: "tlskey", field: "tlskey", kind: "string", reloadable: false },
  { key: "dashboard-addr", field: "dashboardAddr", kind: "string", reloadable: false },
  { key: "dashboard-read-only", field: "dashboardReadOnly", kind: "bool", reloadable: false },
  { key: "dashboard-registry", field: "dashboardRegistry", kind: "string", reloadable: false },
  { key: "userns-remap", field: "usernsRemap", kind: "string", reloadable: false },
  { key: "bip", field: "bip", kind: "string", reloadable: false },
  { key: "insecure-registries", field: "insecureRegistry", kind: "strings", reloadable: true },
  { key: "registry-mirrors", field: "registryMirror", kind: "strings", reloadable: true },
  { key: "labels", field: "label", kind: "strings", reloadable: true },
  { key: "max-concurrent-downloads", field: "maxConcurrentDownloads", kind: "int", reloadable: true },
  { key: "max-concurrent-uploads", field: "maxConcurrentUploads", kind: "int", reloadable: true },
  { key: "log-driver", field: "logDriver", kind: "string", reloadable: false },
  { key: "log-opts", field: "logOpt", kind: "stringMap", reloadable: false },
  { key: "proxies", field: "proxies", kind: "proxies", reloadable: false },
  { key: "live-restore", field: "liveRestore", kind: "bool", reloadable: false },
  { key: "features", field: "features", kind: "boolMap", reloadable: false },
  { key: "storage-driver", field: "storageDriver", kind: "string", reloadable: false },
  { key: "dns", field: "dns", kind: "strings", reloadable: false },
  { key: "dns-search", field: "dnsSearch", kind: "strings", reloadable: false },
  { key: "dns-opts", field: "dnsOpt", kind: "strings", reloadable: false },
  { key: "default-ulimits", field: "defaultUlimit", kind: "ulimits", reloadable: false },
  { key: "default-address-pools", field: "defaultAddressPool", kind: "pools", reloadable: false },
];

/** dockerd keys berthd knows but does not support: refused with this reason rather than ignored (docs/operations.md). */
export const UNSUPPORTED_KEYS: readonly string[] = [
  "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins", "bip6", "bridge", "builder",
  "cdi-spec-dirs", "cgroup-parent", "containerd", "containerd-namespace", "containerd-plugin-namespace",
  "cpu-rt-period", "cpu-rt-runtime", "cri-containerd", "default-cgroupns-mode",
  "default-gateway", "default-gateway-v6", "default-ipc-mode", "default-network-opts", "default-shm-size",
  "exec-opts", "experimental", "fixed-cidr", "fixed-cidr-v6",
  "host-gateway-ip", "icc", "init", "init-path", "ip", "ip-forward", "ip-masq", "ip6tables", "iptables", "ipv6",
  "log-format", "max-download-attempts", "metrics-addr", "mtu", "network-control-plane-mtu", "no-new-privileges",
  "node-generic-resources", "oom-score-adjust", "raw-logs", "resolv-conf", "seccomp-profile", "selinux-enabled",
  "shutdown-timeout", "storage-opts", "swarm-default-advertise-addr", "userland-proxy", "userland-proxy-path",
];

/** Unsupported keys with the one value that describes what berthd does: that value is accepted. */
const AS_BERTH_DOES: Record<string, unknown> = {
  experimental: false, // docker info: Experimental false
  iptables: true, // published ports and isolation go through iptables
  "ip-forward": true, // berthd turns net.ipv4.ip_forward on
  ipv6: false, // the default bridge has no IPv6 (user networks: --ipv6)
  "userland-proxy": false, // no userland proxy: published ports are DNAT rules
  "no-new-privileges": false, // containers ask for it with --security-opt
  init: false, // containers ask for it with --init
};

export const DEFAULTS: Settings = {
  dataRoot: "/var/lib/berth",
  execRoot: "/run/berth",
  debug: false,
  logLevel: "info",
  defaultRuntime: "runc",
  runtimes: {},
  group: "berth",
  insecureRegistry: [],
  registryMirror: [],
  label: [],
  maxConcurrentDownloads: 3,
  maxConcurrentUploads: 5,
  logDriver: "json-file",
  logOpt: {},
  proxies: {},
  liveRestore: true,
  features: {},
  storageDriver: "overlay2",
  dns: [],
  dnsSearch: [],
  dnsOpt: [],
  defaultUlimit: {},
  defaultAddressPool: [],
};

/** A configuration error; its message is the whole line berthd prints. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** The flags as parsed: values and whether each came from the command line (commander's getOptionValueSource). */
export interface FlagValues {
  values: Record<string, unknown>;
  fromCli(field: string): boolean;
}

/** Go's %v of a JSON value, as dockerd prints it in its conflict message. */
export function goValue(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goValue).join(" ")}]`;
  if (v !== null && typeof v === "object") {
    return `map[${Object.keys(v).sort().map((k) => `${k}:${goValue((v as Record<string, unknown>)[k])}`).join(" ")}]`;
  }
  return String(v);
}

const GO_TYPES: Record<Kind, string> = {
  bool: "bool", string: "string", strings: "[]string", int: "int", stringMap: "map[string]string",
  boolMap: "map[string]bool", runtimes: "map[string]types.Runtime", proxies: "config.ProxyConfig",
  ulimits: "map[string]*units.Ulimit", pools: "[]*ipamutils.NetworkToSplit",
};

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v; // string, number, object
}

function typeError(v: unknown, field: string, goType: string): ConfigError {
  return new ConfigError(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${field} of type ${goType}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function stringMap(v: unknown, field: string, elem: "string" | "bool"): Record<string, never> {
  if (!isObject(v)) throw typeError(v, field, `map[string]${elem}`);
  for (const x of Object.values(v)) if (jsonType(x) !== elem) throw typeError(x, field, elem);
  return v as Record<string, never>;
}

/** One key's value, type-checked as Go's decoder would (null leaves the default, as in Go). */
function decode(def: KeyDef, v: unknown): unknown {
  const field = `Config.${def.key}`;
  switch (def.kind) {
    case "bool":
    case "string":
      if (jsonType(v) !== def.kind) throw typeError(v, field, def.kind);
      return v;
    case "int":
      if (typeof v !== "number" || !Number.isInteger(v)) throw typeError(v, field, "int");
      return v;
    case "strings":
      if (!Array.isArray(v)) throw typeError(v, field, "[]string");
      for (const x of v) if (typeof x !== "string") throw typeError(x, field, "string");
      return v;
    case "stringMap":
      return { ...stringMap(v, field, "string") };
    case "boolMap":
      return { ...stringMap(v, field, "bool") };
    case "runtimes": {
      if (!isObject(v)) throw typeError(v, field, GO_TYPES.runtimes);
      const out: Record<string, RuntimeDef> = {};
      for (const [name, r] of Object.entries(v)) {
        if (!isObject(r)) throw typeError(r, field, "types.Runtime");
        const extra = Object.keys(r).filter((k) => k !== "path" && !(k === "runtimeArgs" && Array.isArray(r[k]) && r[k].length === 0));
        if (extra.length > 0) throw new ConfigError(`runtime ${name}: ${extra.join(", ")} not supported by berthd (only "path")`);
        if (typeof r["path"] !== "string" || r["path"] === "") throw new ConfigError(`runtime ${name}: a "path" to the OCI runtime binary is required`);
        out[name] = { path: r["path"] };
      }
      return out;
    }
    case "proxies": {
      if (!isObject(v)) throw typeError(v, field, GO_TYPES.proxies);
      const names: Record<string, keyof ProxySettings> = { "http-proxy": "httpProxy", "https-proxy": "httpsProxy", "no-proxy": "noProxy" };
      const out: ProxySettings = {};
      for (const [k, x] of Object.entries(v)) {
        const f = names[k];
        if (!f) throw new ConfigError(`the following directives don't match any configuration option: proxies.${k}`);
        if (typeof x !== "string") throw typeError(x, `Config.proxies.${k}`, "string");
        out[f] = x;
      }
      return out;
    }
    case "ulimits": {
      // Go's decoder matches field names case-insensitively; the map key names the ulimit when Name is absent.
      if (!isObject(v)) throw typeError(v, field, GO_TYPES.ulimits);
      const out: Record<string, Ulimit> = {};
      for (const [name, u] of Object.entries(v)) {
        if (!isObject(u)) throw typeError(u, field, "units.Ulimit");
        const get = (k: string) => Object.entries(u).find(([x]) => x.toLowerCase() === k)?.[1];
        const n = get("name") ?? name;
        if (typeof n !== "string") throw typeError(n, `${field}.Name`, "string");
        const num = (k: string, x: unknown) => {
          if (x === undefined || x === null) return 0;
          if (typeof x !== "number" || !Number.isSafeInteger(x)) throw typeError(x, `${field}.${k}`, "int64");
          return x;
        };
        out[name] = { Name: n, Soft: num("Soft", get("soft")), Hard: num("Hard", get("hard")) };
      }
      return out;
    }
    case "pools": {
      if (!Array.isArray(v)) throw typeError(v, field, GO_TYPES.pools);
      return v.map((p) => {
        if (!isObject(p)) throw typeError(p, field, "ipamutils.NetworkToSplit");
        const get = (k: string) => Object.entries(p).find(([x]) => x.toLowerCase() === k)?.[1];
        const base = get("base") ?? "";
        const size = get("size") ?? 0;
        if (typeof base !== "string") throw typeError(base, field, "string");
        if (typeof size !== "number" || !Number.isInteger(size)) throw typeError(size, field, "int");
        return { base, size };
      });
    }
  }
}

/** Reads and decodes a daemon.json: the values it sets, by Settings field, and the raw keys it had. */
export async function readConfigFile(file: string): Promise<{ values: Partial<Settings>; raw: Record<string, unknown> }> {
  const wrap = (msg: string) => new ConfigError(`unable to configure the Docker daemon with file ${file}: ${msg}`);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    const code = errnoCode(e);
    throw Object.assign(wrap(`open ${file}: ${code === "ENOENT" ? "no such file or directory" : code === "EACCES" ? "permission denied" : messageOf(e)}`), { notFound: code === "ENOENT" });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw wrap(text.trim() === "" ? "EOF" : messageOf(e));
  }
  if (!isObject(raw)) throw wrap(`json: cannot unmarshal ${raw === null ? "null" : jsonType(raw)} into Go value of type map[string]interface {}`);
  const unknown = Object.keys(raw).filter((k) => !KEYS.some((d) => d.key === k) && !UNSUPPORTED_KEYS.includes(k)).sort();
  if (unknown.length > 0) throw wrap(`the following directives don't match any configuration option: ${unknown.join(", ")}`);
  // A key set to what berthd does anyway (files copied from a dockerd host often spell out defaults) is accepted.
  const unsupported = Object.keys(raw).filter((k) => UNSUPPORTED_KEYS.includes(k) && !(k in AS_BERTH_DOES && AS_BERTH_DOES[k] === raw[k])).sort();
  if (unsupported.length > 0) throw wrap(`the following directives are dockerd's but not supported by berthd: ${unsupported.join(", ")} (see docs/operations.md)`);
  const values: Partial<Settings> = {};
  for (const def of KEYS) {
    const v = raw[def.key];
    if (v === undefined || v === null) continue;
    try {
      (values as Record<string, unknown>)[def.field] = decode(def, v);
    } catch (e) {
      throw wrap(messageOf(e));
    }
  }
  return { values, raw };
}

/** A mirror as dockerd takes it: http(s), no path, query or fragment; kept with a trailing slash. */
export function normalizeMirror(m: string): string {
  const scheme = m.includes("://") ? m.slice(0, m.indexOf("://")) : "";
  if (scheme !== "http" && scheme !== "https") throw new ConfigError(`invalid mirror: unsupported scheme "${scheme}" in "${m}"`);
  let u: URL;
  try {
    u = new URL(m);
  } catch {
    throw new ConfigError(`invalid mirror: "${m}" is not a valid URI`);
  }
  if ((u.pathname !== "/" && u.pathname !== "") || u.search !== "" || u.hash !== "" || m.endsWith("?") || m.endsWith("#")) {
    throw new ConfigError(`invalid mirror: path, query, or fragment at end of the URI "${m}"`);
  }
  if (u.username !== "" || u.password !== "") throw new ConfigError(`invalid mirror: username/password not allowed in URI "${m.replace(/:[^:@/]*@/, ":xxxxx@")}"`);
  return `${u.protocol}//${u.host}/`;
}

/** dockerd's checks of the merged configuration (config.Validate), plus berthd's own limits. */
export function validateSettings(s: Settings): void {
  for (const l of s.label) if (!/^[^=]+=/.test(l)) throw new ConfigError(`bad attribute format: ${l}`);
  if (!isLogLevel(s.logLevel)) throw new ConfigError(`unable to parse logging level: ${s.logLevel}`);
  // dockerd allows 0 here, which would make every pull wait forever; berthd asks for at least one.
  if (s.maxConcurrentDownloads < 1) throw new ConfigError(`invalid max concurrent downloads: ${s.maxConcurrentDownloads}`);
  if (s.maxConcurrentUploads < 1) throw new ConfigError(`invalid max concurrent uploads: ${s.maxConcurrentUploads}`);
  for (const name of Object.keys(s.runtimes)) {
    if (name === "runc" || name === "crun") throw new ConfigError(`runtime name '${name}' is reserved`);
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new ConfigError(`invalid runtime name '${name}'`);
  }
  const rt = s.defaultRuntime;
  if (!rt.includes("/") && rt !== "runc" && rt !== "crun" && !(rt in s.runtimes)) throw new ConfigError(`specified default runtime '${rt}' does not exist`);
  s.registryMirror = s.registryMirror.map(normalizeMirror);
  // The log driver's name and options are the engine's to check (an unknown name, as in dockerd, only fails at create).
  if (!s.liveRestore) throw new ConfigError(`live-restore cannot be turned off: berthd's containers always outlive the daemon (each has its own monitor)`);
  const check = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      throw new ConfigError(messageOf(e));
    }
  };
  for (const ip of s.dns) check(() => checkDns(ip));
  for (const d of s.dnsSearch) check(() => checkDnsSearch(d));
  // dockerd 20.10 takes any default-ulimits from the file and fails every container start later; berthd checks them now.
  for (const [name, u] of Object.entries(s.defaultUlimit)) {
    if (u.Name !== name) throw new ConfigError(`default-ulimits: the ulimit under "${name}" is named ${u.Name}`);
    check(() => checkUlimit(u));
  }
  for (const p of s.defaultAddressPool) check(() => checkPool(p));
  if (s.storageDriver !== "overlay2") throw new ConfigError(`storage driver ${s.storageDriver} is not supported by berthd (overlay2 only)`);
  // "buildkit" is in many daemon.json files: accepted either way, builds use the legacy builder API (docs/operations.md).
  for (const [f, on] of Object.entries(s.features)) {
    if (on && f !== "buildkit") throw new ConfigError(`feature ${f} is not supported by berthd`);
  }
}

/** A repeatable flag's values as daemon.json holds them (--log-opt k=v → {k: v}). */
function flagValue(def: KeyDef, v: unknown): unknown {
  if (def.kind === "ulimits" && Array.isArray(v)) return Object.fromEntries((v as Ulimit[]).map((u) => [u.Name, u]));
  if (def.kind === "stringMap" && Array.isArray(v)) {
    return Object.fromEntries(v.map((kv: string) => [kv.slice(0, kv.indexOf("=") < 0 ? kv.length : kv.indexOf("=")), kv.includes("=") ? kv.slice(kv.indexOf("=") + 1) : ""]));
  }
  return v;
}

/**
 * The effective settings: defaults, then flags, then the file (a key may come
 * from only one of the two). `file` undefined: no file at all. A missing file is
 * an error only when the user named it (`required`), as with dockerd.
 */
export async function loadSettings(flags: FlagValues, file: string | undefined, required: boolean): Promise<{ settings: Settings; fileKeys: string[] }> {
  const s: Settings = structuredClone(DEFAULTS);
  for (const def of KEYS) {
    const v = flags.values[def.field];
    if (v !== undefined) (s as unknown as Record<string, unknown>)[def.field] = flagValue(def, v);
  }
  let fileKeys: string[] = [];
  if (file !== undefined) {
    let read: Awaited<ReturnType<typeof readConfigFile>> | undefined;
    try {
      read = await readConfigFile(file);
    } catch (e) {
      if (required || !(e as { notFound?: boolean }).notFound) throw e;
    }
    if (read) {
      const conflicts = KEYS.filter((d) => d.key in read.raw && read.raw[d.key] !== null && flags.fromCli(d.field)).map((d) => d.key).sort();
      if (conflicts.length > 0) {
        const detail = conflicts.map((k) => {
          const def = KEYS.find((d) => d.key === k) as KeyDef;
          const fv = flagValue(def, flags.values[def.field]);
          const shown = def.kind === "ulimits" ? showUlimits(fv as Record<string, Ulimit>) : def.kind === "pools" ? showPools(fv as AddressPool[]) : goValue(fv);
          return `${k}: (from flag: ${shown}, from file: ${goValue(read.raw[k])})`;
        });
        throw new ConfigError(`unable to configure the Docker daemon with file ${file}: the following directives are specified both as a flag and in the configuration file: ${detail.join(", ")}`);
      }
      Object.assign(s, read.values);
      fileKeys = Object.keys(read.raw);
      try {
        validateSettings(s);
      } catch (e) {
        throw new ConfigError(`unable to configure the Docker daemon with file ${file}: configuration validation from file failed: ${messageOf(e)}`);
      }
      return { settings: s, fileKeys };
    }
  }
  validateSettings(s);
  return { settings: s, fileKeys };
}

/** The reloadable part of the settings, in daemon.json's names (what a reload logs and applies). */
export function reloadableView(s: Settings): Record<string, unknown> {
  return Object.fromEntries(KEYS.filter((d) => d.reloadable).map((d) => [d.key, s[d.field]]));
}

/** Keys whose value differs between two settings. */
export function changedKeys(a: Settings, b: Settings, reloadable: boolean): string[] {
  return KEYS.filter((d) => d.reloadable === reloadable && JSON.stringify(a[d.field]) !== JSON.stringify(b[d.field])).map((d) => d.key);
}
