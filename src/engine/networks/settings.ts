/** A container's networking as inspect and ps show it: Docker's NetworkSettings and Ports. */
import { parsePortKey } from "../../network/index.js";
import type { ContainerRecord } from "../types.js";
import { type ContainerNet, NOT_JOINED } from "./model.js";
import type { NetworkState } from "./state.js";

/** NetworkSettings.Networks.<name> of a network the container has no endpoint in. */
const EMPTY_ENDPOINT = {
  IPAMConfig: null,
  Links: null,
  Aliases: null,
  MacAddress: "",
  DriverOpts: null,
  GwPriority: 0,
  NetworkID: "",
  EndpointID: "",
  Gateway: "",
  IPAddress: "",
  IPPrefixLen: 0,
  IPv6Gateway: "",
  GlobalIPv6Address: "",
  GlobalIPv6PrefixLen: 0,
  DNSNames: null,
};

export function networkSettings(s: NetworkState, rec: ContainerRecord): Record<string, unknown> {
  const c = s.state.get(rec.Id);
  const running = rec.State.Running;
  const eps = running ? (c?.endpoints ?? []) : [];
  const networks: Record<string, unknown> = {};
  // dockerd lists a NetworkMode network it could not find under its name, with an empty endpoint.
  if (c?.missing !== undefined) networks[c.missing] = { ...EMPTY_ENDPOINT, [NOT_JOINED]: true };
  for (const a of c?.attachments ?? []) {
    const n = s.networks.get(a.networkId);
    if (!n) continue;
    const ep = eps.find((e) => e.networkId === a.networkId);
    const plain = running && n.Driver !== "bridge" ? (c?.plainEndpoint ?? "") : "";
    const joined = a.byConnect === true || rec.State.StartedAt !== "0001-01-01T00:00:00Z";
    networks[n.Name] = {
      ...(joined ? {} : { [NOT_JOINED]: true }),
      IPAMConfig: a.ipv4 || a.ipv6 ? { ...(a.ipv4 ? { IPv4Address: a.ipv4 } : {}), ...(a.ipv6 ? { IPv6Address: a.ipv6 } : {}) } : null,
      Links: a.links.length > 0 ? a.links : null,
      Aliases: a.aliases.length > 0 ? a.aliases : null,
      MacAddress: ep?.mac ?? "",
      DriverOpts: null,
      GwPriority: 0,
      // Empty until the container first starts (dockerd connects the endpoint then).
      NetworkID: rec.State.StartedAt === "0001-01-01T00:00:00Z" ? "" : n.Id,
      EndpointID: ep?.endpointId ?? plain,
      Gateway: ep?.gateway ?? "",
      IPAddress: ep?.ip ?? "",
      IPPrefixLen: ep?.prefix ?? 0,
      IPv6Gateway: ep?.gateway6 ?? "",
      GlobalIPv6Address: ep?.ip6 ?? "",
      GlobalIPv6PrefixLen: ep?.prefix6 ?? 0,
      DNSNames: ep && s.isUser(n) ? s.dnsNames(rec, a) : null,
    };
  }
  const bridgeEp = eps.find((e) => e.networkId === s.bridgeNet.Id);
  return {
    Bridge: "",
    SandboxID: running && c?.sandboxId ? c.sandboxId : "",
    SandboxKey: running && c?.netns ? c.netns : "",
    Ports: running ? portMap(rec, c) : {},
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: bridgeEp?.endpointId ?? "",
    Gateway: bridgeEp?.gateway ?? "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: bridgeEp?.ip ?? "",
    IPPrefixLen: bridgeEp?.prefix ?? 0,
    IPv6Gateway: "",
    MacAddress: bridgeEp?.mac ?? "",
    Networks: networks,
  };
}

/** Docker's NetworkSettings.Ports: every exposed port → its bindings, or null. */
function portMap(rec: ContainerRecord, c: ContainerNet | undefined): Record<string, { HostIp: string; HostPort: string }[] | null> {
  if (!c?.endpoints) return {};
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  const keys = new Set([...Object.keys(rec.Config.ExposedPorts ?? {}), ...Object.keys(rec.HostConfig.PortBindings ?? {})]);
  for (const k of keys) {
    let p: { port: number; proto: string };
    try {
      p = parsePortKey(k);
    } catch {
      continue;
    }
    const norm = `${p.port}/${p.proto}`;
    const ms = (c.ports ?? []).filter((m) => m.containerPort === p.port && m.proto === p.proto);
    out[norm] = ms.length > 0 ? ms.map((m) => ({ HostIp: m.hostIp, HostPort: String(m.hostPort) })) : null;
  }
  return out;
}

/** Docker's `Ports` array for `docker ps`. */
export function psPorts(s: NetworkState, rec: ContainerRecord): unknown[] {
  if (!rec.State.Running) return [];
  const c = s.state.get(rec.Id);
  if (!c?.endpoints) return [];
  const out: unknown[] = [];
  for (const [k, bs] of Object.entries(portMap(rec, c))) {
    const { port, proto } = parsePortKey(k);
    if (!bs) out.push({ PrivatePort: port, Type: proto });
    else for (const b of bs) out.push({ IP: b.HostIp, PrivatePort: port, PublicPort: Number(b.HostPort), Type: proto });
  }
  return out;
}
