/**
 * Dual-stack user networks (`network create --ipv6`): the IPAM config, the containers'
 * IPv6 addresses in inspect, and dockerd 20.10's answers to bad IPv6 subnets, gateways,
 * ranges and addresses. IPv6 addresses are chosen here (unique-local), so they compare as is.
 * The n6r network of the first scenario has an explicit IPv4 subnet on both engines' bridges:
 * nothing is sent on it.
 */
import type { AllowEntry, Scenario, Step } from "../scenario.js";

const SUB = "fd42:c0f1::/64";
const net = (Name: string, Config: Record<string, string>[], EnableIPv6 = true): Step => ({ api: "POST /networks/create", body: { Name, EnableIPv6, IPAM: { Config } } });
const ipv6 = (name: string, net: string, addr?: string): Step => ({
  api: "POST /containers/create",
  query: { name },
  body: { Image: "busybox", Cmd: ["sleep", "600"], HostConfig: { NetworkMode: net }, NetworkingConfig: { EndpointsConfig: { [net]: addr ? { IPAMConfig: { IPv6Address: addr } } : {} } } },
  save: { [name]: "Id" },
});

export const scenarios: Scenario[] = [
  {
    name: "networks/ipv6-create-and-inspect",
    steps: [
      { ...net("n6", [{ Subnet: SUB }]), save: { n: "Id" } },
      // The IPv4 side comes from each engine's default pools: only its shape is compared.
      { api: "GET /networks/{{n}}", shape: ["IPAM.Config.0"] },
      { ...net("n6r", [{ Subnet: "fd42:c0f2::/64", Gateway: "fd42:c0f2::fe", IPRange: "fd42:c0f2::100/120" }, { Subnet: "10.213.77.0/24", Gateway: "10.213.77.1" }]), save: { r: "Id" } },
      { api: "GET /networks/{{r}}" },
      { ...net("n6off", [{ Subnet: "fd42:c0f3::/64" }], false), save: { o: "Id" } },
      { api: "GET /networks/{{o}}", shape: ["IPAM.Config.0"] },
    ],
  },
  {
    name: "networks/ipv6-container-addresses",
    steps: [
      // Both engines' bridges live on this host: the IPv4 side must come from each one's own pool
      // (one IPv4 subnet on two bridges breaks replies from the host, e.g. the embedded DNS).
      { ...net("n6", [{ Subnet: SUB }]), save: { n: "Id" } },
      ipv6("a6", "n6"),
      ipv6("b6", "n6", "fd42:c0f1::99"),
      { api: "POST /containers/{{a6}}/start" },
      { api: "POST /containers/{{b6}}/start" },
      { api: "GET /containers/{{a6}}/json", ignore: ["*"], shape: [] },
      { cli: ["inspect", "-f", "{{json .NetworkSettings.Networks.n6.IPAMConfig}} {{.NetworkSettings.Networks.n6.GlobalIPv6Address}} {{.NetworkSettings.Networks.n6.GlobalIPv6PrefixLen}} {{.NetworkSettings.Networks.n6.IPv6Gateway}} {{.NetworkSettings.Networks.n6.IPAddress}}", "a6", "b6"] },
      { cli: ["inspect", "-f", "{{.NetworkSettings.GlobalIPv6Address}}|{{.NetworkSettings.IPv6Gateway}}|{{.NetworkSettings.LinkLocalIPv6Address}}", "a6"] },
      { api: "GET /networks/{{n}}", ignore: ["Containers.*.EndpointID"], shape: ["IPAM.Config.0"] },
      { cli: ["exec", "a6", "sh", "-c", "ip -6 addr show eth0 scope global | grep inet6; ip -6 route show default; grep -v -e localhost -e ip6- /etc/hosts"] },
      { cli: ["exec", "a6", "ping", "-6", "-c", "1", "-W", "5", "fd42:c0f1::99"], compare: "status" },
      { cli: ["exec", "a6", "nslookup", "-type=AAAA", "b6"], ignore: ["stdout"] },
      { cli: ["network", "connect", "--ip6", "fd42:c0f1::77", "n6", "a6"] },
    ],
  },
  {
    name: "networks/ipv6-errors",
    steps: [
      net("e6", [{ Subnet: SUB }]),
      net("x", [{ Subnet: "fd42:zz::/64" }]),
      net("x", [{ Subnet: "fd42:c0f1::/80" }]),
      net("x", [{ Subnet: "fd42:c1::/64" }, { Subnet: "fd42:c3::/64" }]),
      net("x", [{ Subnet: "fd42:c1::/128" }]),
      net("x", [{ Subnet: "fd42:c1::/64", Gateway: "fd42:c1::" }]),
      net("x", [{ Subnet: "fd42:c1::/64", Gateway: "fd42:c2::1" }]),
      net("x", [{ Subnet: "fd42:c1::/64", Gateway: "zz::1" }]),
      net("x", [{ Subnet: "fd42:c1::/64", IPRange: "fd42:c1::/zz" }]),
      net("x", [{ Subnet: "10.213.79.0/24" }]),
      { cli: ["network", "create", "--ipv6", "--subnet", "fd42:c1::/64", "--gateway", "fd42:c2::1", "x"] },
      { cli: ["network", "create", "--ipv6", "--subnet", "fd42:c1::/64", "--ip-range", "fd42:c2::/120", "x"] },
      { api: "POST /containers/create", body: { Image: "busybox", HostConfig: { NetworkMode: "e6" }, NetworkingConfig: { EndpointsConfig: { e6: { IPAMConfig: { IPv6Address: "zz::2" } } } } } },
      ipv6("o6", "e6", "fd42:c9::2"),
      { api: "POST /containers/{{o6}}/start" },
      ipv6("g6", "e6", "fd42:c0f1::1"),
      { api: "POST /containers/{{g6}}/start" },
      { api: "GET /networks", query: { filters: JSON.stringify({ name: ["x"] }) } },
    ],
  },
];

const STATUS_500 = "dockerd 20.10 answers this bad IPv6 input with 500; Berth keeps the message and answers 400 (bad input never gets a 500)";
export const allowlist: AllowEntry[] = [
  ...[1, 4, 5, 6, 7, 8].map((step) => ({ scenario: "networks/ipv6-errors", step, where: "status", why: STATUS_500 })),
  { scenario: "networks/ipv6-errors", step: 14, where: "status", why: STATUS_500 },
];
