/**
 * The container defaults of daemon.json and their flags: `dns`, `dns-search`,
 * `dns-opts` (--dns, --dns-search, --dns-opt), `default-ulimits`
 * (--default-ulimit name=soft[:hard]) and `default-address-pools`
 * (--default-address-pool base=CIDR,size=N). Hand-written parsers because the
 * point is dockerd 20.10's syntax and messages (go-units' ParseUlimit,
 * opts.PoolsOpt, libnetwork's pool checks), checked against the reference.
 */
import { isIP } from "node:net";

/** A ulimit as daemon.json and HostConfig.Ulimits hold it. */
export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** One `default-address-pools` entry: networks of prefix `size` cut from `base`. */
export interface AddressPool {
  base: string;
  size: number;
}

/** The rlimits Docker knows by name (go-units). */
export const ULIMIT_NAMES = ["as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"];

function parseInt64(s: string): number {
  if (!/^[+-]?\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new Error(`strconv.ParseInt: parsing "${s}": invalid syntax`);
  return Number(s);
}

/** A ulimit's own checks (name, soft ≤ hard), with go-units' messages. */
export function checkUlimit(u: Ulimit): void {
  if (!ULIMIT_NAMES.includes(u.Name)) throw new Error(`invalid ulimit type: ${u.Name}`);
  if (u.Hard >= 0 && (u.Soft < 0 || u.Soft > u.Hard)) throw new Error(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
}

/** `--default-ulimit nofile=1024:2048` (hard defaults to soft), as go-units' ParseUlimit. */
export function parseUlimit(v: string): Ulimit {
  const eq = v.indexOf("=");
  if (eq < 0) throw new Error(`invalid ulimit argument: ${v}`);
  const name = v.slice(0, eq);
  if (!ULIMIT_NAMES.includes(name)) throw new Error(`invalid ulimit type: ${name}`);
  const parts = v.slice(eq + 1).split(":");
  if (parts.length > 2) throw new Error(`too many limit value arguments - ${v.slice(eq + 1)}, can only have up to two, \`soft[:hard]\``);
  const soft = parseInt64(parts[0] ?? "");
  const hard = parts[1] !== undefined ? parseInt64(parts[1]) : soft;
  const u = { Name: name, Soft: soft, Hard: hard };
  checkUlimit(u);
  return u;
}

/** Go's %v of the --default-ulimit flag (what dockerd's conflict message shows): [nofile=1024:2048]. */
export function showUlimits(m: Record<string, Ulimit>): string {
  return `[${Object.values(m).map((u) => `${u.Name}=${u.Soft}:${u.Hard}`).join(" ")}]`;
}

/** `--default-address-pool base=10.10.0.0/16,size=24`, as dockerd's opts.PoolsOpt. */
export function parsePool(v: string): AddressPool {
  const pool: AddressPool = { base: "", size: 0 };
  for (const field of v.split(",")) {
    const eq = field.indexOf("=");
    if (eq < 0) throw new Error(`invalid field '${field}' must be a key=value pair`);
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === "base") pool.base = value;
    else if (key === "size") {
      if (!/^[+-]?\d+$/.test(value)) throw new Error(`invalid size value: "${value}" (must be integer): strconv.Atoi: parsing "${value}": invalid syntax`);
      pool.size = Number(value);
    } else throw new Error(`unexpected key '${key}' in '${field}'`);
  }
  return pool;
}

/** The flag's value as dockerd prints it in a conflict: "10.10.0.0/16 24, 10.20.0.0/16 24". */
export function showPools(pools: AddressPool[]): string {
  return pools.map((p) => `${p.base} ${p.size}`).join(", ");
}

/**
 * libnetwork's checks of a pool when the daemon starts: an IPv4 CIDR base, and a
 * size between its prefix and 32. (IPv6 pools are refused: Berth's user networks
 * take IPv6 subnets only from --subnet.)
 */
export function checkPool(p: AddressPool): void {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(p.base);
  if (!m || isIP(m[1] as string) !== 4 || Number(m[2]) > 32) {
    if (/^[0-9a-fA-F:]+\/\d{1,3}$/.test(p.base) && isIP(p.base.slice(0, p.base.indexOf("/"))) === 6) {
      throw new Error(`invalid base pool "${p.base}": IPv6 address pools are not supported by berthd`);
    }
    throw new Error(`invalid base pool "${p.base}": invalid CIDR address: ${p.base}`);
  }
  if (p.size <= 0 || p.size < Number(m[2]) || p.size > 32) throw new Error(`invalid pools size: ${p.size}`);
}

/** dockerd's ValidateIPAddress for --dns / "dns". */
export function checkDns(ip: string): string {
  if (isIP(ip.trim()) === 0) throw new Error(`${ip} is not an ip address`);
  return ip.trim();
}

/** dockerd's ValidateDNSSearch for --dns-search / "dns-search" ("." means: no search domains). */
export function checkDnsSearch(d: string): string {
  if (d === ".") return d;
  const name = d.endsWith(".") ? d.slice(0, -1) : d;
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$/.test(name) || name.length > 255) {
    throw new Error(`${d} is not a valid domain`);
  }
  return d;
}
