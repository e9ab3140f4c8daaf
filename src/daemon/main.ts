#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2 node --max-semi-space-size=1
/**
 * berthd: the daemon. Parses dockerd-style flags merged with daemon.json
 * (config.ts), takes the data-root lock, serves the Docker Engine API on the
 * requested sockets (fd:// ones from systemd: systemd.ts) while the engine starts,
 * tells systemd when it is ready or stopping, and reloads on SIGHUP (reload.ts).
 *
 * The #! line is how `berthd` (the package's bin entry, the systemd unit in contrib/systemd/) gets its memory
 * settings; they must be there before node starts (bench/NOTES.md has the numbers):
 * - glibc.malloc.mmap_threshold=128 KiB, fixed: without it glibc raises the threshold to the largest
 *   buffer ever freed (the 1 MiB chunks of a pull), later big buffers come from the brk heap, and
 *   that heap, pinned by small long-lived blocks, never shrinks (~45 MiB kept after a pull).
 * - glibc.malloc.arena_max=2: libuv's pool threads (zlib, fs) otherwise each get an arena of their own.
 * - --max-semi-space-size=1 (MiB): V8's young generation otherwise grows to 32 MiB under a burst of
 *   requests and stays there; a daemon's requests allocate little that lives.
 * `node dist/src/daemon/main.js` runs without them (as the tests do): same behaviour, more memory.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { promises as fs, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import type http from "node:http";
import { type TlsOptions, makeApiServer } from "../api/index.js";
import type { Engine } from "../engine/index.js";
import { errnoCode, messageOf } from "../util/errors.js";
import { type IdMap, resolveRemap } from "../util/idmap.js";
import { atomicWriteFile, ensureDir, mkdirp } from "../util/fsutil.js";
import { lockDataRoot } from "./datalock.js";
import { tightenDataRoot } from "./roots.js";
import { type LogLevel, type Logger, makeLogger } from "../util/log.js";
import { reportBestEffortTo } from "../util/besteffort.js";
import { type FlagValues, type Settings, DEFAULTS, DEFAULT_CONFIG_FILE, loadSettings } from "./config.js";
import { makeReloader } from "./reload.js";
import { checkDns, checkDnsSearch, parsePool, parseUlimit } from "./config-defaults.js";
import { sdNotify, selectFds, takeSystemdEnv } from "./systemd.js";
import { run } from "../util/exec.js";

const program = new Command("berthd")
  .description("Berth container engine daemon (serves the Docker Engine API)")
  .option("--config-file <file>", "daemon configuration file (dockerd's daemon.json keys)", DEFAULT_CONFIG_FILE)
  .option("--validate", "validate the configuration (flags and file) and exit")
  .addOption(new Option("-H, --host <socket>", "daemon socket to listen on (unix://PATH, tcp://127.0.0.1:PORT, fd://[NAME|N] from systemd), repeatable").argParser(repeat))
  .option("--data-root <dir>", "root directory of persistent state", DEFAULTS.dataRoot)
  .option("--exec-root <dir>", "root directory for execution state", DEFAULTS.execRoot)
  .option("-p, --pidfile <file>", "path to the daemon's PID file (default: <exec-root>/berthd.pid)")
  .option("-D, --debug", "enable debug mode", false)
  .option("-l, --log-level <level>", "log level (debug, info, warn, error, fatal)", DEFAULTS.logLevel)
  .option("--default-runtime <name>", "default OCI runtime for containers (runc, crun, or a daemon.json runtimes name)", DEFAULTS.defaultRuntime)
  .option("-G, --group <name>", "group for the unix socket", DEFAULTS.group)
  .option("--tls", "use TLS on tcp:// hosts (implied by --tlsverify)")
  .option("--tlsverify", "use TLS and require client certificates signed by --tlscacert")
  .option("--tlscacert <file>", "trust client certificates signed by this CA")
  .option("--tlscert <file>", "the server's TLS certificate")
  .option("--tlskey <file>", "the server's TLS key")
  .option("--dashboard-addr <host:port>", "serve the web dashboard on this address (off by default; a non-loopback one needs --tlscert/--tlskey)")
  .option("--dashboard-read-only", "the dashboard shows, but changes nothing")
  .option("--dashboard-registry <url>", "the dashboard's registry view shows this loopback registry (http://127.0.0.1:PORT; credentials from root's docker config.json)")
  .option("--userns-remap <user>", 'run containers in a user namespace mapped to this user\'s subordinate ids ("default" creates and uses the user dockremap; user[:group] or uid[:gid])')
  .option("--bip <cidr>", "the default bridge's address and prefix, e.g. 172.18.0.1/16 (when berth0 does not exist yet)")
  .addOption(new Option("--insecure-registry <host>", "registry reachable over plain HTTP (host:port or CIDR), repeatable").argParser(repeat))
  .addOption(new Option("--registry-mirror <url>", "preferred Docker Hub mirror (http:// or https:// URL), repeatable").argParser(repeat))
  .option("--certs-dir <dir>", "per-registry TLS and hosts.toml folders (default: /etc/berth/certs.d, then /etc/docker/certs.d)")
  .option("--log-driver <name>", `default log driver of containers (json-file, local, journald, syslog, none; default ${DEFAULTS.logDriver})`)
  .addOption(
    new Option("--log-opt <key=value>", "default log driver option, repeatable").argParser((v: string, prev: Record<string, string> | undefined) => {
      const i = v.indexOf("=");
      return { ...(prev ?? {}), [i < 0 ? v : v.slice(0, i)]: i < 0 ? "" : v.slice(i + 1) };
    }),
  )
  .addOption(new Option("--label <key=value>", "a label of the daemon (docker info), repeatable").argParser(repeat))
  .addOption(new Option("--max-concurrent-downloads <n>", `layers downloaded at once per pull (default ${DEFAULTS.maxConcurrentDownloads})`).argParser(int))
  .addOption(new Option("--max-concurrent-uploads <n>", `layers uploaded at once per push (default ${DEFAULTS.maxConcurrentUploads})`).argParser(int))
  .addOption(new Option("--dns <ip>", "DNS server of containers that name none (repeatable)").argParser(checked(checkDns)))
  .addOption(new Option("--dns-search <domain>", "DNS search domain of containers that name none (repeatable)").argParser(checked(checkDnsSearch)))
  .addOption(new Option("--dns-opt <option>", "resolv.conf option of containers that name none (repeatable)").argParser(repeat))
  .addOption(new Option("--default-ulimit <name=soft[:hard]>", "a ulimit of containers that do not set it (repeatable)").argParser(checked(parseUlimit)))
  .addOption(new Option("--default-address-pool <base=CIDR,size=N>", "subnets for networks created without --subnet (repeatable, in order)").argParser(checked(parsePool)))
  .version("0.1.0", "-v, --version");

/** A repeatable flag whose values are parsed (errors in dockerd's words). */
function checked<T>(parse: (v: string) => T): (v: string, prev: T[] | undefined) => T[] {
  return (v, prev) => {
    try {
      return [...(prev ?? []), parse(v)];
    } catch (e) {
      throw new InvalidArgumentError(messageOf(e));
    }
  };
}

function repeat(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

function int(v: string): number {
  if (!/^-?\d+$/.test(v)) throw new InvalidArgumentError(`strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

program.parse();
const opts = program.opts<{ configFile: string; validate?: boolean; certsDir?: string }>();
const flagValues: FlagValues = {
  values: program.opts(),
  fromCli: (field) => program.getOptionValueSource(field) === "cli",
};
const configRequired = flagValues.fromCli("configFile");

/** dockerd's check: every directory above the data root must let the remapped root through, or no container starts. */
async function checkTraversable(dir: string, who: { uid: number; gid: number }): Promise<void> {
  for (let d = dir; ; d = path.dirname(d)) {
    const st = await fs.stat(d);
    const bit = st.uid === who.uid ? 0o100 : st.gid === who.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new Error(`a directory in your data-root path (${d}) restricts access to the remapped root uid/gid; please fix by allowing 'o+x' permissions on existing directories`);
    }
    if (d === path.dirname(d)) return;
  }
}

async function main(): Promise<void> {
  const { settings: flags } = await loadSettings(flagValues, opts.configFile, configRequired);
  if (opts.validate) {
    // dockerd 23+ (20.10 has no --validate) prints this on stderr.
    process.stderr.write("configuration OK\n");
    return;
  }
  const systemd = takeSystemdEnv();
  const notify = (lines: string[]) => sdNotify(systemd.notifySocket, lines);
  const log = makeLogger(() => (flags.debug ? "debug" : (flags.logLevel as LogLevel)));
  reportBestEffortTo((m) => log.debug(m));
  // Until the reloader is in place (systemd reloads only after READY=1), a SIGHUP must not kill the daemon.
  let onHup = () => log.warn("SIGHUP during start-up: configuration not reloaded");
  process.on("SIGHUP", () => onHup());
  const hosts = flags.host && flags.host.length > 0 ? flags.host : [`unix://${path.join(flags.execRoot, "berth.sock")}`];
  if (flags.host === undefined && flags.execRoot !== "/run/berth") hosts[0] = `unix://${path.join(flags.execRoot, "berth.sock")}`;
  const dataRoot = path.resolve(flags.dataRoot);
  const execRoot = path.resolve(flags.execRoot);

  try {
    await mkdirp(dataRoot, 0o711); // missing parents as dockerd makes them; the root itself becomes 0710 below
    await fs.access(dataRoot, fs.constants.W_OK);
  } catch (e) {
    throw new Error(`data-root ${dataRoot} or exec-root ${execRoot} is unusable: ${messageOf(e)}`);
  }
  // First of all, before anything under the roots is touched: a daemon that loses goes without a trace.
  const releaseLock = lockDataRoot(dataRoot);
  try {
    // 0711: the default API socket (0660, group berth) and the pid file live here; everything below is root's.
    await ensureDir(execRoot, 0o711);
  } catch (e) {
    throw new Error(`data-root ${dataRoot} or exec-root ${execRoot} is unusable: ${messageOf(e)}`);
  }
  const pidfile = flags.pidfile ?? path.join(execRoot, "berthd.pid");
  await atomicWriteFile(pidfile, `${process.pid}\n`);

  // --userns-remap: state of remapped containers lives apart, in <data-root>/<uid>.<gid> (as under dockerd),
  // its layers unpacked with the mapped ids; the remapped root may traverse it and the data root (0710, its group).
  let storeRoot = dataRoot;
  let idMap: IdMap | undefined;
  if (flags.usernsRemap !== undefined) {
    idMap = await resolveRemap(flags.usernsRemap);
    storeRoot = path.join(dataRoot, idMap.dirName);
  }
  await tightenDataRoot(dataRoot, storeRoot, idMap?.root.gid ?? 0);
  if (idMap) {
    await checkTraversable(dataRoot, idMap.root);
    await ensureDir(storeRoot, 0o710, idMap.root.gid);
    log.info(`user namespaces: container root is host uid ${idMap.root.uid}, gid ${idMap.root.gid}; data in ${storeRoot}`);
  }

  // The default log configuration is checked before the sockets listen (a bad one fails the start, as
  // in dockerd); the engine's modules load this early only when there is one to check.
  if (flags.logDriver !== DEFAULTS.logDriver || Object.keys(flags.logOpt).length > 0) {
    const { validateDaemonLogConfig } = await import("../engine/index.js");
    validateDaemonLogConfig(flags.logDriver, flags.logOpt);
  }
  // A misnamed runtime fails the start before the sockets listen (the engine probes its version later).
  const runtimeBin = flags.runtimes[flags.defaultRuntime]?.path ?? flags.defaultRuntime;
  if (!(await onPath(runtimeBin))) throw new Error(`OCI runtime ${runtimeBin} not found: install Debian's runc (or crun)`);

  // The sockets listen while the engine starts (its modules load, its state is read and reconciled):
  // /_ping answers at once, every other request waits for the engine (api/index.ts).
  // The engine starts once they listen: its module loads would otherwise hold up the listening.
  let go: () => void = () => undefined;
  const engineReady = new Promise<void>((resolve) => (go = resolve)).then(() => startEngine(flags, storeRoot, execRoot, log, idMap));
  engineReady.catch(() => undefined); // awaited below

  const servers: http.Server[] = [];
  const sockets: string[] = [];
  const usedFds = new Set<number>();
  for (const h of hosts) {
    const server = makeApiServer(engineReady, log);
    if (h.startsWith("fd://")) {
      // systemd socket activation: the socket unit owns the socket (path, mode, group).
      const tls = await tlsOptions(flags);
      for (const f of selectFds(systemd.fds, h.slice(5))) {
        const fdServer = makeApiServer(engineReady, log, tls);
        await listen(fdServer, { fd: f.fd });
        usedFds.add(f.fd);
        servers.push(fdServer);
        log.info(`API listening on ${h} (fd ${f.fd}, ${f.name})`);
      }
      continue;
    } else if (h.startsWith("unix://") || h.startsWith("/")) {
      const p = h.startsWith("unix://") ? h.slice(7) : h;
      await prepareUnixSocket(p);
      await listen(server, { path: p });
      await fs.chmod(p, 0o660);
      let gid = groupId(flags.group);
      if (gid === undefined && flags.group === "berth") {
        // Like docker's package creating the docker group: members may use the socket.
        await run("groupadd", ["--system", "berth"]).catch((e: unknown) => log.warn(`cannot create group berth: ${messageOf(e)}`));
        gid = groupId(flags.group);
      }
      if (gid !== undefined) await fs.chown(p, 0, gid);
      sockets.push(p);
    } else if (h.startsWith("tcp://")) {
      const u = new URL(h.replace(/^tcp:/, "http:"));
      const hostname = u.hostname.replace(/^\[|\]$/g, "");
      const tls = await tlsOptions(flags);
      if (!tls && !isLoopback(hostname)) {
        throw new Error(`refusing to listen on ${h} without TLS: a remote API on a non-loopback address gives root to anyone who can reach it (use --tlsverify --tlscacert --tlscert --tlskey)`);
      }
      if (tls && !tls.verify) log.warn(`API on ${h} uses TLS without client verification: anyone who can reach it has root (use --tlsverify)`);
      const tcpServer = makeApiServer(engineReady, log, tls);
      await listen(tcpServer, { host: hostname, port: Number(u.port || (tls ? 2376 : 2375)) });
      servers.push(tcpServer);
      log.info(`API listening on ${h}${tls ? (tls.verify ? " (TLS, client certificates required)" : " (TLS)") : ""}`);
      continue;
    } else {
      throw new Error(`invalid host ${h}: use unix://PATH or tcp://HOST:PORT`);
    }
    servers.push(server);
    log.info(`API listening on ${h}`);
  }
  for (const f of systemd.fds) if (!usedFds.has(f.fd)) log.warn(`socket-activated fd ${f.fd} (${f.name}) is not used by any -H fd://`);
  if (flags.dashboardAddr) {
    if (!sockets[0]) throw new Error("--dashboard-addr needs a unix:// host (the dashboard talks to berthd's own socket)");
    // Loaded only when asked for (off by default): a daemon without a dashboard never loads its server or ws.
    const { startDashboard } = await import("../dashboard/index.js");
    const dash = await startDashboard({ addr: flags.dashboardAddr, readOnly: flags.dashboardReadOnly ?? false, upstream: { socketPath: sockets[0] }, tlsFiles: { cert: flags.tlscert, key: flags.tlskey }, tokenFile: path.join(execRoot, "dashboard.token"), registry: flags.dashboardRegistry });
    log.info(`dashboard: ${dash.url}${flags.dashboardReadOnly ? " (read-only)" : ""}`);
  }

  // Clients are connected from here on, also while the engine starts: the handlers are in place first.
  const started: { engine?: Engine } = {};
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`received ${sig}, shutting down (containers keep running)`);
    started.engine?.shutdown();
    for (const s of servers) {
      s.close();
      s.closeAllConnections();
    }
    void (async () => {
      await notify(["STOPPING=1"]).catch((e: unknown) => log.warn(messageOf(e)));
      for (const p of sockets) await fs.rm(p, { force: true });
      await fs.rm(pidfile, { force: true });
      releaseLock();
      process.exit(0);
    })();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGPIPE", () => undefined);
  // A connection torn down by a client must not take the daemon (and every attach) with it.
  process.on("uncaughtException", (e: unknown) => {
    const code = errnoCode(e);
    log.error(`uncaught exception: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    if (code !== "ECONNRESET" && code !== "EPIPE" && code !== "ERR_STREAM_DESTROYED" && code !== "ERR_STREAM_WRITE_AFTER_END") process.exit(70);
  });
  // A promise nobody awaited (one request's background work) failed: log it, keep serving.
  // Without this handler node turns it into an uncaught exception and the daemon exits.
  process.on("unhandledRejection", (e: unknown) => {
    log.error(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  });
  go();
  const engine = await engineReady;
  started.engine = engine;
  log.info(`berthd 0.1.0 started (data-root ${dataRoot}, exec-root ${execRoot}, runtime ${flags.defaultRuntime})`);
  // The engine's state is loaded and every socket answers: ready for systemd.
  await notify(["READY=1", "STATUS=serving the Docker Engine API"]).catch((e: unknown) => log.warn(messageOf(e)));
  const reload = makeReloader({ flags: flagValues, file: opts.configFile, required: configRequired, current: flags, engine, log, notify });
  onHup = () => void reload();
}

/** The engine: its modules loaded, constructed and initialised. */
async function startEngine(flags: Settings, storeRoot: string, execRoot: string, log: Logger, idMap: IdMap | undefined): Promise<Engine> {
  const { Engine, proxyConfigFromEnv } = await import("../engine/index.js");
  const engine = new Engine({
    dataRoot: storeRoot,
    execRoot,
    runtime: flags.defaultRuntime,
    runtimes: Object.fromEntries(Object.entries(flags.runtimes).map(([n, r]) => [n, r.path])),
    log,
    debug: flags.debug,
    insecureRegistries: flags.insecureRegistry,
    registryMirrors: flags.registryMirror,
    labels: flags.label,
    maxConcurrentDownloads: flags.maxConcurrentDownloads,
    maxConcurrentUploads: flags.maxConcurrentUploads,
    logDriver: flags.logDriver,
    logOpts: flags.logOpt,
    // As dockerd: HTTP_PROXY, HTTPS_PROXY, NO_PROXY (or lower case) from berthd's environment; daemon.json's "proxies" win.
    proxies: { ...proxyConfigFromEnv(), ...flags.proxies },
    ...(opts.certsDir !== undefined ? { certsDirs: [path.resolve(opts.certsDir)] } : {}),
    dns: flags.dns,
    dnsSearch: flags.dnsSearch,
    dnsOptions: flags.dnsOpt,
    defaultUlimits: Object.values(flags.defaultUlimit),
    addressPools: flags.defaultAddressPool,
    ...(flags.bip ? { bridgeIp: flags.bip } : {}),
    ...(idMap ? { idMap } : {}),
  });
  await engine.init();
  return engine;
}

/** An executable file: the path given, or a name found on PATH. */
async function onPath(bin: string): Promise<boolean> {
  const dirs = bin.includes("/") ? [""] : (process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":");
  for (const d of dirs) {
    try {
      await fs.access(d === "" ? bin : path.join(d, bin), fs.constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

async function tlsOptions(flags: Settings): Promise<TlsOptions | undefined> {
  if (!flags.tls && !flags.tlsverify) return undefined;
  if (!flags.tlscert || !flags.tlskey) throw new Error("--tls/--tlsverify need --tlscert and --tlskey");
  if (flags.tlsverify && !flags.tlscacert) throw new Error("--tlsverify needs --tlscacert (the CA that signs client certificates)");
  const read = (f: string) => fs.readFile(f).catch((e: unknown) => {
    throw new Error(`cannot read ${f}: ${messageOf(e)}`);
  });
  return {
    cert: await read(flags.tlscert),
    key: await read(flags.tlskey),
    ...(flags.tlscacert ? { ca: await read(flags.tlscacert) } : {}),
    verify: flags.tlsverify ?? false,
  };
}

function listen(server: http.Server, opts: net.ListenOptions | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

async function prepareUnixSocket(p: string): Promise<void> {
  await mkdirp(path.dirname(p), 0o755);
  try {
    await fs.lstat(p);
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return;
    throw e;
  }
  // Something is there: a live daemon answers, a stale socket does not.
  const alive = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`socket ${p} is in use by another daemon (is berthd or dockerd already running?)`);
  await fs.rm(p, { force: true });
}

function groupId(name: string): number | undefined {
  try {
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name && f[2]) return Number(f[2]);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function isLoopback(h: string): boolean {
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

main().catch((e: unknown) => {
  process.stderr.write(`berthd: ${messageOf(e)}\n`);
  process.exit(1);
});
