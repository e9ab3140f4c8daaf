/**
 * POST /networks/create: a user-defined bridge network, checked as dockerd 20.10 checks it
 * (same messages; where dockerd answers 500 for bad input, 400): name, driver, options,
 * IPv4 subnet/gateway/range from the request or a free pool, the optional IPv6 side; then
 * its bridge, its record, the iptables rules.
 */
import { promises as fs } from "node:fs";
import {
  type Cidr,
  cidrString,
  contains,
  contains6,
  createBridge,
  defaultGateway,
  deleteBridge,
  formatIPv4,
  formatIPv6,
  hostLinks,
  hostRoutes,
  overlaps,
  overlaps6,
  parseCidr,
  parseCidr6,
  parseIPv4,
  parseIPv6,
} from "../../network/index.js";
import { bestEffort } from "../../util/besteffort.js";
import { EngineError, conflict, invalid, messageOf, notFound } from "../../util/errors.js";
import { localnet, pickPool, usedSubnets } from "./bridges.js";
import { DEFAULT_MTU, type IpamConfig, type NetworkRecord, isV6Config, newHexId, v6Of } from "./model.js";
import type { NetworkCreateBody } from "./schemas.js";
import type { NetworkState } from "./state.js";

const NET_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export async function createNetwork(s: NetworkState, body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
  return s.lock.run("\0networks", async () => {
    const name = body.Name ?? "";
    if (name === "") throw invalid("network name must not be empty");
    if (!NET_NAME_RE.test(name)) throw invalid(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (name === "bridge" || name === "host" || name === "none") throw new EngineError("forbidden", `operation is not permitted on predefined ${name} network `);
    if ([...s.networks.values()].some((n) => n.Name === name)) throw conflict(`network with name ${name} already exists`);
    const driver = body.Driver || "bridge";
    if (driver === "host" || driver === "null") throw new EngineError("forbidden", `only one instance of "${driver}" network is allowed`);
    if (driver !== "bridge") throw notFound(`plugin ${JSON.stringify(driver)} not found`);
    if (body.Ingress) throw new EngineError("forbidden", "ingress networks are only available in swarm mode");
    if (body.ConfigOnly || body.ConfigFrom?.Network) throw invalid("config-only networks are not supported by berthd");
    const opts = { ...(body.Options ?? {}) };
    const ipamDriver = body.IPAM?.Driver || "default";
    if (ipamDriver !== "default") throw notFound(`could not find plugin ${ipamDriver} in v1 plugin registry: plugin not found`);
    const id = newHexId();
    const bridgeName = opts["com.docker.network.bridge.name"] || `br-${id.slice(0, 12)}`;
    if (bridgeName.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridgeName)) throw invalid(`invalid bridge name: ${bridgeName}`);
    const mtuOpt = opts["com.docker.network.driver.mtu"];
    const mtu = mtuOpt ? Number(mtuOpt) : DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw invalid(`invalid MTU: ${mtuOpt}`);

    const [links, routes] = await Promise.all([hostLinks(), hostRoutes()]);
    if (links.some((l) => l.ifname === bridgeName)) throw conflict(`bridge ${bridgeName} already exists on the host`);
    const used = usedSubnets(s, links, routes, []);
    const cfgIn = (body.IPAM?.Config ?? []).filter((c) => c && (c.Subnet || c.Gateway || c.IPRange));
    const isV6In = (c: (typeof cfgIn)[number]) => (c?.Subnet || c?.Gateway || c?.IPRange || "").includes(":");
    const v6In = cfgIn.filter(isV6In);
    if (cfgIn.length - v6In.length > 1 || v6In.length > 1) throw new EngineError("forbidden", "bridge driver doesn't support multiple subnets");
    const v6Cfg = v6Request(s, v6In[0] ?? undefined, body.EnableIPv6 === true);
    let subnet: Cidr;
    let gateway: number;
    let ipRange: string | undefined;
    const ci = cfgIn.find((c) => !isV6In(c));
    if (ci?.Subnet) {
      try {
        subnet = parseCidr(ci.Subnet);
      } catch (e) {
        throw invalid(`Invalid subnet ${ci.Subnet} : ${messageOf(e)}`);
      }
      if (subnet.prefix > 30) throw invalid(`subnet ${ci.Subnet} is too small`);
      if ([...s.networks.values()].some((n) => n.IPAM.Config.some((c) => c.Subnet && !isV6Config(c) && overlaps(parseCidr(c.Subnet), subnet)))) {
        throw new EngineError("forbidden", "Pool overlaps with other one on this address space");
      }
    } else {
      if (ci?.Gateway || ci?.IPRange) throw invalid("a gateway or ip-range needs a subnet");
      const pick = pickPool(s, used);
      if (!pick) throw notFound("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network");
      subnet = pick;
    }
    if (ci?.Gateway) {
      const g = parseIPv4(ci.Gateway);
      if (g === undefined) throw invalid(`no matching subnet for gateway ${ci.Gateway}`);
      if (!contains(subnet, g)) throw invalid(`failed to allocate gateway (${ci.Gateway}): Requested address is out of range`);
      gateway = g;
    } else gateway = defaultGateway(subnet);
    if (ci?.IPRange) {
      const r = parseCidr(ci.IPRange);
      if (!contains(subnet, r.addr) || r.prefix < subnet.prefix) throw invalid(`no matching subnet for range ${ci.IPRange}`);
      ipRange = ci.IPRange;
    }
    const rec: NetworkRecord = {
      Name: name,
      Id: id,
      Created: new Date().toISOString(),
      Scope: "local",
      Driver: "bridge",
      EnableIPv4: true,
      EnableIPv6: body.EnableIPv6 === true,
      IPAM: {
        Driver: "default",
        // null when the request has none (the docker CLI sends {}), as dockerd answers.
        Options: body.IPAM?.Options ?? null,
        Config: [{ Subnet: cidrString(subnet), Gateway: formatIPv4(gateway), ...(ipRange ? { IPRange: ipRange } : {}) }, ...(v6Cfg ? [v6Cfg] : [])],
      },
      Internal: body.Internal ?? false,
      Attachable: body.Attachable ?? false,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Options: opts,
      Labels: body.Labels ?? {},
      bridge: bridgeName,
      mtu,
      ...(ci?.Subnet && !ci.Gateway ? { gatewayImplied: true } : {}),
    };
    const v6 = v6Of(rec);
    await createBridge(bridgeName, `${formatIPv4(gateway)}/${subnet.prefix}`, mtu, `berth:${s.o.execRoot}`, v6 ? `${formatIPv6(v6.gateway)}/${v6.subnet.prefix}` : undefined);
    try {
      await localnet(s, bridgeName);
      await s.saveNetwork(rec);
      s.networks.set(id, rec);
      await s.applyFirewall();
    } catch (e) {
      s.networks.delete(id);
      await fs.rm(s.netFile(id), { force: true });
      await deleteBridge(bridgeName).catch(bestEffort(`removing bridge ${bridgeName}`));
      await s.applyFirewall().catch(bestEffort("iptables"));
      throw e;
    }
    s.o.events.emit("network", "create", id, { name, type: "bridge" });
    return { Id: id, Warning: "" };
  });
}

/**
 * The IPv6 subnet of a new network, checked as dockerd 20.10 checks it (same messages; where
 * dockerd answers 500 for bad input, 400). Kept (not in force) when EnableIPv6 is off, as dockerd does.
 */
function v6Request(s: NetworkState, c: { Subnet?: string | null; Gateway?: string | null; IPRange?: string | null } | undefined, enable: boolean): IpamConfig | undefined {
  if (!c?.Subnet) {
    if (c?.Gateway || c?.IPRange) throw invalid("a gateway or ip-range needs a subnet");
    if (enable) throw notFound("could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network");
    return undefined;
  }
  const subnet = parseCidr6(c.Subnet);
  if (!subnet) throw invalid(`Invalid subnet ${c.Subnet} : invalid CIDR address: ${c.Subnet}`);
  if (c.Gateway && parseIPv6(c.Gateway) === undefined) throw invalid(`invalid gateway address ${c.Gateway} in Ipam configuration`);
  const range = c.IPRange ? parseCidr6(c.IPRange) : undefined;
  if (c.IPRange && !range) throw invalid(`failed to parse pool request for address space "LocalDefault" pool "${c.Subnet}" subpool "${c.IPRange}": Invalid Address SubPool`);
  for (const n of s.networks.values()) {
    for (const o of n.IPAM.Config) {
      const oc = isV6Config(o) ? parseCidr6(o.Subnet) : undefined;
      if (oc && overlaps6(oc, subnet)) throw new EngineError("forbidden", "Pool overlaps with other one on this address space");
    }
  }
  if (range && (range.prefix < subnet.prefix || !contains6(subnet, range.addr))) throw invalid(`no matching subnet for range ${c.IPRange}`);
  if (c.Gateway) {
    const g = parseIPv6(c.Gateway) as bigint;
    if (!contains6(subnet, g)) throw invalid(`failed to allocate gateway (${c.Gateway}): Requested address is out of range`);
    if (g === subnet.addr) throw invalid(`failed to allocate gateway (${c.Gateway}): Address already in use`);
  } else if (subnet.prefix === 128) throw invalid("failed to allocate gateway (): No available addresses on this pool");
  return { Subnet: c.Subnet, ...(c.IPRange ? { IPRange: c.IPRange } : {}), ...(c.Gateway ? { Gateway: c.Gateway } : {}) };
}