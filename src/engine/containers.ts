/**
 * Containers backend: the lifecycle (create, start, stop, kill, wait, rm),
 * attach, logs and inspection, on top of the image store (root filesystems) and
 * the runtime (OCI runtime + per-container monitor). Records are JSON files
 * written atomically, one per container, so a crash loses nothing committed.
 */
import { promises as fs, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Duplex, Readable } from "node:stream";
import type { Digest } from "../util/digest.js";
import { EngineError, conflict, invalid, isEngineError, messageOf, notFound } from "../util/errors.js";
import { atomicWriteFile, ensureDir, mkdirp, readJson, writeJson } from "../util/fsutil.js";
import { run } from "../util/exec.js";
import { KeyedMutex } from "../util/lock.js";
import { regexpMatches } from "../util/pathmatch.js";
import { mountedOver } from "../util/mounter.js";
import type { Logger } from "../util/log.js";
import type { ImageStore } from "../image/index.js";
import {
  type ExitStatus,
  type Runtime,
  DEFAULT_HOSTS_LINES,
  DEFAULT_PATH_ENV,
  MASKED_PATHS,
  READONLY_PATHS,
  oomKillFile,
  parseOomKill,
  parseSignal,
} from "../runtime/index.js";
import type { ContainerView } from "./cpview.js";
import type { Events } from "./events.js";
import { DEFAULT_DETACH_KEYS, pipeStdin } from "./stdio.js";
import { readJournalLogs } from "./journallog.js";
import { readLocalLogs } from "./locallog.js";
import { logTarget, mergeLogConfig, unreadable } from "./logdrivers.js";
import { type LogReadOptions, readLogs } from "./logs.js";
import { adaptHostConfig, mergeUlimits } from "./hostconfig.js";
import { validateRestartPolicy } from "./update.js";
import { validateNamespaceModes } from "./nsmodes.js";
import { apparmorShown, cgroupsPathOf, containerSpec, parseSecurityOpts } from "./runspec.js";
import type { ContainerNetworking, ContainerStorage, NetworkAttachment } from "./plugs.js";
import { NAME_RE, newId, randomName } from "./names.js";
import { StdcopyDemux } from "./stdcopy.js";
import { hostsWithoutLink, inspectLinks, linkNames, parseLinkEntry } from "./links.js";
import {
  type ContainerConfig,
  type ContainerCreateBody,
  type ContainerRecord,
  type ContainerState,
  type HostConfig,
  ZERO_TIME,
} from "./types.js";

export type WaitCondition = "not-running" | "next-exit" | "removed";

export interface WaitResult {
  StatusCode: number;
  Error?: { Message: string } | null;
}

export interface AttachOptions {
  stdin: boolean;
  /** The detach sequence (TTY only); ctrl-p ctrl-q when absent. */
  detachKeys?: Buffer;
  stdout: boolean;
  stderr: boolean;
  stream: boolean;
  logs: boolean;
  /** Output as it is, stdout and stderr interleaved without stdcopy frames (websocket attach; dockerd's MuxStreams false). */
  unmuxed?: boolean;
}

export interface ListOptions {
  all: boolean;
  limit: number;
  size: boolean;
  filters: Record<string, string[]>;
}

interface Live {
  /** Attach clients waiting for the container to start. */
  pendingAttach: { client: Duplex; opts: AttachOptions }[];
  exitWaiters: ((r: WaitResult) => void)[];
  removeWaiters: ((r: WaitResult) => void)[];
  /** Resolves when the current run ends. */
  exited?: Promise<ExitStatus>;
}

export interface ContainerServiceOptions {
  root: string; // data-root/containers
  images: ImageStore;
  /** OCI runtimes by name (runc, crun); containers choose one with HostConfig.Runtime. */
  runtimes: Map<string, Runtime>;
  events: Events;
  log: Logger;
  defaultRuntime: string;
  /** --log-driver / --log-opt (daemon.json log-driver / log-opts): containers that name no driver get these. */
  logDriver?: string;
  logOpts?: Record<string, string>;
  networking?: ContainerNetworking;
  storage?: ContainerStorage;
  /** --default-ulimit: added at create to the ulimits a container does not set (inspect shows them, as dockerd's). */
  defaultUlimits?: { Name: string; Soft: number; Hard: number }[];
}

export class ContainerService {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly names = new Map<string, string>(); // "/name" → id
  private readonly live = new Map<string, Live>();
  private readonly lock = new KeyedMutex();
  private readonly backoff = new Map<string, number>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private shuttingDown = false;
  /** A container's live exec ids, provided by the exec backend (inspect's ExecIDs). */
  execIds: (id: string) => string[] | null = () => null;

  constructor(private readonly o: ContainerServiceOptions) {}

  private rt(rec: ContainerRecord): Runtime {
    const r = this.o.runtimes.get(rec.HostConfig.Runtime || this.o.defaultRuntime) ?? this.o.runtimes.get(this.o.defaultRuntime);
    if (!r) throw new EngineError("internal", `no OCI runtime configured`);
    return r;
  }

  private dir(id: string): string {
    return path.join(this.o.root, id);
  }

  private liveOf(id: string): Live {
    let l = this.live.get(id);
    if (!l) {
      l = { pendingAttach: [], exitWaiters: [], removeWaiters: [] };
      this.live.set(id, l);
    }
    return l;
  }

  private async save(rec: ContainerRecord): Promise<void> {
    await writeJson(path.join(this.dir(rec.Id), "config.v2.json"), rec);
  }

  // --- start-up -------------------------------------------------------------

  /** Load records and reconcile them with what really runs (after a restart or a crash). */
  async init(): Promise<void> {
    // dockerd's modes: the remapped root reaches its /etc files through the group, nobody else passes.
    const gid = this.o.images.idMap?.root.gid ?? 0;
    await ensureDir(this.o.root, 0o710, gid);
    for (const id of await fs.readdir(this.o.root)) {
      const rec = await readJson<ContainerRecord>(path.join(this.dir(id), "config.v2.json")).catch(() => undefined);
      if (!rec) {
        // A create interrupted before its record was written: nothing refers to it.
        await fs.rm(this.dir(id), { recursive: true, force: true });
        await this.o.images.layers.removeSnapshot(id).catch(() => undefined);
        continue;
      }
      // An older berthd left these wider (0755 directory, 0644 record).
      await ensureDir(this.dir(id), 0o710, gid);
      await fs.chmod(path.join(this.dir(id), "config.v2.json"), 0o600);
      if (rec.State.Restarting && !rec.State.Running) rec.State = { ...rec.State, Restarting: false, Status: "exited" };
      this.records.set(rec.Id, rec);
      this.names.set(rec.Name, rec.Id);
    }
    // Containers the runtime holds frozen: a daemon that crashed in the middle of a copy into one
    // (which freezes it) never thawed it; only those recorded as paused stay frozen.
    const frozen = new Set<string>();
    const live = [...this.records.values()].filter((r) => r.State.Running && !r.State.Paused);
    for (const rt of new Set(live.map((r) => this.rt(r)))) {
      for (const c of await rt.list().catch(() => [])) if (c.status === "paused") frozen.add(c.id);
    }
    for (const rec of this.records.values()) {
      if (rec.State.Running && !rec.State.Paused && frozen.has(rec.Id)) {
        this.o.log.warn(`container ${rec.Id.slice(0, 12)} was left frozen by an interrupted operation; thawing it`);
        await this.rt(rec).resume(rec.Id).catch((e: unknown) => this.o.log.warn(`thawing ${rec.Id.slice(0, 12)}: ${messageOf(e)}`));
      }
    }
    for (const rec of this.records.values()) {
      if (rec.State.Status === "removing") {
        await this.removeUnlocked(rec, true).catch((e: unknown) => this.o.log.warn(`finishing removal of ${rec.Id}: ${messageOf(e)}`));
        continue;
      }
      if (!rec.State.Running) {
        await this.reconcileStopped(rec);
        continue;
      }
      const stateDir = this.rt(rec).stateDir(rec.Id);
      if (await this.rt(rec).isAlive(stateDir)) {
        this.o.log.info(`container ${rec.Id.slice(0, 12)} still running (pid ${rec.State.Pid}), reattaching`);
        this.watch(rec);
      } else {
        const st = (await this.rt(rec).exitStatus(stateDir)) ?? { exitCode: 255, finishedAt: new Date().toISOString() };
        this.o.log.info(`container ${rec.Id.slice(0, 12)} exited with ${st.exitCode} while berthd was down`);
        await this.lock.run(rec.Id, () => this.onExit(rec, st));
      }
    }
    // Docker restarts `always` containers (even stopped ones) and `unless-stopped` ones not stopped by the user when the daemon starts.
    for (const rec of this.records.values()) {
      if (rec.State.Running || rec.State.Restarting || rec.State.Status === "created") continue;
      const p = rec.HostConfig.RestartPolicy?.Name;
      if (p === "always" || (p === "unless-stopped" && !rec.ManuallyStopped)) {
        rec.ManuallyStopped = false;
        void this.lock.run(rec.Id, () => this.startUnlocked(rec)).catch((e: unknown) => this.o.log.error(`restart of ${rec.Id.slice(0, 12)} at start-up: ${messageOf(e)}`));
      }
    }
  }

  shutdown(): void {
    this.shuttingDown = true;
  }

  /**
   * A record that says "not running" after a crash: the daemon may have died
   * between starting the process and recording it (adopt the live process), or
   * between its exit and the cleanup (finish the cleanup).
   */
  private async reconcileStopped(rec: ContainerRecord): Promise<void> {
    const rt = this.rt(rec);
    const stateDir = rt.stateDir(rec.Id);
    if (await rt.isAlive(stateDir)) {
      const pid = Number((await fs.readFile(path.join(stateDir, "pid"), "utf8").catch(() => "0")).trim()) || 0;
      this.o.log.warn(`container ${rec.Id.slice(0, 12)} was started just before a crash; adopting it (pid ${pid})`);
      rec.State = { ...rec.State, Status: "running", Running: true, Paused: false, Restarting: false, Pid: pid, StartedAt: rec.State.StartedAt === ZERO_TIME ? new Date().toISOString() : rec.State.StartedAt };
      await this.save(rec);
      this.watch(rec);
      return;
    }
    await rt.cleanup(rec.Id).catch((e: unknown) => this.o.log.warn(`cleanup ${rec.Id}: ${messageOf(e)}`));
    await this.o.images.layers.unmount(rec.Id).catch((e: unknown) => this.o.log.warn(`unmount ${rec.Id}: ${messageOf(e)}`));
    await this.releaseShm(rec);
  }

  // --- shareable /dev/shm ----------------------------------------------------

  /** Where a shareable container's /dev/shm lives on the host (a tmpfs others can bind, like dockerd's mounts/shm). */
  private shmPath(rec: ContainerRecord): string {
    return path.join(this.dir(rec.Id), "shm");
  }

  private async prepareShm(rec: ContainerRecord): Promise<string> {
    const p = this.shmPath(rec);
    if (await mountedOver(p)) return p;
    await mkdirp(p, 0o700);
    const size = rec.HostConfig.ShmSize ?? 64 * 1024 * 1024;
    const idMap = rec.HostConfig.UsernsMode === "host" ? undefined : this.o.images.idMap;
    const owner = idMap ? `,uid=${idMap.root.uid},gid=${idMap.root.gid}` : "";
    await run("mount", ["-t", "tmpfs", "-o", `nosuid,nodev,noexec,mode=1777,size=${size}${owner}`, "shm", p]);
    return p;
  }

  private async releaseShm(rec: ContainerRecord): Promise<void> {
    const p = this.shmPath(rec);
    if (await mountedOver(p)) await run("umount", ["-l", p]).catch((e: unknown) => this.o.log.warn(`unmount ${p}: ${messageOf(e)}`));
  }

  // --- lookup ---------------------------------------------------------------

  /** Find by full id, name (with or without "/"), or unique id prefix; Docker's 404 otherwise. */
  get(idOrName: string): ContainerRecord {
    const rec = this.find(idOrName);
    if (!rec) throw notFound(`No such container: ${idOrName}`);
    return rec;
  }

  find(idOrName: string): ContainerRecord | undefined {
    if (idOrName === "") return undefined;
    const byId = this.records.get(idOrName);
    if (byId) return byId;
    const full = idOrName.startsWith("/") ? idOrName : `/${idOrName}`;
    const byName = this.names.get(full);
    if (byName) return this.records.get(byName);
    if (full.lastIndexOf("/") > 0) {
      const byLink = linkNames(this.records.values(), (n) => this.byName(n)).get(full);
      if (byLink) return this.records.get(byLink);
    }
    if (/^[a-f0-9]+$/.test(idOrName)) {
      const hits = [...this.records.keys()].filter((k) => k.startsWith(idOrName));
      if (hits.length === 1) return this.records.get(hits[0] as string);
      if (hits.length > 1) throw invalid(`multiple containers found with provided prefix: ${idOrName}`);
    }
    return undefined;
  }

  /** True while a lifecycle operation (start, stop, rm…) on the container is in progress. */
  busy(id: string): boolean {
    return this.lock.busy(id) || this.restartTimers.has(id);
  }

  all(): ContainerRecord[] {
    return [...this.records.values()];
  }

  /** Containers using an image (for rmi conflicts). */
  usingImage(imageId: string): ContainerRecord[] {
    return this.all().filter((c) => c.Image === imageId);
  }

  // --- create ---------------------------------------------------------------

  async create(body: ContainerCreateBody, name: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
    const imageName = body.Image ?? "";
    if (imageName === "") throw invalid("Config cannot be empty in order to create a container");
    const imageId = this.o.images.resolve(imageName);
    if (!imageId) throw notFound(`No such image: ${imageName.includes(":") || imageName.includes("@") ? imageName : `${imageName}:latest`}`);
    const hc: HostConfig = body.HostConfig ?? {};
    validateHostConfig(hc);
    const logConfig = mergeLogConfig(hc.LogConfig, this.o);
    validateNamespaceModes(hc, !!body.Hostname);
    if (this.o.images.idMap) validateRemapped(hc);
    const warnings = adaptHostConfig(hc);
    if (hc.Runtime && !this.o.runtimes.has(hc.Runtime)) throw invalid(`unknown or invalid runtime name: ${hc.Runtime}`);

    let fullName: string;
    if (name !== undefined && name !== "") {
      if (!NAME_RE.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      fullName = name.startsWith("/") ? name : `/${name}`;
    } else {
      let attempt = 0;
      do fullName = `/${randomName(attempt++)}`;
      while (this.names.has(fullName));
    }
    const holder = this.names.get(fullName);
    if (holder) {
      throw conflict(
        `Conflict. The container name "${fullName}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }

    const imgCfg = (await this.o.images.config(imageId)).config ?? {};
    const asArray = (v: string | string[] | null | undefined): string[] | null | undefined =>
      typeof v === "string" ? [v] : v;
    const entrypoint = asArray(body.Entrypoint);
    const cmd = asArray(body.Cmd);
    const finalEntrypoint = entrypoint !== undefined && entrypoint !== null ? (entrypoint.length === 1 && entrypoint[0] === "" ? null : entrypoint) : (imgCfg.Entrypoint ?? null);
    // An explicit entrypoint resets the image's CMD (Docker's rule).
    const finalCmd = cmd !== undefined && cmd !== null && cmd.length > 0 ? cmd : entrypoint !== undefined && entrypoint !== null ? null : (imgCfg.Cmd ?? null);
    const argv = [...(finalEntrypoint ?? []), ...(finalCmd ?? [])];
    if (argv.length === 0) throw invalid("no command specified");

    const id = newId();
    const env = mergeEnv(imgCfg.Env ?? [], body.Env ?? []);
    if (!env.some((e) => e.startsWith("PATH="))) env.unshift(DEFAULT_PATH_ENV);
    const config: ContainerConfig = {
      Hostname: body.Hostname || (hc.UTSMode === "host" ? os.hostname() : id.slice(0, 12)),
      Domainname: body.Domainname ?? "",
      User: body.User || imgCfg.User || "",
      AttachStdin: body.AttachStdin ?? false,
      AttachStdout: body.AttachStdout ?? false,
      AttachStderr: body.AttachStderr ?? false,
      ...(body.ExposedPorts || imgCfg.ExposedPorts ? { ExposedPorts: { ...(imgCfg.ExposedPorts ?? {}), ...((body.ExposedPorts as Record<string, object>) ?? {}) } } : {}),
      Tty: body.Tty ?? false,
      OpenStdin: body.OpenStdin ?? false,
      StdinOnce: body.StdinOnce ?? false,
      Env: env,
      Cmd: finalCmd,
      ...(body.Healthcheck ?? imgCfg.Healthcheck ? { Healthcheck: (body.Healthcheck ?? imgCfg.Healthcheck) as ContainerConfig["Healthcheck"] } : {}),
      Image: imageName,
      Volumes: body.Volumes || imgCfg.Volumes ? { ...(imgCfg.Volumes ?? {}), ...((body.Volumes as Record<string, object>) ?? {}) } : null,
      WorkingDir: body.WorkingDir || imgCfg.WorkingDir || "",
      Entrypoint: finalEntrypoint,
      OnBuild: imgCfg.OnBuild ?? null,
      Labels: { ...(imgCfg.Labels ?? {}), ...(body.Labels ?? {}) },
      ...(body.StopSignal || imgCfg.StopSignal ? { StopSignal: (body.StopSignal || imgCfg.StopSignal) as string } : {}),
      ...(body.StopTimeout !== undefined && body.StopTimeout !== null ? { StopTimeout: body.StopTimeout } : {}),
      ...(body.Shell ? { Shell: body.Shell } : {}),
    };
    if (config.StopSignal) parseSignal(config.StopSignal);
    if (config.WorkingDir && !config.WorkingDir.startsWith("/")) throw invalid(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);

    const dir = this.dir(id);
    const hostConfig: HostConfig = {
      ...hc,
      NetworkMode: hc.NetworkMode || "default",
      IpcMode: hc.IpcMode || "private", // dockerd's default-ipc-mode
      // As given ("" when the client names none, as dockerd keeps it).
      RestartPolicy: { Name: hc.RestartPolicy?.Name ?? "", MaximumRetryCount: hc.RestartPolicy?.MaximumRetryCount ?? 0 },
      // Defaults recorded at create (what inspect then shows): a private cgroup namespace on every host —
      // stricter than dockerd, which keeps the host's on cgroup v1 (docs/security.md) — and the default
      // masked and read-only /proc paths unless privileged.
      CgroupnsMode: hc.CgroupnsMode || "private",
      ...(hc.MaskedPaths === undefined && !hc.Privileged ? { MaskedPaths: [...MASKED_PATHS] } : {}),
      ...(hc.ReadonlyPaths === undefined && !hc.Privileged ? { ReadonlyPaths: [...READONLY_PATHS] } : {}),
      LogConfig: logConfig,
      AutoRemove: hc.AutoRemove ?? false,
      Privileged: hc.Privileged ?? false,
      ReadonlyRootfs: hc.ReadonlyRootfs ?? false,
      ShmSize: hc.ShmSize || 64 * 1024 * 1024,
      Runtime: hc.Runtime || this.o.defaultRuntime,
      ...(this.o.defaultUlimits && this.o.defaultUlimits.length > 0 ? { Ulimits: mergeUlimits(hc.Ulimits, this.o.defaultUlimits) } : {}),
    };
    const rec: ContainerRecord = {
      Id: id,
      Created: new Date().toISOString(),
      Path: argv[0] as string,
      Args: argv.slice(1),
      State: {
        Status: "created",
        Running: false,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: 0,
        ExitCode: 0,
        Error: "",
        StartedAt: ZERO_TIME,
        FinishedAt: ZERO_TIME,
      },
      Image: imageId,
      Name: fullName,
      RestartCount: 0,
      Driver: "overlay2",
      Platform: "linux",
      // Only json-file has a path of its own in inspect (dockerd leaves it empty for the others).
      LogPath: logConfig.Type === "json-file" ? path.join(dir, `${id}-json.log`) : "",
      HostnamePath: path.join(dir, "hostname"),
      HostsPath: path.join(dir, "hosts"),
      ResolvConfPath: path.join(dir, "resolv.conf"),
      Config: config,
      HostConfig: hostConfig,
      ...(body.NetworkingConfig ? { NetworkingConfig: body.NetworkingConfig } : {}),
    };
    // Reserve the name before any await so concurrent creates cannot both take it.
    this.names.set(fullName, id);
    try {
      // The container's root (a remapped id) reaches the bind-mounted /etc files through the group.
      await ensureDir(dir, 0o710, this.o.images.idMap?.root.gid ?? 0);
      await this.o.images.gcLock.withShared(async () => {
        await this.o.images.layers.prepare(id, await this.o.images.topLayer(imageId));
      });
      await this.o.networking?.onCreate(rec);
      await this.o.storage?.onCreate(rec);
      await this.writeEtcFiles(rec, {});
      await this.save(rec); // the record is the commit point
    } catch (e) {
      this.names.delete(fullName);
      // Anonymous volumes and network state made for this create go with it.
      await this.o.storage?.onRemove(rec, true).catch(() => undefined);
      await this.o.networking?.onRemove(rec).catch(() => undefined);
      await this.o.images.layers.removeSnapshot(id).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
      throw e;
    }
    this.records.set(id, rec);
    this.o.events.emit("container", "create", id, this.eventAttrs(rec));
    return { Id: id, Warnings: warnings };
  }

  private async writeEtcFiles(rec: ContainerRecord, net: NetworkAttachment): Promise<void> {
    const c = rec.Config;
    await atomicWriteFile(rec.HostnamePath, `${c.Hostname}\n`);
    const extra = (rec.HostConfig.ExtraHosts ?? []).map((h) => {
      const i = h.indexOf(":");
      if (i <= 0) throw invalid(`bad format for add-host: ${JSON.stringify(h)}`);
      let ip = h.slice(i + 1);
      if (ip === HOST_GATEWAY) {
        ip = this.o.networking?.hostGatewayIp() ?? "";
        if (ip === "") throw invalid(`unable to derive the IP value for host-gateway`);
      }
      return `${ip}\t${h.slice(0, i)}`;
    });
    const hosts = [
      ...DEFAULT_HOSTS_LINES,
      ...extra,
      ...(net.hostsEntries ?? []),
    ];
    await atomicWriteFile(rec.HostsPath, `${hosts.join("\n")}\n`);
    await atomicWriteFile(rec.ResolvConfPath, net.resolvConf ?? containerResolvConf());
    // Owned by the container's root, as under dockerd, so it may edit them.
    const idMap = this.o.images.idMap;
    if (idMap) for (const f of [rec.HostnamePath, rec.HostsPath, rec.ResolvConfPath]) await fs.chown(f, idMap.root.uid, idMap.root.gid);
  }

  // --- start / exit ---------------------------------------------------------

  async start(idOrName: string): Promise<"started" | "alreadyRunning"> {
    const rec = this.get(idOrName);
    return this.lock.run(rec.Id, async () => {
      if (rec.State.Running) return "alreadyRunning";
      if (rec.State.Status === "removing" || rec.State.Dead) throw conflict(`container ${rec.Id} is marked for removal and cannot be started`);
      rec.ManuallyStopped = false;
      await this.startUnlocked(rec);
      return "started";
    });
  }

  private async startUnlocked(rec: ContainerRecord): Promise<void> {
    const { images } = this.o;
    const runtime = this.rt(rec);
    try {
      const idMap = rec.HostConfig.UsernsMode === "host" ? undefined : images.idMap;
      // The overlay and the network are independent: set both up at once. Both settle
      // before an error is thrown, so the clean-up below never races a half-done set-up.
      const [mounted, netUp] = await Promise.allSettled([
        images.layers.mount(rec.Id),
        this.o.networking?.setUp(rec, { runtimeNetns: idMap !== undefined }),
      ]);
      if (mounted.status === "rejected") throw mounted.reason;
      if (netUp.status === "rejected") throw netUp.reason;
      const rootfs = mounted.value;
      const net: NetworkAttachment = netUp.value ?? {};
      await this.writeEtcFiles(rec, net);
      const volumeMounts = (await this.o.storage?.mounts(rec, rootfs)) ?? [];
      const c = rec.Config;
      const spec = await containerSpec({
        rec,
        rootfs,
        net,
        volumeMounts,
        ...(idMap ? { idMap } : {}),
        defaultUlimits: this.o.defaultUlimits ?? [],
        nsTargets: { find: (x) => this.find(x), shmPath: (r) => this.shmPath(r) },
        prepareShm: (r) => this.prepareShm(r),
      });
      const lt = await this.logTarget(rec);
      if (lt.file) await mkdirp(path.dirname(lt.file), 0o700);
      const io = {
        tty: c.Tty,
        stdin: c.OpenStdin,
        ...(lt.file ? { logPath: lt.file } : {}),
        ...(lt.maxSize ? { logMaxSize: lt.maxSize } : {}),
        ...(lt.maxFiles ? { logMaxFiles: lt.maxFiles } : {}),
        ...(lt.sinks ? { logSinks: lt.sinks } : {}),
      };
      const created = await runtime.create(rec.Id, spec, io);
      await this.o.storage?.afterCreate(rec);
      await net.afterCreate?.(created.pid);
      const stateDir = runtime.stateDir(rec.Id);
      // Attach clients that arrived before start get every byte of output.
      const l = this.liveOf(rec.Id);
      for (const p of l.pendingAttach.splice(0)) await this.connectAttach(rec, p.client, p.opts);
      const pid = await runtime.start(stateDir);
      rec.State = {
        ...rec.State,
        Status: "running",
        Running: true,
        Paused: false,
        Restarting: false,
        OOMKilled: false,
        Dead: false,
        Pid: pid || created.pid,
        ExitCode: 0,
        Error: "",
        StartedAt: new Date().toISOString(),
        FinishedAt: ZERO_TIME,
      };
      rec.MonitorPid = created.monitorPid;
      await this.save(rec);
      this.watch(rec);
      this.o.events.emit("container", "start", rec.Id, this.eventAttrs(rec));
    } catch (e) {
      const msg = messageOf(e);
      // Docker's codes for a process the runtime could not start: 127 not found, 126 not executable;
      // 128 for the rest, as for what failed before the runtime (a missing network: "network x not found").
      const before = isEngineError(e) && e.kind !== "internal";
      const code = before ? 128 : /not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128;
      rec.State = { ...rec.State, Status: rec.State.StartedAt === ZERO_TIME ? "created" : "exited", Running: false, Pid: 0, Error: msg, ExitCode: code };
      await runtime.cleanup(rec.Id).catch(() => undefined);
      await this.o.storage?.afterCreate(rec).catch(() => undefined);
      await this.o.networking?.tearDown(rec).catch(() => undefined);
      await images.layers.unmount(rec.Id).catch(() => undefined);
      await this.releaseShm(rec);
      await this.save(rec).catch(() => undefined);
      const l = this.liveOf(rec.Id);
      for (const p of l.pendingAttach.splice(0)) p.client.end();
      for (const w of l.exitWaiters.splice(0)) w({ StatusCode: code, Error: null });
      if (rec.HostConfig.AutoRemove) await this.removeUnlocked(rec, true).catch(() => undefined);
      if (isEngineError(e) && e.kind !== "internal") throw e;
      throw new EngineError(code === 128 ? "internal" : "invalid", `failed to create task for container: ${msg}`);
    }
  }

  /** Follow the monitor until the process ends. */
  private watch(rec: ContainerRecord): void {
    const l = this.liveOf(rec.Id);
    const stateDir = this.rt(rec).stateDir(rec.Id);
    const exited = this.rt(rec).wait(stateDir).catch((e: unknown): ExitStatus => {
      this.o.log.warn(`lost track of container ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
      return { exitCode: 255, finishedAt: new Date().toISOString() };
    });
    l.exited = exited;
    void exited.then((st) => {
      if (this.shuttingDown) return;
      void this.lock.run(rec.Id, () => this.onExit(rec, st)).catch((e: unknown) => this.o.log.error(`exit handling for ${rec.Id}: ${messageOf(e)}`));
    });
  }

  private async onExit(rec: ContainerRecord, st: ExitStatus): Promise<void> {
    if (!this.records.has(rec.Id) || !rec.State.Running) return;
    const oom = st.oomKilled ?? (await this.oomKilled(rec));
    rec.State = { ...rec.State, Status: "exited", Running: false, Paused: false, Pid: 0, ExitCode: st.exitCode, FinishedAt: st.finishedAt, OOMKilled: oom };
    if (rec.State.Health) rec.State.Health = { ...rec.State.Health, Status: "unhealthy" };
    delete rec.MonitorPid;
    await this.rt(rec).cleanup(rec.Id).catch((e: unknown) => this.o.log.warn(`cleanup ${rec.Id}: ${messageOf(e)}`));
    // dockerd's order: oom, die, then the clean-up's network disconnect and volume unmount events.
    if (oom) this.o.events.emit("container", "oom", rec.Id, this.eventAttrs(rec));
    this.o.events.emit("container", "die", rec.Id, { ...this.eventAttrs(rec), exitCode: String(st.exitCode) });
    await this.o.networking?.tearDown(rec).catch((e: unknown) => this.o.log.warn(`network teardown ${rec.Id}: ${messageOf(e)}`));
    await this.o.images.layers.unmount(rec.Id).catch((e: unknown) => this.o.log.warn(`unmount ${rec.Id}: ${messageOf(e)}`));
    await this.releaseShm(rec);
    await this.save(rec);
    const l = this.liveOf(rec.Id);
    delete l.exited;
    const result: WaitResult = { StatusCode: st.exitCode, Error: null };
    for (const w of l.exitWaiters.splice(0)) w(result);
    if (rec.HostConfig.AutoRemove) {
      await this.removeUnlocked(rec, true, true).catch((e: unknown) => this.o.log.error(`auto-remove ${rec.Id}: ${messageOf(e)}`));
      return;
    }
    this.maybeRestart(rec, st);
  }

  // --- restart policies -------------------------------------------------------

  /** Docker's rules: always / unless-stopped restart unless stopped by the user; on-failure[:N] on a non-zero exit. */
  private shouldRestart(rec: ContainerRecord, exitCode: number): boolean {
    if (this.shuttingDown || rec.ManuallyStopped) return false;
    const p = rec.HostConfig.RestartPolicy;
    switch (p?.Name) {
      case "always":
      case "unless-stopped":
        return true;
      case "on-failure": {
        const max = p.MaximumRetryCount ?? 0;
        return exitCode !== 0 && (max === 0 || rec.RestartCount < max);
      }
      default:
        return false;
    }
  }

  /**
   * Restart after Docker's back-off: 100 ms doubling per restart up to 1 minute,
   * reset when the container had run for at least 10 s.
   */
  private maybeRestart(rec: ContainerRecord, st: ExitStatus): void {
    if (!this.shouldRestart(rec, st.exitCode)) {
      this.backoff.delete(rec.Id);
      return;
    }
    const ranFor = Date.parse(st.finishedAt) - Date.parse(rec.State.StartedAt);
    let delay = this.backoff.get(rec.Id) ?? 0;
    delay = ranFor >= 10_000 || delay === 0 ? 100 : Math.min(delay * 2, 60_000);
    this.backoff.set(rec.Id, delay);
    rec.State = { ...rec.State, Status: "restarting", Restarting: true };
    const timer = setTimeout(() => {
      this.restartTimers.delete(rec.Id);
      void this.lock
        .run(rec.Id, async () => {
          if (!this.records.has(rec.Id) || rec.State.Running || !rec.State.Restarting || rec.ManuallyStopped || this.shuttingDown) return;
          rec.RestartCount++;
          await this.startUnlocked(rec);
          this.o.events.emit("container", "restart", rec.Id, this.eventAttrs(rec));
        })
        .catch((e: unknown) => {
          rec.State = { ...rec.State, Restarting: false, Status: "exited" };
          void this.save(rec).catch(() => undefined);
          this.o.log.error(`restart of ${rec.Id.slice(0, 12)} failed: ${messageOf(e)}`);
        });
    }, delay);
    timer.unref();
    this.restartTimers.set(rec.Id, timer);
  }

  /** Cancel a pending policy restart (stop, kill, rm while "restarting"). */
  private cancelRestart(rec: ContainerRecord): boolean {
    const t = this.restartTimers.get(rec.Id);
    if (!t) return false;
    clearTimeout(t);
    this.restartTimers.delete(rec.Id);
    rec.State = { ...rec.State, Restarting: false, Status: "exited" };
    return true;
  }

  private async oomKilled(rec: ContainerRecord): Promise<boolean> {
    // The oom_kill counter of v1 memory.oom_control / v2 memory.events (gone once the runtime deleted the cgroup).
    try {
      return parseOomKill(readFileSync(oomKillFile(cgroupsPathOf(rec)), "utf8")) > 0;
    } catch {
      return false;
    }
  }

  // --- wait -----------------------------------------------------------------

  /**
   * Register a waiter and return a promise for its result. Registration happens
   * synchronously, so the caller can acknowledge the request before the wait ends.
   */
  wait(idOrName: string, condition: WaitCondition): Promise<WaitResult> {
    const rec = this.get(idOrName);
    const l = this.liveOf(rec.Id);
    switch (condition) {
      case "not-running":
        if (!rec.State.Running) return Promise.resolve({ StatusCode: rec.State.ExitCode, Error: null });
        return new Promise((r) => l.exitWaiters.push(r));
      case "next-exit":
        return new Promise((r) => l.exitWaiters.push(r));
      case "removed":
        return new Promise((r) => l.removeWaiters.push(r));
      default:
        throw invalid(`invalid condition: "${String(condition)}"`);
    }
  }

  // --- attach ---------------------------------------------------------------

  /**
   * Attach a hijacked client connection. Before start, the client is held and
   * connected when the container starts; after the process ended, it is closed.
   */
  async attach(idOrName: string, client: Duplex, opts: AttachOptions): Promise<void> {
    const rec = this.get(idOrName);
    if (opts.logs) {
      await new Promise<void>((resolve, reject) => {
        const logs = this.openLogs(rec, { stdout: opts.stdout, stderr: opts.stderr, follow: false, tail: "all", since: 0, until: 0, timestamps: false, mux: !rec.Config.Tty && !opts.unmuxed });
        logs.on("data", (b: Buffer) => client.write(b));
        logs.on("end", resolve);
        logs.on("error", reject);
      });
    }
    this.o.events.emit("container", "attach", rec.Id, this.eventAttrs(rec)); // as dockerd: every attach, streamed or not
    if (!opts.stream) {
      client.end();
      return;
    }
    await this.lock.run(rec.Id, async () => {
      if (rec.State.Running) await this.connectAttach(rec, client, opts);
      else if (rec.State.Status !== "removing" && !rec.State.Dead) {
        // Held until the next start (docker start -a attaches first); dropped if the client goes away.
        const l = this.liveOf(rec.Id);
        const entry = { client, opts };
        l.pendingAttach.push(entry);
        client.once("close", () => {
          const i = l.pendingAttach.indexOf(entry);
          if (i >= 0) l.pendingAttach.splice(i, 1);
        });
      }
      else client.end();
    });
  }

  private async connectAttach(rec: ContainerRecord, client: Duplex, opts: AttachOptions): Promise<void> {
    const stdinOnce = opts.stdin && rec.Config.StdinOnce;
    let mon;
    try {
      mon = await this.rt(rec).attach(this.rt(rec).stateDir(rec.Id), { stdin: opts.stdin && rec.Config.OpenStdin, stdout: opts.stdout, stderr: opts.stderr, stdinOnce });
    } catch (e) {
      this.o.log.warn(`attach to ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
      client.end();
      return;
    }
    if (opts.unmuxed && !rec.Config.Tty) mon.pipe(new StdcopyDemux()).pipe(client);
    else mon.pipe(client);
    if (opts.stdin && rec.Config.OpenStdin) {
      pipeStdin(client, mon, rec.Config.Tty, opts.detachKeys ?? DEFAULT_DETACH_KEYS, () => {
        // The detach sequence ends this attach only; the container keeps running.
        mon.unpipe(client);
        mon.destroy();
        client.end(() => client.destroy());
        this.o.events.emit("container", "detach", rec.Id, this.eventAttrs(rec));
      });
      // dockerd ends a terminal attach when the client half-closes its stdin (the container goes on).
      if (rec.Config.Tty) {
        client.once("end", () => {
          mon.unpipe(client);
          mon.destroy();
          client.end(() => client.destroy());
        });
      }
    } else client.resume();
    const done = () => {
      mon.destroy();
      client.destroy();
    };
    client.on("error", done);
    mon.on("error", done);
    client.on("close", () => mon.destroy());
  }

  // --- hooks for the other container backends (exec, archive, stats) ------------

  /** A running container's runtime, state dir and record, for exec and stats. 409 if not running. */
  execTarget(idOrName: string): { rec: ContainerRecord; runtime: Runtime; stateDir: string } {
    const rec = this.get(idOrName);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw conflict(`Container ${rec.Id} is paused, unpause the container before exec`);
    const runtime = this.rt(rec);
    return { rec, runtime, stateDir: runtime.stateDir(rec.Id) };
  }

  /**
   * Run fn with the container's root filesystem mounted (as it is while running;
   * mounted for the duration when it is stopped). Serialized with start/stop/rm.
   */
  async withRootfs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord) => Promise<T>): Promise<T> {
    const rec = this.get(idOrName);
    return this.lock.run(rec.Id, async () => {
      if (!this.records.has(rec.Id)) throw notFound(`No such container: ${idOrName}`);
      const wasRunning = rec.State.Running;
      const rootfs = await this.o.images.layers.mount(rec.Id);
      try {
        return await fn(rootfs, rec);
      } finally {
        if (!wasRunning && !rec.State.Running) await this.o.images.layers.unmount(rec.Id).catch(() => undefined);
      }
    });
  }

  /**
   * Run fn with the container's filesystem as `docker cp` sees it (Docker's openContainerFS):
   * the root filesystem (mounted as withRootfs does) and the volumes and bind mounts to show
   * in it, prepared by the storage backend and released after fn. Serialized with start/stop/rm.
   */
  async withContainerFs<T>(idOrName: string, fn: (rootfs: string, rec: ContainerRecord, view: ContainerView) => Promise<T>): Promise<T> {
    return this.withRootfs(idOrName, async (rootfs, rec) => {
      const storage = this.o.storage;
      const view: ContainerView = storage ? await storage.viewMounts(rec, rootfs) : { mounts: [], release: async () => undefined };
      try {
        return await fn(rootfs, rec, view);
      } finally {
        await view.release();
      }
    });
  }

  /** The writable layer's directory (overlay upper) of a container, for diff/commit. */
  upperDir(idOrName: string): string {
    return path.join(this.o.images.layers.snapshotDir(this.get(idOrName).Id), "upper");
  }

  async resize(idOrName: string, height: number, width: number): Promise<void> {
    const rec = this.get(idOrName);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (!rec.Config.Tty) return;
    await this.rt(rec).resize(this.rt(rec).stateDir(rec.Id), height, width);
  }

  async pause(idOrName: string): Promise<void> {
    const rec = this.get(idOrName);
    await this.lock.run(rec.Id, async () => {
      if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
      if (rec.State.Paused) throw conflict(`Container ${rec.Id} is already paused`);
      await this.rt(rec).pause(rec.Id);
      rec.State = { ...rec.State, Paused: true, Status: "paused" };
      await this.save(rec);
      this.o.events.emit("container", "pause", rec.Id, this.eventAttrs(rec));
    });
  }

  async unpause(idOrName: string): Promise<void> {
    const rec = this.get(idOrName);
    await this.lock.run(rec.Id, async () => {
      if (!rec.State.Paused) throw conflict(`Container ${rec.Id} is not paused`);
      await this.rt(rec).resume(rec.Id);
      rec.State = { ...rec.State, Paused: false, Status: "running" };
      await this.save(rec);
      this.o.events.emit("container", "unpause", rec.Id, this.eventAttrs(rec));
    });
  }

  /**
   * Freeze a running, unpaused container's processes (the runtime's cgroup freezer)
   * for a filesystem operation that must not race with them (docker cp into it),
   * without recording a pause or emitting events. Call it inside withRootfs, which
   * serializes with start/stop/pause. Returns the thaw function, which never throws.
   */
  async freeze(rec: ContainerRecord): Promise<() => Promise<void>> {
    if (!rec.State.Running || rec.State.Paused) return async () => undefined;
    const rt = this.rt(rec);
    await rt.pause(rec.Id);
    return async () => {
      await rt.resume(rec.Id).catch((e: unknown) => this.o.log.warn(`thawing ${rec.Id.slice(0, 12)}: ${messageOf(e)}`));
    };
  }

  /**
   * Run fn on a container's record under its lifecycle lock (serialized with start, stop,
   * exit handling and rm), with its runtime and a way to persist the record (docker update).
   */
  async locked<T>(idOrName: string, fn: (rec: ContainerRecord, ctl: { runtime: Runtime; save: () => Promise<void> }) => Promise<T>): Promise<T> {
    const rec = this.get(idOrName);
    return this.lock.run(rec.Id, async () => {
      if (!this.records.has(rec.Id)) throw notFound(`No such container: ${idOrName}`);
      return fn(rec, { runtime: this.rt(rec), save: () => this.save(rec) });
    });
  }

  /**
   * Record a health state (HealthMonitor); persisted when the status changed, and announced
   * unless asked not to (dockerd announces what probes change, not the "starting" of a start).
   */
  async setHealth(id: string, health: NonNullable<ContainerState["Health"]>, changed = true, announce = changed): Promise<void> {
    const rec = this.records.get(id);
    if (!rec || !rec.State.Running) return;
    rec.State = { ...rec.State, Health: health };
    if (changed) await this.save(rec);
    if (changed && announce) this.o.events.emit("container", `health_status: ${health.Status}`, rec.Id, this.eventAttrs(rec));
  }

  /** A frozen container cannot act on a signal: thaw it after signalling (as Docker does for stop/kill). */
  private async thawForSignal(rec: ContainerRecord): Promise<void> {
    if (!rec.State.Paused) return;
    await this.rt(rec).resume(rec.Id).catch(() => undefined);
    // A SIGKILLed container may have died, and its exit been recorded, while runc resume ran.
    if (rec.State.Running) rec.State = { ...rec.State, Paused: false, Status: "running" };
  }

  /** Emit a container event (for the other container backends). */
  emit(rec: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.o.events.emit("container", action, rec.Id, { ...this.eventAttrs(rec), ...extra });
  }

  // --- logs -----------------------------------------------------------------

  logs(idOrName: string, opts: { stdout: boolean; stderr: boolean; follow: boolean; tail: number | "all"; since: number; until: number; timestamps: boolean; details?: boolean }): { stream: Readable; tty: boolean } {
    const rec = this.get(idOrName);
    const type = rec.HostConfig.LogConfig?.Type || "json-file";
    if (unreadable(type, rec.HostConfig.LogConfig?.Config ?? {})) throw invalid(`configured logging driver does not support reading`);
    const l = this.liveOf(rec.Id);
    const stopWhen = rec.State.Running && l.exited ? l.exited : Promise.resolve();
    return { stream: this.openLogs(rec, { ...opts, mux: !rec.Config.Tty, stopWhen }), tty: rec.Config.Tty };
  }

  /** Where the monitor sends this container's output (driver, files, sinks), checked as dockerd does at start. */
  private logTarget(rec: ContainerRecord) {
    const lc = rec.HostConfig.LogConfig;
    return logTarget(lc?.Type || "json-file", lc?.Config ?? {}, { Id: rec.Id, Name: rec.Name, image: rec.Config.Image ?? "", dir: this.dir(rec.Id), labels: rec.Config.Labels ?? {}, env: rec.Config.Env ?? [] });
  }

  /** The container's log as `docker logs` reads it back: the driver's file, dockerd's cache (syslog) or the journal. */
  private openLogs(rec: ContainerRecord, opts: LogReadOptions): Readable {
    const type = rec.HostConfig.LogConfig?.Type || "json-file";
    const dir = this.dir(rec.Id);
    if (type === "local") return readLocalLogs(path.join(dir, "local-logs", "container.log"), opts);
    if (type === "syslog") return readLocalLogs(path.join(dir, "container-cached.log"), opts);
    if (type === "journald") return readJournalLogs(rec.Id, opts);
    if (type === "none") return readLocalLogs(path.join(dir, "no-log"), { ...opts, follow: false });
    return readLogs(rec.LogPath || path.join(dir, `${rec.Id}-json.log`), opts);
  }

  // --- signals, stop, restart ---------------------------------------------

  async kill(idOrName: string, signal = "SIGKILL"): Promise<void> {
    const rec = this.get(idOrName);
    const sig = parseSignal(signal);
    if (!rec.State.Running) throw conflict(`Cannot kill container: ${idOrName}: Container ${rec.Id} is not running`);
    if (sig === 9 || sig === 15) rec.ManuallyStopped = true;
    const exited = this.liveOf(rec.Id).exited;
    await this.rt(rec).kill(rec.Id, this.rt(rec).stateDir(rec.Id), sig);
    if (sig === 9) await this.thawForSignal(rec);
    this.o.events.emit("container", "kill", rec.Id, { ...this.eventAttrs(rec), signal: String(sig) });
    // dockerd answers a SIGKILL only once the container is dead (other signals at once):
    // a client's next inspect, list or wait sees it exited.
    if (sig === 9 && exited) {
      await exited;
      await this.lock.run(rec.Id, async () => undefined);
    }
  }

  /** Stop: the stop signal, then SIGKILL after the timeout. Returns false if it was not running. */
  async stop(idOrName: string, timeout?: number, signal?: string): Promise<boolean> {
    const rec = this.get(idOrName);
    rec.ManuallyStopped = true;
    if (!rec.State.Running) {
      if (!this.cancelRestart(rec)) return false;
      await this.save(rec);
      return true;
    }
    const l = this.liveOf(rec.Id);
    const exited = l.exited;
    const stateDir = this.rt(rec).stateDir(rec.Id);
    const sig = parseSignal(signal || rec.Config.StopSignal || "SIGTERM");
    const t = timeout ?? rec.Config.StopTimeout ?? 10;
    const settled = (ms: number) =>
      exited
        ? Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))])
        : Promise.resolve(true);
    // As dockerd: the stop signal first (even with no grace time), then SIGKILL if it is still running; each is a kill event.
    await this.rt(rec).kill(rec.Id, stateDir, sig).catch(() => undefined);
    await this.thawForSignal(rec);
    this.o.events.emit("container", "kill", rec.Id, { ...this.eventAttrs(rec), signal: String(sig) });
    if (t < 0 ? !(await exited?.then(() => true)) : !(await settled(t * 1000))) {
      await this.rt(rec).kill(rec.Id, stateDir, 9).catch(() => undefined);
      this.o.events.emit("container", "kill", rec.Id, { ...this.eventAttrs(rec), signal: "9" });
      await settled(30_000);
    }
    // Let the exit bookkeeping finish so the caller sees "exited".
    await this.lock.run(rec.Id, async () => undefined);
    this.o.events.emit("container", "stop", rec.Id, this.eventAttrs(rec));
    return true;
  }

  async restart(idOrName: string, timeout?: number, signal?: string): Promise<void> {
    const rec = this.get(idOrName);
    await this.stop(rec.Id, timeout, signal);
    await this.start(rec.Id);
    this.o.events.emit("container", "restart", rec.Id, this.eventAttrs(rec));
  }

  async rename(idOrName: string, newName: string): Promise<void> {
    const rec = this.get(idOrName);
    if (!NAME_RE.test(newName)) throw invalid(`Invalid container name (${newName}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const full = newName.startsWith("/") ? newName : `/${newName}`;
    if (full === rec.Name) throw invalid(`Renaming a container with the same name as its current name`);
    const holder = this.names.get(full);
    if (holder) throw conflict(`Error when allocating new name: Conflict. The container name "${full}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
    await this.lock.run(rec.Id, async () => {
      const old = rec.Name;
      this.names.set(full, rec.Id);
      rec.Name = full;
      try {
        await this.save(rec);
      } catch (e) {
        rec.Name = old;
        this.names.delete(full);
        throw e;
      }
      this.names.delete(old);
      this.o.events.emit("container", "rename", rec.Id, { ...this.eventAttrs(rec), oldName: old });
    });
  }

  // --- remove ---------------------------------------------------------------

  async remove(idOrName: string, opts: { force: boolean; volumes: boolean }): Promise<void> {
    const rec = this.get(idOrName);
    if (rec.State.Restarting && !rec.State.Running) {
      if (!opts.force) throw conflict(`cannot remove container "${rec.Name}": container is restarting: stop the container before removing or force remove`);
      rec.ManuallyStopped = true;
      this.cancelRestart(rec);
    }
    if (rec.State.Running) {
      if (!opts.force) {
        throw conflict(`cannot remove container "${rec.Name}": container is running: stop the container before removing or force remove`);
      }
      rec.ManuallyStopped = true;
      const exited = this.liveOf(rec.Id).exited;
      await this.rt(rec).kill(rec.Id, this.rt(rec).stateDir(rec.Id), 9).catch(() => undefined);
      await this.thawForSignal(rec);
      if (exited) await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
    await this.lock.run(rec.Id, async () => {
      if (!this.records.has(rec.Id)) return; // auto-removed meanwhile
      if (rec.State.Running) throw conflict(`cannot remove container "${rec.Name}": container is running`);
      await this.removeUnlocked(rec, false, opts.volumes);
    });
  }

  private async removeUnlocked(rec: ContainerRecord, fromExit: boolean, removeVolumes = false): Promise<void> {
    if (rec.State.Status !== "removing") {
      rec.State.Status = "removing";
      await this.save(rec);
    }
    await this.rt(rec).cleanup(rec.Id);
    await this.o.networking?.tearDown(rec);
    await this.o.networking?.onRemove(rec);
    await this.o.storage?.onRemove(rec, removeVolumes);
    await this.o.images.layers.removeSnapshot(rec.Id);
    await fs.rm(this.dir(rec.Id), { recursive: true, force: true });
    this.records.delete(rec.Id);
    if (this.names.get(rec.Name) === rec.Id) this.names.delete(rec.Name);
    const l = this.live.get(rec.Id);
    this.live.delete(rec.Id);
    for (const p of l?.pendingAttach ?? []) p.client.end();
    for (const w of l?.exitWaiters ?? []) w({ StatusCode: rec.State.ExitCode, Error: null });
    for (const w of l?.removeWaiters ?? []) w({ StatusCode: rec.State.ExitCode, Error: null });
    this.o.events.emit("container", "destroy", rec.Id, this.eventAttrs(rec));
    void fromExit;
  }

  async prune(filters: Record<string, string[]>): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
    for (const k of Object.keys(filters)) if (!["label", "label!", "until"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    const deleted: string[] = [];
    let space = 0;
    for (const rec of this.all()) {
      if (rec.State.Running || rec.State.Status === "removing") continue;
      if (!matchLabels(rec.Config.Labels, filters["label"] ?? [])) continue;
      const until = filters["until"]?.[0];
      if (until && Date.parse(rec.Created) > parseTimeFilter(until) * 1000) continue;
      space += await this.o.images.layers.snapshotSize(rec.Id);
      await this.remove(rec.Id, { force: false, volumes: false }).then(
        () => deleted.push(rec.Id),
        () => undefined,
      );
    }
    // dockerd's list is nil (null) when nothing went.
    return { ContainersDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: space };
  }

  // --- views ----------------------------------------------------------------

  private eventAttrs(rec: ContainerRecord): Record<string, string> {
    return { ...rec.Config.Labels, image: rec.Config.Image, name: rec.Name.slice(1) };
  }

  private byName(fullName: string): ContainerRecord | undefined {
    const id = this.names.get(fullName);
    return id === undefined ? undefined : this.records.get(id);
  }

  /**
   * `docker rm --link parent/alias`: drop the link from the parent (its record, and
   * the line in its /etc/hosts while it runs), as dockerd's rmLink.
   */
  async removeLink(name: string): Promise<void> {
    this.get(name); // dockerd resolves the name first: "No such container: <name>"
    const full = name.startsWith("/") ? name : `/${name}`;
    const slash = full.lastIndexOf("/");
    if (slash === 0) throw conflict("Conflict, cannot remove the default link name of the container");
    const parent = this.byName(full.slice(0, slash));
    if (!parent) throw notFound(`No such container: ${name}`);
    const alias = full.slice(slash + 1);
    await this.lock.run(parent.Id, async () => {
      const links = parent.HostConfig.Links ?? [];
      const gone = links.filter((l) => parseLinkEntry(l).alias === alias);
      if (gone.length === 0) return;
      const child = this.byName(`/${parseLinkEntry(gone[0] as string).target}`);
      parent.HostConfig.Links = links.filter((l) => !gone.includes(l));
      await this.save(parent);
      if (parent.State.Running && child) {
        const text = await fs.readFile(parent.HostsPath, "utf8").catch(() => undefined);
        // In place, not renamed: the file is bind-mounted into the running container.
        if (text !== undefined) await fs.writeFile(parent.HostsPath, hostsWithoutLink(text, [alias, child.Config.Hostname, child.Name.slice(1)]));
      }
    });
  }

  async inspect(idOrName: string, size = false): Promise<Record<string, unknown>> {
    const rec = this.get(idOrName);
    const sizeRw = size ? await this.o.images.layers.snapshotSize(rec.Id) : undefined;
    const snap = this.o.images.layers.snapshotDir(rec.Id);
    const started = rec.State.StartedAt !== ZERO_TIME;
    return {
      Id: rec.Id,
      Created: rec.Created,
      Path: rec.Path,
      Args: rec.Args,
      State: { ...rec.State },
      Image: rec.Image,
      // dockerd fills these in at the first start.
      ResolvConfPath: started ? rec.ResolvConfPath : "",
      HostnamePath: started ? rec.HostnamePath : "",
      HostsPath: started ? rec.HostsPath : "",
      LogPath: started ? rec.LogPath : "",
      Name: rec.Name,
      RestartCount: rec.RestartCount,
      Driver: rec.Driver,
      Platform: rec.Platform,
      MountLabel: "",
      ProcessLabel: "",
      AppArmorProfile: apparmorShown(rec.HostConfig),
      ExecIDs: this.execIds(rec.Id),
      HostConfig: { ...fullHostConfig(rec.HostConfig), Links: inspectLinks(rec, (n) => this.byName(n)) },
      GraphDriver: {
        Name: "overlay2",
        Data: { UpperDir: path.join(snap, "upper"), WorkDir: path.join(snap, "work"), MergedDir: path.join(snap, "merged") },
      },
      ...(sizeRw !== undefined ? { SizeRw: sizeRw, SizeRootFs: sizeRw + (await this.o.images.size(rec.Image as Digest).catch(() => 0)) } : {}),
      Mounts: this.o.storage?.inspectMounts(rec) ?? [],
      Config: rec.Config,
      NetworkSettings: { ...networkSettings(rec), ...(this.o.networking?.settings(rec) ?? {}) },
    };
  }

  async list(opts: ListOptions): Promise<Record<string, unknown>[]> {
    let recs = this.all().sort((a, b) => (a.Created < b.Created ? 1 : a.Created > b.Created ? -1 : 0));
    const f = opts.filters;
    const showAll = opts.all || opts.limit > 0 || Object.keys(f).length > 0 && (f["status"] !== undefined || f["exited"] !== undefined);
    if (!showAll) recs = recs.filter((r) => r.State.Running);
    validateListFilters(f);
    // before/since: containers created before/after the named one (dockerd resolves the name first).
    const anchor = (key: "before" | "since"): ContainerRecord | undefined => {
      const v = f[key]?.[0];
      if (v === undefined) return undefined;
      const rec = this.find(v);
      if (!rec) throw notFound(`no such container ${v}`);
      return rec;
    };
    const before = anchor("before");
    const since = anchor("since");
    if (before) recs = recs.filter((r) => r.Created < before.Created);
    if (since) recs = recs.filter((r) => r.Created > since.Created);
    recs = recs.filter((r) => matchContainer(r, f, (n) => this.o.images.resolve(n)));
    if (opts.limit > 0) recs = recs.slice(0, opts.limit);
    const out: Record<string, unknown>[] = [];
    const links = [...linkNames(this.records.values(), (n) => this.byName(n))];
    for (const r of recs) {
      const entry: Record<string, unknown> = {
        Id: r.Id,
        Names: [r.Name, ...links.filter(([, id]) => id === r.Id).map(([n]) => n)],
        Image: r.Config.Image,
        ImageID: r.Image,
        Command: listCommand(r.Path, r.Args),
        Created: Math.floor(Date.parse(r.Created) / 1000),
        Ports: this.o.networking?.ports(r) ?? [],
        Labels: r.Config.Labels,
        State: r.State.Status,
        Status: statusString(r.State),
        HostConfig: { NetworkMode: r.HostConfig.NetworkMode ?? "default" },
        NetworkSettings: { Networks: (this.o.networking?.settings(r)["Networks"] as Record<string, unknown> | undefined) ?? {} },
        Mounts: this.o.storage?.inspectMounts(r) ?? [],
      };
      if (opts.size) {
        // omitempty in dockerd's list entries: a container that wrote nothing has no SizeRw.
        const rw = await this.o.images.layers.snapshotSize(r.Id);
        const rootFs = rw + (await this.o.images.size(r.Image as Digest).catch(() => 0));
        if (rw > 0) entry["SizeRw"] = rw;
        if (rootFs > 0) entry["SizeRootFs"] = rootFs;
      }
      out.push(entry);
    }
    return out;
  }

  counts(): { total: number; running: number; paused: number; stopped: number } {
    let running = 0;
    let paused = 0;
    for (const r of this.records.values()) {
      if (r.State.Paused) paused++;
      else if (r.State.Running) running++;
    }
    return { total: this.records.size, running, paused, stopped: this.records.size - running - paused };
  }
}

// --- helpers ------------------------------------------------------------------

/** dockerd's `Command` in the container list: the path, then the arguments, those with a space in single quotes. */
export function listCommand(path: string, args: readonly string[]): string {
  return [path, ...args.map((a) => (a.includes(" ") ? `'${a}'` : a))].join(" ");
}

/** dockerd's merge: the client's variables in their order, then the image's that the client did not set. */
function mergeEnv(base: string[], over: string[]): string[] {
  const keyOf = (e: string): string => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e);
  const out = new Map<string, string>();
  // `-e NAME` without a value: Docker's CLI resolves it; a bare name here means unset.
  for (const e of over) if (e.includes("=")) out.set(keyOf(e), e);
  const given = new Set(over.map(keyOf));
  for (const e of base) if (!given.has(keyOf(e))) out.set(keyOf(e), e);
  return [...out.values()];
}

/** The magic --add-host address dockerd replaces with the host's address on the default bridge. */
const HOST_GATEWAY = "host-gateway";

function validateHostConfig(hc: HostConfig): void {
  if (hc.RestartPolicy) validateRestartPolicy(hc.RestartPolicy);
  parseSecurityOpts(hc.SecurityOpt ?? []);
  const rp = hc.RestartPolicy;
  if (rp?.Name && !["no", "always", "unless-stopped", "on-failure"].includes(rp.Name)) {
    throw invalid(`invalid restart policy: unknown policy '${rp.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (rp?.Name && rp.Name !== "on-failure" && (rp.MaximumRetryCount ?? 0) > 0) {
    throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (hc.AutoRemove && rp?.Name && rp.Name !== "no") {
    throw invalid(`can't create 'AutoRemove' container with restart policy`);
  }
  if (hc.UsernsMode && hc.UsernsMode !== "host") throw invalid(`invalid UsernsMode: ${hc.UsernsMode}`);
  if (hc.CgroupnsMode && hc.CgroupnsMode !== "host" && hc.CgroupnsMode !== "private") throw invalid(`invalid cgroup namespace mode: ${hc.CgroupnsMode}`);
  const oom = hc.OomScoreAdj ?? 0;
  if (oom < -1000 || oom > 1000) throw invalid(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  for (const k of Object.keys(hc.Sysctls ?? {})) {
    if (!NAMESPACED_SYSCTLS.has(k) && !k.startsWith("fs.mqueue.") && !k.startsWith("net.")) throw invalid(`sysctl '${k}' is not allowed`);
    if (k.startsWith("net.") && hc.NetworkMode === "host") throw invalid(`sysctl '${k}' is not allowed in the host's network namespace (--network host)`);
  }
}

/** Kernel parameters that belong to a container's own IPC namespace (besides fs.mqueue.* and net.*), as Docker allows them. */
const NAMESPACED_SYSCTLS = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

/** With `--userns-remap`, what a private user namespace cannot do (dockerd's rules and messages). */
function validateRemapped(hc: HostConfig): void {
  if (hc.UsernsMode === "host") return;
  if (hc.Privileged) throw invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode");
  if (hc.NetworkMode === "host") throw invalid("cannot share the host's network namespace when user namespaces are enabled");
  if (hc.PidMode === "host") throw invalid("cannot share the host PID namespace when user namespaces are enabled");
}

/** Docker's size strings: 10m, 1g, 512k, 100 (bytes). */
export function parseSize(s: string): number {
  const m = s.trim().match(/^(\d+(?:\.\d+)?)\s*([kmgtp]?)i?b?$/i);
  if (!m) throw invalid(`invalid size: '${s}'`);
  const mult: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  return Math.floor(Number(m[1]) * (mult[(m[2] ?? "").toLowerCase()] ?? 1));
}

function containerResolvConf(): string {
  let host = "";
  try {
    host = readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    host = "";
  }
  // Loopback nameservers of the host are unreachable from the container's own network namespace.
  const lines = host.split("\n").filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  if (!lines.some((l) => /^\s*nameserver\s/.test(l))) lines.push("nameserver 8.8.8.8", "nameserver 8.8.4.4");
  return `${lines.filter((l, i, a) => l !== "" || i < a.length - 1).join("\n")}\n`;
}

function fullHostConfig(hc: HostConfig): Record<string, unknown> {
  return {
    Binds: null,
    ContainerIDFile: "",
    PortBindings: null,
    VolumeDriver: "",
    VolumesFrom: null,
    ConsoleSize: [0, 0],
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: "private",
    Dns: null,
    DnsOptions: null,
    DnsSearch: null,
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: "private",
    Cgroup: "",
    Links: null,
    OomScoreAdj: 0,
    PidMode: "",
    PublishAllPorts: false,
    SecurityOpt: null,
    UTSMode: "",
    UsernsMode: "",
    Isolation: "",
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: "",
    BlkioWeight: 0,
    CpuPeriod: 0,
    CpuQuota: 0,
    CpusetCpus: "",
    CpusetMems: "",
    Devices: null,
    MemoryReservation: 0,
    MemorySwap: 0,
    PidsLimit: null,
    Ulimits: null,
    BlkioWeightDevice: null,
    BlkioDeviceReadBps: null,
    BlkioDeviceWriteBps: null,
    BlkioDeviceReadIOps: null,
    BlkioDeviceWriteIOps: null,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    DeviceCgroupRules: null,
    DeviceRequests: null,
    MemorySwappiness: null,
    OomKillDisable: false,
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: null,
    ReadonlyPaths: null,
    ...hc,
  };
}

function networkSettings(rec: ContainerRecord): Record<string, unknown> {
  return {
    Bridge: "",
    SandboxID: rec.State.Running ? rec.Id : "",
    SandboxKey: rec.State.Running ? `/proc/${rec.State.Pid}/ns/net` : "",
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    Ports: {},
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: "",
    Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    MacAddress: "",
    Networks: {},
  };
}

/** Docker's "Up 5 seconds" / "Exited (3) 2 minutes ago" / "Created". */
export function statusString(s: ContainerState, now = Date.now()): string {
  switch (s.Status) {
    case "created":
      return "Created";
    case "running": {
      const up = `Up ${humanDuration(now - Date.parse(s.StartedAt))}`;
      return s.Health ? `${up} (${s.Health.Status})` : up;
    }
    case "paused":
      return `Up ${humanDuration(now - Date.parse(s.StartedAt))} (Paused)`;
    case "restarting":
      return `Restarting (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    case "exited":
      return s.FinishedAt === ZERO_TIME ? "Exited" : `Exited (${s.ExitCode}) ${humanDuration(now - Date.parse(s.FinishedAt))} ago`;
  }
}

export function humanDuration(ms: number): string {
  const sec = Math.round(ms / 1000);
  if (sec < 1) return "Less than a second";
  if (sec === 1) return "1 second";
  if (sec < 60) return `${sec} seconds`;
  const min = Math.round(ms / 60000);
  if (min === 1) return "About a minute";
  if (min < 60) return `${min} minutes`;
  const h = Math.round(ms / 3600000);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

function matchLabels(labels: Record<string, string>, wanted: string[]): boolean {
  return wanted.every((w) => {
    const i = w.indexOf("=");
    if (i < 0) return w in labels;
    return labels[w.slice(0, i)] === w.slice(i + 1);
  });
}

export function parseTimeFilter(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const d = v.match(/^(\d+)(s|m|h)$/);
  if (d) return Date.now() / 1000 - Number(d[1]) * ({ s: 1, m: 60, h: 3600 }[d[2] as "s" | "m" | "h"]);
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalid(`invalid time filter: ${v}`);
  return t / 1000;
}

function matchContainer(r: ContainerRecord, f: Record<string, string[]>, resolveImage: (n: string) => string | undefined): boolean {
  for (const [key, values] of Object.entries(f)) {
    if (values.length === 0) continue;
    switch (key) {
      case "id":
        if (!values.some((v) => r.Id.startsWith(v))) return false;
        break;
      case "name":
        if (!values.some((v) => regexpMatches(v, r.Name.slice(1)))) return false;
        break;
      case "status":
        if (!values.includes(r.State.Status)) return false;
        break;
      case "exited":
        if (r.State.Status !== "exited" || !values.includes(String(r.State.ExitCode))) return false;
        break;
      case "label":
        if (!matchLabels(r.Config.Labels, values)) return false;
        break;
      case "ancestor":
        if (!values.some((v) => r.Config.Image === v || resolveImage(v) === r.Image)) return false;
        break;
      case "before":
      case "since":
        break;
      default:
        throw invalid(`Invalid filter '${key}'`);
    }
  }
  return true;
}

const LIST_FILTERS = ["id", "name", "status", "exited", "label", "ancestor", "before", "since"];
const STATUSES = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

/** dockerd checks the filters before looking at any container (its wording, 20.10). */
function validateListFilters(f: Record<string, string[]>): void {
  for (const [key, values] of Object.entries(f)) {
    if (!LIST_FILTERS.includes(key)) throw invalid(`Invalid filter '${key}'`);
    if (key === "status") for (const v of values) if (!STATUSES.includes(v)) throw invalid(`Invalid filter 'status=${v}'`);
  }
}
