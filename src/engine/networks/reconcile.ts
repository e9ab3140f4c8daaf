/**
 * Start-up repair of the networks backend: records loaded, stale bridges of vanished
 * daemons removed, the predefined networks (bridge, host, none) and user networks' bridges
 * made to match their records, leases, namespaces, port reservations and iptables chains
 * that no record names collected (a crash); after the containers backend reconciled, the
 * state of containers that are gone or stopped undone.
 */
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { type HostLink, cidrString, collectGuards, formatIPv4, hostLinks, hostRoutes, removeNetns, setSysctl, strayAardvarks } from "../../network/index.js";
import { messageOf } from "../../util/errors.js";
import { ensureDir, readJson } from "../../util/fsutil.js";
import type { ContainerNetworking } from "../plugs.js";
import { initialState } from "./attachments.js";
import { collectStrayBridges, ensureDefaultBridge, ensureUserBridge } from "./bridges.js";
import type { Endpoints } from "./endpoints.js";
import { type ContainerNet, DEFAULT_MTU, type NetworkRecord, newHexId } from "./model.js";
import type { NetworkState } from "./state.js";

export class NetworkReconciler {
  constructor(
    private readonly s: NetworkState,
    private readonly endpoints: Endpoints,
    private readonly attacher: Pick<ContainerNetworking, "tearDown">,
  ) {}

  async init(): Promise<void> {
    const s = this.s;
    const warn = (what: string) => (e: unknown) => s.o.log.warn(`${what}: ${messageOf(e)}`);
    // Root only, tightened if an older berthd made them wider: records, netns bind mounts, the DNS server's state.
    for (const d of [path.dirname(s.netDir), s.netDir, s.ctrDir, s.netnsDir, path.join(s.o.execRoot, "network")]) await ensureDir(d, 0o700);
    for (const n of await this.load<NetworkRecord>(s.netDir)) s.networks.set(n.Id, n);
    for (const c of await this.load<ContainerNet>(s.ctrDir)) s.state.set(c.id, c);
    const [links, routes] = await Promise.all([hostLinks(), hostRoutes()]);
    await collectStrayBridges(s, links);
    await collectGuards((b) => existsSync(`/sys/class/net/${b}`)).catch(warn("collecting loopback guards"));
    await this.ensurePredefined(links, routes);
    for (const n of s.userNetworks()) await ensureUserBridge(s, n, links);
    await setSysctl("net/ipv4/ip_forward", "1");

    // Leases and namespaces of endpoints that no longer exist (a crash) are released.
    const keep = new Set<string>();
    const nsKeep = new Set<string>();
    for (const c of s.state.values()) {
      for (const e of c.endpoints ?? []) for (const ip of [e.ip, e.ip6]) if (ip) keep.add(`${e.bridge}/${ip}`);
      if (c.netns) nsKeep.add(path.basename(c.netns));
    }
    await s.leases.collect(keep).catch(warn("collecting address leases"));
    for (const f of await fs.readdir(s.netnsDir)) {
      if (!nsKeep.has(f)) await removeNetns(path.join(s.netnsDir, f)).catch(warn(`removing stale netns ${f}`));
    }
    for (const c of s.state.values()) {
      if (!c.ports || c.ports.length === 0) continue;
      const fails = await s.reservations.adopt(c.ports);
      for (const f of fails) s.o.log.warn(`container ${c.id.slice(0, 12)}: could not re-reserve ${f}`);
    }
    try {
      const { collected } = await s.firewall.init(s.fwModel());
      if (collected > 0) s.o.log.info(`removed ${collected} iptables chain(s) of vanished daemons`);
    } catch (e) {
      s.firewallOk = false;
      s.o.log.error(`iptables set-up failed (published ports and isolation are off): ${messageOf(e)}`);
    }
    for (const pid of await strayAardvarks()) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone already
      }
    }
    if (!s.dns.available) s.o.log.warn("aardvark-dns not found: containers on user networks cannot resolve each other's names (apt-get install aardvark-dns)");
    await s.updateDns();
  }

  /** The JSON records of a directory; an unreadable one (a crash mid-write of an older berthd) is left out. */
  private async load<T>(dir: string): Promise<T[]> {
    const out: T[] = [];
    for (const f of await fs.readdir(dir)) {
      if (!f.endsWith(".json")) continue;
      const v = await readJson<T>(path.join(dir, f)).catch(() => undefined); // unreadable: left out (see above)
      if (v) out.push(v);
    }
    return out;
  }

  /**
   * After the containers backend reconciled: forget containers that no longer exist, undo endpoints
   * of stopped ones, and know every container's attachments (for prune and inspect).
   */
  async reconcile(): Promise<void> {
    const s = this.s;
    for (const rec of s.o.containers.all()) {
      if (s.state.has(rec.Id)) continue;
      try {
        s.state.set(rec.Id, initialState(s, rec));
      } catch (e) {
        s.o.log.warn(`container ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
      }
    }
    for (const c of [...s.state.values()]) {
      const rec = s.o.containers.find(c.id);
      const warn = (e: unknown) => s.o.log.warn(`network teardown ${c.id.slice(0, 12)}: ${messageOf(e)}`);
      if (!rec) {
        await this.endpoints.tearDown(c).catch(warn);
        s.state.delete(c.id);
        await fs.rm(s.ctrFile(c.id), { force: true });
      } else if (!rec.State.Running && (c.netns || c.endpoints)) {
        await this.attacher.tearDown(rec).catch(warn);
      }
    }
  }

  private async ensurePredefined(links: HostLink[], routes: string[]): Promise<void> {
    const s = this.s;
    const byName = (name: string) => [...s.networks.values()].find((n) => n.Name === name);
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
    s.hostNet = byName("host") ?? base("host", "host");
    s.noneNet = byName("none") ?? base("none", "null");
    const bridge = byName("bridge") ?? base("bridge", "bridge");
    bridge.bridge = s.bridgeName;
    bridge.mtu = DEFAULT_MTU;
    bridge.Options = {
      "com.docker.network.bridge.default_bridge": "true",
      "com.docker.network.bridge.enable_icc": "true",
      "com.docker.network.bridge.enable_ip_masquerade": "true",
      "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
      "com.docker.network.bridge.name": s.bridgeName,
      "com.docker.network.driver.mtu": String(DEFAULT_MTU),
    };
    const gw = await ensureDefaultBridge(s, bridge, links, routes);
    bridge.IPAM.Config = [{ Subnet: cidrString(gw), Gateway: formatIPv4(gw.host) }];
    s.bridgeNet = bridge;
    for (const n of [s.hostNet, s.noneNet, s.bridgeNet]) {
      s.networks.set(n.Id, n);
      await s.saveNetwork(n);
    }
  }
}
