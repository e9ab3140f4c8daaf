/**
 * What a container's /etc/hosts, /etc/resolv.conf and environment get from its networks:
 * its own and its legacy links' host lines, the resolver (the embedded DNS on user
 * networks, the host's servers otherwise, --dns & co. as dockerd applies them) and the
 * legacy links' variables.
 */
import { readFileSync } from "node:fs";
import { bridgeResolvConf, embeddedResolvConf } from "../../network/index.js";
import { linkEnv } from "../linkenv.js";
import type { ContainerRecord } from "../types.js";
import { type Endpoint, type NetworkRecord, modeOf } from "./model.js";
import type { NetworkState } from "./state.js";

interface LinkTarget {
  target: ContainerRecord;
  alias: string;
  endpoint: Endpoint;
}

/**
 * The running containers rec's --link entries name ("name[:alias]" or "/name:/rec/alias"),
 * with the alias ("" when none was given) and the target's endpoint on a network rec shares
 * (or, with anyNetwork, its first one).
 */
function linkTargets(s: NetworkState, rec: ContainerRecord, endpoints: Endpoint[], anyNetwork: boolean): LinkTarget[] {
  const out: LinkTarget[] = [];
  for (const l of rec.HostConfig.Links ?? []) {
    const [name = "", alias] = l.split(":");
    const target = s.o.containers.find(name.replace(/^\//, ""));
    const eps = target ? s.state.get(target.Id)?.endpoints : undefined;
    const endpoint = eps?.find((te) => endpoints.some((e) => e.networkId === te.networkId)) ?? (anyNetwork ? eps?.[0] : undefined);
    if (target && endpoint) out.push({ target, alias: (alias ?? "").replace(/^.*\//, ""), endpoint });
  }
  return out;
}

export function hostsFor(s: NetworkState, rec: ContainerRecord, endpoints: Endpoint[]): string[] {
  const h = rec.Config.Hostname;
  const names = rec.Config.Domainname ? `${h}.${rec.Config.Domainname} ${h}` : h;
  // dockerd writes the links' lines before the container's own (each endpoint's IPv4 line, then its IPv6 one).
  const out: string[] = [];
  for (const { target: t, alias, endpoint } of linkTargets(s, rec, endpoints, true)) {
    const tName = t.Name.slice(1);
    out.push(`${endpoint.ip}\t${[...new Set([alias || tName, t.Config.Hostname, tName].filter(Boolean))].join(" ")}`);
  }
  return [...out, ...endpoints.flatMap((e) => [`${e.ip}\t${names}`, ...(e.ip6 ? [`${e.ip6}\t${names}`] : [])])];
}

/** Legacy links' environment variables: on the default bridge only, as Docker sets them. */
export function linkEnvFor(s: NetworkState, rec: ContainerRecord, endpoints: Endpoint[]): string[] {
  if (modeOf(rec).kind !== "bridge") return [];
  return linkTargets(s, rec, endpoints, false).flatMap(({ target: t, alias, endpoint }) =>
    linkEnv({ parentName: rec.Name, alias: alias || t.Name.slice(1), ip: endpoint.ip, exposedPorts: Object.keys(t.Config.ExposedPorts ?? {}), env: t.Config.Env }),
  );
}

/** Host and none modes: the host's file, unless --dns & co. or the daemon's dns settings say otherwise (then built as dockerd builds it). */
export function ownResolv(s: NetworkState, rec: ContainerRecord): string | undefined {
  const o = s.dnsOf(rec);
  return o.dns.length + o.dnsSearch.length + o.dnsOptions.length > 0 ? bridgeResolvConf(readHostResolv(), o) : undefined;
}

export function resolvFor(s: NetworkState, rec: ContainerRecord, nets: NetworkRecord[], endpoints: Endpoint[]): string {
  const host = readHostResolv();
  const o = s.dnsOf(rec);
  const user = nets.findIndex((n) => s.isUser(n));
  const ep = user >= 0 ? endpoints[user] : undefined;
  if (ep && s.dns.available) return embeddedResolvConf(ep.gateway, host, o);
  return bridgeResolvConf(host, o);
}

export function readHostResolv(): string {
  try {
    return readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}

/** The host's /etc/hosts entries (host network), minus the localhost block the container file already has. */
export function hostEtcHosts(): string[] {
  let text = "";
  try {
    text = readFileSync("/etc/hosts", "utf8");
  } catch {
    return [];
  }
  const std = /^(127\.0\.0\.1\s+localhost\s*$|::1\s+.*localhost|fe00::0\s|ff00::0\s|ff02::[12]\s)/;
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#") && !std.test(l));
}
