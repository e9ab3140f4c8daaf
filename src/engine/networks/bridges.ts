/**
 * The Linux bridges under the networks: the default bridge (berth0, adopted when another
 * berthd made it), user networks' bridges brought back after a reboot, stale bridges of
 * vanished daemons removed, and the choice of a free subnet from the address pools.
 */
import { existsSync } from "node:fs";
import {
  type Cidr,
  type HostLink,
  cidrString,
  configureBridge,
  createBridge,
  defaultGateway,
  deleteBridge,
  enableLocalnet,
  formatIPv4,
  formatIPv6,
  hostLinks,
  overlaps,
  parseCidr,
  pickFromPools,
  pickSubnet,
  pinBridgeMac,
} from "../../network/index.js";
import { EngineError, messageOf } from "../../util/errors.js";
import { DEFAULT_MTU, type NetworkRecord, isV6Config, v6Of } from "./model.js";
import type { NetworkState } from "./state.js";

/** Let a bridge route 127.0.0.1 for published loopback ports, behind its loopback guard (network/loopguard.ts). */
export async function localnet(s: NetworkState, bridge: string): Promise<void> {
  const err = await enableLocalnet(bridge);
  if (err) s.o.log.error(`bridge ${bridge}: no loopback guard, so no route_localnet (ports published on 127.0.0.1 do not answer): ${err}`);
}

/** A free subnet from the configured pools (in order), else from Docker's built-in ones. */
export function pickPool(s: NetworkState, used: Cidr[]): Cidr | undefined {
  const pools = s.o.addressPools ?? [];
  if (pools.length === 0) return pickSubnet(used);
  return pickFromPools(used, pools.map((p) => ({ base: parseCidr(p.base, true), size: p.size })));
}

/** Subnets in use on the host (routes and addresses) and by our networks, ignoring the given interfaces. */
export function usedSubnets(s: NetworkState, links: HostLink[], routes: string[], ignore: string[]): Cidr[] {
  const out: Cidr[] = [];
  const ignored = new Set<string>();
  for (const l of links) {
    if (ignore.includes(l.ifname)) {
      for (const a of l.addrs) ignored.add(cidrString(parseCidr(a, true)));
      continue;
    }
    for (const a of l.addrs) out.push(parseCidr(a, true));
  }
  for (const r of routes) {
    try {
      const c = parseCidr(r, true);
      if (!ignored.has(cidrString(c))) out.push(c);
    } catch {
      // not IPv4
    }
  }
  for (const n of s.networks.values()) for (const c of n.IPAM.Config) if (c.Subnet && !isV6Config(c) && !ignore.includes(n.bridge ?? "")) out.push(parseCidr(c.Subnet));
  return out;
}

/** Bridges labelled by a berthd (alias berth:<exec-root>) whose daemon is gone, or ours without a network: deleted. */
export async function collectStrayBridges(s: NetworkState, links: HostLink[]): Promise<void> {
  const mine = new Set(s.userNetworks().map((n) => n.bridge));
  for (const l of links) {
    if (l.kind !== "bridge" || !l.alias.startsWith("berth:")) continue;
    const root = l.alias.slice("berth:".length);
    const stale = root === s.o.execRoot ? !mine.has(l.ifname) : !existsSync(root);
    if (!stale) continue;
    await deleteBridge(l.ifname).catch((e: unknown) => s.o.log.warn(`removing stale bridge ${l.ifname}: ${messageOf(e)}`));
    l.kind = "deleted";
  }
}

/** The default bridge: adopt an existing berth0 (another berthd may share it), else create it on a free subnet. */
export async function ensureDefaultBridge(s: NetworkState, bridge: NetworkRecord, links: HostLink[], routes: string[]): Promise<Cidr & { host: number }> {
  const name = s.bridgeName;
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = links.find((l) => l.ifname === name && l.kind === "bridge");
    if (existing && existing.addrs[0]) {
      const cur = parseCidr(existing.addrs[0], true);
      if (s.o.bridgeIp) {
        const want = parseCidr(s.o.bridgeIp, true);
        if (want.host !== cur.host || want.prefix !== cur.prefix) s.o.log.warn(`--bip ${s.o.bridgeIp} ignored: ${name} already has ${existing.addrs[0]}`);
      }
      if (!existing.up) await configureBridge(name, undefined);
      await pinBridgeMac(name);
      await localnet(s, name);
      return cur;
    }
    let gw: Cidr & { host: number };
    if (s.o.bridgeIp) gw = parseCidr(s.o.bridgeIp, true);
    else {
      const used = usedSubnets(s, links, routes, [name]);
      const prev = bridge.IPAM.Config[0]?.Subnet;
      const prevCidr = prev ? parseCidr(prev) : undefined;
      const pick = prevCidr && !used.some((u) => overlaps(u, prevCidr)) ? prevCidr : pickPool(s, used);
      if (!pick) throw new EngineError("internal", "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the default bridge");
      gw = { ...pick, host: defaultGateway(pick) };
    }
    try {
      if (existing) await configureBridge(name, `${formatIPv4(gw.host)}/${gw.prefix}`);
      else await createBridge(name, `${formatIPv4(gw.host)}/${gw.prefix}`, DEFAULT_MTU);
      if (existing) await pinBridgeMac(name);
      await localnet(s, name);
      s.o.log.info(`default bridge ${name}: ${formatIPv4(gw.host)}/${gw.prefix}`);
      return gw;
    } catch (e) {
      // Another daemon created it at the same moment: adopt theirs.
      s.o.log.debug(`creating ${name}: ${messageOf(e)}; retrying`);
      links = await hostLinks();
    }
  }
  throw new EngineError("internal", `could not set up the default bridge ${name}`);
}

/** A user network's bridge as its record says (created, re-addressed or brought up as needed); failures are logged. */
export async function ensureUserBridge(s: NetworkState, n: NetworkRecord, links: HostLink[]): Promise<void> {
  const name = n.bridge as string;
  const cfg = n.IPAM.Config[0];
  if (!cfg) return;
  const gwCidr = `${cfg.Gateway ?? ""}/${parseCidr(cfg.Subnet).prefix}`;
  const v6 = v6Of(n);
  const gw6Cidr = v6 ? `${formatIPv6(v6.gateway)}/${v6.subnet.prefix}` : undefined;
  const l = links.find((x) => x.ifname === name);
  try {
    if (!l || l.kind === "deleted") await createBridge(name, gwCidr, n.mtu ?? DEFAULT_MTU, `berth:${s.o.execRoot}`, gw6Cidr);
    else if (!l.addrs.includes(gwCidr) || (gw6Cidr && !l.addrs6.includes(gw6Cidr)) || !l.up) {
      await configureBridge(name, l.addrs.includes(gwCidr) ? undefined : gwCidr, gw6Cidr && !l.addrs6.includes(gw6Cidr) ? gw6Cidr : undefined);
    }
    await pinBridgeMac(name);
    await localnet(s, name);
  } catch (e) {
    s.o.log.error(`network ${n.Name}: bridge ${name}: ${messageOf(e)}`);
  }
}
