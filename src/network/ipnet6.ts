/**
 * IPv6 address arithmetic for dual-stack bridge networks: parsing (validated
 * by node:net), RFC 5952 formatting (what Go's net.IP.String prints, so
 * addresses read as dockerd's do), CIDR blocks and the first free address.
 * Hand-written because ipnet.ts is IPv4-only (32-bit numbers) and no Debian-
 * packaged JS library covers this; 128-bit values are BigInts. Pure functions.
 */
import { isIPv6 } from "node:net";

export interface Cidr6 {
  addr: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

/** "fd00::1" → its 128-bit value; undefined when not an IPv6 address (zones refused). */
export function parseIPv6(s: string): bigint | undefined {
  if (!isIPv6(s) || s.includes("%")) return undefined;
  let text = s;
  const v4 = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const hs = head === "" ? [] : head.split(":");
  const ts = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined ? hs : [...hs, ...Array<string>(8 - hs.length - ts.length).fill("0"), ...ts];
  if (groups.length !== 8) return undefined;
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** RFC 5952: lower case, no leading zeros, the longest run (≥ 2) of zero groups as "::". */
export function formatIPv6(n: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((n >> BigInt(i * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

function maskOf(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

/** "fd00::/64" → the block (host bits cleared) and the address as written; undefined when malformed. */
export function parseCidr6(s: string): (Cidr6 & { host: bigint }) | undefined {
  const m = s.match(/^([^/]+)\/(\d{1,3})$/);
  const ip = m ? parseIPv6(m[1] as string) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 128)) return undefined;
  return { addr: ip & maskOf(prefix), prefix, host: ip };
}

export function cidr6String(c: Cidr6): string {
  return `${formatIPv6(c.addr)}/${c.prefix}`;
}

export function contains6(c: Cidr6, ip: bigint): boolean {
  return (ip & maskOf(c.prefix)) === c.addr;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const m = maskOf(Math.min(a.prefix, b.prefix));
  return (a.addr & m) === (b.addr & m);
}

/** The last address of a block. */
export function lastOf6(c: Cidr6): bigint {
  return c.addr | (~maskOf(c.prefix) & ALL);
}

/**
 * The lowest free address of a block after its network address (IPv6 has no
 * broadcast: the last address is usable, as in dockerd's IPAM), within `range`
 * when given, skipping `taken`. Bounded by the size of `taken`.
 */
export function firstFree6(c: Cidr6, taken: Set<bigint>, range?: Cidr6): bigint | undefined {
  const lo = range && range.addr > c.addr ? range.addr : c.addr + 1n;
  const hi = range && lastOf6(range) < lastOf6(c) ? lastOf6(range) : lastOf6(c);
  for (let ip = lo; ip <= hi; ip++) if (!taken.has(ip)) return ip;
  return undefined;
}
