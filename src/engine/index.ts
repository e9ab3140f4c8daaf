/**
 * The engine: one backend per API area (containers, images, system, events),
 * wired over the image store and the runtime. The API layer calls these and
 * nothing below them.
 */
import { API_VERSION, MIN_API_VERSION } from "../util/apiversion.js";
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ImageStore } from "../image/index.js";
import { Runtime } from "../runtime/index.js";
import { DEFAULT_CERTS_DIRS, maskProxyCredentials } from "../registry/index.js";
import { atomicWriteFile, ensureDir } from "../util/fsutil.js";
import { randomUUID } from "node:crypto";
import type { IdMap } from "../util/idmap.js";
import type { Logger } from "../util/log.js";
import { ArchiveService } from "./archive.js";
import { BuildService, registryAuthFor } from "./build.js";
import { ContainerService, type ContainerServiceOptions } from "./containers.js";
import { ImageArchiveService } from "./archive-images.js";
import { DistributionService, type DistributionOptions } from "./distribution.js";
import { openImportUrl } from "./import-url.js";
import { type DfType, diskUsage } from "./diskusage.js";
import { Events } from "./events.js";
import { ExecService } from "./exec.js";
import { HealthMonitor } from "./health.js";
import { ImageService } from "./images.js";
import { NetworkService } from "./networks.js";
import { VolumeService } from "./volumes.js";
import { systemCheck } from "./check.js";
import { UpdateService } from "./update.js";

export { ContainerService, ImageService, Events, ExecService };
export { parseReference } from "../image/index.js";
export { NOT_JOINED, NetworkService, NetworkConnectSchema, NetworkCreateSchema, NetworkDisconnectSchema } from "./networks.js";
export type { NetworkCreateBody, EndpointConfigIn } from "./networks.js";
export { ExecCreateSchema, ExecStartSchema } from "./exec.js";
export { parseDetachKeys } from "./stdio.js";
export type { EngineEvent } from "./events.js";
export { eventJson } from "./events.js";
export type { WaitCondition, AttachOptions } from "./containers.js";
export { ContainerCreateSchema } from "./types.js";
export { UpdateConfigSchema, UpdateService } from "./update.js";
export type { UpdateConfig } from "./update.js";
export { StatsService } from "./stats.js";
export { validateDaemonLogConfig } from "./logdrivers.js";
export { parseTimeFilter } from "./containers.js";
export { VolumeService, VolumeCreateSchema } from "./volumes.js";
export type { VolumeInfo } from "./volumes.js";
export { ArchiveService } from "./archive.js";
export { BuildService, BuildStepError, buildRequestFromQuery } from "./build.js";
export { buildPruneRequestFromQuery, type BuildPruneRequest } from "./buildprune.js";
export type { PathStat } from "./archive.js";
export { DistributionService, ImageArchiveService };
export type { DfType };
export type { ProgressSink, ProgressMessage } from "./progress.js";
export { importProgress, openImportUrl } from "./import-url.js";
export { proxyConfigFromEnv } from "../registry/index.js";

export const VERSION = "0.1.0";

export interface EngineOptions {
  dataRoot: string;
  execRoot: string;
  /** OCI runtime: "runc" or "crun" (name on PATH or absolute path). */
  runtime: string;
  log: Logger;
  debug: boolean;
  /** --bip: the default bridge's address, e.g. "172.18.0.1/16". */
  bridgeIp?: string;
  /** --insecure-registry: registries reachable over plain HTTP (loopback always is). */
  insecureRegistries?: string[];
  /** --registry-mirror / daemon.json registry-mirrors: Docker Hub mirrors ("http://host:port/"). */
  registryMirrors?: string[];
  /** Outgoing proxies (HTTP_PROXY/HTTPS_PROXY/NO_PROXY, or daemon.json proxies). */
  proxies?: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  /** certs.d folders (per-registry TLS, hosts.toml); default /etc/berth/certs.d then /etc/docker/certs.d. */
  certsDirs?: string[];
  /** --log-driver / --log-opt (daemon.json log-driver / log-opts): the default of containers naming no driver. */
  logDriver?: string;
  logOpts?: Record<string, string>;
  /** --userns-remap: containers run in a user namespace with these ids; dataRoot is already the mapping's own. */
  idMap?: IdMap;
  /** daemon.json "runtimes": more OCI runtimes by name (name → binary path), besides runc and crun. */
  runtimes?: Record<string, string>;
  /** --label / "labels": the daemon's labels (docker info). */
  labels?: string[];
  /** --max-concurrent-downloads/uploads: layers transferred at once per pull/push. */
  maxConcurrentDownloads?: number;
  maxConcurrentUploads?: number;
  /** --dns, --dns-search, --dns-opt: the resolv.conf parts of containers (and RUN steps) that set none. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** --default-ulimit: ulimits of containers (and RUN steps) that do not set them. */
  defaultUlimits?: { Name: string; Soft: number; Hard: number }[];
  /** --default-address-pool: subnets of networks created without one (and of a new default bridge). */
  addressPools?: { base: string; size: number }[];
}

/** What a SIGHUP may change in a running engine (daemon.json's reloadable keys). */
export type ReloadableOptions = Pick<EngineOptions, "debug" | "labels" | "insecureRegistries" | "registryMirrors" | "maxConcurrentDownloads" | "maxConcurrentUploads" | "runtimes"> & { runtime: string };

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
  readonly events = new Events();
  readonly store: ImageStore;
  readonly runtimes = new Map<string, Runtime>();
  private id = "";
  private readonly runtimeVersions = new Map<string, string>();
  /** Held to change on reload: the services read these fields at each use. */
  private readonly containerOpts: ContainerServiceOptions;
  private readonly distributionOpts: DistributionOptions;

  constructor(readonly opts: EngineOptions) {
    this.store = new ImageStore(path.join(opts.dataRoot, "image"), opts.idMap);
    // Every known runtime is offered; the default one must exist (checked in init).
    for (const name of new Set([path.basename(opts.runtime), "runc", "crun", ...Object.keys(opts.runtimes ?? {})])) {
      this.runtimes.set(name, this.makeRuntime(name, this.runtimePath(name)));
    }
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
      defaultRuntime: path.basename(opts.runtime),
      ...(opts.logDriver ? { logDriver: opts.logDriver } : {}),
      ...(opts.logOpts ? { logOpts: opts.logOpts } : {}),
      storage: this.volumes,
      networking: this.networks,
      defaultUlimits: opts.defaultUlimits ?? [],
    };
    this.containers = new ContainerService(this.containerOpts);
    this.containerUpdate = new UpdateService({ containers: this.containers });
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
      networks: this.networks,
      runtime: this.runtimes.get(path.basename(opts.runtime)) as Runtime,
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
  }

  async init(): Promise<void> {
    // dockerd's 0710: only root, and the remapped root through its group, may pass.
    await ensureDir(this.opts.dataRoot, 0o710, this.opts.idMap?.root.gid ?? 0);
    this.id = await readOrMakeEngineId(this.opts.dataRoot);
    // The OCI runtimes' state (runc --root), as dockerd's runtime-runc: root only.
    await ensureDir(path.join(this.opts.execRoot, "runtime"), 0o700);
    await this.store.init();
    // Independent start-up work runs side by side: runtime probes, volumes, networks.
    const probeRuntimes = Promise.all(
      [...this.runtimes].map(async ([name, rt]) => {
        const version = await rt.version().catch(() => undefined);
        if (version === undefined) {
          if (name === path.basename(this.opts.runtime)) throw new Error(`OCI runtime ${this.opts.runtime} not found: install Debian's runc (or crun)`);
          this.runtimes.delete(name);
          return;
        }
        this.runtimeVersions.set(name, version);
        await rt.init();
      }),
    );
    await Promise.all([probeRuntimes, this.volumes.init(), this.networks.init()]);
    await this.containers.init();
    for (const c of this.containers.all()) if (c.State.Running) this.health.watch(c);
    await this.networks.reconcile();
    await this.volumes.settle();
    await this.archive.init();
    await this.build.init();
    await this.imageArchive.init();
  }

  /** GET /system/df. */
  diskUsage(types: DfType[] = []): Promise<Record<string, unknown>> {
    return diskUsage({ store: this.store, containers: this.containers, volumes: this.volumes }, types);
  }

  /** The engine's fsck (`berth system check`). */
  check(verifyBlobs = true): ReturnType<typeof systemCheck> {
    return systemCheck({ store: this.store, containers: this.containers, runtimes: this.runtimes, dataRoot: this.opts.dataRoot, verifyBlobs });
  }

  /** A runtime's binary: daemon.json's "runtimes" path, the default runtime as given, or the name itself (on PATH). */
  private runtimePath(name: string): string {
    return this.opts.runtimes?.[name] ?? (name === path.basename(this.opts.runtime) ? this.opts.runtime : name);
  }

  private makeRuntime(name: string, binary: string): Runtime {
    return new Runtime({ runtime: binary, runtimeRoot: path.join(this.opts.execRoot, "runtime", name), stateRoot: path.join(this.opts.execRoot, "c") });
  }

  /**
   * SIGHUP: applies daemon.json's reloadable keys. New or changed runtimes are
   * probed first, and nothing changes when one is missing; running containers are
   * not touched (a runtime keeps its state root, so containers started with it
   * are still found). The build service keeps the runtime it started with.
   */
  async reconfigure(r: ReloadableOptions): Promise<void> {
    const wanted = new Map<string, string>(Object.entries(r.runtimes ?? {}));
    const defName = path.basename(r.runtime);
    if (!wanted.has(defName)) wanted.set(defName, r.runtime);
    const added = new Map<string, { rt: Runtime; version: string }>();
    for (const [name, binary] of wanted) {
      if (this.runtimes.has(name) && this.runtimePath(name) === binary) continue;
      const rt = this.makeRuntime(name, binary);
      const version = await rt.version().catch(() => undefined);
      if (version === undefined) throw new Error(`OCI runtime ${binary} (${name}) not found`);
      await rt.init();
      added.set(name, { rt, version });
    }
    // Committed from here on: nothing below can fail.
    for (const name of Object.keys(this.opts.runtimes ?? {})) if (!wanted.has(name) && name !== "runc" && name !== "crun") this.runtimes.delete(name);
    for (const [name, { rt, version }] of added) {
      this.runtimes.set(name, rt);
      this.runtimeVersions.set(name, version);
    }
    this.opts.runtimes = r.runtimes ?? {};
    this.opts.runtime = r.runtime;
    this.containerOpts.defaultRuntime = defName;
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

  version(): Record<string, unknown> {
    const kernel = os.release();
    return {
      Platform: { Name: "Berth Engine" },
      Components: [
        {
          Name: "Engine",
          Version: VERSION,
          Details: { ApiVersion: API_VERSION, Arch: goArch(), BuildTime: "", Experimental: "false", GitCommit: "", GoVersion: `node${process.versions.node}`, KernelVersion: kernel, MinAPIVersion: MIN_API_VERSION, Os: "linux" },
        },
        { Name: path.basename(this.opts.runtime), Version: this.runtimeVersions.get(path.basename(this.opts.runtime)) ?? "", Details: { GitCommit: "" } },
      ],
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: "",
      GoVersion: `node${process.versions.node}`,
      Os: "linux",
      Arch: goArch(),
      KernelVersion: kernel,
      BuildTime: "",
    };
  }

  info(): Record<string, unknown> {
    const c = this.containers.counts();
    const rt = path.basename(this.opts.runtime);
    const cgroupVersion = cgroupV2Only() ? "2" : "1";
    return {
      ID: this.id,
      Containers: c.total,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: this.store.index.list().length,
      Driver: "overlay2",
      DriverStatus: [["Backing Filesystem", "extfs"], ["Supports d_type", "true"], ["Using metacopy", "false"], ["Native Overlay Diff", "true"], ["userxattr", "false"]],
      Plugins: { Volume: ["local"], Network: ["bridge", "host", "null"], Authorization: null, Log: ["journald", "json-file", "local", "syslog"] },
      MemoryLimit: true,
      SwapLimit: true,
      // Shown only to API < 1.42 clients (the API layer drops them above): cgroup v1's kmem accounting.
      KernelMemory: cgroupVersion === "1" && existsSync("/sys/fs/cgroup/memory/memory.kmem.limit_in_bytes"),
      KernelMemoryTCP: cgroupVersion === "1" && existsSync("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes"),
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      BridgeNfIptables: true,
      BridgeNfIp6tables: true,
      Debug: this.opts.debug,
      NFd: 0,
      OomKillDisable: cgroupVersion === "1",
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: this.opts.logDriver || "json-file",
      CgroupDriver: "cgroupfs",
      CgroupVersion: cgroupVersion,
      NEventsListener: this.events.listeners,
      KernelVersion: os.release(),
      OperatingSystem: osName(),
      OSVersion: osVersion(),
      OSType: "linux",
      Architecture: os.machine(),
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        InsecureRegistryCIDRs: ["::1/128", "127.0.0.0/8", ...(this.opts.insecureRegistries ?? []).filter((r) => r.includes("/"))],
        IndexConfigs: {
          "docker.io": { Name: "docker.io", Mirrors: this.opts.registryMirrors ?? [], Secure: true, Official: true },
          ...Object.fromEntries((this.opts.insecureRegistries ?? []).filter((r) => !r.includes("/")).map((r) => [r, { Name: r, Mirrors: [], Secure: false, Official: false }])),
        },
        Mirrors: this.opts.registryMirrors ?? [],
      },
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: this.opts.dataRoot,
      HttpProxy: maskProxyCredentials(this.opts.proxies?.httpProxy),
      HttpsProxy: maskProxyCredentials(this.opts.proxies?.httpsProxy),
      NoProxy: this.opts.proxies?.noProxy ?? "",
      Name: os.hostname(),
      Labels: this.opts.labels ?? [],
      ExperimentalBuild: false,
      ServerVersion: VERSION,
      Runtimes: Object.fromEntries([...this.runtimes.keys()].map((n) => [n, { path: this.runtimePath(n) }])),
      DefaultRuntime: rt,
      Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: "",
      InitBinary: "docker-init",
      // Expected: deprecated in API 1.48, still sent (as dockerd does) until it goes.
      ContainerdCommit: { ID: "", Expected: "" },
      RuncCommit: { ID: this.runtimeVersions.get(rt) ?? "", Expected: this.runtimeVersions.get(rt) ?? "" },
      InitCommit: { ID: "", Expected: "" },
      // dockerd lists cgroupns where containers get a private cgroup namespace by default: with Berth, every host.
      SecurityOptions: ["name=seccomp,profile=builtin", ...(this.opts.idMap ? ["name=userns"] : []), "name=cgroupns"],
      CDISpecDirs: [],
      Warnings: null,
    };
  }
}

function goArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch;
}

function cgroupV2Only(): boolean {
  try {
    readFileSync("/sys/fs/cgroup/cgroup.controllers");
    return true;
  } catch {
    return false;
  }
}

function osRelease(): Record<string, string> {
  try {
    const out: Record<string, string> = {};
    for (const l of readFileSync("/etc/os-release", "utf8").split("\n")) {
      const m = l.match(/^(\w+)="?(.*?)"?$/);
      if (m && m[1]) out[m[1]] = m[2] ?? "";
    }
    return out;
  } catch {
    return {};
  }
}

function osName(): string {
  return osRelease()["PRETTY_NAME"] ?? "Linux";
}

function osVersion(): string {
  return osRelease()["VERSION_ID"] ?? "";
}

async function readOrMakeEngineId(dataRoot: string): Promise<string> {
  const file = path.join(dataRoot, "engine-id");
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    const id = randomUUID();
    await atomicWriteFile(file, `${id}\n`);
    return id;
  }
}
