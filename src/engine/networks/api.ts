/**
 * The /networks API: ls (Docker's filters), inspect, rm, prune, and connect/disconnect of a
 * container (endpoints made or undone at once when it runs); create is create.ts.
 */
import { promises as fs } from "node:fs";
import { addInterfaces, deleteBridge, deleteLinks } from "../../network/index.js";
import { bestEffort } from "../../util/besteffort.js";
import { EngineError, invalid, messageOf, notFound } from "../../util/errors.js";
import { matchLabels, parseTimestamp } from "../../util/filters.js";
import type { ContainerRecord } from "../types.js";
import { makeAttachment, stateOf } from "./attachments.js";
import { createNetwork } from "./create.js";
import type { Endpoints } from "./endpoints.js";
import { type Attachment, type EndpointConfigIn, type NetworkRecord, modeOf, nextIfname, vethOf } from "./model.js";
import type { NetworkCreateBody } from "./schemas.js";
import type { NetworkState } from "./state.js";

export class NetworkApi {
  constructor(
    protected readonly s: NetworkState,
    protected readonly endpoints: Endpoints,
  ) {}

  create(body: NetworkCreateBody): Promise<{ Id: string; Warning: string }> {
    return createNetwork(this.s, body);
  }

  list(filters: Record<string, string[]>): Record<string, unknown>[] {
    for (const k of Object.keys(filters)) {
      if (!["dangling", "driver", "id", "label", "name", "scope", "type"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    }
    for (const v of filters["type"] ?? []) if (v !== "builtin" && v !== "custom") throw invalid(`invalid filter: 'type'='${v}'`);
    for (const v of filters["dangling"] ?? []) {
      if (!["true", "1", "false", "0"].includes(v)) throw invalid(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`);
    }
    const used = this.s.usedNetworkIds();
    const nets = [...this.s.networks.values()].filter((n) => {
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
              return vals.some((v) => (v === "builtin" ? !this.s.isUser(n) : v === "custom" ? this.s.isUser(n) : false));
            case "label":
              return matchLabels(n.Labels, vals);
            case "dangling": {
              const want = vals.some((v) => v === "true" || v === "1");
              return this.s.isUser(n) && (want ? !used.has(n.Id) : used.has(n.Id));
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
    const n = this.s.getNetwork(idOrName);
    if (scope !== "" && scope !== n.Scope) throw notFound(`network ${idOrName} not found`);
    return this.view(n, true);
  }

  private view(n: NetworkRecord, withContainers: boolean): Record<string, unknown> {
    const { bridge: _b, mtu: _m, gatewayImplied, ...pub } = n;
    const containers: Record<string, unknown> = {};
    if (withContainers) {
      for (const c of this.s.state.values()) {
        const rec = this.s.o.containers.find(c.id);
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

  async remove(idOrName: string): Promise<void> {
    const n = this.s.getNetwork(idOrName);
    if (!this.s.isUser(n)) throw new EngineError("forbidden", `${n.Name} is a pre-defined network and cannot be removed`);
    await this.s.lock.run("\0networks", async () => {
      const active: string[] = [];
      for (const c of this.s.state.values()) {
        if (!c.endpoints?.some((e) => e.networkId === n.Id)) continue;
        const rec = this.s.o.containers.find(c.id);
        active.push(`name:${JSON.stringify(rec?.Name.slice(1) ?? "")} id:${JSON.stringify(c.id.slice(0, 12))}`);
      }
      if (active.length > 0) throw new EngineError("forbidden", `error while removing network: network ${n.Name} id ${n.Id} has active endpoints`);
      await this.endpoints.settle();
      this.s.networks.delete(n.Id);
      await fs.rm(this.s.netFile(n.Id), { force: true });
      if (n.bridge) {
        await deleteBridge(n.bridge);
        await this.s.leases.dropBridge(n.bridge).catch(bestEffort(`dropping the leases of ${n.bridge}`));
      }
      await this.s.applyFirewallLogged();
      await this.s.updateDns();
      this.s.o.events.emit("network", "destroy", n.Id, { name: n.Name, type: n.Driver });
    });
  }

  async prune(filters: Record<string, string[]>): Promise<{ NetworksDeleted: string[] | null }> {
    for (const k of Object.keys(filters)) if (!["label", "label!", "until"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    const untilArg = filters["until"]?.[0];
    const until = untilArg ? parseTimestamp(untilArg) : undefined;
    if (untilArg && until === undefined) throw invalid(`invalid filter 'until=${untilArg}'`);
    const used = this.s.usedNetworkIds();
    const deleted: string[] = [];
    for (const n of this.s.userNetworks()) {
      if (used.has(n.Id)) continue;
      if (!matchLabels(n.Labels, filters["label"] ?? [])) continue;
      if ((filters["label!"] ?? []).some((v) => matchLabels(n.Labels, [v]))) continue;
      if (until !== undefined && Date.parse(n.Created) > until * 1000) continue;
      await this.remove(n.Id).then(
        () => deleted.push(n.Name),
        (e: unknown) => this.s.o.log.warn(`prune ${n.Name}: ${messageOf(e)}`),
      );
    }
    return { NetworksDeleted: deleted.length > 0 ? deleted : null };
  }

  async connect(idOrName: string, containerRef: string, cfg: EndpointConfigIn): Promise<void> {
    const n = this.s.getNetwork(idOrName);
    const rec = this.s.o.containers.find(containerRef);
    if (!rec) throw notFound(`No such container: ${containerRef}`);
    await this.s.lock.run(rec.Id, async () => {
      const c = stateOf(this.s, rec);
      const mode = modeOf(rec);
      if (n.Driver === "host" || mode.kind === "host") throw invalid("container cannot be disconnected from host network or connected to host network");
      if (mode.kind === "container") throw invalid("container sharing network namespace with another container or host cannot be connected to any other network");
      if (n.Driver === "null" || c.attachments.some((a) => a.networkId === this.s.noneNet.Id)) {
        throw invalid("container cannot be connected to multiple networks with one of the networks in private (none) mode");
      }
      if (c.attachments.some((a) => a.networkId === n.Id)) throw new EngineError("forbidden", `endpoint with name ${rec.Name.slice(1)} already exists in network ${n.Name}`);
      const a: Attachment = { ...makeAttachment(this.s, n, cfg), byConnect: true };
      if (rec.State.Running && c.netns) {
        const ep = await this.endpoints.allocate(rec.Id, a, n, nextIfname(c.endpoints ?? []));
        try {
          c.endpoints = [...(c.endpoints ?? []), ep];
          c.connected = [...(c.connected ?? []), n.Id];
          c.attachments.push(a);
          await this.s.saveState(c);
          await addInterfaces(c.netns, [vethOf(ep, n.mtu)]);
        } catch (e) {
          c.endpoints = (c.endpoints ?? []).filter((x) => x !== ep);
          c.connected = (c.connected ?? []).filter((x) => x !== n.Id);
          c.attachments = c.attachments.filter((x) => x !== a);
          await deleteLinks([ep.hostIf]).catch(bestEffort(`removing ${ep.hostIf}`));
          await this.endpoints.releaseLeases(ep, rec.Id);
          await this.s.saveState(c).catch(bestEffort(`saving the network state of ${rec.Id.slice(0, 12)}`));
          throw e;
        }
        await appendHosts(rec, `${ep.ip}\t${rec.Config.Hostname}`);
        if (ep.ip6) await appendHosts(rec, `${ep.ip6}\t${rec.Config.Hostname}`);
        if (this.s.isUser(n)) await this.s.updateDns();
        this.s.o.events.emit("network", "connect", n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
        return;
      }
      if (rec.State.Running) throw new EngineError("forbidden", "the container's network namespace is not managed by berthd");
      c.attachments.push(a);
      await this.s.saveState(c);
    });
  }

  async disconnect(idOrName: string, containerRef: string, force: boolean): Promise<void> {
    const n = this.s.getNetwork(idOrName);
    const rec = this.s.o.containers.find(containerRef);
    if (!rec) {
      if (force) return;
      throw notFound(`No such container: ${containerRef}`);
    }
    await this.s.lock.run(rec.Id, async () => {
      const c = stateOf(this.s, rec);
      if (n.Driver === "host") throw invalid("container cannot be disconnected from host network or connected to host network");
      const a = c.attachments.find((x) => x.networkId === n.Id);
      if (!a) throw new EngineError("forbidden", `container ${rec.Id} is not connected to network ${n.Name}`);
      const ep = c.endpoints?.find((e) => e.networkId === n.Id);
      if (ep) {
        await deleteLinks([ep.hostIf]);
        await this.endpoints.releaseLeases(ep, rec.Id);
        c.endpoints = (c.endpoints ?? []).filter((e) => e !== ep);
        if (c.ports && c.ports.length > 0 && !(c.endpoints ?? []).some((e) => !this.s.networks.get(e.networkId)?.Internal)) {
          this.s.reservations.release(c.ports);
          c.ports = [];
          await this.s.applyFirewallLogged();
        }
      }
      c.attachments = c.attachments.filter((x) => x !== a);
      const wasConnected = c.connected?.includes(n.Id) ?? false;
      if (c.connected) c.connected = c.connected.filter((x) => x !== n.Id);
      await this.s.saveState(c);
      if (ep && this.s.isUser(n)) await this.s.updateDns();
      if (wasConnected) this.s.o.events.emit("network", "disconnect", n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    });
  }
}

async function appendHosts(rec: ContainerRecord, line: string): Promise<void> {
  try {
    const cur = await fs.readFile(rec.HostsPath, "utf8");
    if (!cur.split("\n").includes(line)) await fs.appendFile(rec.HostsPath, `${line}\n`);
  } catch {
    // no hosts file: nothing to update
  }
}
