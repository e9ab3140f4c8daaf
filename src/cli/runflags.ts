/**
 * Parsers for the structured `run`/`create` flags, with docker's errors
 * (opts/mount.go, opts/ulimit.go, parseDevice, the health and DNS options).
 */
import { FlagValueError, StatusError } from "./context.js";
import { parseGoDuration, ramInBytes } from "./format.js";

const TRUE = ["1", "t", "true"];
const FALSE = ["0", "f", "false"];

function parseBool(v: string, spec: string): boolean {
  const l = v.toLowerCase();
  if (TRUE.includes(l)) return true;
  if (FALSE.includes(l)) return false;
  throw new FlagValueError(spec, "--mount", `invalid value for '${v}'`);
}

/** `--mount type=…,source=…,target=…,…` → a HostConfig.Mounts entry. */
export function parseMount(spec: string): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  const bind: Record<string, unknown> = {};
  const vol: Record<string, unknown> = {};
  const tmpfs: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  const driverOpts: Record<string, string> = {};
  let driver: string | undefined;
  for (const field of spec.split(",")) {
    const eq = field.indexOf("=");
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    const value = eq >= 0 ? field.slice(eq + 1) : undefined;
    if (value === undefined) {
      if (["readonly", "ro"].includes(key)) m["ReadOnly"] = true;
      else if (key === "volume-nocopy") vol["NoCopy"] = true;
      else if (key === "bind-nonrecursive") bind["NonRecursive"] = true;
      else throw new FlagValueError(spec, "--mount", `invalid field '${field}' must be a key=value pair`);
      continue;
    }
    switch (key) {
      case "type":
        m["Type"] = value.toLowerCase();
        break;
      case "source":
      case "src":
        m["Source"] = value;
        break;
      case "target":
      case "dst":
      case "destination":
        m["Target"] = value;
        break;
      case "readonly":
      case "ro":
        m["ReadOnly"] = parseBool(value, spec);
        break;
      case "consistency":
        m["Consistency"] = value;
        break;
      case "bind-propagation":
        bind["Propagation"] = value.toLowerCase();
        break;
      case "bind-nonrecursive":
        bind["NonRecursive"] = parseBool(value, spec);
        break;
      case "volume-nocopy":
        vol["NoCopy"] = parseBool(value, spec);
        break;
      case "volume-label": {
        const i = value.indexOf("=");
        labels[i >= 0 ? value.slice(0, i) : value] = i >= 0 ? value.slice(i + 1) : "";
        break;
      }
      case "volume-driver":
        driver = value;
        break;
      case "volume-opt": {
        const i = value.indexOf("=");
        if (i < 0) throw new FlagValueError(spec, "--mount", `invalid value for volume-opt: ${value}`);
        driverOpts[value.slice(0, i)] = value.slice(i + 1);
        break;
      }
      case "tmpfs-size":
        try {
          tmpfs["SizeBytes"] = ramInBytes(value);
        } catch {
          throw new FlagValueError(spec, "--mount", `invalid value for ${key}: ${value}`);
        }
        break;
      case "tmpfs-mode":
        if (!/^[0-7]+$/.test(value)) throw new FlagValueError(spec, "--mount", `invalid value for ${key}: ${value}`);
        tmpfs["Mode"] = parseInt(value, 8);
        break;
      default:
        throw new FlagValueError(spec, "--mount", `unexpected key '${key}' in '${field}'`);
    }
  }
  m["Type"] ??= "volume";
  if (Object.keys(bind).length > 0) m["BindOptions"] = bind;
  // docker creates VolumeOptions with an (empty) DriverConfig as soon as one volume option is set.
  const volumeTouched = Object.keys(vol).length > 0 || driver !== undefined || Object.keys(driverOpts).length > 0 || Object.keys(labels).length > 0;
  if (Object.keys(labels).length > 0) vol["Labels"] = labels;
  if (volumeTouched) vol["DriverConfig"] = { ...(driver ? { Name: driver } : {}), ...(Object.keys(driverOpts).length > 0 ? { Options: driverOpts } : {}) };
  if (volumeTouched) m["VolumeOptions"] = vol;
  if (Object.keys(tmpfs).length > 0) m["TmpfsOptions"] = tmpfs;
  return m;
}

/** `--tmpfs /path[:options]` entries → HostConfig.Tmpfs. */
export function parseTmpfs(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of list) {
    const i = t.indexOf(":");
    out[i >= 0 ? t.slice(0, i) : t] = i >= 0 ? t.slice(i + 1) : "";
  }
  return out;
}

const ULIMIT_NAMES = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

/** `--ulimit name=soft[:hard]` → {Name, Hard, Soft}. */
export function parseUlimit(v: string): { Name: string; Hard: number; Soft: number } {
  const eq = v.indexOf("=");
  if (eq < 0) throw new FlagValueError(v, "--ulimit", `invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  if (!ULIMIT_NAMES.includes(name)) throw new FlagValueError(v, "--ulimit", `invalid ulimit type: ${name}`);
  const parts = v.slice(eq + 1).split(":");
  if (parts.length > 2) throw new FlagValueError(v, "--ulimit", `too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const num = (s: string): number => {
    if (!/^-?\d+$/.test(s)) throw new FlagValueError(v, "--ulimit", `strconv.ParseInt: parsing "${s}": invalid syntax`);
    return Number(s);
  };
  const soft = num(parts[0] ?? "");
  const hard = parts.length === 2 ? num(parts[1] ?? "") : soft;
  if (soft > hard) throw new FlagValueError(v, "--ulimit", `ulimit soft limit must be less than or equal to hard limit: ${soft} > ${hard}`);
  return { Name: name, Hard: hard, Soft: soft };
}

const validDeviceMode = (m: string): boolean => m !== "" && /^[rwm]+$/.test(m) && new Set(m).size === m.length;

/** `--device host[:container][:permissions]` → a device mapping. */
export function parseDevice(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const arr = spec.split(":");
  let permissions = "rwm";
  let dst = "";
  if (arr.length > 3 || arr.length === 0) throw new StatusError(125, `invalid device specification: ${spec}`);
  if (arr.length === 3) permissions = arr[2] as string;
  if (arr.length >= 2) {
    if (validDeviceMode(arr[1] as string)) permissions = arr[1] as string;
    else dst = arr[1] as string;
  }
  const src = arr[0] as string;
  if (!validDeviceMode(permissions)) throw new StatusError(125, `invalid device mode: ${permissions}`);
  return { PathOnHost: src, PathInContainer: dst || src, CgroupPermissions: permissions };
}

/** A Go duration flag value in nanoseconds. */
export function durationFlag(v: string, flag: string): number {
  const ms = parseGoDuration(v);
  if (ms === undefined) throw new FlagValueError(v, flag, `time: invalid duration "${v}"`);
  return Math.round(ms * 1e6);
}

export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthStartPeriod?: string;
  healthStartInterval?: string;
  healthRetries?: string;
  healthcheck?: boolean;
}

/** The health flags → Config.Healthcheck (undefined when none is given). */
export function buildHealthcheck(f: HealthFlags): Record<string, unknown> | undefined {
  const interval = f.healthInterval !== undefined ? durationFlag(f.healthInterval, "--health-interval") : 0;
  const timeout = f.healthTimeout !== undefined ? durationFlag(f.healthTimeout, "--health-timeout") : 0;
  const startPeriod = f.healthStartPeriod !== undefined ? durationFlag(f.healthStartPeriod, "--health-start-period") : 0;
  const startInterval = f.healthStartInterval !== undefined ? durationFlag(f.healthStartInterval, "--health-start-interval") : 0;
  let retries = 0;
  if (f.healthRetries !== undefined) {
    if (!/^-?\d+$/.test(f.healthRetries)) throw new FlagValueError(f.healthRetries, "--health-retries", `strconv.ParseInt: parsing "${f.healthRetries}": invalid syntax`);
    retries = Number(f.healthRetries);
  }
  const have = (f.healthCmd ?? "") !== "" || interval !== 0 || timeout !== 0 || startPeriod !== 0 || startInterval !== 0 || retries !== 0;
  if (f.healthcheck === false) {
    if (have) throw new StatusError(125, "--no-healthcheck conflicts with --health-* options");
    return { Test: ["NONE"] };
  }
  if (!have) return undefined;
  for (const [v, name] of [
    [interval, "--health-interval"],
    [timeout, "--health-timeout"],
    [startPeriod, "--health-start-period"],
    [startInterval, "--health-start-interval"],
  ] as const)
    if (v < 0) throw new StatusError(125, `${name} cannot be negative`);
  if (retries < 0) throw new StatusError(125, "--health-retries cannot be negative");
  return {
    ...(f.healthCmd ? { Test: ["CMD-SHELL", f.healthCmd] } : {}),
    Interval: interval,
    Timeout: timeout,
    StartPeriod: startPeriod,
    StartInterval: startInterval,
    Retries: retries,
  };
}

/** opts.ValidateIPAddress for --dns. */
export function validateDns(ip: string): string {
  const v = ip.trim();
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  if (v4 && v4.slice(1).every((x) => Number(x) <= 255)) return v;
  if (v.includes(":") && /^[0-9a-fA-F:.]+$/.test(v)) return v;
  throw new FlagValueError(ip, "--dns", `IP address is not correctly formatted: ${ip}`);
}

/** `--pull`: missing (default), always or never. */
export function validatePull(v: string): "missing" | "always" | "never" {
  if (v === "missing" || v === "always" || v === "never") return v;
  throw new StatusError(125, `invalid pull option: '${v}': must be one of "always", "missing" or "never"`);
}
