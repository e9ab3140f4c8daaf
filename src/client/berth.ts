/**
 * Berth: the typed Engine API client. Methods follow the API's routes (system,
 * containers, exec, images, networks, volumes, events); each takes an optional
 * AbortSignal; streams come back as async iterators. Works against berthd and dockerd.
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { EngineClient, type CallOptions, type ClientOptions } from "./http.js";
import { StreamError } from "./errors.js";
import { HijackedSession, type OutputChunk } from "./session.js";
import { demux } from "./stdcopy.js";
import { jsonLines } from "./lines.js";
import { encodeAuthHeader } from "./credentials.js";
import type {
  AuthConfig,
  ContainerCreateRequest,
  ContainerCreateResponse,
  ContainerInspect,
  ContainerSummary,
  EventMessage,
  ExecCreateRequest,
  ExecInspect,
  Filters,
  ImageInspect,
  ImageSummary,
  NetworkCreateRequest,
  NetworkSummary,
  Ping,
  ProgressMessage,
  SystemInfo,
  SystemVersion,
  Volume,
  VolumeCreateRequest,
  WaitCondition,
} from "./types.js";

const enc = encodeURIComponent;
const filters = (f: Filters | undefined): string | undefined => (f && Object.keys(f).length > 0 ? JSON.stringify(f) : undefined);

export interface LogsOptions extends CallOptions {
  stdout?: boolean;
  stderr?: boolean;
  follow?: boolean;
  timestamps?: boolean;
  tail?: number | "all";
  since?: number;
  until?: number;
  /** Whether the container has a tty (raw output); looked up when not given. */
  tty?: boolean;
}

export interface AttachOptions extends CallOptions {
  stdin?: boolean;
  stdout?: boolean;
  stderr?: boolean;
  logs?: boolean;
  detachKeys?: string;
  /** Whether the container has a tty; looked up when not given. */
  tty?: boolean;
}

export interface PullOptions extends CallOptions {
  platform?: string;
  auth?: AuthConfig;
}

export interface EventsOptions extends CallOptions {
  since?: string;
  until?: string;
  filters?: Filters;
}

/**
 * Node ends an aborted response with a bare "aborted" error; callers of an
 * aborted iterator see the signal's AbortError instead.
 */
async function* abortable<T>(it: AsyncIterable<T>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  try {
    yield* it;
  } catch (e) {
    if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DOMException("This operation was aborted", "AbortError");
    throw e;
  }
}

/** Iterate a progress stream; a message with an error ends it with a StreamError. */
async function* progress(res: IncomingMessage): AsyncGenerator<ProgressMessage> {
  for await (const m of jsonLines<ProgressMessage>(res)) {
    if (m.error || m.errorDetail) throw new StreamError(m.errorDetail?.message ?? m.error ?? "unknown error", m.errorDetail?.code);
    yield m;
  }
}

export class Berth extends EngineClient {
  constructor(opts: ClientOptions | string = {}) {
    super(opts);
  }

  // --- system ---------------------------------------------------------------

  ping(opts: CallOptions = {}): Promise<Ping> {
    return this.pingHeaders(opts);
  }

  version(opts: CallOptions = {}): Promise<SystemVersion> {
    return this.get<SystemVersion>("/version", undefined, opts);
  }

  info(opts: CallOptions = {}): Promise<SystemInfo> {
    return this.get<SystemInfo>("/info", undefined, opts);
  }

  /** GET /events as an async iterator (ends with `until`, or when the signal aborts). */
  async *events(opts: EventsOptions = {}): AsyncGenerator<EventMessage> {
    const res = await this.request("GET", "/events", { query: { since: opts.since, until: opts.until, filters: filters(opts.filters) }, signal: opts.signal });
    yield* abortable(jsonLines<EventMessage>(res), opts.signal);
  }

  // --- containers -----------------------------------------------------------

  listContainers(opts: CallOptions & { all?: boolean; limit?: number; size?: boolean; filters?: Filters } = {}): Promise<ContainerSummary[]> {
    return this.get<ContainerSummary[]>("/containers/json", { all: opts.all, limit: opts.limit, size: opts.size, filters: filters(opts.filters) }, opts);
  }

  createContainer(body: ContainerCreateRequest, opts: CallOptions & { name?: string; platform?: string } = {}): Promise<ContainerCreateResponse> {
    return this.post<ContainerCreateResponse>("/containers/create", { name: opts.name, platform: opts.platform }, body, opts);
  }

  inspectContainer(id: string, opts: CallOptions & { size?: boolean } = {}): Promise<ContainerInspect> {
    return this.get<ContainerInspect>(`/containers/${enc(id)}/json`, { size: opts.size }, opts);
  }

  async startContainer(id: string, opts: CallOptions & { detachKeys?: string } = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/start`, { detachKeys: opts.detachKeys }, undefined, opts);
  }

  /** POST /containers/{id}/stop (`stopSignal`: the signal to send, not the AbortSignal). */
  async stopContainer(id: string, opts: CallOptions & { timeout?: number; stopSignal?: string } = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/stop`, { t: opts.timeout, signal: opts.stopSignal }, undefined, opts);
  }

  async restartContainer(id: string, opts: CallOptions & { timeout?: number } = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/restart`, { t: opts.timeout }, undefined, opts);
  }

  /** POST /containers/{id}/kill (`killSignal`: SIGKILL unless named). */
  async killContainer(id: string, opts: CallOptions & { killSignal?: string } = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/kill`, { signal: opts.killSignal }, undefined, opts);
  }

  async removeContainer(id: string, opts: CallOptions & { force?: boolean; volumes?: boolean; link?: boolean } = {}): Promise<void> {
    await this.delete(`/containers/${enc(id)}`, { force: opts.force, v: opts.volumes, link: opts.link }, opts);
  }

  async pauseContainer(id: string, opts: CallOptions = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/pause`, undefined, undefined, opts);
  }

  async unpauseContainer(id: string, opts: CallOptions = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/unpause`, undefined, undefined, opts);
  }

  async renameContainer(id: string, name: string, opts: CallOptions = {}): Promise<void> {
    await this.post(`/containers/${enc(id)}/rename`, { name }, undefined, opts);
  }

  /** POST /containers/{id}/wait: resolves when the condition is met. */
  waitContainer(id: string, opts: CallOptions & { condition?: WaitCondition } = {}): Promise<{ StatusCode: number; Error?: { Message?: string } | null }> {
    return this.post(`/containers/${enc(id)}/wait`, { condition: opts.condition }, undefined, opts);
  }

  private async isTty(id: string, given: boolean | undefined, opts: CallOptions): Promise<boolean> {
    if (given !== undefined) return given;
    return (await this.inspectContainer(id, opts)).Config.Tty === true;
  }

  /** GET /containers/{id}/logs, demultiplexed (raw for a tty container). */
  async *logs(id: string, opts: LogsOptions = {}): AsyncGenerator<OutputChunk> {
    const tty = await this.isTty(id, opts.tty, opts);
    const res = await this.request("GET", `/containers/${enc(id)}/logs`, {
      query: { stdout: opts.stdout ?? true, stderr: opts.stderr ?? true, follow: opts.follow, timestamps: opts.timestamps, tail: opts.tail, since: opts.since, until: opts.until },
      signal: opts.signal,
    });
    const ct = String(res.headers["content-type"] ?? "");
    if (ct.includes("multiplexed") || !tty) {
      yield* abortable(demux(res), opts.signal);
      return;
    }
    for await (const data of abortable(res as AsyncIterable<Buffer>, opts.signal)) yield { stream: "stdout" as const, data };
  }

  /** POST /containers/{id}/attach hijacked: a session to write stdin and read output. */
  async attach(id: string, opts: AttachOptions = {}): Promise<HijackedSession> {
    const tty = await this.isTty(id, opts.tty, opts);
    const h = await this.hijack("POST", `/containers/${enc(id)}/attach`, {
      query: { stream: true, logs: opts.logs, stdin: opts.stdin, stdout: opts.stdout ?? true, stderr: opts.stderr ?? true, detachKeys: opts.detachKeys },
      signal: opts.signal,
    });
    return new HijackedSession(h, tty);
  }

  /** GET /containers/{id}/stats as an async iterator (one sample with `stream: false`). */
  async *stats(id: string, opts: CallOptions & { stream?: boolean } = {}): AsyncGenerator<Record<string, unknown>> {
    const res = await this.request("GET", `/containers/${enc(id)}/stats`, { query: { stream: opts.stream ?? true }, signal: opts.signal });
    yield* abortable(jsonLines<Record<string, unknown>>(res), opts.signal);
  }

  /** GET /containers/{id}/export: the filesystem as a tar stream. */
  async exportContainer(id: string, opts: CallOptions = {}): Promise<Readable> {
    return this.request("GET", `/containers/${enc(id)}/export`, { signal: opts.signal });
  }

  // --- exec -------------------------------------------------------------------

  async createExec(container: string, body: ExecCreateRequest, opts: CallOptions = {}): Promise<string> {
    const r = await this.post<{ Id: string }>(`/containers/${enc(container)}/exec`, undefined, body, opts);
    return r.Id;
  }

  /** POST /exec/{id}/start hijacked: the process runs with stdin from the session. */
  async startExec(id: string, opts: CallOptions & { tty?: boolean; consoleSize?: [number, number] } = {}): Promise<HijackedSession> {
    const h = await this.hijack("POST", `/exec/${enc(id)}/start`, {
      body: { Detach: false, Tty: opts.tty ?? false, ...(opts.consoleSize ? { ConsoleSize: opts.consoleSize } : {}) },
      signal: opts.signal,
    });
    return new HijackedSession(h, opts.tty ?? false);
  }

  /** Create and start an exec in one call; resolves with its output and exit code. */
  async run(container: string, cmd: string[], opts: CallOptions & { stdin?: Buffer | string; env?: string[]; user?: string; workingDir?: string } = {}): Promise<{ stdout: string; stderr: string; exitCode: number | null }> {
    const id = await this.createExec(
      container,
      { Cmd: cmd, AttachStdin: opts.stdin !== undefined, AttachStdout: true, AttachStderr: true, Env: opts.env, User: opts.user, WorkingDir: opts.workingDir },
      opts,
    );
    const s = await this.startExec(id, opts);
    if (opts.stdin !== undefined) {
      await s.write(opts.stdin);
      s.endStdin();
    }
    const out = await s.collect();
    return { ...out, exitCode: (await this.inspectExec(id, opts)).ExitCode };
  }

  inspectExec(id: string, opts: CallOptions = {}): Promise<ExecInspect> {
    return this.get<ExecInspect>(`/exec/${enc(id)}/json`, undefined, opts);
  }

  // --- images -----------------------------------------------------------------

  listImages(opts: CallOptions & { all?: boolean; filters?: Filters; digests?: boolean } = {}): Promise<ImageSummary[]> {
    return this.get<ImageSummary[]>("/images/json", { all: opts.all, digests: opts.digests, filters: filters(opts.filters) }, opts);
  }

  inspectImage(ref: string, opts: CallOptions = {}): Promise<ImageInspect> {
    return this.get<ImageInspect>(`/images/${enc(ref)}/json`, undefined, opts);
  }

  /** POST /images/create: the pull's progress messages; an error message throws StreamError. */
  async *pull(ref: string, opts: PullOptions = {}): AsyncGenerator<ProgressMessage> {
    const at = ref.lastIndexOf("@");
    const colon = ref.lastIndexOf(":");
    const hasTag = at < 0 && colon > ref.lastIndexOf("/");
    const fromImage = at >= 0 ? ref : hasTag ? ref.slice(0, colon) : ref;
    const tag = at >= 0 ? undefined : hasTag ? ref.slice(colon + 1) : "latest";
    const res = await this.request("POST", "/images/create", {
      query: { fromImage, tag, platform: opts.platform },
      headers: { "X-Registry-Auth": encodeAuthHeader(opts.auth) },
      signal: opts.signal,
    });
    yield* abortable(progress(res), opts.signal);
  }

  /** POST /images/{name}/push: the push's progress messages. */
  async *push(ref: string, opts: CallOptions & { tag?: string; auth?: AuthConfig } = {}): AsyncGenerator<ProgressMessage> {
    const res = await this.request("POST", `/images/${enc(ref)}/push`, {
      query: { tag: opts.tag },
      headers: { "X-Registry-Auth": encodeAuthHeader(opts.auth) },
      signal: opts.signal,
    });
    yield* abortable(progress(res), opts.signal);
  }

  async tagImage(ref: string, repo: string, tag?: string, opts: CallOptions = {}): Promise<void> {
    await this.post(`/images/${enc(ref)}/tag`, { repo, tag }, undefined, opts);
  }

  removeImage(ref: string, opts: CallOptions & { force?: boolean; noprune?: boolean } = {}): Promise<{ Untagged?: string; Deleted?: string }[]> {
    return this.delete(`/images/${enc(ref)}`, { force: opts.force, noprune: opts.noprune }, opts);
  }

  // --- networks and volumes ---------------------------------------------------

  listNetworks(opts: CallOptions & { filters?: Filters } = {}): Promise<NetworkSummary[]> {
    return this.get<NetworkSummary[]>("/networks", { filters: filters(opts.filters) }, opts);
  }

  createNetwork(body: NetworkCreateRequest, opts: CallOptions = {}): Promise<{ Id: string; Warning?: string }> {
    return this.post("/networks/create", undefined, body, opts);
  }

  inspectNetwork(id: string, opts: CallOptions = {}): Promise<NetworkSummary> {
    return this.get<NetworkSummary>(`/networks/${enc(id)}`, undefined, opts);
  }

  async removeNetwork(id: string, opts: CallOptions = {}): Promise<void> {
    await this.delete(`/networks/${enc(id)}`, undefined, opts);
  }

  async listVolumes(opts: CallOptions & { filters?: Filters } = {}): Promise<Volume[]> {
    const r = await this.get<{ Volumes: Volume[] | null }>("/volumes", { filters: filters(opts.filters) }, opts);
    return r.Volumes ?? [];
  }

  createVolume(body: VolumeCreateRequest = {}, opts: CallOptions = {}): Promise<Volume> {
    return this.post<Volume>("/volumes/create", undefined, body, opts);
  }

  inspectVolume(name: string, opts: CallOptions = {}): Promise<Volume> {
    return this.get<Volume>(`/volumes/${enc(name)}`, undefined, opts);
  }

  async removeVolume(name: string, opts: CallOptions & { force?: boolean } = {}): Promise<void> {
    await this.delete(`/volumes/${enc(name)}`, { force: opts.force }, opts);
  }
}
