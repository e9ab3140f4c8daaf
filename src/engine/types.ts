/** Docker API shapes the engine takes and returns (the subset Berth understands; unknown fields are kept). */
import { z } from "zod";

const strArr = z.array(z.string());
const strOrArr = z.union([z.string(), strArr]);
const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();

export const HealthConfigSchema = z.looseObject({
  Test: nullable(strArr),
  Interval: nullable(z.number().int().nonnegative()),
  Timeout: nullable(z.number().int().nonnegative()),
  StartPeriod: nullable(z.number().int().nonnegative()),
  StartInterval: nullable(z.number().int().nonnegative()),
  Retries: nullable(z.number().int().nonnegative()),
});

export const RestartPolicySchema = z.looseObject({
  // Checked with Docker's wording by engine/containers/update.ts validateRestartPolicy (create and update).
  Name: nullable(z.string()),
  MaximumRetryCount: nullable(z.number().int().nonnegative()),
});

/** A HostConfig.Mounts entry (`--mount`); checked with Docker's wording by engine/volumes/. */
export const MountSchema = z.looseObject({
  Type: nullable(z.string()),
  Source: nullable(z.string()),
  Target: nullable(z.string()),
  ReadOnly: nullable(z.boolean()),
  Consistency: nullable(z.string()),
  BindOptions: nullable(
    z.looseObject({
      Propagation: nullable(z.string()),
      NonRecursive: nullable(z.boolean()),
      CreateMountpoint: nullable(z.boolean()),
      ReadOnlyNonRecursive: nullable(z.boolean()),
      ReadOnlyForceRecursive: nullable(z.boolean()),
    }),
  ),
  VolumeOptions: nullable(
    z.looseObject({
      NoCopy: nullable(z.boolean()),
      Labels: nullable(z.record(z.string(), z.string())),
      Subpath: nullable(z.string()),
      DriverConfig: nullable(z.looseObject({ Name: nullable(z.string()), Options: nullable(z.record(z.string(), z.string())) })),
    }),
  ),
  TmpfsOptions: nullable(
    z.looseObject({
      SizeBytes: nullable(z.number().int()),
      Mode: nullable(z.number().int()),
      Options: nullable(z.array(z.array(z.string()))),
    }),
  ),
});

export const HostConfigSchema = z.looseObject({
  Binds: nullable(strArr),
  Mounts: nullable(z.array(MountSchema)),
  VolumesFrom: nullable(strArr),
  VolumeDriver: nullable(z.string()),
  AutoRemove: nullable(z.boolean()),
  NetworkMode: nullable(z.string()),
  RestartPolicy: nullable(RestartPolicySchema),
  LogConfig: nullable(z.looseObject({ Type: nullable(z.string()), Config: nullable(z.record(z.string(), z.string())) })),
  Privileged: nullable(z.boolean()),
  ReadonlyRootfs: nullable(z.boolean()),
  CapAdd: nullable(strArr),
  CapDrop: nullable(strArr),
  ExtraHosts: nullable(strArr),
  PortBindings: nullable(z.record(z.string(), z.array(z.looseObject({ HostIp: nullable(z.string()), HostPort: nullable(z.string()) })).nullable())),
  PublishAllPorts: nullable(z.boolean()),
  Links: nullable(strArr),
  Dns: nullable(strArr),
  DnsSearch: nullable(strArr),
  DnsOptions: nullable(strArr),
  ShmSize: nullable(z.number().int().nonnegative()),
  Init: nullable(z.boolean()),
  GroupAdd: nullable(strArr),
  SecurityOpt: nullable(strArr),
  Memory: nullable(z.number().int().nonnegative()),
  MemorySwap: nullable(z.number().int()),
  NanoCpus: nullable(z.number().int().nonnegative()),
  CpuShares: nullable(z.number().int().nonnegative()),
  CpuPeriod: nullable(z.number().int().nonnegative()),
  CpuQuota: nullable(z.number().int()),
  CpusetCpus: nullable(z.string()),
  PidsLimit: nullable(z.number().int()),
  MemoryReservation: nullable(z.number().int().nonnegative()),
  MemorySwappiness: nullable(z.number().int()),
  CpusetMems: nullable(z.string()),
  OomKillDisable: nullable(z.boolean()),
  BlkioWeight: nullable(z.number().int().nonnegative().max(65535)),
  Ulimits: nullable(z.array(z.looseObject({ Name: z.string(), Soft: z.number().int(), Hard: z.number().int() }))),
  Tmpfs: nullable(z.record(z.string(), z.string())),
  Devices: nullable(z.array(z.looseObject({ PathOnHost: z.string(), PathInContainer: nullable(z.string()), CgroupPermissions: nullable(z.string()) }))),
  DeviceCgroupRules: nullable(strArr),
  BlkioWeightDevice: nullable(z.array(z.looseObject({ Path: z.string(), Weight: z.number().int().nonnegative() }))),
  BlkioDeviceReadBps: nullable(z.array(z.looseObject({ Path: z.string(), Rate: z.number().int().nonnegative() }))),
  BlkioDeviceWriteBps: nullable(z.array(z.looseObject({ Path: z.string(), Rate: z.number().int().nonnegative() }))),
  BlkioDeviceReadIOps: nullable(z.array(z.looseObject({ Path: z.string(), Rate: z.number().int().nonnegative() }))),
  BlkioDeviceWriteIOps: nullable(z.array(z.looseObject({ Path: z.string(), Rate: z.number().int().nonnegative() }))),
  Runtime: nullable(z.string()),
  UsernsMode: nullable(z.string()),
  PidMode: nullable(z.string()),
  IpcMode: nullable(z.string()),
  UTSMode: nullable(z.string()),
  Sysctls: nullable(z.record(z.string(), z.string())),
  OomScoreAdj: nullable(z.number().int()),
  CgroupParent: nullable(z.string()),
  CgroupnsMode: nullable(z.string()),
  MaskedPaths: nullable(strArr),
  ReadonlyPaths: nullable(strArr),
  ConsoleSize: nullable(z.array(z.number().int().nonnegative()).length(2)),
});

/** NetworkingConfig.EndpointsConfig.<network> (and the body of network connect); engine/networks/ checks it. */
export const EndpointSettingsSchema = z.looseObject({
  IPAMConfig: nullable(z.looseObject({ IPv4Address: nullable(z.string()), IPv6Address: nullable(z.string()), LinkLocalIPs: nullable(strArr) })),
  Links: nullable(strArr),
  Aliases: nullable(strArr),
  MacAddress: nullable(z.string()),
  DriverOpts: nullable(z.record(z.string(), z.string())),
});

export const ContainerCreateSchema = z.looseObject({
  Hostname: nullable(z.string()),
  Domainname: nullable(z.string()),
  User: nullable(z.string()),
  AttachStdin: nullable(z.boolean()),
  AttachStdout: nullable(z.boolean()),
  AttachStderr: nullable(z.boolean()),
  ExposedPorts: nullable(z.record(z.string(), z.unknown())),
  Tty: nullable(z.boolean()),
  OpenStdin: nullable(z.boolean()),
  StdinOnce: nullable(z.boolean()),
  Env: nullable(strArr),
  Cmd: nullable(strOrArr),
  Healthcheck: nullable(HealthConfigSchema),
  ArgsEscaped: nullable(z.boolean()),
  Image: nullable(z.string()),
  Volumes: nullable(z.record(z.string(), z.unknown())),
  WorkingDir: nullable(z.string()),
  Entrypoint: nullable(strOrArr),
  NetworkDisabled: nullable(z.boolean()),
  MacAddress: nullable(z.string()),
  OnBuild: nullable(strArr),
  Labels: nullable(z.record(z.string(), z.string())),
  StopSignal: nullable(z.string()),
  StopTimeout: nullable(z.number().int()),
  Shell: nullable(strArr),
  HostConfig: nullable(HostConfigSchema),
  NetworkingConfig: nullable(z.looseObject({ EndpointsConfig: nullable(z.record(z.string(), EndpointSettingsSchema.nullable())) })),
});

export type ContainerCreateBody = z.infer<typeof ContainerCreateSchema>;
export type HostConfig = z.infer<typeof HostConfigSchema>;

/** Container.Config as Docker stores and returns it. */
export interface ContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[];
  Cmd: string[] | null;
  Healthcheck?: z.infer<typeof HealthConfigSchema>;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string>;
  StopSignal?: string;
  StopTimeout?: number;
  Shell?: string[];
  ArgsEscaped?: boolean;
  NetworkDisabled?: boolean;
  MacAddress?: string;
}

export interface ContainerState {
  Status: "created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead";
  Running: boolean;
  Paused: boolean;
  Restarting: boolean;
  OOMKilled: boolean;
  Dead: boolean;
  Pid: number;
  ExitCode: number;
  Error: string;
  StartedAt: string;
  FinishedAt: string;
  Health?: { Status: string; FailingStreak: number; Log: unknown[] };
}

/** The persisted container record (Docker's config.v2.json equivalent). */
export interface ContainerRecord {
  Id: string;
  Created: string;
  Path: string;
  Args: string[];
  State: ContainerState;
  /** Image id (sha256:...). */
  Image: string;
  Name: string;
  RestartCount: number;
  Driver: string;
  Platform: string;
  LogPath: string;
  HostnamePath: string;
  HostsPath: string;
  ResolvConfPath: string;
  Config: ContainerConfig;
  HostConfig: HostConfig;
  /** Volumes, binds and tmpfs mounts resolved at create (engine/volumes/; Docker's MountPoints). */
  MountPoints?: import("../volume/index.js").MountPoint[];
  /** The create request's NetworkingConfig (endpoints to join; engine/networks/). */
  NetworkingConfig?: ContainerCreateBody["NetworkingConfig"];
  /** Monitor pid while running (for recovery). */
  MonitorPid?: number;
  /** Set by `docker stop`/`kill` so restart policies don't fight the user. */
  ManuallyStopped?: boolean;
}

export const ZERO_TIME = "0001-01-01T00:00:00Z";
