/**
 * The networks backend's records and the pure helpers over them: a network (NetworkRecord,
 * as dockerd shows it plus the bridge it lives on), a container's memberships (Attachment)
 * and, while it runs, its endpoints (ContainerNet, saved per container).
 */
import { randomBytes } from "node:crypto";
import type { Cidr6, PortMapping, VethSpec } from "../../network/index.js";
import { parseCidr6, parseIPv6 } from "../../network/index.js";
import type { Logger } from "../../util/log.js";
import type { Events } from "../events.js";
import type { ContainerRecord } from "../types.js";

export const DEFAULT_BRIDGE = "berth0";
export const DEFAULT_MTU = 1500;

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: string;
  EnableIPv4: boolean;
  EnableIPv6: boolean;
  IPAM: { Driver: string; Options: Record<string, string> | null; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** The Linux bridge (bridge driver). */
  bridge?: string;
  mtu?: number;
  /** The user gave a subnet without a gateway: dockerd's IPAM.Config then shows no Gateway (the engine still picks the first address). */
  gatewayImplied?: boolean;
}

/**
 * One subnet of a network: the IPv4 one first (with its gateway, always shown), then, on dual-stack
 * networks, the IPv6 one (its Gateway shown only when given, as dockerd 20.10 does).
 */
export interface IpamConfig {
  Subnet: string;
  Gateway?: string;
  IPRange?: string;
}

export const isV6Config = (c: IpamConfig): boolean => c.Subnet.includes(":");

/** The IPv6 side of a network in force (EnableIPv6 with an IPv6 subnet). */
export interface V6Plan {
  subnet: Cidr6;
  gateway: bigint;
  range?: Cidr6;
}

export function v6Of(n: NetworkRecord): V6Plan | undefined {
  const c = n.EnableIPv6 ? n.IPAM.Config.find(isV6Config) : undefined;
  const subnet = c ? parseCidr6(c.Subnet) : undefined;
  if (!c || !subnet) return undefined;
  const range = c.IPRange ? parseCidr6(c.IPRange) : undefined;
  return { subnet, gateway: (c.Gateway ? parseIPv6(c.Gateway) : undefined) ?? subnet.addr + 1n, ...(range ? { range } : {}) };
}

/** A container's membership of a network (configuration; kept while the container exists). */
export interface Attachment {
  networkId: string;
  aliases: string[];
  ipv4?: string;
  ipv6?: string;
  mac?: string;
  links: string[];
  /** Made by `network connect` (dockerd joins the container to the network then, as at a start). */
  byConnect?: true;
}

/**
 * Marks a NetworkSettings.Networks entry the container has not joined yet (created, never started,
 * not connected since): API < 1.45 shows the short id among Aliases only once it joined, as dockerd 20.10.
 */
export const NOT_JOINED = Symbol("berth.networks.notJoined");

/** An endpoint in force (while the container runs). */
export interface Endpoint {
  networkId: string;
  endpointId: string;
  ip: string;
  prefix: number;
  gateway: string;
  /** Dual-stack networks: the IPv6 address, its prefix length and the IPv6 gateway. */
  ip6?: string;
  prefix6?: number;
  gateway6?: string;
  mac: string;
  ifname: string;
  hostIf: string;
  bridge: string;
}

export interface ContainerNet {
  id: string;
  attachments: Attachment[];
  /**
   * The NetworkMode network when it did not exist at create: dockerd 20.10 keeps it by name and
   * looks it up at each start (404 "network <name> not found" until someone creates it).
   */
  missing?: string;
  /** Set while running with a namespace of ours. */
  netns?: string;
  sandboxId?: string;
  endpoints?: Endpoint[];
  ports?: PortMapping[];
  /** Networks a "connect" event was sent for (host/none included). */
  connected?: string[];
  /** Endpoint id of a host/none membership while running. */
  plainEndpoint?: string;
}

export interface ContainerLookup {
  find(idOrName: string): ContainerRecord | undefined;
  all(): ContainerRecord[];
}

export interface NetworkServiceOptions {
  dataRoot: string;
  execRoot: string;
  events: Events;
  log: Logger;
  containers: ContainerLookup;
  /** --bip: the default bridge's gateway address and prefix, e.g. "172.18.0.1/16". */
  bridgeIp?: string;
  /** The default bridge's name (berth0). */
  bridgeName?: string;
  /** Host-wide lease directory (tests may override). */
  leaseRoot?: string;
  /** daemon.json "default-address-pools": where subnets come from instead of Docker's built-in pools. */
  addressPools?: { base: string; size: number }[];
  /** daemon.json "dns", "dns-search", "dns-opts": for containers that set none of their own. */
  dnsDefaults?: { dns: string[]; dnsSearch: string[]; dnsOptions: string[] };
}

export type Mode = { kind: "bridge" } | { kind: "host" } | { kind: "none" } | { kind: "container"; target: string } | { kind: "user"; name: string };

export function modeOf(rec: ContainerRecord): Mode {
  if (rec.Config.NetworkDisabled) return { kind: "none" };
  const m = rec.HostConfig.NetworkMode || "default";
  if (m === "default" || m === "bridge") return { kind: "bridge" };
  if (m === "host") return { kind: "host" };
  if (m === "none") return { kind: "none" };
  if (m.startsWith("container:")) return { kind: "container", target: m.slice("container:".length) };
  return { kind: "user", name: m };
}

export function newHexId(): string {
  return randomBytes(32).toString("hex");
}

export interface EndpointConfigIn {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string | null; IPv6Address?: string | null } | null;
  MacAddress?: string | null;
  Links?: string[] | null;
}

export function endpointsConfig(rec: ContainerRecord): Record<string, EndpointConfigIn> {
  const nc = rec.NetworkingConfig;
  const out: Record<string, EndpointConfigIn> = {};
  for (const [k, v] of Object.entries(nc?.EndpointsConfig ?? {})) out[k] = v ?? {};
  return out;
}

export function nextIfname(eps: Endpoint[]): string {
  for (let i = 0; ; i++) if (!eps.some((e) => e.ifname === `eth${i}`)) return `eth${i}`;
}

/** The interface spec of an endpoint (network/links.ts), with its network's MTU. */
export function vethOf(e: Endpoint, mtu: number | undefined): VethSpec {
  return { ifname: e.ifname, hostIf: e.hostIf, bridge: e.bridge, mac: e.mac, cidr: `${e.ip}/${e.prefix}`, mtu: mtu ?? DEFAULT_MTU, ...(e.ip6 ? { cidr6: `${e.ip6}/${e.prefix6 ?? 64}` } : {}) };
}
