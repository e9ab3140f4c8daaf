/**
 * A container's memberships of networks, from its record: NetworkMode and
 * NetworkingConfig.EndpointsConfig (aliases, static addresses, MAC, links), checked with
 * dockerd's messages. Also used by `network connect` for one more membership.
 */
import { contains, isValidMac, parseCidr, parseIPv4, parseIPv6 } from "../../network/index.js";
import { invalid, notFound } from "../../util/errors.js";
import type { ContainerRecord } from "../types.js";
import { type Attachment, type ContainerNet, type EndpointConfigIn, type NetworkRecord, endpointsConfig, isV6Config, modeOf } from "./model.js";
import type { NetworkState } from "./state.js";

/** A container's attachments as its record says, or none yet with the NetworkMode network that does not exist (yet). */
export function initialState(s: NetworkState, rec: ContainerRecord): ContainerNet {
  const mode = modeOf(rec);
  if (mode.kind === "user" && !s.findNetwork(mode.name)) return { id: rec.Id, attachments: [], missing: mode.name };
  return { id: rec.Id, attachments: attachmentsFor(s, rec) };
}

/** The container's network state, made from its record when there is none yet. */
export function stateOf(s: NetworkState, rec: ContainerRecord): ContainerNet {
  let c = s.state.get(rec.Id);
  if (!c) {
    c = initialState(s, rec);
    s.state.set(rec.Id, c);
  }
  return c;
}

/** At start: the NetworkMode network that was missing must exist now; it becomes the first attachment. */
export function resolveMissing(s: NetworkState, rec: ContainerRecord, c: ContainerNet): void {
  if (c.missing === undefined) return;
  if (!s.findNetwork(c.missing)) throw notFound(`network ${c.missing} not found`);
  const fresh = attachmentsFor(s, rec);
  c.attachments = [...fresh, ...c.attachments.filter((a) => !fresh.some((f) => f.networkId === a.networkId))];
  delete c.missing;
}

/** The networks a new container joins, from NetworkMode and NetworkingConfig.EndpointsConfig. */
function attachmentsFor(s: NetworkState, rec: ContainerRecord): Attachment[] {
  const mode = modeOf(rec);
  if (mode.kind === "host") return [{ networkId: s.hostNet.Id, aliases: [], links: [] }];
  if (mode.kind === "none") return [{ networkId: s.noneNet.Id, aliases: [], links: [] }];
  if (mode.kind === "container") return [];
  const primary = mode.kind === "bridge" ? s.bridgeNet : s.getNetwork(mode.name);
  if (primary.Driver !== "bridge") {
    // e.g. --network <id of host>: treat like the named mode.
    return [{ networkId: primary.Id, aliases: [], links: [] }];
  }
  const eps = endpointsConfig(rec);
  const out: Attachment[] = [];
  const add = (n: NetworkRecord, cfg: EndpointConfigIn | undefined) => {
    if (out.some((a) => a.networkId === n.Id)) return;
    out.push(makeAttachment(s, n, cfg ?? {}));
  };
  const primaryKey = Object.keys(eps).find((k) => k === "default" && mode.kind === "bridge" || s.findNetwork(k)?.Id === primary.Id);
  add(primary, primaryKey ? eps[primaryKey] : undefined);
  for (const [k, cfg] of Object.entries(eps)) {
    if (k === primaryKey) continue;
    const n = s.getNetwork(k === "default" ? "bridge" : k);
    if (n.Driver !== "bridge") throw invalid(`container cannot be connected to network ${n.Name} and ${primary.Name} at once`);
    add(n, cfg);
  }
  return out;
}

export function makeAttachment(s: NetworkState, n: NetworkRecord, cfg: EndpointConfigIn): Attachment {
  const aliases = (cfg.Aliases ?? []).filter((a) => a !== "");
  const ipv4 = cfg.IPAMConfig?.IPv4Address || undefined;
  const ipv6 = cfg.IPAMConfig?.IPv6Address || undefined;
  const mac = cfg.MacAddress || undefined;
  if (!s.isUser(n)) {
    if (aliases.length > 0) throw invalid("network-scoped alias is supported only for containers in user defined networks");
    if (ipv4 || ipv6) throw invalid("user specified IP address is supported on user defined networks only");
  }
  // dockerd 20.10 checks the form here and the subnet when the endpoint is made (start, connect).
  if (ipv6 && parseIPv6(ipv6) === undefined) throw invalid(`invalid IPv6 address: ${ipv6}`);
  if (ipv4) {
    const ip = parseIPv4(ipv4);
    if (ip === undefined) throw invalid(`invalid IPv4 address: ${ipv4}`);
    const cfgs = n.IPAM.Config.filter((c) => c.Subnet && !isV6Config(c));
    if (!cfgs.some((c) => contains(parseCidr(c.Subnet), ip))) throw invalid(`Invalid address ${ipv4}: It does not belong to any of this network's subnets`);
  }
  if (mac && !isValidMac(mac)) throw invalid(`invalid MAC address: ${mac}`);
  return { networkId: n.Id, aliases, ...(ipv4 ? { ipv4 } : {}), ...(ipv6 ? { ipv6 } : {}), ...(mac ? { mac: mac.toLowerCase() } : {}), links: (cfg.Links ?? []).filter(Boolean) };
}
