/**
 * Endpoints: an address on a network (IPv4, and IPv6 on dual-stack networks) claimed as a
 * host-wide lease, and the undoing of a container's networking when its process ended:
 * the namespace unmounted (the kernel then destroys its veths), the veths' leases released
 * in the background once the veths are gone, port reservations, iptables and DNS updated.
 */
import { removeNetns, contains6, deleteLinks, firstFree, firstFree6, formatIPv4, formatIPv6, macFromIp, parseCidr, parseIPv4, parseIPv6, waitLinksGone } from "../../network/index.js";
import { bestEffort } from "../../util/besteffort.js";
import { EngineError, conflict, invalid, messageOf } from "../../util/errors.js";
import { type Attachment, type ContainerNet, type Endpoint, type NetworkRecord, type V6Plan, newHexId, v6Of } from "./model.js";
import type { NetworkState } from "./state.js";

export class Endpoints {
  /** Endpoints being reaped in the background: veths dying with their namespace, then their leases. */
  private readonly reaping = new Set<Promise<void>>();

  constructor(private readonly s: NetworkState) {}

  /** Pick (or claim the requested) address on a network; the lease is host-wide. */
  async allocate(containerId: string, a: Attachment, n: NetworkRecord, ifname: string): Promise<Endpoint> {
    const cfg = n.IPAM.Config[0];
    const bridge = n.bridge;
    if (!cfg || !bridge) throw new EngineError("internal", `network ${n.Name} has no IPv4 configuration`);
    const leases = this.s.leases;
    const subnet = parseCidr(cfg.Subnet);
    const gateway = parseIPv4(cfg.Gateway ?? "") as number;
    let ip: number | undefined;
    if (a.ipv4) {
      const want = parseIPv4(a.ipv4) as number;
      if (want === gateway || !(await leases.claim(bridge, a.ipv4, containerId))) throw conflict(`failed to set up container networking: Address already in use`);
      ip = want;
    } else {
      const range = cfg.IPRange ? parseCidr(cfg.IPRange) : undefined;
      for (let attempt = 0; attempt < 64 && ip === undefined; attempt++) {
        const taken = new Set([...(await leases.taken(bridge))].map((x) => parseIPv4(x)).filter((x): x is number => x !== undefined));
        taken.add(gateway);
        const cand = firstFree(subnet, taken, range);
        if (cand === undefined) throw new EngineError("unavailable", `no available IPv4 addresses on network ${n.Name}`);
        if (await leases.claim(bridge, formatIPv4(cand), containerId)) ip = cand;
      }
      if (ip === undefined) throw new EngineError("unavailable", `could not allocate an address on network ${n.Name}`);
    }
    let ip6: string | undefined;
    const v6 = v6Of(n);
    if (v6 || a.ipv6) {
      try {
        ip6 = await this.allocateV6(containerId, a, n, bridge, v6);
      } catch (e) {
        await leases.release(bridge, formatIPv4(ip), containerId).catch(bestEffort(`releasing lease ${formatIPv4(ip)} on ${bridge}`));
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
    const leases = this.s.leases;
    if (a.ipv6) {
      const want = parseIPv6(a.ipv6);
      if (want === undefined || !v6 || !contains6(v6.subnet, want)) throw invalid(`Invalid address ${a.ipv6}: It does not belong to any of this network's subnets`);
      const str = formatIPv6(want);
      if (want === v6.gateway || want === v6.subnet.addr || !(await leases.claim(bridge, str, containerId))) throw new EngineError("forbidden", "Address already in use");
      return str;
    }
    const plan = v6 as V6Plan;
    for (let attempt = 0; attempt < 64; attempt++) {
      const taken = new Set([...(await leases.taken(bridge))].map((x) => parseIPv6(x)).filter((x): x is bigint => x !== undefined));
      taken.add(plan.gateway);
      const cand = firstFree6(plan.subnet, taken, plan.range);
      if (cand === undefined) break;
      if (await leases.claim(bridge, formatIPv6(cand), containerId)) return formatIPv6(cand);
    }
    throw new EngineError("unavailable", `no available IPv6 addresses on this network's address pools: ${n.Name} (${n.Id})`);
  }

  async releaseLeases(ep: Endpoint, containerId: string): Promise<void> {
    for (const ip of [ep.ip, ep.ip6]) if (ip) await this.s.leases.release(ep.bridge, ip, containerId).catch(bestEffort(`releasing lease ${ip} on ${ep.bridge}`));
  }

  /** Undo a running container's networking (idempotent); announce = "disconnect" events. */
  async tearDown(c: ContainerNet, announce = true): Promise<void> {
    const s = this.s;
    const eps = c.endpoints ?? [];
    const hadPorts = (c.ports ?? []).length > 0;
    const userNet = eps.some((e) => s.isUserId(e.networkId));
    if (c.ports) s.reservations.release(c.ports);
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
    if (s.state.has(c.id)) await s.saveState(c, false);
    if (hadPorts) await s.applyFirewallLogged();
    if (userNet) await s.updateDns();
    if (announce) {
      for (const id of connected) {
        const n = s.networks.get(id);
        if (n) s.o.events.emit("network", "disconnect", n.Id, { container: c.id, name: n.Name, type: n.Driver });
      }
    }
  }

  private reap(containerId: string, eps: Endpoint[], deleteNow: boolean): void {
    const p = (async () => {
      const names = eps.map((e) => e.hostIf);
      const left = deleteNow ? names : await waitLinksGone(names, 1000);
      if (left.length > 0) await deleteLinks(left).catch((e: unknown) => this.s.o.log.warn(`removing ${left.join(", ")}: ${messageOf(e)}`));
      for (const e of eps) await this.releaseLeases(e, containerId);
    })();
    this.reaping.add(p);
    void p.finally(() => this.reaping.delete(p));
  }

  /** Wait for background endpoint reaping (tests, network removal). */
  async settle(): Promise<void> {
    while (this.reaping.size > 0) await Promise.allSettled([...this.reaping]);
  }
}
