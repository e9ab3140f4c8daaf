/**
 * Container commands: run, create, start, stop, kill, restart, rm, ps, logs,
 * wait, rename, exec, container prune, container inspect.
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { type Attachment, type AttachStreams, attachContainer, checkTty, followAttachment, forwardSignals, monitorTtySize, startExecAttached } from "../attach.js";
import { type Client, DaemonError, copyOutput, readBody } from "../client.js";
import { FlagValueError, MultiError, StatusError, collect, confirm, errln, filtersJson, forEachArg, getClient, out, outln, parseIntStrict, filterCollector } from "../context.js";
import { ago, ellipsis, familiarReference, formatGoTime, getTimestamp, goQuote, humanSize, renderFormatted, shortId } from "../format.js";
import { type BuildContext, type CreateRequest, type RunFlags, buildCreateRequest, buildEnv } from "../runopts.js";
import { validatePull } from "../runflags.js";
import { existsSync, writeFileSync } from "node:fs";
import { pullImage } from "./images.js";
import { addContainerOptions } from "./createopts.js";
import { inspectOutput } from "./system.js";

const enc = encodeURIComponent;

// --- API helpers ------------------------------------------------------------------

export interface WaitResult {
  StatusCode: number;
  Error?: { Message?: string } | null;
}

/**
 * POST /containers/{id}/wait. Resolves once the daemon answered the headers
 * (the wait is registered), with a promise of the result.
 */
export async function requestWait(client: Client, id: string, condition: "not-running" | "next-exit" | "removed"): Promise<{ result: Promise<WaitResult> }> {
  const res: IncomingMessage = await client.request("POST", `/containers/${enc(id)}/wait`, { query: { condition } });
  const result = readBody(res).then((b) => {
    const text = b.toString("utf8").trim();
    if (text === "") throw new Error("the daemon closed the wait request without a result");
    return JSON.parse(text) as WaitResult;
  });
  result.catch(() => undefined);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { result };
}

interface ContainerJSON {
  Id: string;
  Name: string;
  Config: { Tty: boolean; OpenStdin: boolean; AttachStdin?: boolean; Image?: string };
  HostConfig: { AutoRemove?: boolean };
  State: { Running: boolean; ExitCode: number };
}

export async function inspectContainer(client: Client, id: string): Promise<ContainerJSON> {
  return client.get<ContainerJSON>(`/containers/${enc(id)}/json`);
}

/** docker's toStatusError for run: 127 (not found), 126 (cannot invoke), else 125, with the --help hint. */
function runFailure(e: unknown, command = "run"): Error {
  if (e instanceof FlagValueError) return e;
  if (e instanceof StatusError) {
    if (e.status !== 125 || e.message === "" || e.message.startsWith("berth: ")) return e;
    return new StatusError(125, `berth: ${e.message}\n\nRun 'berth ${command} --help' for more information`);
  }
  const msg = e instanceof Error ? e.message : String(e);
  let code = 125;
  if (/executable file not found|no such file or directory|system cannot find the file specified/.test(msg)) code = 127;
  else if (/permission denied|is a directory/.test(msg)) code = 126;
  return new StatusError(code, `berth: ${msg}\n\nRun 'berth ${command} --help' for more information`);
}

/** How run/create read local files and the environment. */
function localContext(flags: RunFlags): BuildContext {
  const consoleSize: [number, number] | undefined = flags.tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : undefined;
  return { lookupEnv: (n) => process.env[n], readFile: (p) => readFileSync(p, "utf8"), consoleSize };
}

/** POST /containers/create, pulling the image first when the daemon does not have it. */
async function createContainer(client: Client, req: CreateRequest, flags: RunFlags): Promise<string> {
  const quiet = !!flags.quiet;
  const pull = validatePull(flags.pull ?? "missing");
  // docker checks the container id file before creating anything.
  if (flags.cidfile && existsSync(flags.cidfile)) throw new StatusError(125, `container ID file found, make sure the other container isn't running or delete ${flags.cidfile}`);
  const image = String(req.body.Image);
  const create = () => client.post<{ Id: string; Warnings?: string[] | null }>("/containers/create", { name: req.name, platform: req.platform }, req.body);
  let res: { Id: string; Warnings?: string[] | null };
  if (pull === "always") await pullImage(client, image, process.stderr, quiet, req.platform);
  try {
    res = await create();
  } catch (e) {
    if (pull !== "missing" || !(e instanceof DaemonError) || e.status !== 404 || !/image/i.test(e.daemonMessage)) throw e;
    if (!quiet) errln(`Unable to find image '${familiarReference(image)}' locally`);
    await pullImage(client, image, process.stderr, quiet, req.platform);
    res = await create();
  }
  for (const w of res.Warnings ?? []) errln(`WARNING: ${w}`);
  if (flags.cidfile) writeFileSync(flags.cidfile, res.Id, { flag: "wx" });
  return res.Id;
}

async function removeQuietly(client: Client, id: string): Promise<void> {
  try {
    await client.delete(`/containers/${enc(id)}`, { force: true });
  } catch {
    // Already removed by the daemon, or never created.
  }
}

// --- attached sessions ---------------------------------------------------------------

/**
 * The attached part of `run` and `start -a`: attach, register the wait, start,
 * pump the streams, and return the container's exit status.
 */
async function runAttached(
  client: Client,
  id: string,
  streams: AttachStreams,
  opts: { autoRemove: boolean; sigProxy: boolean; detachKeys?: string | undefined; start: () => Promise<void>; onStartError: (e: unknown) => Error },
): Promise<number> {
  const attachment: Attachment = await attachContainer(client, id, streams, opts.detachKeys);
  let waitResult: Promise<WaitResult>;
  try {
    waitResult = (await requestWait(client, id, opts.autoRemove ? "removed" : "next-exit")).result;
  } catch (e) {
    attachment.close();
    attachment.socket.destroy();
    throw e;
  }
  try {
    await opts.start();
  } catch (e) {
    attachment.close();
    attachment.socket.destroy();
    // docker waits for the daemon to remove an --rm container whose start failed;
    // removing it here as well means no wait can hang on a daemon that does not.
    if (opts.autoRemove) await removeQuietly(client, id);
    throw opts.onStartError(e);
  }
  const stopResize = streams.tty ? monitorTtySize(client, id) : () => undefined;
  const stopSignals = !streams.tty && opts.sigProxy ? forwardSignals(client, id) : () => undefined;
  await followAttachment(attachment, stopResize);
  let status: number;
  try {
    const r = await waitResult;
    if (r.Error?.Message) {
      errln(r.Error.Message);
      status = 125;
    } else status = r.StatusCode;
  } finally {
    stopSignals();
  }
  return status;
}

// --- run / create -----------------------------------------------------------------------

export function registerRun(parent: Command): void {
  const c = parent.command("run").description("Create and run a new container from an image").usage("[OPTIONS] IMAGE [COMMAND] [ARG...]");
  addContainerOptions(c)
    .option("-d, --detach", "Run container in background and print container ID")
    .option("--detach-keys <string>", "Override the key sequence for detaching a container")
    .option("--no-sig-proxy", "Do not proxy received signals to the process")
    .action(async (image: string, command: string[], flags: RunFlags) => {
      const client = getClient();
      let req: CreateRequest;
      try {
        req = buildCreateRequest(image, command, flags, localContext(flags));
      } catch (e) {
        throw runFailure(e);
      }
      const b = req.body;
      const streams: AttachStreams = { stdin: b.AttachStdin === true, stdout: b.AttachStdout === true, stderr: b.AttachStderr === true, tty: b.Tty === true };
      if (streams.stdin) checkTty(streams);
      let id: string;
      try {
        id = await createContainer(client, req, flags);
      } catch (e) {
        throw runFailure(e);
      }
      if (!streams.stdin && !streams.stdout && !streams.stderr) {
        try {
          await client.post(`/containers/${enc(id)}/start`);
        } catch (e) {
          if (flags.rm) await removeQuietly(client, id);
          throw runFailure(e);
        }
        outln(id);
        return;
      }
      let status: number;
      try {
        status = await runAttached(client, id, streams, {
          autoRemove: !!flags.rm,
          sigProxy: flags.sigProxy !== false,
          detachKeys: flags.detachKeys,
          start: async () => {
            await client.post(`/containers/${enc(id)}/start`);
          },
          onStartError: (e) => runFailure(e),
        });
      } catch (e) {
        throw runFailure(e);
      }
      if (status !== 0) throw new StatusError(status);
    });
}

export function registerCreate(parent: Command): void {
  const c = parent.command("create").description("Create a new container").usage("[OPTIONS] IMAGE [COMMAND] [ARG...]");
  addContainerOptions(c).action(async (image: string, command: string[], flags: RunFlags) => {
    let id: string;
    try {
      id = await createContainer(getClient(), buildCreateRequest(image, command, flags, localContext(flags)), flags);
    } catch (e) {
      throw e instanceof StatusError ? runFailure(e, "create") : e;
    }
    outln(id);
  });
}

// --- start / stop / kill / restart / rm / rename / wait ---------------------------------------

export function registerStart(parent: Command): void {
  parent
    .command("start")
    .description("Start one or more stopped containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .option("-a, --attach", "Attach STDOUT/STDERR and forward signals")
    .option("-i, --interactive", "Attach container's STDIN")
    .argument("<container...>")
    .action(async (containers: string[], flags: { attach?: boolean; interactive?: boolean }) => {
      const client = getClient();
      if (flags.attach || flags.interactive) {
        if (containers.length > 1) throw new Error("you cannot start and attach multiple containers at once");
        const info = await inspectContainer(client, containers[0] as string);
        const streams: AttachStreams = { stdin: !!flags.interactive && info.Config.OpenStdin, stdout: true, stderr: true, tty: info.Config.Tty };
        if (streams.stdin) checkTty(streams);
        const status = await runAttached(client, info.Id, streams, {
          autoRemove: !!info.HostConfig.AutoRemove,
          sigProxy: true,
          start: async () => {
            await client.post(`/containers/${enc(info.Id)}/start`);
          },
          onStartError: (e) => (e instanceof Error ? e : new Error(String(e))),
        });
        if (status !== 0) throw new StatusError(status);
        return;
      }
      const failed: string[] = [];
      for (const c of containers) {
        try {
          await client.post(`/containers/${enc(c)}/start`);
          outln(c);
        } catch (e) {
          errln(e instanceof Error ? e.message : String(e));
          failed.push(c);
        }
      }
      if (failed.length > 0) throw new Error(`Error: failed to start containers: ${failed.join(", ")}`);
    });
}

/** `stop` and `restart` take the same flags and differ only in the endpoint. */
function registerStopLike(parent: Command, verb: "stop" | "restart", description: string): void {
  parent
    .command(verb)
    .description(description)
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .option("-s, --signal <string>", "Signal to send to the container")
    .option("-t, --timeout <int>", "Seconds to wait before killing the container")
    .argument("<container...>")
    .action(async (containers: string[], flags: { signal?: string; timeout?: string }) => {
      const t = flags.timeout !== undefined ? parseIntStrict(flags.timeout, "-t, --timeout") : undefined;
      const client = getClient();
      await forEachArg(containers, async (c) => {
        await client.post(`/containers/${enc(c)}/${verb}`, { t, signal: flags.signal });
      });
    });
}

export function registerStop(parent: Command): void {
  registerStopLike(parent, "stop", "Stop one or more running containers");
}

export function registerRestart(parent: Command): void {
  registerStopLike(parent, "restart", "Restart one or more containers");
}

export function registerKill(parent: Command): void {
  parent
    .command("kill")
    .description("Kill one or more running containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .option("-s, --signal <string>", "Signal to send to the container")
    .argument("<container...>")
    .action(async (containers: string[], flags: { signal?: string }) => {
      const client = getClient();
      await forEachArg(containers, async (c) => {
        await client.post(`/containers/${enc(c)}/kill`, { signal: flags.signal });
      });
    });
}

export function registerRm(parent: Command, name = "rm"): Command {
  return parent
    .command(name)
    .description("Remove one or more containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .option("-f, --force", "Force the removal of a running container (uses SIGKILL)")
    .option("-v, --volumes", "Remove anonymous volumes associated with the container")
    .option("-l, --link", "Remove the specified link")
    .argument("<container...>")
    .action(async (containers: string[], flags: { force?: boolean; volumes?: boolean; link?: boolean }) => {
      const client = getClient();
      const errors: Error[] = [];
      for (const raw of containers) {
        const c = raw.replace(/^\/+|\/+$/g, "");
        if (c === "") {
          errors.push(new Error("Container name cannot be empty"));
          continue;
        }
        try {
          await client.delete(`/containers/${enc(c)}`, { force: flags.force || undefined, v: flags.volumes || undefined, link: flags.link || undefined });
          outln(raw);
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          if (flags.force && e instanceof DaemonError && e.status === 404) {
            errln(err.message);
            continue;
          }
          errors.push(err);
        }
      }
      if (errors.length > 0) throw new MultiError(errors);
    });
}

export function registerRename(parent: Command): void {
  parent
    .command("rename")
    .description("Rename a container")
    .usage("CONTAINER NEW_NAME")
    .argument("<container>")
    .argument("<new_name>")
    .action(async (oldName: string, newName: string) => {
      const o = oldName.trim();
      const n = newName.trim();
      if (o === "" || n === "") throw new Error("Error: Neither old nor new names may be empty");
      try {
        await getClient().post(`/containers/${enc(o)}/rename`, { name: n });
      } catch (e) {
        throw new Error(`${e instanceof Error ? e.message : String(e)}\nError: failed to rename container named ${oldName}`);
      }
    });
}

export function registerWait(parent: Command): void {
  parent
    .command("wait")
    .description("Block until one or more containers stop, then print their exit codes")
    .usage("CONTAINER [CONTAINER...]")
    .argument("<container...>")
    .action(async (containers: string[]) => {
      const client = getClient();
      await forEachArg(
        containers,
        async (c) => {
          const r = await (await requestWait(client, c, "not-running")).result;
          if (r.Error?.Message) throw new Error(r.Error.Message);
          outln(String(r.StatusCode));
        },
        false,
      );
    });
}

// --- exec ----------------------------------------------------------------------------------

interface ExecFlags {
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  env?: string[];
  envFile?: string[];
  user?: string;
  workdir?: string;
  privileged?: boolean;
  detachKeys?: string;
}

export function registerExec(parent: Command): void {
  parent
    .command("exec")
    .description("Execute a command in a running container")
    .usage("[OPTIONS] CONTAINER COMMAND [ARG...]")
    .option("-d, --detach", "Detached mode: run command in the background")
    .option("--detach-keys <string>", "Override the key sequence for detaching a container")
    .option("-e, --env <list>", "Set environment variables", collect)
    .option("--env-file <list>", "Read in a file of environment variables", collect)
    .option("-i, --interactive", "Keep STDIN open even if not attached")
    .option("--privileged", "Give extended privileges to the command")
    .option("-t, --tty", "Allocate a pseudo-TTY")
    .option("-u, --user <string>", "Username or UID (format: <name|uid>[:<group|gid>])")
    .option("-w, --workdir <string>", "Working directory inside the container")
    .argument("<container>")
    .argument("<command...>")
    .passThroughOptions()
    .action(async (container: string, command: string[], flags: ExecFlags) => {
      const client = getClient();
      // Inspect first, so that "no such container" wins over other errors (docker's order).
      await inspectContainer(client, container);
      const streams: AttachStreams = { stdin: !!flags.interactive && !flags.detach, stdout: !flags.detach, stderr: !flags.detach, tty: !!flags.tty };
      if (!flags.detach) checkTty(streams);
      const env = buildEnv(flags.env, flags.envFile, localContext({}));
      const consoleSize: [number, number] | undefined = flags.tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : undefined;
      const created = await client.post<{ Id: string }>(`/containers/${enc(container)}/exec`, undefined, {
        User: flags.user ?? "",
        Privileged: !!flags.privileged,
        Tty: !!flags.tty,
        ConsoleSize: consoleSize ?? null,
        AttachStdin: streams.stdin,
        AttachStdout: streams.stdout,
        AttachStderr: streams.stderr,
        ...(flags.detachKeys ? { DetachKeys: flags.detachKeys } : {}),
        Env: env,
        WorkingDir: flags.workdir ?? "",
        Cmd: command,
      });
      if (flags.detach) {
        await client.post(`/exec/${enc(created.Id)}/start`, undefined, { Detach: true, Tty: !!flags.tty, ...(consoleSize ? { ConsoleSize: consoleSize } : {}) });
        return;
      }
      const attachment = await startExecAttached(client, created.Id, streams, consoleSize);
      const stopResize = streams.tty ? monitorTtySize(client, created.Id, "exec") : () => undefined;
      await followAttachment(attachment, stopResize);
      const info = await client.get<{ ExitCode: number | null; Running: boolean }>(`/exec/${enc(created.Id)}/json`);
      const status = info.ExitCode ?? 0;
      if (status !== 0) throw new StatusError(status);
    });
}

// --- ps ------------------------------------------------------------------------------------

interface ContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image: string;
  ImageID?: string;
  Command: string;
  Created: number;
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] | null;
  SizeRw?: number;
  SizeRootFs?: number;
  Labels?: Record<string, string> | null;
  State: string;
  Status: string;
  Mounts?: { Name?: string; Source?: string; Type?: string; Driver?: string }[] | null;
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
}

const PS_HEADERS: Record<string, string> = {
  ID: "CONTAINER ID",
  Image: "IMAGE",
  Command: "COMMAND",
  CreatedAt: "CREATED AT",
  RunningFor: "CREATED",
  Ports: "PORTS",
  State: "STATE",
  Status: "STATUS",
  Size: "SIZE",
  Names: "NAMES",
  Labels: "LABELS",
  Label: "LABEL",
  Mounts: "MOUNTS",
  Networks: "NETWORKS",
  LocalVolumes: "LOCAL VOLUMES",
  Platform: "PLATFORM",
};

/** Docker's port column: "0.0.0.0:8080->80/tcp, 443/tcp". */
export function formatPorts(ports: ContainerSummary["Ports"]): string {
  if (!ports || ports.length === 0) return "";
  const sorted = [...ports].sort((a, b) => (a.PrivatePort - b.PrivatePort) || a.Type.localeCompare(b.Type) || (a.IP ?? "").localeCompare(b.IP ?? ""));
  const seen = new Set<string>();
  const out: string[] = [];
  for (const p of sorted) {
    let s: string;
    if (p.PublicPort) {
      const ip = p.IP ?? "";
      const host = ip.includes(":") ? `[${ip}]` : ip;
      s = `${host}:${p.PublicPort}->${p.PrivatePort}/${p.Type}`;
    } else s = `${p.PrivatePort}/${p.Type}`;
    if (!seen.has(s)) {
      seen.add(s);
      out.push(s);
    }
  }
  return out.join(", ");
}

/** The `--format` context of one `ps` row (docker's ContainerContext). */
export function psContext(c: ContainerSummary, trunc: boolean, now = Date.now()): Record<string, unknown> {
  const names = (c.Names ?? []).map((n) => n.replace(/^\//, ""));
  const shownNames = trunc ? names.filter((n) => !n.includes("/")) : names;
  let image = c.Image || "<no image>";
  if (trunc) {
    if (image.startsWith("sha256:") || (c.ImageID && shortId(c.ImageID) === shortId(image))) image = shortId(image);
    else image = image.replace(/@sha256:[0-9a-f]+$/, "");
  }
  const labels = c.Labels ?? {};
  let size = humanSize(c.SizeRw ?? 0);
  if ((c.SizeRootFs ?? 0) > 0) size += ` (virtual ${humanSize(c.SizeRootFs ?? 0)})`;
  const networks = Object.keys(c.NetworkSettings?.Networks ?? {}).sort();
  const mounts = (c.Mounts ?? []).map((m) => (m.Name && m.Type === "volume" ? (trunc ? ellipsis(m.Name, 15) : m.Name) : m.Source ?? "")).filter((m) => m !== "");
  const localVolumes = (c.Mounts ?? []).filter((m) => m.Driver === "local").length;
  // Keys in sorted order so `{{json .}}` matches docker's output.
  return {
    Command: goQuote(trunc ? ellipsis(c.Command, 20) : c.Command),
    CreatedAt: formatGoTime(c.Created),
    ID: trunc ? shortId(c.Id) : c.Id,
    Image: image,
    Label: (name: unknown) => labels[String(name)] ?? "",
    Labels: Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k] ?? ""}`)
      .join(","),
    LocalVolumes: String(localVolumes),
    Mounts: mounts.join(","),
    Names: shownNames.join(","),
    Networks: networks.join(","),
    Platform: null,
    Ports: formatPorts(c.Ports),
    RunningFor: ago(c.Created, now),
    Size: size,
    State: c.State,
    Status: c.Status,
  };
}

export function registerPs(parent: Command, name = "ps"): Command {
  return parent
    .command(name)
    .description("List containers")
    .usage("[OPTIONS]")
    .option("-a, --all", "Show all containers (default shows just running)")
    .option("-f, --filter <filter>", "Filter output based on conditions provided", filterCollector("-f, --filter"))
    .option("--format <string>", "Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')")
    .option("-n, --last <int>", "Show n last created containers (includes all states)")
    .option("-l, --latest", "Show the latest created container (includes all states)")
    .option("--no-trunc", "Don't truncate output")
    .option("-q, --quiet", "Only display container IDs")
    .option("-s, --size", "Display total file sizes")
    .action(async (flags: { all?: boolean; filter?: string[]; format?: string; last?: string; latest?: boolean; trunc: boolean; quiet?: boolean; size?: boolean }) => {
      let limit = flags.last !== undefined ? parseIntStrict(flags.last, "-n, --last") : -1;
      if (flags.latest) limit = 1;
      let format = flags.format ?? "";
      if (flags.quiet) format = "{{.ID}}";
      const wantSize = !!flags.size || (format !== "" && format.includes(".Size"));
      const list = await getClient().get<ContainerSummary[]>("/containers/json", {
        all: flags.all || undefined,
        limit: limit > 0 ? limit : undefined,
        size: wantSize || undefined,
        filters: filtersJson(flags.filter),
      });
      const defaultTable = `{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${flags.size ? "\t{{.Size}}" : ""}`;
      if (format === "") format = "table";
      const now = Date.now();
      out(renderFormatted(list.map((c) => psContext(c, flags.trunc !== false, now)), format, PS_HEADERS, defaultTable));
    });
}

// --- logs ------------------------------------------------------------------------------------

export function registerLogs(parent: Command): void {
  parent
    .command("logs")
    .description("Fetch the logs of a container")
    .usage("[OPTIONS] CONTAINER")
    .option("--details", "Show extra details provided to logs")
    .option("-f, --follow", "Follow log output")
    .option("--since <string>", 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .option("-n, --tail <string>", 'Number of lines to show from the end of the logs (default "all")', "all")
    .option("-t, --timestamps", "Show timestamps")
    .option("--until <string>", 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
    .argument("<container>")
    .action(async (container: string, flags: { details?: boolean; follow?: boolean; since?: string; tail: string; timestamps?: boolean; until?: string }) => {
      const client = getClient();
      const info = await inspectContainer(client, container);
      const stamp = (v: string | undefined, what: string): string | undefined => {
        if (!v) return undefined;
        try {
          return getTimestamp(v);
        } catch (e) {
          throw new Error(`invalid value for "${what}": ${(e as Error).message}`);
        }
      };
      const since = stamp(flags.since, "since");
      const until = stamp(flags.until, "until");
      const res = await client.request("GET", `/containers/${enc(info.Id)}/logs`, {
        query: { stdout: true, stderr: true, since, until, timestamps: flags.timestamps || undefined, follow: flags.follow || undefined, tail: flags.tail, details: flags.details || undefined },
      });
      const ct = String(res.headers["content-type"] ?? "");
      const mux = ct.includes("multiplexed") ? true : ct.includes("raw-stream") ? false : !info.Config.Tty;
      const stop = () => res.destroy();
      process.once("SIGINT", stop);
      try {
        await copyOutput(res, { mux, stdout: process.stdout, stderr: process.stderr });
      } finally {
        process.off("SIGINT", stop);
      }
    });
}

// --- prune / inspect ----------------------------------------------------------------------------

export function registerContainerPrune(parent: Command): void {
  parent
    .command("prune")
    .description("Remove all stopped containers")
    .option("--filter <filter>", 'Provide filter values (e.g. "until=<timestamp>")', filterCollector("--filter"))
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { filter?: string[]; force?: boolean }) => {
      if (!flags.force && !(await confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"))) return;
      const r = await getClient().post<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>("/containers/prune", { filters: filtersJson(flags.filter) });
      const deleted = r.ContainersDeleted ?? [];
      if (deleted.length > 0) outln(`Deleted Containers:\n${deleted.map((d) => `${d}\n`).join("")}`);
      outln(`Total reclaimed space: ${humanSize(deleted.length > 0 ? (r.SpaceReclaimed ?? 0) : 0, 4)}`);
    });
}

export function registerContainerInspect(parent: Command): void {
  parent
    .command("inspect")
    .description("Display detailed information on one or more containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .option("-s, --size", "Display total file sizes")
    .argument("<container...>")
    .action(async (containers: string[], flags: { format?: string; size?: boolean }) => {
      const client = getClient();
      await inspectOutput(containers, flags.format, async (c) => client.get(`/containers/${enc(c)}/json`, { size: flags.size || undefined }));
    });
}

/** `berth container ...` and the top-level shortcuts. */
export function registerContainerCommands(program: Command): void {
  const group = program.command("container").description("Manage containers").enablePositionalOptions();
  for (const p of [program, group]) {
    registerRun(p);
    registerCreate(p);
    registerStart(p);
    registerStop(p);
    registerRestart(p);
    registerKill(p);
    const rm = registerRm(p);
    if (p === group) rm.alias("remove");
    registerRename(p);
    registerWait(p);
    registerLogs(p);
    registerExec(p);
  }
  registerPs(program);
  registerPs(group, "ls").alias("ps").alias("list");
  registerContainerPrune(group);
  registerContainerInspect(group);
}
