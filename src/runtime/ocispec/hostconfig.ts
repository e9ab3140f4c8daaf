/**
 * The part of Docker's HostConfig the spec builder reads (engine/types.ts has the whole API shape,
 * which fits this one). Described here because the builder sits in runtime/, below both the engine
 * (containers, exec) and the builder of images (RUN steps), which both use it.
 */
type Opt<T> = T | null | undefined;

export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

export interface SpecHostConfig {
  Privileged?: Opt<boolean>;
  ReadonlyRootfs?: Opt<boolean>;
  CapAdd?: Opt<string[]>;
  CapDrop?: Opt<string[]>;
  SecurityOpt?: Opt<string[]>;
  ShmSize?: Opt<number>;
  Init?: Opt<boolean>;
  Memory?: Opt<number>;
  MemorySwap?: Opt<number>;
  MemoryReservation?: Opt<number>;
  MemorySwappiness?: Opt<number>;
  OomKillDisable?: Opt<boolean>;
  NanoCpus?: Opt<number>;
  CpuShares?: Opt<number>;
  CpuPeriod?: Opt<number>;
  CpuQuota?: Opt<number>;
  CpusetCpus?: Opt<string>;
  CpusetMems?: Opt<string>;
  PidsLimit?: Opt<number>;
  BlkioWeight?: Opt<number>;
  BlkioWeightDevice?: Opt<{ Path: string; Weight: number }[]>;
  BlkioDeviceReadBps?: Opt<{ Path: string; Rate: number }[]>;
  BlkioDeviceWriteBps?: Opt<{ Path: string; Rate: number }[]>;
  BlkioDeviceReadIOps?: Opt<{ Path: string; Rate: number }[]>;
  BlkioDeviceWriteIOps?: Opt<{ Path: string; Rate: number }[]>;
  Ulimits?: Opt<Ulimit[]>;
  Tmpfs?: Opt<Record<string, string>>;
  Devices?: Opt<{ PathOnHost: string; PathInContainer?: Opt<string>; CgroupPermissions?: Opt<string> }[]>;
  DeviceCgroupRules?: Opt<string[]>;
  CgroupnsMode?: Opt<string>;
  CgroupParent?: Opt<string>;
  Sysctls?: Opt<Record<string, string>>;
  OomScoreAdj?: Opt<number>;
  MaskedPaths?: Opt<string[]>;
  ReadonlyPaths?: Opt<string[]>;
  ConsoleSize?: Opt<number[]>;
}

/** The blkio lists by HostConfig name → their OCI linux.resources.blockIO field. */
export const THROTTLE = {
  BlkioDeviceReadBps: "throttleReadBpsDevice",
  BlkioDeviceWriteBps: "throttleWriteBpsDevice",
  BlkioDeviceReadIOps: "throttleReadIOPSDevice",
  BlkioDeviceWriteIOps: "throttleWriteIOPSDevice",
} as const;
