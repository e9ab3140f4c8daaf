/**
 * The engine's wiring: one backend per API area (containers, images, networks, volumes, system,
 * events, …) constructed over the image store and the runtimes, started in order and re-configured
 * on reload. No logic of its own lives here: what the engine reports about itself is in
 * system/info.ts, the runtimes it offers in system/runtimes.ts.
 */
import path from "node:path";
import { ImageStore } from "../image/index.js";
import type { Runtime } from "../runtime/index.js";
import { DEFAULT_CERTS_DIRS } from "../registry/index.js";
import type { Logger } from "../util/log.js";
import { ensureDir } from "../util/fsutil.js";
import { ArchiveService } from "./archive.js";
import { BuildService, registryAuthFor } from "./build.js";
import { ContainerService, type ContainerServiceOptions, UpdateService } from "./containers/index.js";
import { ImageArchiveService } from "./imagearchive/index.js";
import { DistributionService, type DistributionOptions } from "./distribution/index.js";
import { openImportUrl } from "./import-url.js";
import { Events } from "./events.js";
import { ExecService } from "./exec.js";
import { HealthMonitor } from "./health.js";
import { ImageService } from "./images.js";
import { NetworkService } from "./networks.js";
import { VolumeService } from "./volumes.js";
import { StatsService } from "./containers/index.js";
import { type EngineOptions, type ReloadableOptions, VERSION } from "./options.js";
import { RuntimeSet } from "./system/runtimes.js";
import { SystemService } from "./system/info.js";

export { ContainerService, ImageService, Events, ExecService };
export { parseReference } from "../image/index.js";
export { NOT_JOINED, NetworkService, NetworkConnectSchema, NetworkCreateSchema, NetworkDisconnectSchema } from "./networks.js";
export type { NetworkCreateBody, EndpointConfigIn } from "./networks.js";
export { ExecCreateSchema, ExecStartSchema } from "./exec.js";
export { parseDetachKeys } from "./stdio.js";
export type { EngineEvent } from "./events.js";
export { eventJson } from "./events.js";
export type { WaitCondition, AttachOptions } from "./containers/index.js";
export { ContainerCreateSchema } from "./types.js";
export { UpdateConfigSchema, UpdateService } from "./containers/index.js";
export type { UpdateConfig } from "./containers/index.js";
export { StatsService };
export { SystemService } from "./system/info.js";
export { RuntimeSet } from "./system/runtimes.js";
export { VERSION } from "./options.js";
export type { EngineOptions, ReloadableOptions } from "./options.js";
export { validateDaemonLogConfig } from "./logs/index.js";
export { VolumeService, VolumeCreateSchema } from "./volumes.js";
export type { VolumeInfo } from "./volumes.js";
export { ArchiveService } from "./archive.js";
export { BuildService, BuildStepError, buildRequestFromQuery } from "./build.js";
export { buildPruneRequestFromQuery, type BuildPruneRequest } from "./buildprune.js";
export type { PathStat } from "./archive.js";
export { DistributionService, ImageArchiveService };
export type { DfType } from "./diskusage.js";
export type { ProgressSink, ProgressMessage } from "./progress.js";
export { importProgress, openImportUrl } from "./import-url.js";
export { proxyConfigFromEnv } from "../registry/index.js";

export class Engine {
  readonly images: ImageService;
  readonly containers: ContainerService;
  /** docker update (resources and restart policy of a container). */
  readonly containerUpdate: UpdateService;
  readonly exec: ExecService;
  readonly health: HealthMonitor;
  readonly networks: NetworkService;
  readonly volumes: VolumeService;
  readonly archive: ArchiveService;
  readonly build: BuildService;
  readonly distribution: DistributionService;
  readonly imageArchive: ImageArchiveService;
  readonly stats: StatsService;
  /** version, info, disk usage, the consistency check. */
  readonly system: SystemService;
  readonly events = new Events();
  readonly store: ImageStore;
  /** The OCI runtimes offered (probed at init, changed on reload). */
  readonly runtimeSet: RuntimeSet;
  /** name → runtime: the runtime set's map, shared with the services that run containers. */
  readonly runtimes: Map<string, Runtime>;
  readonly log: Logger;
  /** Held to change on reload: the services read these fields at each use. */
  private readonly containerOpts: ContainerServiceOptions;
  private readonly distributionOpts: DistributionOptions;

  constructor(readonly opts: EngineOptions) {
    this.log = opts.log;
    this.store = new ImageStore(path.join(opts.dataRoot, "image"), opts.idMap);
    this.runtimeSet = new RuntimeSet(opts);
    this.runtimes = this.runtimeSet.map;
    this.volumes = new VolumeService({
      root: path.join(opts.dataRoot, "volumes"),
      stageRoot: path.join(opts.execRoot, "volume-subpaths"),
      events: this.events,
      log: opts.log,
      containers: { all: () => this.containers.all(), find: (idOrName) => this.containers.find(idOrName) },
      ...(opts.idMap ? { rootOwner: opts.idMap.root } : {}),
    });
    this.networks = new NetworkService({
      dataRoot: opts.dataRoot,
      execRoot: opts.execRoot,
      events: this.events,
      log: opts.log,
      containers: { all: () => this.containers.all(), find: (idOrName) => this.containers.find(idOrName) },
      ...(opts.bridgeIp ? { bridgeIp: opts.bridgeIp } : {}),
      ...(opts.addressPools && opts.addressPools.length > 0 ? { addressPools: opts.addressPools } : {}),
      dnsDefaults: { dns: opts.dns ?? [], dnsSearch: opts.dnsSearch ?? [], dnsOptions: opts.dnsOptions ?? [] },
    });
    this.containerOpts = {
      root: path.join(opts.dataRoot, "containers"),
      images: this.store,
      runtimes: this.runtimes,
      events: this.events,
      log: opts.log,
      defaultRuntime: this.runtimeSet.defaultName,
      ...(opts.logDriver ? { logDriver: opts.logDriver } : {}),
      ...(opts.logOpts ? { logOpts: opts.logOpts } : {}),
      storage: this.volumes.storage,
      networking: this.networks.attachment,
      defaultUlimits: opts.defaultUlimits ?? [],
    };
    this.containers = new ContainerService(this.containerOpts);
    this.containerUpdate = new UpdateService({ containers: this.containers });
    this.stats = new StatsService({ containers: this.containers, runtimes: this.runtimes });
    this.images = new ImageService(this.store, this.containers, this.events);
    this.exec = new ExecService({ containers: this.containers, events: this.events, log: opts.log });
    this.archive = new ArchiveService({ containers: this.containers, store: this.store, events: this.events, log: opts.log, tmpRoot: path.join(opts.execRoot, "archive"), daemonVersion: VERSION });
    this.containers.execIds = (id) => this.exec.idsOf(id);
    this.health = new HealthMonitor(this.containers, this.exec, this.events, opts.log);
    this.distributionOpts = {
      store: this.store,
      events: this.events,
      log: opts.log,
      insecureRegistries: opts.insecureRegistries ?? [],
      registryMirrors: opts.registryMirrors ?? [],
      proxies: opts.proxies ?? {},
      certsDirs: opts.certsDirs ?? DEFAULT_CERTS_DIRS,
      ...(opts.maxConcurrentDownloads ? { maxConcurrentDownloads: opts.maxConcurrentDownloads } : {}),
      ...(opts.maxConcurrentUploads ? { maxConcurrentUploads: opts.maxConcurrentUploads } : {}),
    };
    this.distribution = new DistributionService(this.distributionOpts);
    this.imageArchive = new ImageArchiveService({ store: this.store, events: this.events, log: opts.log, tmpRoot: path.join(opts.dataRoot, "tmp", "image-load") });
    this.build = new BuildService({
      store: this.store,
      networks: this.networks.attachment,
      runtime: this.runtimeSet.default,
      dataRoot: opts.dataRoot,
      log: opts.log,
      events: this.events,
      // ADD <url>: fetched as docker import URL is (redirects, dockerd's errors, the daemon's proxies).
      download: (url) => openImportUrl(url, this.distribution.transport()),
      daemonVersion: VERSION,
      defaultUlimits: opts.defaultUlimits ?? [],
      // FROM / COPY --from of an image not in the store: pulled like dockerd's builder does.
      pull: async (ref, out, o) => {
        const auth = registryAuthFor(ref, o.registryConfig);
        await this.distribution.pull({ fromImage: ref, ...(o.signal ? { signal: o.signal } : {}), ...(auth ? { auth } : {}) }, (m) => out.message?.(m));
        return this.store.mustResolve(ref);
      },
    });
    this.system = new SystemService({ opts, store: this.store, containers: this.containers, volumes: this.volumes, events: this.events, runtimes: this.runtimeSet });
  }

  async init(): Promise<void> {
    // dockerd's 0710: only root, and the remapped root through its group, may pass.
    await ensureDir(this.opts.dataRoot, 0o710, this.opts.idMap?.root.gid ?? 0);
    await this.system.init();
    // The OCI runtimes' state (runc --root), as dockerd's runtime-runc: root only.
    await ensureDir(path.join(this.opts.execRoot, "runtime"), 0o700);
    await this.store.init();
    // Independent start-up work runs side by side: runtime probes, volumes, networks.
    await Promise.all([this.runtimeSet.probe(), this.volumes.init(), this.networks.init()]);
    await this.containers.init();
    for (const c of this.containers.all()) if (c.State.Running) this.health.watch(c);
    await this.networks.reconcile();
    await this.volumes.settle();
    await this.archive.init();
    await this.build.init();
    await this.imageArchive.init();
  }


  /**
   * SIGHUP: applies daemon.json's reloadable keys. The runtimes change first (nothing changes
   * when one is missing); the services read the other settings at each use. The build service
   * keeps the runtime it started with.
   */
  async reconfigure(r: ReloadableOptions): Promise<void> {
    await this.runtimeSet.reconfigure(r);
    // Committed from here on: nothing below can fail.
    this.containerOpts.defaultRuntime = this.runtimeSet.defaultName;
    this.opts.debug = r.debug;
    this.opts.labels = r.labels ?? [];
    this.opts.insecureRegistries = r.insecureRegistries ?? [];
    this.distributionOpts.insecureRegistries = this.opts.insecureRegistries;
    this.opts.registryMirrors = r.registryMirrors ?? [];
    this.distributionOpts.registryMirrors = this.opts.registryMirrors;
    if (r.maxConcurrentDownloads) this.distributionOpts.maxConcurrentDownloads = this.opts.maxConcurrentDownloads = r.maxConcurrentDownloads;
    if (r.maxConcurrentUploads) this.distributionOpts.maxConcurrentUploads = this.opts.maxConcurrentUploads = r.maxConcurrentUploads;
  }

  shutdown(): void {
    this.containers.shutdown();
    this.exec.shutdown();
    this.health.shutdown();
  }
}
