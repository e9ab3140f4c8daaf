/**
 * IPv4 address arithmetic: parsing, CIDR blocks, overlap tests, Docker's
 * default address pools and its IP-derived MAC addresses. Pure functions.
 */
import { invalid } from "../util/errors.js";

/** An IPv4 block: the network address (host bits zero) and the prefix length. */
export interface Cidr {
  addr: number;
  prefix: number;
}

export function parseIPv4(s: string): number | undefined {
  const m = s.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith("0")) return undefined;
    const v = Number(part);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parse "a.b.c.d/n"; host bits must be zero unless `allowHostBits` (then they are kept in `host`). */
export function parseCidr(s: string, allowHostBits = false): Cidr & { host: number } {
  const m = s.match(/^([\d.]+)\/(\d{1,2})$/);
  const ip = m ? parseIPv4(m[1] as string) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) throw invalid(`invalid CIDR address: ${s}`);
  const addr = (ip & maskOf(prefix)) >>> 0;
  if (!allowHostBits && addr !== ip) throw invalid(`invalid subnet ${s}: it should be ${formatIPv4(addr)}/${prefix}`);
  return { addr, prefix, host: ip };
}

export function cidrString(c: Cidr): string {
  return `${formatIPv4(c.addr)}/${c.prefix}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.addr;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  const m = maskOf(p);
  return ((a.addr & m) >>> 0) === ((b.addr & m) >>> 0);
}

export function broadcastOf(c: Cidr): number {
  return (c.addr | (~maskOf(c.prefix) >>> 0)) >>> 0;
}

/** Docker's gateway choice: the first address of the block. */
export function defaultGateway(c: Cidr): number {
  return c.prefix >= 31 ? c.addr : c.addr + 1;
}

/** Docker's MAC for an address: 02:42 followed by the four address bytes. */
export function macFromIp(ip: number): string {
  const b = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export function isValidMac(s: string): boolean {
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(s);
}

/** Docker's default local address pools: 172.17-31.0.0/16, then 192.168.0.0/16 cut into /20s. */
export function defaultPools(): Cidr[] {
  const out: Cidr[] = [];
  for (let b = 17; b <= 31; b++) out.push({ addr: parseIPv4(`172.${b}.0.0`) as number, prefix: 16 });
  for (let c = 0; c < 256; c += 16) out.push({ addr: parseIPv4(`192.168.${c}.0`) as number, prefix: 20 });
  return out;
}

/** The first pool that overlaps none of `used` (host routes, addresses, other networks). */
export function pickSubnet(used: Cidr[], pools: Cidr[] = defaultPools()): Cidr | undefined {
  return pools.find((p) => !used.some((u) => overlaps(p, u)));
}

/** A configured address pool (daemon.json "default-address-pools"): subnets of prefix `size` cut from `base`. */
export interface SplitPool {
  base: Cidr;
  size: number;
}

/**
 * The first subnet of the pools, in order, that overlaps none of `used`, as
 * dockerd allocates from default-address-pools. Walks the candidates without
 * listing them (a /8 cut into /28s has a million), jumping past each used block.
 */
export function pickFromPools(used: Cidr[], pools: SplitPool[]): Cidr | undefined {
  for (const p of pools) {
    const step = 2 ** (32 - p.size);
    const start = ((p.base.addr & maskOf(p.base.prefix)) >>> 0);
    const end = start + 2 ** (32 - p.base.prefix);
    for (let a = start; a < end;) {
      const cand = { addr: a, prefix: p.size };
      const hit = used.find((u) => overlaps(cand, u));
      if (!hit) return cand;
      const hitEnd = ((hit.addr & maskOf(hit.prefix)) >>> 0) + 2 ** (32 - hit.prefix);
      a = Math.max(a + step, Math.ceil((hitEnd - start) / step) * step + start);
    }
  }
  return undefined;
}

/**
 * The lowest free host address of a block (skipping the network, gateway and
 * broadcast addresses and everything in `taken`), within `range` when given.
 */
export function firstFree(c: Cidr, taken: Set<number>, range?: Cidr): number | undefined {
  const lo = range ? Math.max(range.addr, c.addr + 1) : c.addr + 1;
  const hi = range ? Math.min(broadcastOf(range), broadcastOf(c) - 1) : broadcastOf(c) - 1;
  for (let ip = lo; ip <= hi; ip++) if (!taken.has(ip)) return ip;
  return undefined;
}
