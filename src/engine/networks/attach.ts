/**
 * The container side of networking (plugs.ts ContainerNetworking): at create the
 * memberships are checked and kept; at start a network namespace gets a veth per bridge
 * network with addresses from IPAM, published ports through kernel NAT, /etc/hosts and
 * /etc/resolv.conf lines and names in the embedded DNS (host, none and container:<id>
 * modes share or skip all that); when the process ended it is undone (endpoints.ts).
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type PortMapping, type VethSpec, adoptSandbox, createSandbox, portRequests } from "../../network/index.js";
import { EngineError, conflict, invalid, isEngineError, messageOf, notFound } from "../../util/errors.js";
import { ownUserNamespace } from "../nsmodes.js";
import type { ContainerNetworking, NetworkAttachment, NetworkSetUpOptions } from "../plugs.js";
import type { ContainerRecord } from "../types.js";
import { initialState, resolveMissing, stateOf } from "./attachments.js";
import type { Endpoints } from "./endpoints.js";
import { hostEtcHosts, hostsFor, linkEnvFor, ownResolv, readHostResolv, resolvFor } from "./etcfiles.js";
import { type ContainerNet, type Endpoint, type NetworkRecord, modeOf, newHexId, vethOf } from "./model.js";
import { networkSettings, psPorts } from "./settings.js";
import type { NetworkState } from "./state.js";

export class NetworkAttacher implements ContainerNetworking {
  constructor(private readonly s: NetworkState, private readonly endpoints: Endpoints) {
    // A renamed container answers to its new name on user networks at once (dockerd updates its resolver too).
    s.o.events.subscribe((e) => {
      if (e.Type !== "container" || e.Action !== "rename") return;
      const c = s.state.get(e.Actor.ID);
      if (!c?.endpoints?.some((ep) => s.isUserId(ep.networkId))) return;
      void s.updateDns();
    });
  }

  async onCreate(rec: ContainerRecord): Promise<void> {
    let c: ContainerNet;
    try {
      c = initialState(this.s, rec);
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
      if (!this.s.o.containers.find(target.replace(/^\//, ""))) throw invalid(`could not get container for ${target}: No such container: ${target}`);
    }
    // Nothing to write yet: until a connect/disconnect, the attachments follow from the record itself.
    this.s.state.set(rec.Id, c);
  }

  setUp(rec: ContainerRecord, opts: NetworkSetUpOptions = {}): Promise<NetworkAttachment> {
    return this.s.lock.run(rec.Id, async () => {
      const t0 = performance.now();
      const r = await this.setUpUnlocked(rec, opts);
      this.s.o.log.debug(`network set-up of ${rec.Id.slice(0, 12)}: ${(performance.now() - t0).toFixed(1)} ms`);
      return r;
    });
  }

  private async setUpUnlocked(rec: ContainerRecord, opts: NetworkSetUpOptions): Promise<NetworkAttachment> {
    const c = stateOf(this.s, rec);
    if (c.netns || c.endpoints) await this.endpoints.tearDown(c); // a previous run not cleaned up
    const mode = modeOf(rec);
    if (mode.kind === "container") return this.joinContainer(rec, mode.target);
    resolveMissing(this.s, rec, c);
    const first = c.attachments[0] ? this.s.networks.get(c.attachments[0].networkId) : undefined;
    if (c.attachments.length > 0 && !first) throw notFound(`network ${rec.HostConfig.NetworkMode} not found`);
    if (first && first.Driver === "host") {
      await this.markPlain(c, first);
      return { hostNamespaces: ["network"], hostMode: true, hostsEntries: hostEtcHosts(), resolvConf: ownResolv(this.s, rec) ?? readHostResolv() };
    }
    if (first && first.Driver === "null") {
      await this.markPlain(c, first);
      const resolvConf = ownResolv(this.s, rec);
      return resolvConf !== undefined ? { resolvConf } : {};
    }
    return this.setUpBridges(rec, c, opts.runtimeNetns === true);
  }

  private async markPlain(c: ContainerNet, n: NetworkRecord): Promise<void> {
    c.plainEndpoint = newHexId();
    c.connected = [n.Id];
    await this.s.saveState(c, false);
    this.s.o.events.emit("network", "connect", n.Id, { container: c.id, name: n.Name, type: n.Driver });
  }

  private async joinContainer(rec: ContainerRecord, target: string): Promise<NetworkAttachment> {
    const t = this.s.o.containers.find(target);
    if (!t) throw notFound(`No such container: ${target}`);
    if (t.Id === rec.Id) throw invalid("cannot join own network namespace");
    if (!t.State.Running) throw conflict(`cannot join network namespace of a non running container: container ${t.Id} is ${t.State.Status}`);
    const tc = this.s.state.get(t.Id);
    // A target without a resolv.conf (normal for some): the joining container gets the default one.
    const resolvConf = await fs.readFile(t.ResolvConfPath, "utf8").catch(() => undefined);
    const hostsEntries = (tc?.endpoints ?? []).map((e) => `${e.ip}\t${t.Config.Hostname}`);
    const base = { hostsEntries, ...(resolvConf !== undefined ? { resolvConf } : {}) };
    if (modeOf(t).kind === "host") return { ...base, hostNamespaces: ["network"], hostMode: true };
    // A user-namespaced target's network namespace belongs to its user namespace: join both.
    const userns = await ownUserNamespace(t.State.Pid);
    const join: Record<string, string> = { network: tc?.netns ?? `/proc/${t.State.Pid}/ns/net`, ...(userns ? { user: userns } : {}) };
    return { ...base, joinNamespaces: join };
  }

  /**
   * Addresses for each bridge attachment, a namespace with a veth per network, published ports.
   * With runtimeNetns (user-namespaced containers) the runtime creates the namespace
   * and the attachment's afterCreate configures it, between create and start.
   */
  private async setUpBridges(rec: ContainerRecord, c: ContainerNet, runtimeNetns: boolean): Promise<NetworkAttachment> {
    const s = this.s;
    const nets = c.attachments.map((a) => {
      const n = s.networks.get(a.networkId);
      if (!n) throw notFound(`network ${a.networkId} not found`);
      return { a, n };
    });
    const endpoints: Endpoint[] = [];
    const nsPath = path.join(s.netnsDir, rec.Id.slice(0, 12));
    let mappings: PortMapping[] = [];
    let afterCreate: ((pid: number) => Promise<void>) | undefined;
    try {
      for (const [i, { a, n }] of nets.entries()) endpoints.push(await this.endpoints.allocate(rec.Id, a, n, `eth${i}`));
      const gwEp = endpoints.find((e) => !s.networks.get(e.networkId)?.Internal);
      const gw6Ep = endpoints.find((e) => e.ip6 && !s.networks.get(e.networkId)?.Internal);
      const reqs = portRequests(rec.Config.ExposedPorts, rec.HostConfig.PortBindings ?? undefined, rec.HostConfig.PublishAllPorts === true);
      if (gwEp && reqs.length > 0) {
        try {
          mappings = await s.reservations.reserve(reqs, gwEp.ip);
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
        ...vethOf(e, s.networks.get(e.networkId)?.mtu),
        ...(e === gwEp ? { defaultVia: e.gateway } : {}),
        ...(e === gw6Ep && e.gateway6 ? { defaultVia6: e.gateway6 } : {}),
      }));
      // In parallel: the record, the namespace, NAT rules, names. A crash in between leaves a
      // namespace or lease that start-up collects (no record names them).
      const tasks: Promise<unknown>[] = [s.saveState(c)];
      if (runtimeNetns) afterCreate = (pid) => s.lock.run(rec.Id, () => adoptSandbox(nsPath, pid, veths));
      else tasks.push(createSandbox(nsPath, veths));
      if (mappings.length > 0) tasks.push(s.applyFirewall());
      if (nets.some(({ n }) => s.isUser(n))) tasks.push(s.updateDns());
      const failed = (await Promise.allSettled(tasks)).find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    } catch (e) {
      await this.endpoints.tearDown(c, false).catch((e2: unknown) => s.o.log.warn(`undoing network set-up of ${rec.Id.slice(0, 12)}: ${messageOf(e2)}`));
      for (const ep of endpoints) if (!c.endpoints?.includes(ep)) await this.endpoints.releaseLeases(ep, rec.Id);
      throw e;
    }
    for (const { n } of nets) s.o.events.emit("network", "connect", n.Id, { container: rec.Id, name: n.Name, type: n.Driver });
    const env = linkEnvFor(s, rec, endpoints);
    return {
      ...(afterCreate ? { afterCreate } : { joinNamespaces: { network: nsPath } }),
      ...(env.length > 0 ? { env } : {}),
      hostsEntries: hostsFor(s, rec, endpoints),
      resolvConf: resolvFor(s, rec, nets.map(({ n }) => n), endpoints),
    };
  }

  tearDown(rec: ContainerRecord): Promise<void> {
    return this.s.lock.run(rec.Id, async () => {
      const c = this.s.state.get(rec.Id);
      if (!c || !(c.netns || c.endpoints || c.connected)) return;
      const t0 = performance.now();
      await this.endpoints.tearDown(c);
      this.s.o.log.debug(`network teardown of ${rec.Id.slice(0, 12)}: ${(performance.now() - t0).toFixed(1)} ms`);
    });
  }

  async onRemove(rec: ContainerRecord): Promise<void> {
    await this.s.lock.run(rec.Id, async () => {
      const c = this.s.state.get(rec.Id);
      if (c) await this.endpoints.tearDown(c);
      this.s.state.delete(rec.Id);
      await fs.rm(this.s.ctrFile(rec.Id), { force: true });
    });
  }

  /** The address `host-gateway` stands for in --add-host: the default bridge's gateway (dockerd's default). */
  hostGatewayIp(): string | undefined {
    return this.s.bridgeNet.IPAM.Config[0]?.Gateway || undefined;
  }

  settings(rec: ContainerRecord): Record<string, unknown> {
    return networkSettings(this.s, rec);
  }

  ports(rec: ContainerRecord): unknown[] {
    return psPorts(this.s, rec);
  }
}
