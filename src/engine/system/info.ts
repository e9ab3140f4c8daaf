/**
 * GET /version, /info, /system/df and berth's own system check: what the engine reports
 * about itself. Reads the settings at each call (a SIGHUP reload changes them in place).
 */
import { existsSync, readFileSync } from "node:fs";
import os from "node:os";
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { ImageStore } from "../../image/index.js";
import { maskProxyCredentials } from "../../registry/index.js";
import { API_VERSION, MIN_API_VERSION } from "../../util/apiversion.js";
import { atomicWriteFile } from "../../util/fsutil.js";
import { systemCheck } from "../check.js";
import type { ContainerService } from "../containers/index.js";
import { type DfType, diskUsage } from "../diskusage.js";
import type { Events } from "../events.js";
import { type EngineOptions, VERSION } from "../options.js";
import type { VolumeService } from "../volumes.js";
import type { RuntimeSet } from "./runtimes.js";

export interface SystemServiceOptions {
  /** The engine's settings object (read at each call). */
  opts: EngineOptions;
  store: ImageStore;
  containers: ContainerService;
  volumes: VolumeService;
  events: Events;
  runtimes: RuntimeSet;
}

export class SystemService {
  private id = "";

  constructor(private readonly o: SystemServiceOptions) {}

  /** Start-up: the engine's ID (docker info's ID), made once and kept in the data-root. */
  async init(): Promise<void> {
    this.id = await readOrMakeEngineId(this.o.opts.dataRoot);
  }

  /** GET /system/df. */
  diskUsage(types: DfType[] = []): Promise<Record<string, unknown>> {
    return diskUsage({ store: this.o.store, containers: this.o.containers, volumes: this.o.volumes }, types);
  }

  /** The engine's fsck (`berth system check`). */
  check(verifyBlobs = true): ReturnType<typeof systemCheck> {
    return systemCheck({ store: this.o.store, containers: this.o.containers, runtimes: this.o.runtimes.map, dataRoot: this.o.opts.dataRoot, verifyBlobs });
  }

  version(): Record<string, unknown> {
    const kernel = os.release();
    const rt = this.o.runtimes.defaultName;
    return {
      Platform: { Name: "Berth Engine" },
      Components: [
        {
          Name: "Engine",
          Version: VERSION,
          Details: { ApiVersion: API_VERSION, Arch: goArch(), BuildTime: "", Experimental: "false", GitCommit: "", GoVersion: `node${process.versions.node}`, KernelVersion: kernel, MinAPIVersion: MIN_API_VERSION, Os: "linux" },
        },
        { Name: rt, Version: this.o.runtimes.version(rt) ?? "", Details: { GitCommit: "" } },
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
    const opts = this.o.opts;
    const c = this.o.containers.counts();
    const runtimes = this.o.runtimes;
    const rt = runtimes.defaultName;
    const cgroupVersion = cgroupV2Only() ? "2" : "1";
    return {
      ID: this.id,
      Containers: c.total,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: this.o.store.index.list().length,
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
      Debug: opts.debug,
      NFd: 0,
      OomKillDisable: cgroupVersion === "1",
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: opts.logDriver || "json-file",
      CgroupDriver: "cgroupfs",
      CgroupVersion: cgroupVersion,
      NEventsListener: this.o.events.listeners,
      KernelVersion: os.release(),
      OperatingSystem: osName(),
      OSVersion: osVersion(),
      OSType: "linux",
      Architecture: os.machine(),
      IndexServerAddress: "https://index.docker.io/v1/",
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: [],
        AllowNondistributableArtifactsHostnames: [],
        InsecureRegistryCIDRs: ["::1/128", "127.0.0.0/8", ...(opts.insecureRegistries ?? []).filter((r) => r.includes("/"))],
        IndexConfigs: {
          "docker.io": { Name: "docker.io", Mirrors: opts.registryMirrors ?? [], Secure: true, Official: true },
          ...Object.fromEntries((opts.insecureRegistries ?? []).filter((r) => !r.includes("/")).map((r) => [r, { Name: r, Mirrors: [], Secure: false, Official: false }])),
        },
        Mirrors: opts.registryMirrors ?? [],
      },
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      GenericResources: null,
      DockerRootDir: opts.dataRoot,
      HttpProxy: maskProxyCredentials(opts.proxies?.httpProxy),
      HttpsProxy: maskProxyCredentials(opts.proxies?.httpsProxy),
      NoProxy: opts.proxies?.noProxy ?? "",
      Name: os.hostname(),
      Labels: opts.labels ?? [],
      ExperimentalBuild: false,
      ServerVersion: VERSION,
      Runtimes: Object.fromEntries([...runtimes.map.keys()].map((n) => [n, { path: runtimes.path(n) }])),
      DefaultRuntime: rt,
      Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
      LiveRestoreEnabled: true,
      Isolation: "",
      InitBinary: "docker-init",
      // Expected: deprecated in API 1.48, still sent (as dockerd does) until it goes.
      ContainerdCommit: { ID: "", Expected: "" },
      RuncCommit: { ID: runtimes.version(rt) ?? "", Expected: runtimes.version(rt) ?? "" },
      InitCommit: { ID: "", Expected: "" },
      // dockerd lists cgroupns where containers get a private cgroup namespace by default: with Berth, every host.
      SecurityOptions: ["name=seccomp,profile=builtin", ...(opts.idMap ? ["name=userns"] : []), "name=cgroupns"],
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
