import type { Digest } from "../util/digest.js";

/**
 * The runnable part of an image config: Docker's container Config. Images Berth
 * makes store it whole (fullRunConfig), as dockerd does; pulled and loaded
 * configs keep whatever subset they came with.
 */
export interface ImageRunConfig {
  Hostname?: string;
  Domainname?: string;
  User?: string;
  AttachStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  Tty?: boolean;
  OpenStdin?: boolean;
  StdinOnce?: boolean;
  Image?: string;
  NetworkDisabled?: boolean;
  MacAddress?: string;
  StopTimeout?: number;
  ExposedPorts?: Record<string, object>;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  OnBuild?: string[] | null;
  Shell?: string[];
  Healthcheck?: {
    Test?: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    StartInterval?: number;
    Retries?: number;
  };
  ArgsEscaped?: boolean;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An OCI / Docker image config (application/vnd.oci.image.config.v1+json). */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  comment?: string;
  config?: ImageRunConfig;
  rootfs: { type: "layers"; diff_ids: Digest[] };
  history?: HistoryEntry[];
  // Docker's legacy (v1) fields: the container an image was committed from (a build step's
  // container), that container's config, and the version of the daemon that made the image.
  container?: string;
  container_config?: ImageRunConfig;
  docker_version?: string;
}

/**
 * A run config as dockerd serializes its container Config (Go's field order and
 * omitempty rules): the form Berth writes into the images it builds and commits.
 */
export function fullRunConfig(rc: ImageRunConfig): ImageRunConfig {
  const some = <T>(v: T | undefined | null, keep: (x: T) => boolean): v is T => v !== undefined && v !== null && keep(v);
  return {
    Hostname: rc.Hostname ?? "",
    Domainname: rc.Domainname ?? "",
    User: rc.User ?? "",
    AttachStdin: rc.AttachStdin ?? false,
    AttachStdout: rc.AttachStdout ?? false,
    AttachStderr: rc.AttachStderr ?? false,
    ...(some(rc.ExposedPorts, (p) => Object.keys(p).length > 0) ? { ExposedPorts: rc.ExposedPorts } : {}),
    Tty: rc.Tty ?? false,
    OpenStdin: rc.OpenStdin ?? false,
    StdinOnce: rc.StdinOnce ?? false,
    Env: rc.Env ?? null,
    Cmd: rc.Cmd ?? null,
    ...(rc.Healthcheck ? { Healthcheck: rc.Healthcheck } : {}),
    ...(rc.ArgsEscaped ? { ArgsEscaped: true } : {}),
    Image: rc.Image ?? "",
    Volumes: rc.Volumes ?? null,
    WorkingDir: rc.WorkingDir ?? "",
    Entrypoint: rc.Entrypoint ?? null,
    ...(rc.NetworkDisabled ? { NetworkDisabled: true } : {}),
    ...(rc.MacAddress ? { MacAddress: rc.MacAddress } : {}),
    OnBuild: rc.OnBuild ?? null,
    Labels: rc.Labels ?? null,
    ...(rc.StopSignal ? { StopSignal: rc.StopSignal } : {}),
    ...(rc.StopTimeout !== undefined && rc.StopTimeout !== null ? { StopTimeout: rc.StopTimeout } : {}),
    ...(some(rc.Shell, (sh) => sh.length > 0) ? { Shell: rc.Shell } : {}),
  };
}

export function hostArchitecture(): string {
  switch (process.arch) {
    case "x64":
      return "amd64";
    case "ia32":
      return "386";
    default:
      return process.arch; // arm64, arm, ppc64, s390x, riscv64 match OCI names
  }
}
