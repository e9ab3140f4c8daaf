/** The engine's settings (berthd's flags and daemon.json, resolved), and the part a SIGHUP may change. */
import type { IdMap } from "../util/idmap.js";
import type { Logger } from "../util/log.js";

/** The engine's version, reported by /version and /info and written into image configs. */
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
