/**
 * Log drivers: json-file, local, journald, syslog and none, as dockerd 20.10
 * names, validates and configures them. The writing itself happens in the
 * container's monitor (runtime/monitor/logsinks.h) so that output keeps
 * reaching its driver while berthd is down; this file turns a container's
 * LogConfig into the monitor's sinks and says where `docker logs` reads.
 *
 * Messages are dockerd's (checked against the reference daemon): create-time
 * checks (unknown driver/opt, syslog address/facility/format) and start-time
 * ones ("failed to initialize logging driver: …").
 */
import { existsSync } from "node:fs";
import { lookup } from "node:dns/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import type { LogSinks } from "../../runtime/index.js";
import { invalid } from "../../util/errors.js";

export const LOG_DRIVERS = ["json-file", "local", "journald", "syslog", "none"] as const;
/** The journal's native socket; BERTH_JOURNAL_SOCKET points at another journald (the tests run a private one). */
export const journalSocket = (): string => process.env.BERTH_JOURNAL_SOCKET || "/run/systemd/journal/socket";

const COMMON = ["env", "env-regex", "labels", "labels-regex", "tag"];
/** dockerd's dual-logging cache options, accepted by drivers that cannot be read back. */
const CACHE = ["cache-disabled", "cache-max-size", "cache-max-file", "cache-compress"];
const OPTS: Record<string, string[]> = {
  "json-file": ["max-file", "max-size", "compress", ...COMMON],
  local: ["max-file", "max-size", "compress"],
  journald: [...COMMON, ...CACHE],
  syslog: [...COMMON, ...CACHE, "syslog-address", "syslog-facility", "syslog-format", "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify"],
};

const FACILITIES = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"];

/** The syslog facility number of a name (kern … local7) or number 0-23, undefined when invalid. */
export function syslogFacility(v: string | undefined): number | undefined {
  if (v === undefined || v === "") return 3;
  if (/^\d+$/.test(v)) return Number(v) <= 23 ? Number(v) : undefined;
  const i = FACILITIES.indexOf(v);
  if (i >= 0) return i;
  const m = /^local([0-7])$/.exec(v);
  return m ? 16 + Number(m[1]) : undefined;
}

/** Create-time checks of a LogConfig (dockerd's logger.ValidateLogOpts). */
export function validateLogConfig(type: string, cfg: Record<string, string>): void {
  if (!(LOG_DRIVERS as readonly string[]).includes(type)) throw invalid(`error looking up logging plugin ${type}: plugin "${type}" not found`);
  if (type === "none") return;
  const allowed = OPTS[type] ?? [];
  for (const k of Object.keys(cfg)) {
    if (allowed.includes(k)) continue;
    throw invalid(type === "local" ? `unknown log opt '${k}' for log driver local` : `unknown log opt '${k}' for ${type} log driver`);
  }
  if (type === "syslog") {
    const a = cfg["syslog-address"];
    if (a) {
      const m = /^([a-z+]+):\/\/(.*)$/.exec(a);
      if (!m || !["unix", "unixgram", "udp", "tcp", "tcp+tls"].includes(m[1] as string)) throw invalid(`syslog-address should be in form proto://address, got ${a}`);
      if ((m[1] === "unix" || m[1] === "unixgram") && !existsSync(m[2] as string)) throw invalid(`stat ${m[2]}: no such file or directory`);
    }
    if (syslogFacility(cfg["syslog-facility"]) === undefined) throw invalid("invalid syslog facility");
    const f = cfg["syslog-format"];
    if (f && !["rfc3164", "rfc5424", "rfc5424micro"].includes(f)) throw invalid("Invalid syslog format");
  }
}

/** The daemon's --log-driver / --log-opt at start: dockerd only checks the opts of a driver it knows. */
export function validateDaemonLogConfig(driver: string, opts: Record<string, string>): void {
  if (!(LOG_DRIVERS as readonly string[]).includes(driver)) return; // dockerd: a plugin, looked up at create
  try {
    validateLogConfig(driver, opts);
  } catch (e) {
    throw new Error(`failed to set log opts: ${(e as Error).message}`);
  }
}

/** dockerd's mergeAndVerifyLogConfig: the daemon's driver when none is named, its opts under the container's. */
export function mergeLogConfig(lc: { Type?: string | null; Config?: Record<string, string> | null } | null | undefined, def: { logDriver?: string; logOpts?: Record<string, string> }): { Type: string; Config: Record<string, string> } {
  const daemonType = def.logDriver || "json-file";
  const type = lc?.Type || daemonType;
  const config = { ...(lc?.Config ?? {}) };
  if (type === daemonType) for (const [k, v] of Object.entries(def.logOpts ?? {})) if (!(k in config)) config[k] = v;
  validateLogConfig(type, config);
  return { Type: type, Config: config };
}

const initError = (msg: string) => invalid(`failed to initialize logging driver: ${msg}`);

/** Docker's units.RAMInBytes sizes ("10m", "1g", "512"); undefined when invalid. */
export function parseLogSize(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i.exec(s.trim());
  if (!m) return undefined;
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[(m[2] as string).toLowerCase()] as number;
  return Math.floor(Number(m[1]) * mult);
}

/** max-size / max-file of json-file and local, with each driver's wording (local wraps the error). */
function sizeAndFiles(type: string, cfg: Record<string, string>, defSize: number | undefined, defFiles: number | undefined): { maxSize?: number; maxFiles?: number } {
  const local = type === "local";
  let maxSize = defSize;
  const ms = cfg["max-size"];
  if (ms !== undefined) {
    maxSize = parseLogSize(ms);
    if (maxSize === undefined) throw initError(`${local ? `invalid value for max-size: ${ms}: ` : ""}invalid size: '${ms}'`);
    if (!local && maxSize <= 0) throw initError("max-size must be a positive number");
  }
  let maxFiles = defFiles;
  const mf = cfg["max-file"];
  if (mf !== undefined) {
    if (!/^[+-]?\d+$/.test(mf)) throw initError(`${local ? `invalid value for max-file: ${mf}: ` : ""}strconv.Atoi: parsing "${mf}": invalid syntax`);
    maxFiles = Number(mf);
    if (maxFiles < 1) {
      if (!local) throw initError("max-file cannot be less than 1");
      maxFiles = 1; // local: less than 1 means one file (then compress must be off)
    }
  }
  return { ...(maxSize !== undefined ? { maxSize } : {}), ...(maxFiles !== undefined ? { maxFiles } : {}) };
}

/** Go's strconv.ParseBool; `what` names the option in the message (local, syslog), json-file gives the bare error. */
function parseBool(v: string, what?: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw initError(`${what ? `error reading ${what} log option: ` : ""}strconv.ParseBool: parsing "${v}": invalid syntax`);
}

export interface LogTarget {
  /** The file the monitor writes (json-file, local, or the local-format cache of syslog), if any. */
  file?: string;
  format: "json" | "local";
  maxSize?: number;
  maxFiles?: number;
  sinks?: LogSinks;
}

export interface LogContainer {
  Id: string;
  Name: string;
  /** Image name as the user gave it (Config.Image). */
  image: string;
  dir: string;
  labels?: Record<string, string>;
  env?: string[];
}

/** dockerd's logger.Info.ExtraAttributes: the labels and env vars the labels/env(-regex) options name, keys through keyMod. */
export function extraAttributes(cfg: Record<string, string>, c: LogContainer, keyMod: (k: string) => string): Record<string, string> {
  const out: Record<string, string> = {};
  const labels = c.labels ?? {};
  for (const k of (cfg["labels"] ?? "").split(",").filter(Boolean)) if (k in labels) out[keyMod(k)] = labels[k] as string;
  if (cfg["labels-regex"]) {
    const re = new RegExp(cfg["labels-regex"]);
    for (const [k, v] of Object.entries(labels)) if (re.test(k)) out[keyMod(k)] = v;
  }
  const env = new Map((c.env ?? []).map((e) => [e.split("=")[0] as string, e.slice(e.indexOf("=") + 1)] as const));
  for (const k of (cfg["env"] ?? "").split(",").filter(Boolean)) if (env.has(k)) out[keyMod(k)] = env.get(k) as string;
  if (cfg["env-regex"]) {
    const re = new RegExp(cfg["env-regex"]);
    for (const [k, v] of env) if (re.test(k)) out[keyMod(k)] = v;
  }
  return out;
}

/** journald's field names: upper case, anything but A-Z 0-9 becomes "_", no leading "_" (moby's sanitizeKeyMod). */
export function journalKey(k: string): string {
  let n = "";
  for (const ch of k) {
    const v = /[a-z]/.test(ch) ? ch.toUpperCase() : /[A-Z0-9]/.test(ch) ? ch : "_";
    if (!(n === "" && v === "_")) n += v;
  }
  return n;
}

/** Docker's default tag template {{.ID}} and the usual fields of --log-opt tag. */
export function renderTag(tpl: string | undefined, c: LogContainer): string {
  const t = tpl || "{{.ID}}";
  const vals: Record<string, string> = {
    ID: c.Id.slice(0, 12),
    FullID: c.Id,
    Name: c.Name.replace(/^\//, ""),
    ImageName: c.image,
    ImageFullID: "",
    ImageID: "",
    DaemonName: "docker",
  };
  return t.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k: string) => vals[k] ?? "");
}

/** The monitor's log target of a container about to start (start-time checks included). */
export async function logTarget(type: string, cfg: Record<string, string>, c: LogContainer): Promise<LogTarget> {
  if (type === "json-file") {
    // dockerd: the labels/env attributes, and the tag only when one is asked for, sorted as Go marshals a map
    const attrs: Record<string, string> = extraAttributes(cfg, c, (k) => k);
    if (cfg["tag"]) attrs["tag"] = renderTag(cfg["tag"], c);
    const keys = Object.keys(attrs).sort();
    const jsonAttrs = keys.length > 0 ? JSON.stringify(Object.fromEntries(keys.map((k) => [k, attrs[k]]))) : undefined;
    const sf = sizeAndFiles(type, cfg, undefined, undefined);
    // dockerd's jsonfilelog.New: rotated files are gzipped only when there is rotation into more than one file
    const compress = cfg["compress"] !== undefined && parseBool(cfg["compress"]);
    if (compress && ((sf.maxFiles ?? 1) < 2 || sf.maxSize === undefined)) throw initError("compress cannot be true when max-file is less than 2 or max-size is not set");
    const sinks: LogSinks = { ...(jsonAttrs ? { jsonAttrs } : {}), ...(compress ? { compress } : {}) };
    return { file: path.join(c.dir, `${c.Id}-json.log`), format: "json", ...sf, ...(Object.keys(sinks).length > 0 ? { sinks } : {}) };
  }
  if (type === "local") {
    const { maxSize, maxFiles } = sizeAndFiles(type, cfg, 20 * 1024 * 1024, 5);
    const compress = cfg["compress"] !== undefined ? parseBool(cfg["compress"], "compress") : true;
    if (compress && maxFiles === 1) throw initError("compression cannot be enabled when max file count is 1");
    return { file: path.join(c.dir, "local-logs", "container.log"), format: "local", maxSize: maxSize as number, maxFiles: maxFiles as number, sinks: { format: "local", compress } };
  }
  if (type === "journald") {
    if (!existsSync(journalSocket())) throw initError("journald is not enabled on this host");
    return { format: "json", sinks: { journald: { socket: journalSocket(), fields: journalFields(cfg, c) } } };
  }
  if (type === "syslog") {
    const address = await syslogAddress(cfg["syslog-address"]);
    const f = cfg["syslog-format"] ?? "";
    const cache = cfg["cache-disabled"] !== undefined && parseBool(cfg["cache-disabled"], "cache-disabled");
    const sinks: LogSinks = {
      format: "local",
      syslog: { address, format: f as "" | "rfc3164", tag: renderTag(cfg["tag"], c), hostname: os.hostname(), facility: syslogFacility(cfg["syslog-facility"]) ?? 3 },
    };
    if (cache) return { format: "local", sinks };
    // dockerd's dual-logging cache: what `docker logs` reads for a driver that cannot be read back.
    return { file: path.join(c.dir, "container-cached.log"), format: "local", maxSize: 20 * 1024 * 1024, maxFiles: 5, sinks: { ...sinks, compress: true } };
  }
  return { format: "json" };
}

function journalFields(cfg: Record<string, string>, c: LogContainer): Record<string, string> {
  const tag = renderTag(cfg["tag"], c);
  return {
    ...extraAttributes(cfg, c, journalKey),
    CONTAINER_ID: c.Id.slice(0, 12),
    CONTAINER_ID_FULL: c.Id,
    CONTAINER_NAME: c.Name.replace(/^\//, ""),
    CONTAINER_TAG: tag,
    IMAGE_NAME: c.image,
    SYSLOG_IDENTIFIER: tag,
  };
}

/** A syslog-address as the monitor takes it: "local", unix paths, or numeric IP:port; tcp is tried now, as dockerd dials at start. */
async function syslogAddress(a: string | undefined): Promise<string> {
  if (!a) {
    if (!["/dev/log", "/var/run/syslog", "/var/run/log"].some((p) => existsSync(p))) throw initError("Unix syslog delivery error");
    return "local";
  }
  const m = /^([a-z+]+):\/\/(.*)$/.exec(a) as RegExpExecArray;
  const proto = m[1] as string;
  if (proto === "unixgram") return a;
  if (proto === "unix") {
    await dialOnce({ path: m[2] as string }, `dial unix ${m[2]}`);
    return a;
  }
  if (proto === "tcp+tls") throw initError("syslog over tcp+tls is not supported by Berth; use tcp, udp or unix to a local relay");
  const u = new URL(`${proto}://${m[2]}`);
  const port = u.port || "514";
  const host = u.hostname.replace(/^\[|\]$/g, "");
  // An unresolvable name: the empty address, refused below with dockerd's message.
  const ip = net.isIP(host) ? host : (await lookup(host).catch(() => ({ address: "" }))).address;
  if (!ip) throw initError(`dial ${proto} ${u.host}: lookup ${host}: no such host`);
  const hp = ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
  if (proto === "tcp") await dialOnce({ host: ip, port: Number(port) }, `dial tcp ${hp}`);
  return `${proto}://${hp}`;
}

/** dockerd dials a stream syslog when the logger starts: a listener that is not there fails the start. */
function dialOnce(to: net.NetConnectOpts, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const s = net.connect(to, () => {
      s.destroy();
      resolve();
    });
    s.setTimeout(5000, () => s.destroy(Object.assign(new Error("i/o timeout"), { code: "ETIMEDOUT" })));
    s.on("error", (e: NodeJS.ErrnoException) => reject(initError(`${what}: connect: ${e.code === "ECONNREFUSED" ? "connection refused" : e.code === "ETIMEDOUT" ? "i/o timeout" : e.message}`)));
  });
}

/** The error of `docker logs` when the driver keeps nothing Berth can read back. */
export function unreadable(type: string, cfg: Record<string, string>): boolean {
  if (type === "none") return true;
  if (type === "syslog") return cfg["cache-disabled"] !== undefined && ["1", "t", "T", "TRUE", "true", "True"].includes(cfg["cache-disabled"]);
  return false;
}
