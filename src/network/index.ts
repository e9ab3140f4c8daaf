/**
 * The network subsystem: Linux bridges, veth pairs in per-container network
 * namespaces (iproute2), IPv4 and IPv6 address math and host-wide leases, published
 * ports (reservations + kernel NAT through iptables-restore), loopback guards
 * for bridges that route 127.0.0.1 (loopguard.ts), and the embedded
 * DNS (aardvark-dns). engine/networks/ composes these into Docker's networks.
 */
// IPv4 address math: the whole of ipnet.ts is public.
export * from "./ipnet.js";
export { type Cidr6, cidr6String, contains6, firstFree6, formatIPv6, overlaps6, parseCidr6, parseIPv6 } from "./ipnet6.js";
export { DEFAULT_LEASE_ROOT, HostLeases } from "./leases.js";
export { IpServer, ipServer } from "./ipserver.js";
export {
  type HostLink,
  type VethSpec,
  addInterfaces,
  adoptSandbox,
  configureBridge,
  createBridge,
  createSandbox,
  deleteLinks,
  destroySandbox,
  hostLinks,
  hostRoutes,
  linkExists,
  pinBridgeMac,
  removeNetns,
  waitLinksGone,
  setSysctl,
} from "./links.js";
export { collectGuards, deleteBridge, enableLocalnet } from "./loopguard.js";
export { type ChainNames, type FwBridge, type FwModel, type FwPort, DEFAULT_EXEC_ROOT, Firewall, chainNames, ownerComment } from "./iptables.js";
export { type PortBinding, type PortMapping, type PortRequest, type Proto, PortReservations, parsePortKey, portRequests } from "./ports.js";
export { type DnsEntry, type DnsNetwork, Aardvark, findAardvark, strayAardvarks } from "./dns.js";
export { type DnsOverrides, bridgeResolvConf, embeddedResolvConf, parseResolvConf } from "./etc.js";
