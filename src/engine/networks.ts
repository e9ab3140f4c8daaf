/**
 * Networks backend: Docker's networks (the default `bridge` on the Linux bridge
 * berth0, `host`, `none`, and user-defined bridge networks) and the container
 * side of networking (ContainerNetworking): a network namespace per container
 * with a veth pair per network, addresses from IPAM, published ports through
 * kernel NAT, /etc/hosts and /etc/resolv.conf, and names served by the embedded
 * DNS (aardvark-dns) on user networks.
 *
 * On disk: <data-root>/network/networks/<id>.json (network records) and
 * <data-root>/network/containers/<id>.json (a container's attachments and,
 * while it runs, its endpoints and port mappings — written before anything is
 * made, so a crash leaves a record to undo). Namespaces are bind mounts under
 * <exec-root>/netns/, the DNS configuration lives in <exec-root>/network/dns/.
 */
import { randomBytes } from "node:crypto";
import { existsSync, promises as fs, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { EngineError, conflict, invalid, isEngineError, messageOf, notFound } from "../util/errors.js";
import { ensureDir, readJson, writeJson } from "../util/fsutil.js";
import { KeyedMutex } from "../util/lock.js";
import type { Logger } from "../util/log.js";
import {
  Aardvark,
  type Cidr,
  DEFAULT_LEASE_ROOT,
  type DnsNetwork,
  Firewall,
  type FwModel,
  HostLeases,
  type HostLink,
  type PortMapping,
  PortReservations,
  type VethSpec,
  addInterfaces,
  adoptSandbox,
  bridgeResolvConf,
  type Cidr6,
  cidrString,
  collectGuards,
  configureBridge,
  contains,
  contains6,
  createBridge,
  createSandbox,
  defaultGateway,
  deleteBridge,
  deleteLinks,
  embeddedResolvConf,
  enableLocalnet,
  findAardvark,
  firstFree,
  firstFree6,
  formatIPv4,
  formatIPv6,
  hostLinks,
  hostRoutes,
  isValidMac,
  macFromIp,
  overlaps,
  overlaps6,
  parseCidr,
  parseCidr6,
  parseIPv4,
  parseIPv6,
  parsePortKey,
  pickFromPools,
  pickSubnet,
  pinBridgeMac,
  portRequests,
  removeNetns,
  setSysctl,
  strayAardvarks,
  waitLinksGone,
} from "../network/index.js";
import type { Events } from "./events.js";
import { linkEnv } from "./linkenv.js";
import { ownUserNamespace } from "./nsmodes.js";
import type { ContainerNetworking, NetworkAttachment, NetworkSetUpOptions } from "./plugs.js";
import { type ContainerRecord, EndpointSettingsSchema } from "./types.js";

export const DEFAULT_BRIDGE = "berth0";
const DEFAULT_MTU = 1500;
const NET_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

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

const isV6Config = (c: IpamConfig): boolean => c.Subnet.includes(":");

/** The IPv6 side of a network in force (EnableIPv6 with an IPv6 subnet). */
interface V6Plan {
  subnet: Cidr6;
  gateway: bigint;
  range?: Cidr6;
}

function v6Of(n: NetworkRecord): V6Plan | undefined {
  const c = n.EnableIPv6 ? n.IPAM.Config.find(isV6Config) : undefined;
  const subnet = c ? parseCidr6(c.Subnet) : undefined;
  if (!c || !subnet) return undefined;
  const range = c.IPRange ? parseCidr6(c.IPRange) : undefined;
  return { subnet, gateway: (c.Gateway ? parseIPv6(c.Gateway) : undefined) ?? subnet.addr + 1n, ...(range ? { range } : {}) };
}

/** A container's membership of a network (configuration; kept while the container exists). */
interface Attachment {
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
interface Endpoint {
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

interface ContainerNet {
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

type Mode = { kind: "bridge" } | { kind: "host" } | { kind: "none" } | { kind: "container"; target: string } | { kind: "user"; name: string };

function modeOf(rec: ContainerRecord): Mode {
  if (rec.Config.NetworkDisabled) return { kind: "none" };
  const m = rec.HostConfig.NetworkMode || "default";
  if (m === "default" || m === "bridge") return { kind: "bridge" };
  if (m === "host") return { kind: "host" };
  if (m === "none") return { kind: "none" };
  if (m.startsWith("container:")) return { kind: "container", target: m.slice("container:".length) };
  return { kind: "user", name: m };
}

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

function newHexId(): string {
  return randomBytes(32).toString("hex");
}

interface EndpointConfigIn {
  Aliases?: string[] | null;
  IPAMConfig?: { IPv4Address?: string | null; IPv6Address?: string | null } | null;
  MacAddress?: string | null;
  Links?: string[] | null;
}

function endpointsConfig(rec: ContainerRecord): Record<string, EndpointConfigIn> {
  const nc = rec.NetworkingConfig;
  const out: Record<string, EndpointConfigIn> = {};
  for (const [k, v] of Object.entries(nc?.EndpointsConfig ?? {})) out[k] = v ?? {};
  return out;
}

export class NetworkService implements ContainerNetworking {
  private readonly networks = new Map<string, NetworkRecord>();
  private readonly state = new Map<string, ContainerNet>();
  private readonly lock = new KeyedMutex();
  private readonly reservations = new PortReservations();
  private readonly leases: HostLeases;
  readonly firewall: Firewall;
  readonly dns: Aardvark;
  private readonly netDir: string;
  private readonly ctrDir: string;
  readonly netnsDir: string;
  private bridgeNet!: NetworkRecord;
  private hostNet!: NetworkRecord;
  private noneNet!: NetworkRecord;
  private firewallOk = true;
  /** Endpoints being reaped in the background: veths dying with their namespace, then their leases. */
  private readonly reaping = new Set<Promise<void>>();

  constructor(private readonly o: NetworkServiceOptions) {
    this.netDir = path.join(o.dataRoot, "network", "networks");
    this.ctrDir = path.join(o.dataRoot, "network", "containers");
    this.netnsDir = path.join(o.execRoot, "netns");
    this.leases = new HostLeases(o.leaseRoot ?? DEFAULT_LEASE_ROOT, o.execRoot);
    this.firewall = new Firewall({ execRoot: o.execRoot });
    this.dns = new Aardvark(path.join(o.execRoot, "network", "dns"), findAardvark(), (m) => o.log.warn(m));
    // A renamed container answers to its new name on user networks at once (dockerd updates its resolver too).
    o.events.subscribe((e) => {
      if (e.Type !== "container" || e.Action !== "rename") return;
      const c = this.state.get(e.Actor.ID);
      if (!c?.endpoints?.some((ep) => {
        const n = this.networks.get(ep.networkId);
        return n !== undefined && this.isUser(n);
      })) return;
      void this.updateDns().catch((err: unknown) => o.log.warn(`embedded DNS: ${messageOf(err)}`));
    });
  }

  private get bridgeName(): string {
    return this.o.bridgeName ?? DEFAULT_BRIDGE;
  }

  // --- start-up ---------------------------------------------------------------

  async init(): Promise<void> {
    // Root only, tightened if an older berthd made them wider: records, netns bind mounts, the DNS server's state.
    for (const d of [path.dirname(this.netDir), this.netDir, this.ctrDir, this.netnsDir, path.join(this.o.execRoot, "network")]) await ensureDir(d, 0o700);
    for (const f of await fs.readdir(this.netDir)) {
      if (!f.endsWith(".json")) continue;
      const n = await readJson<NetworkRecord>(path.join(this.netDir, f)).catch(() => undefined);
      if (n) this.networks.set(n.Id, n);
    }
    for (const f of await fs.readdir(this.ctrDir)) {
      if (!f.endsWith(".json")) continue;
      const c = await readJson<ContainerNet>(path.join(this.ctrDir, f)).catch(() => undefined);
      if (c) this.state.set(c.id, c);
    }
    const [links, routes] = await Promise.all([hostLinks(), hostRoutes()]);
    await this.collectStrayBridges(links);
    await collectGuards((b) => existsSync(`/sys/class/net/${b}`)).catch((e: unknown) => this.o.log.warn(`collecting loopback guards: ${messageOf(e)}`));
    await this.ensurePredefined(links, routes);
    for (const n of this.userNetworks()) await this.ensureUserBridge(n, links);
    await setSysctl("net/ipv4/ip_forward", "1");

    // Leases and namespaces of endpoints that no longer exist (a crash) are released.
    const keep = new Set<string>();
    const nsKeep = new Set<string>();
    for (const c of this.state.values()) {
      for (const e of c.endpoints ?? []) for (const ip of [e.ip, e.ip6]) if (ip) keep.add(`${e.bridge}/${ip}`);
      if (c.netns) nsKeep.add(path.basename(c.netns));
    }
    await this.leases.collect(keep).catch((e: unknown) => this.o.log.warn(`collecting address leases: ${messageOf(e)}`));
    for (const f of await fs.readdir(this.netnsDir)) {
      if (!nsKeep.has(f)) await removeNetns(path.join(this.netnsDir, f)).catch((e: unknown) => this.o.log.warn(`removing stale netns ${f}: ${messageOf(e)}`));
    }
    for (const c of this.state.values()) {
      if (!c.ports || c.ports.length === 0) continue;
      const fails = await this.reservations.adopt(c.ports);
      for (const f of fails) this.o.log.warn(`container ${c.id.slice(0, 12)}: could not re-reserve ${f}`);
    }
    try {
      const { collected } = await this.firewall.init(this.fwModel());
      if (collected > 0) this.o.log.info(`removed ${collected} iptables chain(s) of vanished daemons`);
    } catch (e) {
      this.firewallOk = false;
      this.o.log.error(`iptables set-up failed (published ports and isolation are off): ${messageOf(e)}`);
    }
    for (const pid of await strayAardvarks()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone already
      }
    }
    if (!this.dns.available) this.o.log.warn("aardvark-dns not found: containers on user networks cannot resolve each other's names (apt-get install aardvark-dns)");
    await this.updateDns().catch((e: unknown) => this.o.log.warn(`embedded DNS: ${messageOf(e)}`));
  }

  /**
   * After the containers backend reconciled: forget containers that no longer exist, undo endpoints
   * of stopped ones, and know every container's attachments (for prune and inspect).
   */
  async reconcile(): Promise<void> {
    for (const rec of this.o.containers.all()) {
      if (this.state.has(rec.Id)) continue;
      try {
        this.state.set(rec.Id, this.initialState(rec));
      } catch (e) {
        this.o.log.warn(`container ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
      }
    }
    for (const c of [...this.state.values()]) {
      const rec = this.o.containers.find(c.id);
      if (!rec) {
        await this.teardownState(c).catch((e: unknown) => this.o.log.warn(`network teardown ${c.id.slice(0, 12)}: ${messageOf(e)}`));
        this.state.delete(c.id);
        await fs.rm(this.ctrFile(c.id), { force: true });
      } else if (!rec.State.Running && (c.netns || c.endpoints)) {
        await this.tearDown(rec).catch((e: unknown) => this.o.log.warn(`network teardown ${c.id.slice(0, 12)}: ${messageOf(e)}`));
      }
    }
  }

  private async collectStrayBridges(links: HostLink[]): Promise<void> {
    const mine = new Set(this.userNetworks().map((n) => n.bridge));
    for (const l of links) {
      if (l.kind !== "bridge" || !l.alias.startsWith("berth:")) continue;
      const root = l.alias.slice("berth:".length);
      const stale = root === this.o.execRoot ? !mine.has(l.ifname) : !existsSync(root);
      if (!stale) continue;
      await deleteBridge(l.ifname).catch((e: unknown) => this.o.log.warn(`removing stale bridge ${l.ifname}: ${messageOf(e)}`));
      l.kind = "deleted";
    }
  }

  private async ensurePredefined(links: HostLink[], routes: string[]): Promise<void> {
    const byName = (name: string) => [...this.networks.values()].find((n) => n.Name === name);
    const base = (name: string, driver: string): NetworkRecord => ({
      Name: name,
      Id: newHexId(),
      Created: new Date().toISOString(),
      Scope: "local",
      Driver: driver,
      EnableIPv4: true,
      EnableIPv6: false,
      IPAM: { Driver: "default", Options: null, Config: [] },
      Internal: false,
      Attachable: false,
      Ingress: false,
      ConfigFrom: { Network: "" },
      ConfigOnly: false,
      Options: {},
      Labels: {},
    });
    this.hostNet = byName("host") ?? base("host", "host");
    this.noneNet = byName("none") ?? base("none", "null");
    const bridge = byName("bridge") ?? base("bridge", "bridge");
    bridge.bridge = this.bridgeName;
    bridge.mtu = DEFAULT_MTU;
    bridge.Options = {
      "com.docker.network.bridge.default_bridge": "true",
      "com.docker.network.bridge.enable_icc": "true",
      "com.docker.network.bridge.enable_ip_masquerade": "true",
      "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
      "com.docker.network.bridge.name": this.bridgeName,
      "com.docker.network.driver.mtu": String(DEFAULT_MTU),
    };
    const gw = await this.ensureDefaultBridge(bridge, links, routes);
    bridge.IPAM.Config = [{ Subnet: cidrString(gw), Gateway: formatIPv4(gw.host) }];
    this.bridgeNet = bridge;
    for (const n of [this.hostNet, this.noneNet, this.bridgeNet]) {
      this.networks.set(n.Id, n);
      await this.saveNetwork(n);
    }
  }

  /** The default bridge: adopt an existing berth0 (another berthd may share it), else create it on a free subnet. */
  private async ensureDefaultBridge(bridge: NetworkRecord, links: HostLink[], routes: string[]): Promise<Cidr & { host: number }> {
    const name = this.bridgeName;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = links.find((l) => l.ifname === name && l.kind === "bridge");
      if (existing && existing.addrs[0]) {
        const cur = parseCidr(existing.addrs[0], true);
        if (this.o.bridgeIp) {
          const want = parseCidr(this.o.bridgeIp, true);
          if (want.host !== cur.host || want.prefix !== cur.prefix) this.o.log.warn(`--bip ${this.o.bridgeIp} ignored: ${name} already has ${existing.addrs[0]}`);
        }
        if (!existing.up) await configureBridge(name, undefined);
        await pinBridgeMac(name);
        await this.localnet(name);
        return cur;
      }
      let gw: Cidr & { host: number };
      if (this.o.bridgeIp) gw = parseCidr(this.o.bridgeIp, true);
      else {
        const used = this.usedSubnets(links, routes, [name]);
        const prev = bridge.IPAM.Config[0]?.Subnet;
        const prevCidr = prev ? parseCidr(prev) : undefined;
        const pick = prevCidr && !used.some((u) => overlaps(u, prevCidr)) ? prevCidr : this.pickPool(used);
        if (!pick) throw new EngineError("internal", "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the default bridge");
        gw = { ...pick, host: defaultGateway(pick) };
      }
      try {
        if (existing) await configureBridge(name, `${formatIPv4(gw.host)}/${gw.prefix}`);
        else await createBridge(name, `${formatIPv4(gw.host)}/${gw.prefix}`, DEFAULT_MTU);
        if (existing) await pinBridgeMac(name);
        await this.localnet(name);
        this.o.log.info(`default bridge ${name}: ${formatIPv4(gw.host)}/${gw.prefix}`);
        return gw;
      } catch (e) {
        // Another daemon created it at the same moment: adopt theirs.
        this.o.log.debug(`creating ${name}: ${messageOf(e)}; retrying`);
        links = await hostLinks();
      }
    }
    throw new EngineError("internal", `could not set up the default bridge ${name}`);
  }

  /** Let a bridge route 127.0.0.1 for published loopback ports, behind its loopback guard (network/loopguard.ts). */
  private async localnet(bridge: string): Promise<void> {
    const err = await enableLocalnet(bridge);
    if (err) this.o.log.error(`bridge ${bridge}: no loopback guard, so no route_localnet (ports published on 127.0.0.1 do not answer): ${err}`);
  }

  /** Subnets in use on the host (routes and addresses), ignoring the given interfaces. */
  /** A free subnet from the configured pools (in order), else from Docker's built-in ones. */
  private pickPool(used: Cidr[]): Cidr | undefined {
    const pools = this.o.addressPools ?? [];
    if (pools.length === 0) return pickSubnet(used);
    return pickFromPools(used, pools.map((p) => ({ base: parseCidr(p.base, true), size: p.size })));
  }

  private usedSubnets(links: HostLink[], routes: string[], ignore: string[]): Cidr[] {
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
    for (const n of this.networks.values()) for (const c of n.IPAM.Config) if (c.Subnet && !isV6Config(c) && !ignore.includes(n.bridge ?? "")) out.push(parseCidr(c.Subnet));
    return out;
  }

  private userNetworks(): NetworkRecord[] {
    return [...this.networks.values()].filter((n) => n.Driver === "bridge" && n.bridge !== this.bridgeName && n.Name !== "bridge");
  }

  private bridgeNetworks(): NetworkRecord[] {
    return [...this.networks.values()].filter((n) => n.Driver === "bridge" && n.bridge);
  }

  private async ensureUserBridge(n: NetworkRecord, links: HostLink[]): Promise<void> {
    const name = n.bridge as string;
    const cfg = n.IPAM.Config[0];
    if (!cfg) return;
    const gwCidr = `${cfg.Gateway ?? ""}/${parseCidr(cfg.Subnet).prefix}`;
    const v6 = v6Of(n);
    const gw6Cidr = v6 ? `${formatIPv6(v6.gateway)}/${v6.subnet.prefix}` : undefined;
    const l = links.find((x) => x.ifname === name);
    try {
      if (!l || l.kind === "deleted") await createBridge(name, gwCidr, n.mtu ?? DEFAULT_MTU, `berth:${this.o.execRoot}`, gw6Cidr);
      else if (!l.addrs.includes(gwCidr) || (gw6Cidr && !l.addrs6.includes(gw6Cidr)) || !l.up) {
        await configureBridge(name, l.addrs.includes(gwCidr) ? undefined : gwCidr, gw6Cidr && !l.addrs6.includes(gw6Cidr) ? gw6Cidr : undefined);
      }
      await pinBridgeMac(name);
      await this.localnet(name);
    } catch (e) {
      this.o.log.error(`network ${n.Name}: bridge ${name}: ${messageOf(e)}`);
    }
  }

  // --- persistence ------------------------------------------------------------

  private async saveNetwork(n: NetworkRecord): Promise<void> {
    await writeJson(path.join(this.netDir, `${n.Id}.json`), n);
  }

  private ctrFile(id: string): string {
    return path.join(this.ctrDir, `${id}.json`);
  }

  /** Durable (fsync) when it records something made on the host; a quick rename otherwise. */
  private async saveState(c: ContainerNet, durable = true): Promise<void> {
    if (durable) {
      await writeJson(this.ctrFile(c.id), c);
      return;
    }
    const tmp = `${this.ctrFile(c.id)}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(c));
    await fs.rename(tmp, this.ctrFile(c.id));
  }

  // --- lookups ----------------------------------------------------------------

  /** Docker's lookup: full id, then exact name, then a unique id prefix. */
  findNetwork(idOrName: string): NetworkRecord | undefined {
    if (idOrName === "") return undefined;
    const byId = this.networks.get(idOrName);
    if (byId) return byId;
    const all = [...this.networks.values()];
    const byName = all.find((n) => n.Name === idOrName);
    if (byName) return byName;
    const hits = all.filter((n) => n.Id.startsWith(idOrName));
    if (hits.length === 1) return hits[0];
    if (hits.length > 1) throw invalid(`network ${idOrName} is ambiguous (${hits.length} matches found based on ID prefix)`);
    return undefined;
  }

  getNetwork(idOrName: string): NetworkRecord {
    const n = this.findNetwork(idOrName);
    if (!n) throw notFound(`network ${idOrName} not found`);
    return n;
  }

  private isUser(n: NetworkRecord): boolean {
    return n.Driver === "bridge" && n.Id !== this.bridgeNet.Id;
  }

  // --- ContainerNetworking: create --------------------------------------------

  async onCreate(rec: ContainerRecord): Promise<void> {
    let c: ContainerNet;
    try {
      c = this.initialState(rec);
    } catch (e) {
      // Docker answers 400 here: a 404 from create makes the CLI try to pull the image.
      if (isEngineError(e, "notFound")) throw invalid(e.message);
      throw e;
    }
    // As dockerd 20.10, an unknown NetworkMode network or container:<name> is only an error at start.
    const mode = modeOf(rec);
    if (mode.kind === "host" && rec.Config.Hostname === rec.Id.slice(0, 12)) rec.Config.Hostname = os.hostname();
    for (const l of rec.HostConfig.Links ?? []) {
      const target = l.split(":")[0] ?? "";
      if (!this.o.containers.find(target.replace(/^\//, ""))) throw invalid(`could not get container for ${target}: No such container: ${target}`);
    }
    // Nothing to write yet: until a connect/disconnect, the attachments follow from the record itself.
    this.state.set(rec.Id, c);
  }

  /** A container's attachments as its record says, or none yet with the NetworkMode network that does not exist (yet). */
  private initialState(rec: ContainerRecord): ContainerNet {
    const mode = modeOf(rec);
    if (mode.kind === "user" && !this.findNetwork(mode.name)) return { id: rec.Id, attachments: [], missing: mode.name };
    return { id: rec.Id, attachments: this.attachmentsFor(rec) };
  }

  /** At start: the NetworkMode network that was missing must exist now; it becomes the first attachment. */
  private resolveMissing(rec: ContainerRecord, c: ContainerNet): void {
    if (c.missing === undefined) return;
    if (!this.findNetwork(c.missing)) throw notFound(`network ${c.missing} not found`);
    const fresh = this.attachmentsFor(rec);
    c.attachments = [...fresh, ...c.attachments.filter((a) => !fresh.some((f) => f.networkId === a.networkId))];
    delete c.missing;
  }

  /** The networks a new container joins, from NetworkMode and NetworkingConfig.EndpointsConfig. */
  private attachmentsFor(rec: ContainerRecord): Attachment[] {
    const mode = modeOf(rec);
    if (mode.kind === "host") return [{ networkId: this.hostNet.Id, aliases: [], links: [] }];
    if (mode.kind === "none") return [{ networkId: this.noneNet.Id, aliases: [], links: [] }];
    if (mode.kind === "container") return [];
    const primary = mode.kind === "bridge" ? this.bridgeNet : this.getNetwork(mode.name);
    if (primary.Driver !== "bridge") {
      // e.g. --network <id of host>: treat like the named mode.
      return [{ networkId: primary.Id, aliases: [], links: [] }];
    }
    const eps = endpointsConfig(rec);
    const out: Attachment[] = [];
    const add = (n: NetworkRecord, cfg: EndpointConfigIn | undefined) => {
      if (out.some((a) => a.networkId === n.Id)) return;
      out.push(this.makeAttachment(n, cfg ?? {}));
    };
    const primaryKey = Object.keys(eps).find((k) => k === "default" && mode.kind === "bridge" || this.findNetwork(k)?.Id === primary.Id);
    add(primary, primaryKey ? eps[primaryKey] : undefined);
    for (const [k, cfg] of Object.entries(eps)) {
      if (k === primaryKey) continue;
      const n = this.getNetwork(k === "default" ? "bridge" : k);
      if (n.Driver !== "bridge") throw invalid(`container cannot be connected to network ${n.Name} and ${primary.Name} at once`);
      add(n, cfg);
    }
    return out;
  }

  private makeAttachment(n: NetworkRecord, cfg: EndpointConfigIn): Attachment {
    const aliases = (cfg.Aliases ?? []).filter((a) => a !== "");
    const ipv4 = cfg.IPAMConfig?.IPv4Address || undefined;
    const ipv6 = cfg.IPAMConfig?.IPv6Address || undefined;
    const mac = cfg.MacAddress || undefined;
    if (!this.isUser(n)) {
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

  private stateOf(rec: ContainerRecord): ContainerNet {
    let c = this.state.get(rec.Id);
    if (!c) {
      c = this.initialState(rec);
      this.state.set(rec.Id, c);
    }
    return c;
  }

  // --- ContainerNetworking: start ---------------------------------------------

  setUp(rec: ContainerRecord, opts: NetworkSetUpOptions = {}): Promise<NetworkAttachment> {
    return this.lock.run(rec.Id, async () => {
      const t0 = performance.now();
      const r = await this.setUpUnlocked(rec, opts);
      this.o.log.debug(`network set-up of ${rec.Id.slice(0, 12)}: ${(performance.now() - t0).toFixed(1)} ms`);
      return r;
    });
  }

  private async setUpUnlocked(rec: ContainerRecord, opts: NetworkSetUpOptions): Promise<NetworkAttachment> {
    const c = this.stateOf(rec);
    if (c.netns || c.endpoints) await this.teardownState(c); // a previous run not cleaned up
    const mode = modeOf(rec);
    if (mode.kind === "container") return this.joinContainer(rec, mode.target);
    this.resolveMissing(rec, c);
    const first = c.attachments[0] ? this.networks.get(c.attachments[0].networkId) : undefined;
    if (c.attachments.length > 0 && !first) throw notFound(`network ${rec.HostConfig.NetworkMode} not found`);
    if (first && first.Driver === "host") {
      await this.markPlain(c, first);
      return { hostNamespaces: ["network"], hostMode: true, hostsEntries: hostEtcHosts(), resolvConf: this.ownResolv(rec) ?? readHostResolv() };
    }
    if (first && first.Driver === "null") {
      await this.markPlain(c, first);
      const resolvConf = this.ownResolv(rec);
      return resolvConf !== undefined ? { resolvConf } : {};
    }
    return this.setUpBridges(rec, c, opts.runtimeNetns === true);
  }

  private async markPlain(c: ContainerNet, n: NetworkRecord): Promise<void> {
    c.plainEndpoint = newHexId();
    c.connected = [n.Id];
    await this.saveState(c, false);
    this.o.events.emit("network", "connect", n.Id, { container: c.id, name: n.Name, type: n.Driver });
  }

  private async joinContainer(rec: ContainerRecord, target: string): Promise<NetworkAttachment> {
    const t = this.o.containers.find(target);
    if (!t) throw notFound(`No such container: ${target}`);
    if (t.Id === rec.Id) throw invalid("cannot join own network namespace");
    if (!t.State.Running) throw conflict(`cannot join network namespace of a non running container: container ${t.Id} is ${t.State.Status}`);
    const tc = this.state.get(t.Id);
    const resolvConf = await fs.readFile(t.ResolvConfPath, "utf8").catch(() => undefined);
    const hostsEntries = (tc?.endpoints ?? []).map((e) => `${e.ip}\t${t.Config.Hostname}`);
    const base = { hostsEntries, ...(resolvConf !== undefined ? { resolvConf } : {}) };
    if (modeOf(t).kind === "host") return { ...base, hostNamespaces: ["network"], hostMode: true };
    // A user-namespaced target's network namespace belongs to its user namespace: join both.
    const userns = await ownUserNamespace(t.State.Pid);
    const join: Record<string, string> = { network: tc?.netns ?? `/proc/${t.State.Pid}/ns/net`, ...(userns ? { user: userns } : {}) };
    return { ...base, joinNamespaces: join };
  }

  /** Addresses for each bridge attachment, a namespace with a veth per network, published ports. */
  /**
   * With runtimeNetns (user-namespaced containers) the runtime creates the namespace
   * and the attachment's afterCreate configures it, between create and start.
   */
  private async setUpBridges(rec: ContainerRecord, c: ContainerNet, runtimeNetns: boolean): Promise<NetworkAttachment> {
    const nets = c.attachments.map((a) => {
      const n = this.networks.get(a.networkId);
      if (!n) throw notFound(`network ${a.networkId} not found`);
      return { a, n };
    });
    const endpoints: Endpoint[] = [];
    const nsPath = path.join(this.netnsDir, rec.Id.slice(0, 12));
    let mappings: PortMapping[] = [];
    let afterCreate: ((pid: number) => Promise<void>) | undefined;
    try {
      for (const [i, { a, n }] of nets.entries()) endpoints.push(await this.allocateEndpoint(rec.Id, a, n, `eth${i}`));
      const gwEp = endpoints.find((e) => !this.networks.get(e.networkId)?.Internal);
      const gw6Ep = endpoints.find((e) => e.ip6 && !this.networks.get(e.networkId)?.Internal);
      const reqs = portRequests(rec.Config.ExposedPorts, rec.HostConfig.PortBindings ?? undefined, rec.HostConfig.PublishAllPorts === true);
      if (gwEp && reqs.length > 0) {
        try {
          mappings = await this.reservations.reserve(reqs, gwEp.ip);
        } catch (e) {
          throw new EngineError(isEngineError(e) ? e.kind : "internal", `failed to set up container networking: driver failed programming external connectivity on endpoint ${rec.Name.slice(1)} (${gwEp.endpointId}): ${messageOf(e)}`);
        }
      }
      c.netns = nsPath;
      c.sandboxId = newHexId();
      c.endpoints = endpoints;
      c.ports = mappings;
      c.connected = endpoints.map((e) => e.networkId);
      const veths: VethSpec[] = endpoints.map((e) => ({
        ifname: e.ifname,
        hostIf: e.hostIf,
        bridge: e.bridge,
        mac: e.mac,
        cidr: `${e.ip}/${e.prefix}`,
        mtu: this.networks.get(e.networkId)?.mtu ?? DEFAULT_MTU,
        ...(e === gwEp ? { defaultVia: e.gateway } : {}),
        ...(e.ip6 ? { cidr6: `${e.ip6}/${e.prefix6 ?? 64}` } : {}),
        ...(e === gw6Ep && e.gateway6 ? { defaultVia6: e.gateway6 } : {}),
      }));
      // In parallel: the record, the namespace, NAT rules, names. A crash in between leaves a
      // namespace or lease that start-up collects (no record names them).
      const tasks: Promise<unknown>[] = [this.saveState(c)];
      if (runtimeNetns) afterCreate = (pid) => this.lock.run(rec.Id, () => adoptSandbox(nsPath, pid, veths));
      else tasks.push(createSandbox(nsPath, veths));
      if (mappings.length > 0) tasks.push(this.applyFirewall());
      if (nets.some(({ n }) => this.isUser(n))) tasks.push(this.updateDns().catch((e: unknown) => this.o.log.warn(`embedded DNS: ${messageOf(e)}`)));
      const failed = (await Promise.allSettled(tasks)).find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    } catch (e) {
      await this.teardownState(c, false).catch((e2: unknown) => this.o.log.warn(`undoing network set-up of ${rec.Id.slice(0, 12)}: ${messageOf(e2)}`));
      for (const ep of endpoints) if (!c.endpoints?.includes(ep)) await this.releaseLeases(ep, rec.Id);
      throw e;
    }
    for (const { n } of nets) this.o.events.emit("network", "connect", n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    const env = this.linkEnvFor(rec, endpoints);
    return {
      ...(afterCreate ? { afterCreate } : { joinNamespaces: { network: nsPath } }),
      ...(env.length > 0 ? { env } : {}),
      hostsEntries: this.hostsFor(rec, endpoints),
      resolvConf: this.resolvFor(rec, nets.map(({ n }) => n), endpoints),
    };
  }

  /** Pick (or claim the requested) address on a network; the lease is host-wide. */
  private async allocateEndpoint(containerId: string, a: Attachment, n: NetworkRecord, ifname: string): Promise<Endpoint> {
    const cfg = n.IPAM.Config[0];
    const bridge = n.bridge;
    if (!cfg || !bridge) throw new EngineError("internal", `network ${n.Name} has no IPv4 configuration`);
    const subnet = parseCidr(cfg.Subnet);
    const gateway = parseIPv4(cfg.Gateway ?? "") as number;
    let ip: number | undefined;
    if (a.ipv4) {
      const want = parseIPv4(a.ipv4) as number;
      if (want === gateway || !(await this.leases.claim(bridge, a.ipv4, containerId))) throw conflict(`failed to set up container networking: Address already in use`);
      ip = want;
    } else {
      const range = cfg.IPRange ? parseCidr(cfg.IPRange) : undefined;
      for (let attempt = 0; attempt < 64 && ip === undefined; attempt++) {
        const taken = new Set([...(await this.leases.taken(bridge))].map((s) => parseIPv4(s)).filter((x): x is number => x !== undefined));
        taken.add(gateway);
        const cand = firstFree(subnet, taken, range);
        if (cand === undefined) throw new EngineError("unavailable", `no available IPv4 addresses on network ${n.Name}`);
        if (await this.leases.claim(bridge, formatIPv4(cand), containerId)) ip = cand;
      }
      if (ip === undefined) throw new EngineError("unavailable", `could not allocate an address on network ${n.Name}`);
    }
    let ip6: string | undefined;
    const v6 = v6Of(n);
    if (v6 || a.ipv6) {
      try {
        ip6 = await this.allocateV6(containerId, a, n, bridge, v6);
      } catch (e) {
        await this.leases.release(bridge, formatIPv4(ip), containerId).catch(() => undefined);
        throw e;
      }
    }
    const endpointId = newHexId();
    return {
      networkId: n.Id,
      endpointId,
      ip: formatIPv4(ip),
      prefix: subnet.prefix,
      gateway: cfg.Gateway ?? "",
      ...(ip6 && v6 ? { ip6, prefix6: v6.subnet.prefix, gateway6: formatIPv6(v6.gateway) } : {}),
      mac: a.mac ?? macFromIp(ip),
      ifname,
      hostIf: `veth${endpointId.slice(0, 7)}`,
      bridge,
    };
  }

  /** The IPv6 address of a dual-stack endpoint: the requested one (inside the subnet) or the lowest free one. */
  private async allocateV6(containerId: string, a: Attachment, n: NetworkRecord, bridge: string, v6: V6Plan | undefined): Promise<string> {
    if (a.ipv6) {
      const want = parseIPv6(a.ipv6);
      if (want === undefined || !v6 || !contains6(v6.subnet, want)) throw invalid(`Invalid address ${a.ipv6}: It does not belong to any of this network's subnets`);
      const s = formatIPv6(want);
      if (want === v6.gateway || want === v6.subnet.addr || !(await this.leases.claim(bridge, s, containerId))) throw new EngineError("forbidden", "Address already in use");
      return s;
    }
    const plan = v6 as V6Plan;
    for (let attempt = 0; attempt < 64; attempt++) {
      const taken = new Set([...(await this.leases.taken(bridge))].map((x) => parseIPv6(x)).filter((x): x is bigint => x !== undefined));
      taken.add(plan.gateway);
      const cand = firstFree6(plan.subnet, taken, plan.range);
      if (cand === undefined) break;
      if (await this.leases.claim(bridge, formatIPv6(cand), containerId)) return formatIPv6(cand);
    }
    throw new EngineError("unavailable", `no available IPv6 addresses on this network's address pools: ${n.Name} (${n.Id})`);
  }

  private async releaseLeases(ep: Endpoint, containerId: string): Promise<void> {
    for (const ip of [ep.ip, ep.ip6]) if (ip) await this.leases.release(ep.bridge, ip, containerId).catch(() => undefined);
  }

  private hostsFor(rec: ContainerRecord, endpoints: Endpoint[]): string[] {
    const h = rec.Config.Hostname;
    const names = rec.Config.Domainname ? `${h}.${rec.Config.Domainname} ${h}` : h;
    // dockerd writes the links' lines before the container's own (each endpoint's IPv4 line, then its IPv6 one).
    const out: string[] = [];
    for (const { target: t, alias, endpoint } of this.linkTargets(rec, endpoints, true)) {
      const tName = t.Name.slice(1);
      out.push(`${endpoint.ip}\t${[...new Set([alias || tName, t.Config.Hostname, tName].filter(Boolean))].join(" ")}`);
    }
    return [...out, ...endpoints.flatMap((e) => [`${e.ip}\t${names}`, ...(e.ip6 ? [`${e.ip6}\t${names}`] : [])])];
  }

  /**
   * The running containers rec's --link entries name ("name[:alias]" or "/name:/rec/alias"),
   * with the alias ("" when none was given) and the target's endpoint on a network rec shares
   * (or, with anyNetwork, its first one).
   */
  private linkTargets(rec: ContainerRecord, endpoints: Endpoint[], anyNetwork: boolean): { target: ContainerRecord; alias: string; endpoint: Endpoint }[] {
    const out: { target: ContainerRecord; alias: string; endpoint: Endpoint }[] = [];
    for (const l of rec.HostConfig.Links ?? []) {
      const [name = "", alias] = l.split(":");
      const target = this.o.containers.find(name.replace(/^\//, ""));
      const eps = target ? this.state.get(target.Id)?.endpoints : undefined;
      const endpoint = eps?.find((te) => endpoints.some((e) => e.networkId === te.networkId)) ?? (anyNetwork ? eps?.[0] : undefined);
      if (target && endpoint) out.push({ target, alias: (alias ?? "").replace(/^.*\//, ""), endpoint });
    }
    return out;
  }

  /** Legacy links' environment variables: on the default bridge only, as Docker sets them. */
  private linkEnvFor(rec: ContainerRecord, endpoints: Endpoint[]): string[] {
    if (modeOf(rec).kind !== "bridge") return [];
    return this.linkTargets(rec, endpoints, false).flatMap(({ target: t, alias, endpoint }) =>
      linkEnv({ parentName: rec.Name, alias: alias || t.Name.slice(1), ip: endpoint.ip, exposedPorts: Object.keys(t.Config.ExposedPorts ?? {}), env: t.Config.Env }),
    );
  }

  /** The container's --dns, --dns-search, --dns-option, each falling back on the daemon's own when empty (as dockerd). */
  private dnsOf(rec: ContainerRecord): { dns: string[]; dnsSearch: string[]; dnsOptions: string[] } {
    const d = this.o.dnsDefaults;
    const pick = (own: string[] | null | undefined, dflt: string[] | undefined) => (own && own.length > 0 ? own : (dflt ?? []));
    return { dns: pick(rec.HostConfig.Dns, d?.dns), dnsSearch: pick(rec.HostConfig.DnsSearch, d?.dnsSearch), dnsOptions: pick(rec.HostConfig.DnsOptions, d?.dnsOptions) };
  }

  /** Host and none modes: the host's file, unless --dns & co. or the daemon's dns settings say otherwise (then built as dockerd builds it). */
  private ownResolv(rec: ContainerRecord): string | undefined {
    const o = this.dnsOf(rec);
    return o.dns.length + o.dnsSearch.length + o.dnsOptions.length > 0 ? bridgeResolvConf(readHostResolv(), o) : undefined;
  }

  private resolvFor(rec: ContainerRecord, nets: NetworkRecord[], endpoints: Endpoint[]): string {
    const host = readHostResolv();
    const o = this.dnsOf(rec);
    const user = nets.findIndex((n) => this.isUser(n));
    const ep = user >= 0 ? endpoints[user] : undefined;
    if (ep && this.dns.available) return embeddedResolvConf(ep.gateway, host, o);
    return bridgeResolvConf(host, o);
  }

  // --- ContainerNetworking: stop / remove -----------------------------------------

  tearDown(rec: ContainerRecord): Promise<void> {
    return this.lock.run(rec.Id, async () => {
      const c = this.state.get(rec.Id);
      if (!c || !(c.netns || c.endpoints || c.connected)) return;
      const t0 = performance.now();
      await this.teardownState(c);
      this.o.log.debug(`network teardown of ${rec.Id.slice(0, 12)}: ${(performance.now() - t0).toFixed(1)} ms`);
    });
  }

  /** Undo a running container's networking (idempotent). */
  private async teardownState(c: ContainerNet, announce = true): Promise<void> {
    const eps = c.endpoints ?? [];
    const hadPorts = (c.ports ?? []).length > 0;
    const userNet = eps.some((e) => {
      const n = this.networks.get(e.networkId);
      return n !== undefined && this.isUser(n);
    });
    if (c.ports) this.reservations.release(c.ports);
    // Unmounting the namespace destroys it and its veths (the container's processes are gone); the
    // kernel finishes that asynchronously, so the addresses are released once the veths are gone.
    if (c.netns) await removeNetns(c.netns);
    if (eps.length > 0) this.reap(c.id, eps, !c.netns);
    const connected = c.connected ?? [];
    delete c.netns;
    delete c.sandboxId;
    delete c.endpoints;
    delete c.ports;
    delete c.connected;
    delete c.plainEndpoint;
    if (this.state.has(c.id)) await this.saveState(c, false);
    if (hadPorts) await this.applyFirewall().catch((e: unknown) => this.o.log.warn(`iptables: ${messageOf(e)}`));
    if (userNet) await this.updateDns().catch((e: unknown) => this.o.log.warn(`embedded DNS: ${messageOf(e)}`));
    if (announce) {
      for (const id of connected) {
        const n = this.networks.get(id);
        if (n) this.o.events.emit("network", "disconnect", n.Id, { container: c.id, name: n.Name, type: n.Driver });
      }
    }
  }

  private reap(containerId: string, eps: Endpoint[], deleteNow: boolean): void {
    const p = (async () => {
      const names = eps.map((e) => e.hostIf);
      const left = deleteNow ? names : await waitLinksGone(names, 1000);
      if (left.length > 0) await deleteLinks(left).catch((e: unknown) => this.o.log.warn(`removing ${left.join(", ")}: ${messageOf(e)}`));
      for (const e of eps) await this.releaseLeases(e, containerId);
    })();
    this.reaping.add(p);
    void p.finally(() => this.reaping.delete(p));
  }

  /** Wait for background endpoint reaping (tests, network removal). */
  async settle(): Promise<void> {
    while (this.reaping.size > 0) await Promise.allSettled([...this.reaping]);
  }

  async onRemove(rec: ContainerRecord): Promise<void> {
    await this.lock.run(rec.Id, async () => {
      const c = this.state.get(rec.Id);
      if (c) await this.teardownState(c);
      this.state.delete(rec.Id);
      await fs.rm(this.ctrFile(rec.Id), { force: true });
    });
  }

  // --- ContainerNetworking: views ---------------------------------------------

  /** The address `host-gateway` stands for in --add-host: the default bridge's gateway (dockerd's default). */
  hostGatewayIp(): string | undefined {
    return this.bridgeNet.IPAM.Config[0]?.Gateway || undefined;
  }

  settings(rec: ContainerRecord): Record<string, unknown> {
    const c = this.state.get(rec.Id);
    const running = rec.State.Running;
    const eps = running ? (c?.endpoints ?? []) : [];
    const networks: Record<string, unknown> = {};
    // dockerd lists a NetworkMode network it could not find under its name, with an empty endpoint.
    if (c?.missing !== undefined) networks[c.missing] = { ...EMPTY_ENDPOINT, [NOT_JOINED]: true };
    for (const a of c?.attachments ?? []) {
      const n = this.networks.get(a.networkId);
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
        DNSNames: ep && this.isUser(n) ? this.dnsNames(rec, a) : null,
      };
    }
    const bridgeEp = eps.find((e) => e.networkId === this.bridgeNet.Id);
    return {
      Bridge: "",
      SandboxID: running && c?.sandboxId ? c.sandboxId : "",
      SandboxKey: running && c?.netns ? c.netns : "",
      Ports: running ? this.portMap(rec, c) : {},
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

  private dnsNames(rec: ContainerRecord, a: Attachment): string[] {
    return [...new Set([rec.Name.slice(1), rec.Id.slice(0, 12), ...a.aliases])];
  }

  /** Docker's NetworkSettings.Ports: every exposed port → its bindings, or null. */
  private portMap(rec: ContainerRecord, c: ContainerNet | undefined): Record<string, unknown> {
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

  ports(rec: ContainerRecord): unknown[] {
    if (!rec.State.Running) return [];
    const c = this.state.get(rec.Id);
    if (!c?.endpoints) return [];
    const out: unknown[] = [];
    for (const [k, v] of Object.entries(this.portMap(rec, c))) {
      const { port, proto } = parsePortKey(k);
      const bs = v as { HostIp: string; HostPort: string }[] | null;
      if (!bs) out.push({ PrivatePort: port, Type: proto });
      else for (const b of bs) out.push({ IP: b.HostIp, PrivatePort: port, PublicPort: Number(b.HostPort), Type: proto });
    }
    return out;
  }

  // --- firewall and DNS models ----------------------------------------------------

  private fwModel(): FwModel {
    const model: FwModel = { bridges: [], ports: [] };
    for (const n of this.bridgeNetworks()) {
      const cfg = n.IPAM.Config[0];
      if (!cfg || !n.bridge) continue;
      model.bridges.push({ name: n.bridge, subnet: cfg.Subnet, internal: n.Internal });
    }
    for (const c of this.state.values()) {
      const gwEp = (c.endpoints ?? []).find((e) => !this.networks.get(e.networkId)?.Internal);
      if (!gwEp) continue;
      for (const m of c.ports ?? []) {
        model.ports.push({ bridge: gwEp.bridge, proto: m.proto, containerIp: gwEp.ip, containerPort: m.containerPort, hostIp: m.hostIp, hostPort: m.hostPort });
      }
    }
    return model;
  }

  private async applyFirewall(): Promise<void> {
    if (!this.firewallOk) return;
    await this.firewall.apply(this.fwModel());
  }

  private dnsModel(): DnsNetwork[] {
    const out: DnsNetwork[] = [];
    for (const n of this.userNetworks()) {
      const cfg = n.IPAM.Config[0];
      if (!cfg) continue;
      const entries: DnsNetwork["entries"] = [];
      for (const c of this.state.values()) {
        const ep = c.endpoints?.find((e) => e.networkId === n.Id);
        const a = c.attachments.find((x) => x.networkId === n.Id);
        const rec = this.o.containers.find(c.id);
        if (!ep || !a || !rec) continue;
        const dns = this.dnsOf(rec).dns;
        entries.push({ id: c.id, ip: ep.ip, ...(ep.ip6 ? { ip6: ep.ip6 } : {}), names: this.dnsNames(rec, a), ...(dns.length > 0 ? { dnsServers: dns } : {}) });
      }
      out.push({ name: n.Name, gateway: cfg.Gateway ?? "", entries });
    }
    return out;
  }

  private updateDns(): Promise<void> {
    return this.dns.update(this.dnsModel());
  }

  // --- the /networks API ------------------------------------------------------

  list(filters: Record<string, string[]>): Record<string, unknown>[] {
    for (const k of Object.keys(filters)) {
      if (!["dangling", "driver", "id", "label", "name", "scope", "type"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    }
    for (const v of filters["type"] ?? []) if (v !== "builtin" && v !== "custom") throw invalid(`invalid filter: 'type'='${v}'`);
    for (const v of filters["dangling"] ?? []) {
      if (!["true", "1", "false", "0"].includes(v)) throw invalid(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`);
    }
    const used = this.usedNetworkIds();
    const nets = [...this.networks.values()].filter((n) => {
      for (const [k, vals] of Object.entries(filters)) {
        if (vals.length === 0) continue;
        const ok = (() => {
          switch (k) {
            case "driver":
              return vals.includes(n.Driver);
            case "id":
              return vals.some((v) => n.Id.startsWith(v));
            case "name":
              return vals.some((v) => n.Name.includes(v));
            case "scope":
              return vals.includes(n.Scope);
            case "type":
              return vals.some((v) => (v === "builtin" ? !this.isUser(n) : v === "custom" ? this.isUser(n) : false));
            case "label":
              return vals.every((v) => matchLabel(n.Labels, v));
            case "dangling": {
              const want = vals.some((v) => v === "true" || v === "1");
              return this.isUser(n) && (want ? !used.has(n.Id) : used.has(n.Id));
            }
            default:
              return true;
          }
        })();
        if (!ok) return false;
      }
      return true;
    });
    return nets.sort((a, b) => (a.Created < b.Created ? -1 : 1)).map((n) => this.view(n, false));
  }

  /** `scope` (local, swarm, global) narrows the lookup as dockerd's does: another scope is not found. */
  inspect(idOrName: string, scope = ""): Record<string, unknown> {
    const n = this.getNetwork(idOrName);
    if (scope !== "" && scope !== n.Scope) throw notFound(`network ${idOrName} not found`);
    return this.view(n, true);
  }

  private view(n: NetworkRecord, withContainers: boolean): Record<string, unknown> {
    const { bridge: _b, mtu: _m, gatewayImplied, ...pub } = n;
    const containers: Record<string, unknown> = {};
    if (withContainers) {
      for (const c of this.state.values()) {
        const rec = this.o.containers.find(c.id);
        if (!rec?.State.Running) continue;
        const ep = c.endpoints?.find((e) => e.networkId === n.Id);
        if (ep) containers[c.id] = { Name: rec.Name.slice(1), EndpointID: ep.endpointId, MacAddress: ep.mac, IPv4Address: `${ep.ip}/${ep.prefix}`, IPv6Address: ep.ip6 ? `${ep.ip6}/${ep.prefix6 ?? 64}` : "" };
        else if (c.connected?.includes(n.Id) && c.plainEndpoint) containers[c.id] = { Name: rec.Name.slice(1), EndpointID: c.plainEndpoint, MacAddress: "", IPv4Address: "", IPv6Address: "" };
      }
    }
    return {
      ...pub,
      // dockerd answers null for IPAM options nobody set.
      IPAM: { ...n.IPAM, Options: Object.keys(n.IPAM.Options ?? {}).length > 0 ? n.IPAM.Options : null, Config: n.IPAM.Config.map(({ Gateway, ...c }) => (gatewayImplied ? c : { ...c, Gateway })) },
      Containers: containers,
    };
  }

  /** Networks with an active endpoint (a running container): as dockerd, a created or stopped container does not keep its networks from dangling or being pruned. */
  private usedNetworkIds(): Set<string> {
    const used = new Set<string>();
    for (const c of this.state.values()) {
      for (const e of c.endpoints ?? []) used.add(e.networkId);
      if (c.plainEndpoint) for (const id of c.connected ?? []) used.add(id);
    }
    return used;
  }

  async create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
    return this.lock.run("\0networks", async () => {
      const name = body.Name ?? "";
      if (name === "") throw invalid("network name must not be empty");
      if (!NET_NAME_RE.test(name)) throw invalid(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      if (name === "bridge" || name === "host" || name === "none") throw new EngineError("forbidden", `operation is not permitted on predefined ${name} network `);
      if ([...this.networks.values()].some((n) => n.Name === name)) throw conflict(`network with name ${name} already exists`);
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
      const used = this.usedSubnets(links, routes, []);
      const cfgIn = (body.IPAM?.Config ?? []).filter((c) => c && (c.Subnet || c.Gateway || c.IPRange));
      const isV6In = (c: (typeof cfgIn)[number]) => (c?.Subnet || c?.Gateway || c?.IPRange || "").includes(":");
      const v6In = cfgIn.filter(isV6In);
      if (cfgIn.length - v6In.length > 1 || v6In.length > 1) throw new EngineError("forbidden", "bridge driver doesn't support multiple subnets");
      const v6Cfg = this.v6Request(v6In[0] ?? undefined, body.EnableIPv6 === true);
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
        if ([...this.networks.values()].some((n) => n.IPAM.Config.some((c) => c.Subnet && !isV6Config(c) && overlaps(parseCidr(c.Subnet), subnet)))) {
          throw new EngineError("forbidden", "Pool overlaps with other one on this address space");
        }
      } else {
        if (ci?.Gateway || ci?.IPRange) throw invalid("a gateway or ip-range needs a subnet");
        const pick = this.pickPool(used);
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
      await createBridge(bridgeName, `${formatIPv4(gateway)}/${subnet.prefix}`, mtu, `berth:${this.o.execRoot}`, v6 ? `${formatIPv6(v6.gateway)}/${v6.subnet.prefix}` : undefined);
      try {
        await this.localnet(bridgeName);
        await this.saveNetwork(rec);
        this.networks.set(id, rec);
        await this.applyFirewall();
      } catch (e) {
        this.networks.delete(id);
        await fs.rm(path.join(this.netDir, `${id}.json`), { force: true });
        await deleteBridge(bridgeName).catch(() => undefined);
        await this.applyFirewall().catch(() => undefined);
        throw e;
      }
      this.o.events.emit("network", "create", id, { name, type: "bridge" });
      return { Id: id, Warning: "" };
    });
  }

  /**
   * The IPv6 subnet of a new network, checked as dockerd 20.10 checks it (same messages; where
   * dockerd answers 500 for bad input, 400). Kept (not in force) when EnableIPv6 is off, as dockerd does.
   */
  private v6Request(c: { Subnet?: string | null; Gateway?: string | null; IPRange?: string | null } | undefined, enable: boolean): IpamConfig | undefined {
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
    for (const n of this.networks.values()) {
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

  async remove(idOrName: string): Promise<void> {
    const n = this.getNetwork(idOrName);
    if (!this.isUser(n)) throw new EngineError("forbidden", `${n.Name} is a pre-defined network and cannot be removed`);
    await this.lock.run("\0networks", async () => {
      const active: string[] = [];
      for (const c of this.state.values()) {
        if (!c.endpoints?.some((e) => e.networkId === n.Id)) continue;
        const rec = this.o.containers.find(c.id);
        active.push(`name:${JSON.stringify(rec?.Name.slice(1) ?? "")} id:${JSON.stringify(c.id.slice(0, 12))}`);
      }
      if (active.length > 0) throw new EngineError("forbidden", `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
      await this.settle();
      this.networks.delete(n.Id);
      await fs.rm(path.join(this.netDir, `${n.Id}.json`), { force: true });
      if (n.bridge) {
        await deleteBridge(n.bridge);
        await this.leases.dropBridge(n.bridge).catch(() => undefined);
      }
      await this.applyFirewall().catch((e: unknown) => this.o.log.warn(`iptables: ${messageOf(e)}`));
      await this.updateDns().catch(() => undefined);
      this.o.events.emit("network", "destroy", n.Id, { name: n.Name, type: n.Driver });
    });
  }

  async prune(filters: Record<string, string[]>): Promise<{ NetworksDeleted: string[] | null }> {
    for (const k of Object.keys(filters)) if (!["label", "label!", "until"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    const used = this.usedNetworkIds();
    const deleted: string[] = [];
    for (const n of this.userNetworks()) {
      if (used.has(n.Id)) continue;
      if (!(filters["label"] ?? []).every((v) => matchLabel(n.Labels, v))) continue;
      if ((filters["label!"] ?? []).some((v) => matchLabel(n.Labels, v))) continue;
      const until = filters["until"]?.[0];
      if (until && Date.parse(n.Created) > parseUntil(until)) continue;
      await this.remove(n.Id).then(
        () => deleted.push(n.Name),
        (e: unknown) => this.o.log.warn(`prune ${n.Name}: ${messageOf(e)}`),
      );
    }
    return { NetworksDeleted: deleted.length > 0 ? deleted : null };
  }

  async connect(idOrName: string, containerRef: string, cfg: EndpointConfigIn): Promise<void> {
    const n = this.getNetwork(idOrName);
    const rec = this.o.containers.find(containerRef);
    if (!rec) throw notFound(`No such container: ${containerRef}`);
    await this.lock.run(rec.Id, async () => {
      const c = this.stateOf(rec);
      const mode = modeOf(rec);
      if (n.Driver === "host" || mode.kind === "host") throw invalid("container cannot be disconnected from host network or connected to host network");
      if (mode.kind === "container") throw invalid("container sharing network namespace with another container or host cannot be connected to any other network");
      if (n.Driver === "null" || c.attachments.some((a) => a.networkId === this.noneNet.Id)) {
        throw invalid("container cannot be connected to multiple networks with one of the networks in private (none) mode");
      }
      if (c.attachments.some((a) => a.networkId === n.Id)) throw new EngineError("forbidden", `endpoint with name ${rec.Name.slice(1)} already exists in network ${n.Name}`);
      const a: Attachment = { ...this.makeAttachment(n, cfg), byConnect: true };
      if (rec.State.Running && c.netns) {
        const ep = await this.allocateEndpoint(rec.Id, a, n, nextIfname(c.endpoints ?? []));
        try {
          c.endpoints = [...(c.endpoints ?? []), ep];
          c.connected = [...(c.connected ?? []), n.Id];
          c.attachments.push(a);
          await this.saveState(c);
          await addInterfaces(c.netns, [{ ifname: ep.ifname, hostIf: ep.hostIf, bridge: ep.bridge, mac: ep.mac, cidr: `${ep.ip}/${ep.prefix}`, mtu: n.mtu ?? DEFAULT_MTU, ...(ep.ip6 ? { cidr6: `${ep.ip6}/${ep.prefix6 ?? 64}` } : {}) }]);
        } catch (e) {
          c.endpoints = (c.endpoints ?? []).filter((x) => x !== ep);
          c.connected = (c.connected ?? []).filter((x) => x !== n.Id);
          c.attachments = c.attachments.filter((x) => x !== a);
          await deleteLinks([ep.hostIf]).catch(() => undefined);
          await this.releaseLeases(ep, rec.Id);
          await this.saveState(c).catch(() => undefined);
          throw e;
        }
        await this.appendHosts(rec, `${ep.ip}\t${rec.Config.Hostname}`);
        if (ep.ip6) await this.appendHosts(rec, `${ep.ip6}\t${rec.Config.Hostname}`);
        if (this.isUser(n)) await this.updateDns().catch((e: unknown) => this.o.log.warn(`embedded DNS: ${messageOf(e)}`));
        this.o.events.emit("network", "connect", n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
        return;
      }
      if (rec.State.Running) throw new EngineError("forbidden", "the container's network namespace is not managed by berthd");
      c.attachments.push(a);
      await this.saveState(c);
    });
  }

  async disconnect(idOrName: string, containerRef: string, force: boolean): Promise<void> {
    const n = this.getNetwork(idOrName);
    const rec = this.o.containers.find(containerRef);
    if (!rec) {
      if (force) return;
      throw notFound(`No such container: ${containerRef}`);
    }
    await this.lock.run(rec.Id, async () => {
      const c = this.stateOf(rec);
      if (n.Driver === "host") throw invalid("container cannot be disconnected from host network or connected to host network");
      const a = c.attachments.find((x) => x.networkId === n.Id);
      if (!a) throw new EngineError("forbidden", `container ${rec.Id} is not connected to network ${n.Name}`);
      const ep = c.endpoints?.find((e) => e.networkId === n.Id);
      if (ep) {
        await deleteLinks([ep.hostIf]);
        await this.releaseLeases(ep, rec.Id);
        c.endpoints = (c.endpoints ?? []).filter((e) => e !== ep);
        if (c.ports && c.ports.length > 0 && !(c.endpoints ?? []).some((e) => !this.networks.get(e.networkId)?.Internal)) {
          this.reservations.release(c.ports);
          c.ports = [];
          await this.applyFirewall().catch((e: unknown) => this.o.log.warn(`iptables: ${messageOf(e)}`));
        }
      }
      c.attachments = c.attachments.filter((x) => x !== a);
      const wasConnected = c.connected?.includes(n.Id) ?? false;
      if (c.connected) c.connected = c.connected.filter((x) => x !== n.Id);
      await this.saveState(c);
      if (ep && this.isUser(n)) await this.updateDns().catch((e: unknown) => this.o.log.warn(`embedded DNS: ${messageOf(e)}`));
      if (wasConnected) this.o.events.emit("network", "disconnect", n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    });
  }

  private async appendHosts(rec: ContainerRecord, line: string): Promise<void> {
    try {
      const cur = await fs.readFile(rec.HostsPath, "utf8");
      if (!cur.split("\n").includes(line)) await fs.appendFile(rec.HostsPath, `${line}\n`);
    } catch {
      // no hosts file: nothing to update
    }
  }

}

const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();
const strMap = z.record(z.string(), z.string());

export const NetworkCreateSchema = z.looseObject({
  Name: nullable(z.string()),
  Driver: nullable(z.string()),
  Scope: nullable(z.string()),
  Internal: nullable(z.boolean()),
  Attachable: nullable(z.boolean()),
  Ingress: nullable(z.boolean()),
  EnableIPv4: nullable(z.boolean()),
  EnableIPv6: nullable(z.boolean()),
  ConfigOnly: nullable(z.boolean()),
  ConfigFrom: nullable(z.looseObject({ Network: nullable(z.string()) })),
  CheckDuplicate: nullable(z.boolean()),
  IPAM: nullable(
    z.looseObject({
      Driver: nullable(z.string()),
      Options: nullable(strMap),
      Config: nullable(z.array(z.looseObject({ Subnet: nullable(z.string()), Gateway: nullable(z.string()), IPRange: nullable(z.string()), AuxiliaryAddresses: nullable(strMap) }).nullable())),
    }),
  ),
  Options: nullable(strMap),
  Labels: nullable(strMap),
});
export type NetworkCreateBody = z.infer<typeof NetworkCreateSchema>;

export const NetworkConnectSchema = z.looseObject({ Container: z.string(), EndpointConfig: nullable(EndpointSettingsSchema) });
export const NetworkDisconnectSchema = z.looseObject({ Container: z.string(), Force: nullable(z.boolean()) });

export type { EndpointConfigIn };

function nextIfname(eps: Endpoint[]): string {
  for (let i = 0; ; i++) if (!eps.some((e) => e.ifname === `eth${i}`)) return `eth${i}`;
}

function matchLabel(labels: Record<string, string>, want: string): boolean {
  const i = want.indexOf("=");
  if (i < 0) return want in labels;
  return labels[want.slice(0, i)] === want.slice(i + 1);
}

function parseUntil(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const d = v.match(/^(\d+)(s|m|h)$/);
  if (d) return Date.now() - Number(d[1]) * { s: 1000, m: 60000, h: 3600000 }[d[2] as "s" | "m" | "h"];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid filter 'until=${v}'`);
  return t;
}

function readHostResolv(): string {
  try {
    return readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}

/** The host's /etc/hosts entries (host network), minus the localhost block the container file already has. */
function hostEtcHosts(): string[] {
  let text = "";
  try {
    text = readFileSync("/etc/hosts", "utf8");
  } catch {
    return [];
  }
  const std = /^(127\.0\.0\.1\s+localhost\s*$|::1\s+.*localhost|fe00::0\s|ff00::0\s|ff02::[12]\s)/;
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#") && !std.test(l));
}
