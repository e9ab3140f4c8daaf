/**
 * RUN: the command runs in a throw-away container on a writable snapshot of
 * the current image, through the same runtime as `docker run` (berth-monitor
 * → runc), with Docker's defaults. Its output is streamed as it happens; its
 * filesystem changes (the snapshot's upper directory) become the new layer.
 *
 * Like Docker's init layer, the mount points the runtime needs (/etc/hosts,
 * /etc/hostname, /etc/resolv.conf, /proc, /sys, /dev) are provided by a small
 * layer below the snapshot when the image lacks them, so they never end up in
 * the committed layer.
 *
 * Network: as for `docker run`: the default bridge (or the named network) through
 * the engine's BuildNetwork, the host's with `host`, loopback only with `none`.
 */
import fss, { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { Digest } from "../../util/digest.js";
import { EngineError, invalid, messageOf } from "../../util/errors.js";
import { mkdirp } from "../../util/fsutil.js";
import { bestEffort } from "../../util/besteffort.js";
import type { BuildStore } from "../../image/index.js";
import { DEFAULT_HOSTS_LINES, type OciMount, type OciRlimit, type Runtime, containerSpecOf, resolveUser, specHost } from "../../runtime/index.js";
import { mkdirAllInRoot } from "./fsops.js";

export interface RunStepInput {
  /** Chain id of the image's top layer (null: no layers). */
  parent: Digest | null;
  args: string[];
  env: string[];
  workdir: string;
  user: string;
  /** "host", "none" (loopback only), or a network to attach to ("default", "bridge", a user network). */
  network: string;
  shmSize?: number;
  /** Files mounted read-only at /dev/pipes (RUN heredocs with a #! line). */
  pipes?: { name: string; data: string }[];
  stdout: (chunk: Buffer) => void;
  stderr: (chunk: Buffer) => void;
  /** A promise while the consumer of the output is full: reading from the container pauses until it settles. */
  backpressure?: () => Promise<void> | undefined;
  /** Called with the container's id before it starts (" ---> Running in <short id>"). */
  onCreate?: (id: string) => void;
  /**
   * On success: commit the changes (the snapshot's upper directory, null when
   * nothing changed) while the snapshot still exists.
   */
  commit: (upper: string | null) => Promise<void>;
  signal?: AbortSignal;
}

/** A build container's place on a network, made by the engine (networks are above the builder). */
export interface BuildNetworkAttachment {
  /** The network namespace to join; absent when the runtime makes it (afterCreate configures it). */
  netns?: string;
  afterCreate?: (pid: number) => Promise<void>;
  resolvConf?: string;
  hostsEntries?: string[];
  /** Undo the attachment (idempotent). */
  release(): Promise<void>;
}

/** Attach build container `id` to network `mode`; `userns`: the container gets a user namespace. */
export type BuildNetwork = (id: string, mode: string, userns: boolean) => Promise<BuildNetworkAttachment>;

export interface RunStepResult {
  exitCode: number;
}

const STUB_FILES = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];
const STUB_DIRS = ["proc", "sys", "dev"];

export class RunExecutor {
  /** parent chain → the chain to run on (an init layer on top, or the parent itself). */
  private readonly initChains = new Map<string, Digest | null>();

  constructor(
    private readonly store: BuildStore,
    private readonly runtime: Runtime,
    private readonly tmpRoot: string,
    private readonly network?: BuildNetwork,
    private readonly rlimits?: () => OciRlimit[],
  ) {}

  /** Snapshot keys of build containers are this prefix and the container's runtime id. */
  static readonly PREFIX = "build-";

  async run(input: RunStepInput): Promise<RunStepResult> {
    const id = randomBytes(32).toString("hex");
    const key = `${RunExecutor.PREFIX}${id}`;
    const ctr = this.runtime.container(id);
    const layers = this.store.snapshots;
    const work = path.join(this.tmpRoot, `run-${id.slice(0, 16)}`);
    let created = false;
    let net: BuildNetworkAttachment | undefined;
    try {
      const base = await this.baseFor(key, input.parent);
      await layers.prepare(key, base);
      const rootfs = await layers.mount(key);
      const user = await resolveUser(rootfs, input.user);
      const cwd = input.workdir || "/";
      const idMap = this.store.idMap;
      // Docker creates a missing working directory (owned by root) before the process starts.
      mkdirAllInRoot(rootfs, cwd, idMap?.root);

      await mkdirp(work, 0o700);
      // A user-namespaced root reaches the /etc files through the group.
      if (idMap) {
        await fs.chown(work, 0, idMap.root.gid);
        await fs.chmod(work, 0o710);
      }
      const hostMode = input.network === "host";
      const hostname = hostMode ? os.hostname() : id.slice(0, 12);
      if (hostMode && idMap) throw invalid("cannot share the host's network namespace when user namespaces are enabled");
      if (!hostMode && input.network !== "none" && this.network) net = await this.network(id, input.network, idMap !== undefined);
      await fs.writeFile(path.join(work, "hostname"), `${hostname}\n`);
      const hostsExtra = (net?.hostsEntries ?? []).map((l) => `${l}\n`).join("");
      await fs.writeFile(path.join(work, "hosts"), hostMode ? readHost("/etc/hosts", "127.0.0.1\tlocalhost\n") : HOSTS + hostsExtra);
      await fs.writeFile(path.join(work, "resolv.conf"), net?.resolvConf ?? readHost("/etc/resolv.conf", ""));
      const mounts: OciMount[] = [];
      if (input.pipes && input.pipes.length > 0) {
        const pipes = path.join(work, "pipes");
        await mkdirp(pipes, 0o755);
        for (const p of input.pipes) await fs.writeFile(path.join(pipes, p.name), p.data, { mode: 0o755 });
        mounts.push({ destination: "/dev/pipes", type: "bind", source: pipes, options: ["rbind", "ro", "rprivate"] });
      }
      // The same builder as `docker run`, with a HostConfig of Docker's defaults: RUN is confined as a container.
      const spec = containerSpecOf({
        id,
        args: input.args,
        config: { Hostname: hostname, Env: input.env, WorkingDir: cwd, Tty: false },
        hostConfig: input.shmSize ? { ShmSize: input.shmSize } : {},
        rootfs,
        user,
        etcFiles: { hostname: path.join(work, "hostname"), hosts: path.join(work, "hosts"), resolvConf: path.join(work, "resolv.conf") },
        net: { ...(hostMode ? { hostNamespaces: ["network"] } : {}), ...(net?.netns ? { joinNamespaces: { network: net.netns } } : {}) },
        mounts,
        ...(idMap ? { idMappings: idMap.oci() } : {}),
        ...(this.rlimits ? { rlimits: this.rlimits() } : {}),
        host: specHost(),
      });

      input.signal?.throwIfAborted();
      input.onCreate?.(id);
      try {
        const { pid } = await ctr.create(spec, { tty: false, stdin: false });
        created = true;
        await net?.afterCreate?.(pid);
      } catch (e) {
        throw new EngineError("invalid", `failed to create task for container: ${messageOf(e)}`);
      }
      created = true;
      const sock = await ctr.attach({ stdin: false, stdout: true, stderr: true, stdinOnce: false });
      const drained = demux(sock, input.stdout, input.stderr, input.backpressure);
      const onAbort = (): void => {
        void ctr.kill(9).catch(bestEffort("killing an aborted RUN step"));
      };
      input.signal?.addEventListener("abort", onAbort, { once: true });
      let exitCode: number;
      try {
        try {
          await ctr.start();
        } catch (e) {
          throw new EngineError("invalid", `failed to start the container: ${messageOf(e)}`);
        }
        exitCode = (await ctr.wait()).exitCode;
        // The monitor closes the attach socket once the output is drained.
        await Promise.race([drained, new Promise((r) => setTimeout(r, 5000).unref())]);
      } finally {
        input.signal?.removeEventListener("abort", onAbort);
        sock.destroy();
      }
      input.signal?.throwIfAborted();
      await ctr.cleanup().catch(bestEffort("removing a RUN step's runtime state"));
      created = false;
      await layers.unmount(key);
      if (exitCode !== 0) return { exitCode };
      const upper = path.join(layers.snapshotDir(key), "upper");
      await input.commit(fss.readdirSync(upper).length === 0 ? null : upper);
      return { exitCode };
    } finally {
      if (created) await ctr.cleanup().catch(bestEffort("removing a RUN step's runtime state"));
      await net?.release().catch(bestEffort("releasing a RUN step's network"));
      await layers.removeSnapshot(key).catch(bestEffort("removing a RUN step's snapshot"));
      await fs.rm(work, { recursive: true, force: true }).catch(bestEffort("removing a RUN step's work dir"));
    }
  }

  /**
   * The chain a RUN snapshot sits on: the parent, or an init layer above it
   * holding the mount points the image lacks. The init layer's bytes depend
   * only on what is missing, so it is registered once per parent.
   */
  private async baseFor(key: string, parent: Digest | null): Promise<Digest | null> {
    const memo = parent ?? "";
    if (this.initChains.has(memo)) {
      const c = this.initChains.get(memo) ?? null;
      if (c === parent || c === null || (await this.store.layers.has(c))) return c;
    }
    const layers = this.store.snapshots;
    await layers.prepare(key, parent);
    let missingDirs: string[];
    let missingFiles: string[];
    let etcMissing: boolean;
    try {
      const root = await layers.mount(key);
      const isDir = (p: string): boolean => fss.lstatSync(path.join(root, p), { throwIfNoEntry: false })?.isDirectory() ?? false;
      etcMissing = !isDir("etc");
      missingDirs = STUB_DIRS.filter((d) => !isDir(d));
      missingFiles = STUB_FILES.filter((f) => fss.lstatSync(path.join(root, f), { throwIfNoEntry: false }) === undefined);
      if (etcMissing && fss.lstatSync(path.join(root, "etc"), { throwIfNoEntry: false }) !== undefined) {
        // /etc is a symlink or a file: leave it to the runtime.
        missingFiles = [];
        etcMissing = false;
      }
    } finally {
      await layers.unmount(key);
    }
    if (missingDirs.length === 0 && missingFiles.length === 0) {
      this.initChains.set(memo, parent);
      return parent;
    }
    const entries: Buffer[] = [];
    for (const d of [...(etcMissing ? ["etc"] : []), ...missingDirs]) entries.push(ustarHeader(`${d}/`, "5", 0o755));
    for (const f of missingFiles) entries.push(ustarHeader(f, "0", 0o644));
    entries.push(Buffer.alloc(1024));
    const info = await this.store.gcLock.withShared(() => this.store.layers.register(Readable.from([Buffer.concat(entries)]), parent));
    this.initChains.set(memo, info.chainId);
    return info.chainId;
  }
}

const HOSTS = [...DEFAULT_HOSTS_LINES, ""].join("\n");

function readHost(file: string, fallback: string): string {
  try {
    return fss.readFileSync(file, "utf8");
  } catch {
    return fallback;
  }
}

/** Split Docker's multiplexed attach stream (8-byte headers) into stdout and stderr chunks. */
function demux(sock: Socket, stdout: (b: Buffer) => void, stderr: (b: Buffer) => void, backpressure?: () => Promise<void> | undefined): Promise<void> {
  let buf: Buffer = Buffer.alloc(0);
  return new Promise((resolve) => {
    sock.on("data", (chunk: Buffer) => {
      const wait = backpressure?.();
      if (wait) {
        sock.pause();
        void wait.finally(() => sock.resume());
      }
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 8) {
        const size = buf.readUInt32BE(4);
        if (buf.length < 8 + size) break;
        const stream = buf[0];
        const payload = buf.subarray(8, 8 + size);
        buf = buf.subarray(8 + size);
        if (payload.length === 0) continue;
        if (stream === 2) stderr(payload);
        else stdout(payload);
      }
    });
    sock.on("end", () => resolve());
    sock.on("close", () => resolve());
    sock.on("error", () => resolve());
  });
}

/** A ustar header for an empty file ("0") or a directory ("5"), owned by root, mtime 0 (deterministic bytes). */
function ustarHeader(name: string, type: "0" | "5", mode: number): Buffer {
  const b = Buffer.alloc(512);
  const octal = (off: number, len: number, v: number): void => {
    b.write(v.toString(8).padStart(len - 1, "0"), off, len - 1, "ascii");
  };
  b.write(name, 0, 100, "utf8");
  octal(100, 8, mode);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, 0);
  octal(136, 12, 0);
  b.write("        ", 148, 8, "ascii");
  b.write(type, 156, 1, "ascii");
  b.write("ustar\u000000", 257, 8, "ascii");
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return b;
}
