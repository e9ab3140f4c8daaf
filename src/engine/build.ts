/**
 * Build backend: `POST /build` (the legacy builder protocol the docker CLI
 * uses without buildx) and `POST /build/prune`, over the builder in src/build.
 * The API route parses the query into a BuildRequest; this service runs the
 * build and emits Docker's events (image tag, builder prune).
 */
import path from "node:path";
import type { Readable } from "node:stream";
import type { Digest } from "../util/digest.js";
import { invalid } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { type BuildStore, parseReference, registryOf } from "../image/index.js";
import type { Runtime } from "../runtime/index.js";
import { hostFacts, ulimitsToRlimits } from "./hostconfig.js";
import { Builder, type BuildNetwork, type BuildOutput, type BuildRequest, type BuildResult } from "../build/index.js";
import type { ContainerNetworking } from "./plugs.js";
import type { ContainerRecord } from "./types.js";
import type { Events } from "./events.js";
import type { BuildPruneRequest } from "./buildprune.js";

export type { BuildOutput, BuildRequest, BuildResult };
export { BuildStepError } from "../build/index.js";

function qBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== "" && !["0", "false", "False", "FALSE"].includes(v);
}

function jsonParam<T>(q: URLSearchParams, name: string, what: string): T | undefined {
  const raw = q.get(name);
  if (raw === null || raw === "") return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch (e) {
    throw invalid(`error reading ${what}: ${(e as Error).message}`);
  }
}

/** Docker's build query parameters (dockerfile, t, buildargs, nocache, pull, rm, forcerm, target, labels, networkmode, shmsize, platform). */
export function buildRequestFromQuery(q: URLSearchParams): BuildRequest & { quiet: boolean } {
  const version = q.get("version");
  if (version === "2") throw invalid("BuildKit builds (version=2) are not supported by berthd; use the legacy builder (DOCKER_BUILDKIT=0)");
  if (version !== null && version !== "" && version !== "1") throw invalid(`invalid version ${JSON.stringify(version)}`);
  if (q.get("remote")) throw invalid("remote build contexts are not supported by berthd: send the context in the request body");
  const buildArgs = jsonParam<Record<string, string | null>>(q, "buildargs", "build args") ?? {};
  if (typeof buildArgs !== "object" || Array.isArray(buildArgs) || Object.values(buildArgs).some((v) => v !== null && typeof v !== "string")) {
    throw invalid("error reading build args: expected a JSON object of strings");
  }
  const labels = jsonParam<Record<string, string>>(q, "labels", "labels") ?? {};
  if (typeof labels !== "object" || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== "string")) {
    throw invalid("error reading labels: expected a JSON object of strings");
  }
  const forceRm = qBool(q, "forcerm");
  const rmRaw = q.get("rm");
  const rm = forceRm || rmRaw === null || rmRaw === "" ? true : qBool(q, "rm");
  let shmSize: number | undefined;
  const shm = q.get("shmsize");
  if (shm !== null && shm !== "") {
    if (!/^\d+$/.test(shm)) throw invalid(`invalid shmsize: ${shm}`);
    shmSize = Number(shm) || undefined;
  }
  const platform = q.get("platform") ?? "";
  return {
    dockerfile: q.get("dockerfile") ?? "",
    tags: q.getAll("t"),
    buildArgs,
    noCache: qBool(q, "nocache"),
    pull: qBool(q, "pull"),
    rm,
    forceRm,
    target: q.get("target") ?? "",
    labels,
    networkMode: q.get("networkmode") ?? "",
    ...(shmSize ? { shmSize } : {}),
    ...(platform ? { platform } : {}),
    quiet: qBool(q, "q"),
  };
}

/**
 * The X-Registry-Auth value (base64url JSON of one auth config) for the registry of
 * `ref`, picked from an X-Registry-Config header (base64url JSON map: server → config).
 */
export function registryAuthFor(ref: string, registryConfig: string | undefined): string | undefined {
  if (!registryConfig) return undefined;
  let map: Record<string, unknown>;
  try {
    map = JSON.parse(Buffer.from(registryConfig, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof map !== "object" || map === null) return undefined;
  let host: string;
  try {
    host = registryOf(parseReference(ref)).host;
  } catch {
    return undefined;
  }
  const keys = host === "docker.io" ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"] : [host, `https://${host}`, `http://${host}`, `https://${host}/v1/`];
  for (const k of keys) {
    const v = map[k];
    if (v && typeof v === "object") return Buffer.from(JSON.stringify(v)).toString("base64url");
  }
  return undefined;
}

export class BuildService {
  readonly builder: Builder;

  constructor(
    private readonly o: {
      store: BuildStore;
      runtime: Runtime;
      dataRoot: string;
      log: Logger;
      events: Events;
      /** Fetch a missing base image (FROM, COPY --from); progress goes to out.message. */
      pull?: (ref: string, out: BuildOutput, opts: { signal?: AbortSignal; registryConfig?: string }) => Promise<Digest>;
      /** Networks for RUN steps (as dockerd's builder, RUN containers sit on the default bridge). */
      networks?: ContainerNetworking;
      /** GET for ADD <url> (through the daemon's proxies). */
      download?: (url: string) => Promise<{ body: Readable; headers: Record<string, string | string[] | undefined> }>;
      /** The daemon's version, written into built images (docker_version). */
      daemonVersion?: string;
      /** The daemon's default ulimits: RUN steps get them as dockerd's build containers do. */
      defaultUlimits?: { Name: string; Soft: number; Hard: number }[];
    },
  ) {
    const network = o.networks ? buildNetwork(o.networks) : undefined;
    const ulimits = o.defaultUlimits ?? [];
    this.builder = new Builder({
      store: o.store, runtime: o.runtime, root: path.join(o.dataRoot, "build"), log: o.log, ...(o.pull ? { pull: o.pull } : {}), ...(network ? { network } : {}),
      ...(o.download ? { download: o.download } : {}), ...(o.daemonVersion ? { daemonVersion: o.daemonVersion } : {}),
      ...(ulimits.length > 0 ? { rlimits: () => ulimitsToRlimits(ulimits, hostFacts()) } : {}),
    });
  }

  init(): Promise<void> {
    return this.builder.init();
  }

  async build(context: Readable, req: BuildRequest, out: BuildOutput, signal?: AbortSignal): Promise<BuildResult> {
    const res = await this.builder.build(context, req, out, signal);
    for (const t of res.tags) this.o.events.emit("image", "tag", res.imageId, { name: t });
    return res;
  }

  async prune(opts: BuildPruneRequest): Promise<{ CachesDeleted: string[] | null; SpaceReclaimed: number }> {
    const r = await this.builder.prune(opts);
    this.o.events.emit("builder", "prune", "", { reclaimed: String(r.SpaceReclaimed) });
    return r;
  }
}

/**
 * A RUN step's container on a network: the engine's networking sees it as a container
 * record of its own (no ports, no DNS name), set up and removed around the step. A crash
 * meanwhile leaves state for a container that does not exist, which start-up removes.
 */
function buildNetwork(networks: ContainerNetworking): BuildNetwork {
  return async (id, mode, userns) => {
    const rec = {
      Id: id,
      Name: `/build-${id.slice(0, 12)}`,
      Config: { Hostname: id.slice(0, 12), Domainname: "", Env: [], Labels: {} },
      HostConfig: { NetworkMode: mode },
      State: { Running: true, Pid: 0 },
    } as unknown as ContainerRecord;
    const att = await networks.setUp(rec, { runtimeNetns: userns });
    return {
      ...(att.joinNamespaces?.["network"] ? { netns: att.joinNamespaces["network"] } : {}),
      ...(att.afterCreate ? { afterCreate: att.afterCreate } : {}),
      ...(att.resolvConf !== undefined ? { resolvConf: att.resolvConf } : {}),
      ...(att.hostsEntries ? { hostsEntries: att.hostsEntries } : {}),
      release: () => networks.onRemove(rec),
    };
  };
}
