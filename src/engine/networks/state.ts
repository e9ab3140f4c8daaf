/**
 * What the networks backend's parts share: the network records and the containers' network
 * state (in memory and on disk), the per-container lock, host-wide address leases, published
 * port reservations, and the two models derived from them: the iptables rules (Firewall) and
 * the embedded DNS's names (Aardvark).
 *
 * On disk: <data-root>/network/networks/<id>.json (network records) and
 * <data-root>/network/containers/<id>.json (a container's attachments and, while it runs,
 * its endpoints and port mappings — written before anything is made, so a crash leaves a
 * record to undo). Namespaces are bind mounts under <exec-root>/netns/, the DNS
 * configuration lives in <exec-root>/network/dns/.
 */
import { promises as fs } from "node:fs";
import path from "node:path";
import { Aardvark, DEFAULT_LEASE_ROOT, type DnsNetwork, Firewall, type FwModel, HostLeases, PortReservations, findAardvark } from "../../network/index.js";
import { invalid, messageOf, notFound } from "../../util/errors.js";
import { writeJson } from "../../util/fsutil.js";
import { KeyedMutex } from "../../util/lock.js";
import type { ContainerRecord } from "../types.js";
import { type Attachment, type ContainerNet, DEFAULT_BRIDGE, type NetworkRecord, type NetworkServiceOptions } from "./model.js";

export class NetworkState {
  readonly networks = new Map<string, NetworkRecord>();
  /** Each container's network state, by container id. */
  readonly state = new Map<string, ContainerNet>();
  /** Per container id; "\0networks" for network create/remove. */
  readonly lock = new KeyedMutex();
  readonly reservations = new PortReservations();
  readonly leases: HostLeases;
  readonly firewall: Firewall;
  readonly dns: Aardvark;
  readonly netDir: string;
  readonly ctrDir: string;
  readonly netnsDir: string;
  bridgeNet!: NetworkRecord;
  hostNet!: NetworkRecord;
  noneNet!: NetworkRecord;
  /** Cleared when iptables could not be set up at start-up (published ports and isolation are off). */
  firewallOk = true;

  constructor(readonly o: NetworkServiceOptions) {
    this.netDir = path.join(o.dataRoot, "network", "networks");
    this.ctrDir = path.join(o.dataRoot, "network", "containers");
    this.netnsDir = path.join(o.execRoot, "netns");
    this.leases = new HostLeases(o.leaseRoot ?? DEFAULT_LEASE_ROOT, o.execRoot);
    this.firewall = new Firewall({ execRoot: o.execRoot });
    this.dns = new Aardvark(path.join(o.execRoot, "network", "dns"), findAardvark(), (m) => o.log.warn(m));
  }

  get bridgeName(): string {
    return this.o.bridgeName ?? DEFAULT_BRIDGE;
  }

  // --- persistence ------------------------------------------------------------

  async saveNetwork(n: NetworkRecord): Promise<void> {
    await writeJson(this.netFile(n.Id), n);
  }

  netFile(id: string): string {
    return path.join(this.netDir, `${id}.json`);
  }

  ctrFile(id: string): string {
    return path.join(this.ctrDir, `${id}.json`);
  }

  /** Durable (fsync) when it records something made on the host; a quick rename otherwise. */
  async saveState(c: ContainerNet, durable = true): Promise<void> {
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

  /** A user-defined network (a bridge network other than the default one). */
  isUser(n: NetworkRecord): boolean {
    return n.Driver === "bridge" && n.Id !== this.bridgeNet.Id;
  }

  /** Whether network id is a user-defined network. */
  isUserId(id: string): boolean {
    const n = this.networks.get(id);
    return n !== undefined && this.isUser(n);
  }

  userNetworks(): NetworkRecord[] {
    return [...this.networks.values()].filter((n) => n.Driver === "bridge" && n.bridge !== this.bridgeName && n.Name !== "bridge");
  }

  bridgeNetworks(): NetworkRecord[] {
    return [...this.networks.values()].filter((n) => n.Driver === "bridge" && n.bridge);
  }

  /** Networks with an active endpoint (a running container): as dockerd, a created or stopped container does not keep its networks from dangling or being pruned. */
  usedNetworkIds(): Set<string> {
    const used = new Set<string>();
    for (const c of this.state.values()) {
      for (const e of c.endpoints ?? []) used.add(e.networkId);
      if (c.plainEndpoint) for (const id of c.connected ?? []) used.add(id);
    }
    return used;
  }

  // --- firewall and DNS models ----------------------------------------------------

  fwModel(): FwModel {
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

  async applyFirewall(): Promise<void> {
    if (!this.firewallOk) return;
    await this.firewall.apply(this.fwModel());
  }

  /** applyFirewall, a failure logged (the caller goes on). */
  applyFirewallLogged(): Promise<void> {
    return this.applyFirewall().catch((e: unknown) => this.o.log.warn(`iptables: ${messageOf(e)}`));
  }

  /** The container's --dns, --dns-search, --dns-option, each falling back on the daemon's own when empty (as dockerd). */
  dnsOf(rec: ContainerRecord): { dns: string[]; dnsSearch: string[]; dnsOptions: string[] } {
    const d = this.o.dnsDefaults;
    const pick = (own: string[] | null | undefined, dflt: string[] | undefined) => (own && own.length > 0 ? own : (dflt ?? []));
    return { dns: pick(rec.HostConfig.Dns, d?.dns), dnsSearch: pick(rec.HostConfig.DnsSearch, d?.dnsSearch), dnsOptions: pick(rec.HostConfig.DnsOptions, d?.dnsOptions) };
  }

  dnsNames(rec: ContainerRecord, a: Attachment): string[] {
    return [...new Set([rec.Name.slice(1), rec.Id.slice(0, 12), ...a.aliases])];
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

  /** Rewrite the embedded DNS's names; a failure is logged (names are a convenience, never a reason to fail). */
  updateDns(): Promise<void> {
    return this.dns.update(this.dnsModel()).catch((e: unknown) => this.o.log.warn(`embedded DNS: ${messageOf(e)}`));
  }
}
