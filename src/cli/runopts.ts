/**
 * `run`/`create` flags → the POST /containers/create body, the way the docker
 * CLI builds it (cli/command/container/opts.go), plus the argv normalisation
 * commander needs for docker's `--flag=false` booleans.
 */
import type { Command, Option } from "commander";
import { readFileSync } from "node:fs";
import { ramInBytes } from "./format.js";
import { FlagValueError, StatusError } from "./context.js";
import { type HealthFlags, buildHealthcheck, parseDevice, parseMount, parseTmpfs, parseUlimit, validateDns } from "./runflags.js";

export interface RunFlags extends HealthFlags {
  mount?: string[];
  tmpfs?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOption?: string[];
  link?: string[];
  ulimit?: string[];
  device?: string[];
  pull?: string;
  platform?: string;
  ip?: string;
  ip6?: string;
  networkAlias?: string[];
  volumesFrom?: string[];
  detachKeys?: string;
  cidfile?: string;
  cgroupns?: string;
  memoryReservation?: string;
  memorySwappiness?: string;
  oomKillDisable?: boolean;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetMems?: string;
  blkioWeight?: string;
  publishAll?: boolean;
  detach?: boolean;
  interactive?: boolean;
  tty?: boolean;
  rm?: boolean;
  name?: string;
  env?: string[];
  envFile?: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  label?: string[];
  labelFile?: string[];
  hostname?: string;
  domainname?: string;
  addHost?: string[];
  restart?: string;
  logOpt?: string[];
  logDriver?: string;
  privileged?: boolean;
  userns?: string;
  cgroupParent?: string;
  sysctl?: string[];
  oomScoreAdj?: string;
  pid?: string;
  ipc?: string;
  uts?: string;
  readOnly?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  stopSignal?: string;
  stopTimeout?: string;
  runtime?: string;
  init?: boolean;
  memory?: string;
  memorySwap?: string;
  cpus?: string;
  cpuShares?: string;
  cpusetCpus?: string;
  pidsLimit?: string;
  shmSize?: string;
  volume?: string[];
  network?: string;
  publish?: string[];
  expose?: string[];
  groupAdd?: string[];
  securityOpt?: string[];
  sigProxy?: boolean;
  attach?: string[];
  quiet?: boolean;
}

export interface CreateRequest {
  name: string | undefined;
  platform?: string | undefined;
  body: Record<string, unknown> & { HostConfig: Record<string, unknown> };
}

export interface BuildContext {
  lookupEnv: (name: string) => string | undefined;
  readFile: (path: string) => string;
  /** [rows, columns] of the local terminal when stdout is one. */
  consoleSize?: [number, number] | undefined;
}

const defaultContext: BuildContext = {
  lookupEnv: (n) => process.env[n],
  readFile: (p) => readFileSync(p, "utf8"),
};

const flagError = (msg: string): StatusError => new StatusError(125, msg);

/** opts.ParseEnvFile / label files: KEY=VALUE lines, `#` comments, bare names taken from the environment. */
export function parseKeyValueFile(text: string, file: string, lookup?: (name: string) => string | undefined): string[] {
  const out: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, "");
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    const name = eq >= 0 ? line.slice(0, eq) : line;
    if (name === "") throw flagError(`no variable name on line '${line}' in ${file}:${i + 1}`);
    if (/\s/.test(name)) throw flagError(`variable '${name.trim()}' contains whitespaces`);
    if (eq >= 0) out.push(line);
    else if (lookup) {
      const v = lookup(name.trim());
      if (v !== undefined) out.push(`${name.trim()}=${v}`);
    } else out.push(name);
  });
  return out;
}

/** opts.ValidateEnv: `-e NAME` takes NAME's value from the local environment when set. */
export function resolveEnv(e: string, lookup: (name: string) => string | undefined): string {
  if (e.includes("=")) {
    if (e.startsWith("=")) throw flagError(`invalid environment variable: ${e}`);
    return e;
  }
  const v = lookup(e);
  return v === undefined ? e : `${e}=${v}`;
}

function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf("=");
    if (i === 0) throw flagError(`invalid label '${l}': empty name`);
    if (i < 0) out[l] = "";
    else out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

export function parseRestartPolicy(s: string): { Name: string; MaximumRetryCount: number } {
  // docker 28 (opts.ParseRestartPolicy) only splits; the daemon judges the policy.
  if (s === "") return { Name: "", MaximumRetryCount: 0 };
  const i = s.indexOf(":");
  const name = i >= 0 ? s.slice(0, i) : s;
  const count = i >= 0 ? s.slice(i + 1) : "";
  if (i >= 0 && name === "") throw flagError("invalid restart policy format: no policy provided before colon");
  if (count !== "" && !/^[+-]?\d+$/.test(count)) throw flagError("invalid restart policy format: maximum retry count must be an integer");
  return { Name: name, MaximumRetryCount: count === "" ? 0 : Number(count) };
}

/** How pflag names a flag in errors: with its shorthand when it has one. */
const SHORTHANDS: Record<string, string> = { "--memory": "-m, --memory", "--cpu-shares": "-c, --cpu-shares" };
const flagName = (flag: string): string => SHORTHANDS[flag] ?? flag;

function intFlag(v: string, flag: string): number {
  if (!/^-?\d+$/.test(v.trim())) throw new FlagValueError(v, flagName(flag), `strconv.ParseInt: parsing "${v}": invalid syntax`);
  return Number(v);
}

function sizeFlag(v: string, flag: string): number {
  try {
    return ramInBytes(v);
  } catch {
    throw new FlagValueError(v, flagName(flag), `invalid size: '${v}'`);
  }
}

/** `-p [ip:][hostPort:]containerPort[/proto]` → exposed port key and binding. */
export function parsePublish(spec: string): { port: string; binding: { HostIp: string; HostPort: string } } {
  let proto = "tcp";
  let s = spec;
  const slash = s.lastIndexOf("/");
  if (slash >= 0) {
    proto = s.slice(slash + 1);
    s = s.slice(0, slash);
  }
  let ip = "";
  let hostPort = "";
  let containerPort: string;
  const v6 = s.match(/^\[([^\]]+)\]:(.*)$/);
  if (v6) {
    ip = v6[1] ?? "";
    s = v6[2] ?? "";
  }
  const parts = s.split(":");
  if (parts.length === 1) containerPort = parts[0] ?? "";
  else if (parts.length === 2) {
    hostPort = parts[0] ?? "";
    containerPort = parts[1] ?? "";
  } else if (parts.length === 3 && !v6) {
    ip = parts[0] ?? "";
    hostPort = parts[1] ?? "";
    containerPort = parts[2] ?? "";
  } else throw flagError(`invalid publish opts format (should be name=value but got '${spec}')`);
  if (!/^\d+(-\d+)?$/.test(containerPort)) throw flagError(`invalid containerPort: ${containerPort}`);
  if (hostPort !== "" && !/^\d+(-\d+)?$/.test(hostPort)) throw flagError(`invalid hostPort: ${hostPort}`);
  if (!["tcp", "udp", "sctp"].includes(proto)) throw flagError(`invalid proto: ${proto}`);
  return { port: `${containerPort}/${proto}`, binding: { HostIp: ip, HostPort: hostPort } };
}

/** `--env-file` contents, then `-e` values (docker's order). */
export function buildEnv(env: string[] | undefined, envFiles: string[] | undefined, ctx: BuildContext = defaultContext): string[] {
  const out: string[] = [];
  for (const file of envFiles ?? []) {
    let text: string;
    try {
      text = ctx.readFile(file);
    } catch (e) {
      throw flagError(`open ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
    }
    out.push(...parseKeyValueFile(text, file, ctx.lookupEnv));
  }
  for (const e of env ?? []) out.push(resolveEnv(e, ctx.lookupEnv));
  return out;
}

/** Build the create request from parsed flags, the image and the command. */
export function buildCreateRequest(image: string, cmd: string[], f: RunFlags, ctx: BuildContext = defaultContext): CreateRequest {
  if (f.rm && f.restart && f.restart !== "no") throw flagError("conflicting options: cannot specify both --restart and --rm");

  const attach = f.attach ?? [];
  for (const a of attach) if (!["stdin", "stdout", "stderr"].includes(a.toLowerCase())) throw new FlagValueError(a, "-a, --attach", "valid streams are STDIN, STDOUT and STDERR");
  if (f.detach && attach.length > 0) throw new StatusError(1, "conflicting options: cannot specify both --attach and --detach");
  let attachStdin: boolean;
  let attachStdout: boolean;
  let attachStderr: boolean;
  if (attach.length > 0) {
    attachStdin = attach.some((a) => a.toLowerCase() === "stdin");
    attachStdout = attach.some((a) => a.toLowerCase() === "stdout");
    attachStderr = attach.some((a) => a.toLowerCase() === "stderr");
  } else {
    attachStdin = !f.detach && !!f.interactive;
    attachStdout = !f.detach;
    attachStderr = !f.detach;
  }

  const env = buildEnv(f.env, f.envFile, ctx);
  const healthcheck = buildHealthcheck(f);

  const labelList: string[] = [];
  for (const file of f.labelFile ?? []) labelList.push(...parseKeyValueFile(ctx.readFile(file), file));
  labelList.push(...(f.label ?? []));

  const exposed: Record<string, object> = {};
  const portBindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of f.publish ?? []) {
    const { port, binding } = parsePublish(p);
    exposed[port] = {};
    (portBindings[port] ??= []).push(binding);
  }
  for (const e of f.expose ?? []) {
    const [range = "", proto = "tcp"] = e.split("/");
    const bad = range.split("-").find((x) => !/^\d+$/.test(x));
    if (bad !== undefined) throw flagError(`invalid range format for --expose: ${e}, error: strconv.ParseUint: parsing "${bad}": invalid syntax`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    if (!m) throw flagError(`invalid range format for --expose: ${e}, error: Invalid range specified for container port: ${range}`);
    const lo = Number(m[1]);
    const hi = m[2] !== undefined ? Number(m[2]) : lo;
    if (hi < lo) throw flagError(`invalid range format for --expose: ${e}, error: Invalid range specified for container port: ${range}`);
    for (let p = lo; p <= hi; p++) exposed[`${p}/${proto}`] = {};
  }

  const binds: string[] = [];
  const volumes: Record<string, object> = {};
  for (const v of f.volume ?? []) {
    if (v === "") throw flagError("invalid empty volume spec");
    const parts = v.split(":");
    if (parts.length === 1) volumes[v] = {};
    else binds.push(v);
  }

  const hc: Record<string, unknown> = {
    Binds: binds.length > 0 ? binds : null,
    ...(f.mount && f.mount.length > 0 ? { Mounts: f.mount.map(parseMount) } : {}),
    ...(f.tmpfs && f.tmpfs.length > 0 ? { Tmpfs: parseTmpfs(f.tmpfs) } : {}),
    ...(f.ulimit && f.ulimit.length > 0 ? { Ulimits: f.ulimit.map(parseUlimit) } : {}),
    ContainerIDFile: "",
    LogConfig: { Type: f.logDriver ?? "", Config: {} as Record<string, string> },
    NetworkMode: f.network ?? "default",
    PortBindings: portBindings,
    RestartPolicy: parseRestartPolicy(f.restart ?? "no"),
    AutoRemove: !!f.rm,
    VolumeDriver: "",
    VolumesFrom: f.volumesFrom ?? null,
    ConsoleSize: f.tty && ctx.consoleSize ? ctx.consoleSize : [0, 0],
    ...effectiveCaps(f.capAdd, f.capDrop),
    CgroupnsMode: f.cgroupns ?? "",
    Dns: (f.dns ?? []).map(validateDns),
    DnsOptions: f.dnsOption ?? [],
    DnsSearch: f.dnsSearch ?? [],
    ExtraHosts: (f.addHost ?? []).map(normalizeExtraHost),
    GroupAdd: f.groupAdd ?? null,
    IpcMode: f.ipc ?? "",
    Cgroup: "",
    Links: f.link ?? null,
    OomScoreAdj: f.oomScoreAdj !== undefined ? intFlag(f.oomScoreAdj, "--oom-score-adj") : 0,
    ...(f.sysctl ? { Sysctls: Object.fromEntries(f.sysctl.map(sysctlPair)) } : {}),
    PidMode: f.pid ?? "",
    Privileged: !!f.privileged,
    PublishAllPorts: !!f.publishAll,
    ReadonlyRootfs: !!f.readOnly,
    SecurityOpt: f.securityOpt ?? null,
    UTSMode: f.uts ?? "",
    UsernsMode: f.userns ?? "",
    ShmSize: f.shmSize !== undefined ? sizeFlag(f.shmSize, "--shm-size") : 0,
    Isolation: "",
    CpuShares: f.cpuShares !== undefined ? intFlag(f.cpuShares, "--cpu-shares") : 0,
    Memory: f.memory !== undefined ? sizeFlag(f.memory, "--memory") : 0,
    NanoCpus: f.cpus !== undefined ? parseCpus(f.cpus) : 0,
    CgroupParent: f.cgroupParent ?? "",
    BlkioWeight: f.blkioWeight !== undefined ? uint16Flag(f.blkioWeight, "--blkio-weight") : 0,
    CpuPeriod: f.cpuPeriod !== undefined ? intFlag(f.cpuPeriod, "--cpu-period") : 0,
    CpuQuota: f.cpuQuota !== undefined ? intFlag(f.cpuQuota, "--cpu-quota") : 0,
    CpusetCpus: f.cpusetCpus ?? "",
    CpusetMems: f.cpusetMems ?? "",
    Devices: (f.device ?? []).map(parseDevice),
    MemoryReservation: f.memoryReservation !== undefined ? sizeFlag(f.memoryReservation, "--memory-reservation") : 0,
    MemorySwap: f.memorySwap !== undefined ? (f.memorySwap === "-1" ? -1 : sizeFlag(f.memorySwap, "--memory-swap")) : 0,
    MaskedPaths: null,
    ReadonlyPaths: null,
  };
  if (f.pidsLimit !== undefined) hc["PidsLimit"] = intFlag(f.pidsLimit, "--pids-limit");
  if (f.memorySwappiness !== undefined) {
    const sw = intFlag(f.memorySwappiness, "--memory-swappiness");
    if (sw !== -1) hc["MemorySwappiness"] = sw;
  }
  if (f.oomKillDisable !== undefined) hc["OomKillDisable"] = f.oomKillDisable;
  if (f.init !== undefined) hc["Init"] = f.init;
  if (f.runtime !== undefined) hc["Runtime"] = f.runtime;
  const logConfig = hc["LogConfig"] as { Config: Record<string, string> };
  for (const o of f.logOpt ?? []) {
    const i = o.indexOf("=");
    if (i <= 0) throw flagError(`invalid key value pair format in log-opt: ${o}`);
    logConfig.Config[o.slice(0, i)] = o.slice(i + 1);
  }

  const body: CreateRequest["body"] = {
    Hostname: f.hostname ?? "",
    Domainname: f.domainname ?? "",
    User: f.user ?? "",
    AttachStdin: attachStdin,
    AttachStdout: attachStdout,
    AttachStderr: attachStderr,
    ...(Object.keys(exposed).length > 0 ? { ExposedPorts: exposed } : {}),
    Tty: !!f.tty,
    OpenStdin: !!f.interactive,
    StdinOnce: !!f.interactive && attachStdin,
    Env: env,
    Cmd: cmd.length > 0 ? cmd : null,
    Image: image,
    Volumes: volumes,
    WorkingDir: f.workdir ?? "",
    Entrypoint: f.entrypoint !== undefined ? [f.entrypoint] : null,
    OnBuild: null,
    Labels: parseLabels(labelList),
    ...(f.stopSignal !== undefined ? { StopSignal: f.stopSignal } : {}),
    ...(f.stopTimeout !== undefined ? { StopTimeout: intFlag(f.stopTimeout, "--stop-timeout") } : {}),
    ...(healthcheck ? { Healthcheck: healthcheck } : {}),
    HostConfig: hc,
    NetworkingConfig: { EndpointsConfig: endpointsConfig(f) },
  };
  return { name: f.name, platform: f.platform, body };
}

/** opts.EffectiveCapAddCapDrop: CAP_-prefixed upper case (ALL kept as is), adding beats dropping. */
export function effectiveCaps(add: string[] | undefined, drop: string[] | undefined): { CapAdd: string[] | null; CapDrop: string[] | null } {
  const norm = (l: string[] | undefined): string[] | null => {
    if (!l) return null;
    const out: string[] = [];
    for (const raw of l) {
      const c = raw.trim().toUpperCase();
      const n = c === "ALL" || c.startsWith("CAP_") ? c : `CAP_${c}`;
      if (!out.includes(n)) out.push(n);
    }
    return out;
  };
  const a = norm(add);
  const d = norm(drop);
  return { CapAdd: a, CapDrop: d && a ? d.filter((c) => !a.includes(c)) : d };
}

function uint16Flag(v: string, flag: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) > 65535) throw new FlagValueError(v, flag, `strconv.ParseUint: parsing "${v}": ${/^\d+$/.test(v.trim()) ? "value out of range" : "invalid syntax"}`);
  return Number(v);
}

/** --ip, --ip6 and --network-alias configure the endpoint on the --network given. */
function endpointsConfig(f: RunFlags): Record<string, unknown> {
  if (f.ip === undefined && f.ip6 === undefined && (f.networkAlias ?? []).length === 0) return {};
  const ipam = { ...(f.ip ? { IPv4Address: f.ip } : {}), ...(f.ip6 ? { IPv6Address: f.ip6 } : {}) };
  return {
    [f.network ?? "default"]: {
      ...(Object.keys(ipam).length > 0 ? { IPAMConfig: ipam } : {}),
      ...(f.networkAlias && f.networkAlias.length > 0 ? { Aliases: f.networkAlias } : {}),
    },
  };
}

function parseCpus(v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new FlagValueError(v, "--cpus", `failed to parse ${v} as a rational number`);
  return Math.round(n * 1e9);
}

function sysctlPair(kv: string): [string, string] {
  const i = kv.indexOf("=");
  if (i <= 0) throw new FlagValueError(kv, "--sysctl", `sysctl '${kv}' is not allowed`);
  return [kv.slice(0, i), kv.slice(i + 1)];
}

function normalizeExtraHost(h: string): string {
  // Docker accepts host:ip and host=ip; the API takes host:ip.
  const eq = h.indexOf("=");
  const colon = h.indexOf(":");
  const i = eq >= 0 ? eq : colon;
  if (i <= 0 || i === h.length - 1) throw new FlagValueError(h, "--add-host", `bad format for add-host: "${h}"`);
  return `${h.slice(0, i)}:${h.slice(i + 1)}`;
}

// --- argv normalisation ---------------------------------------------------------

function optionTakesValue(o: Option): boolean {
  return o.required || o.optional;
}

/**
 * Rewrite docker-style boolean assignments commander rejects — `--rm=true`,
 * `--detach=false`, `-d=false`, `--sig-proxy=false` — in the options that come
 * before the first positional argument (the image) of `cmd`.
 */
export function normalizeBoolArgs(cmd: Command, args: string[]): string[] {
  const longs = new Map<string, Option>();
  const shorts = new Map<string, Option>();
  const negatable = new Set<string>();
  for (const o of cmd.options as readonly Option[]) {
    if (o.negate && o.long) negatable.add(o.long);
    // A flag declared both ways (`--human`, `--no-human`) is found by its positive form.
    if (o.long && !(o.negate && longs.has(o.long.replace(/^--no-/, "--")))) longs.set(o.long.replace(/^--(no-)?/, "--"), o);
    if (o.short) shorts.set(o.short, o);
  }
  const out: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") break;
    if (!a.startsWith("-") || a === "-") break; // first positional: the rest belongs to the container
    const eq = a.indexOf("=");
    const flag = eq >= 0 ? a.slice(0, eq) : a;
    const o = flag.startsWith("--") ? longs.get(flag) : shorts.get(flag.length === 2 ? flag : "");
    if (o && !optionTakesValue(o) && eq >= 0) {
      const v = a.slice(eq + 1).toLowerCase();
      const truthy = ["true", "1", "t"].includes(v);
      const falsy = ["false", "0", "f"].includes(v);
      if (!truthy && !falsy) throw flagError(`invalid argument "${a.slice(eq + 1)}" for "${flag}" flag: strconv.ParseBool: parsing "${a.slice(eq + 1)}": invalid syntax`);
      const long = o.long ?? flag;
      const base = long.replace(/^--(no-)?/, "");
      if (o.negate) {
        // A default-true flag (`--sig-proxy`): false → --no-x, true → nothing.
        if (falsy) out.push(`--no-${base}`);
      } else if (truthy) out.push(`--${base}`);
      else if (negatable.has(`--no-${base}`)) out.push(`--no-${base}`); // `-H=false` with a `--no-human` twin
      continue;
    }
    if (o && optionTakesValue(o) && eq >= 0 && !flag.startsWith("--")) {
      // pflag reads `-e=FOO` as the value FOO; commander would keep the "=".
      out.push(flag, a.slice(eq + 1));
      continue;
    }
    out.push(a);
    if (eq >= 0) continue;
    if (flag.startsWith("--")) {
      if (o && optionTakesValue(o) && i + 1 < args.length) out.push(args[++i] as string);
      continue;
    }
    // A short option or a cluster (-it, -de): a value-taking option takes the rest, or the next argument.
    for (let k = 1; k < a.length; k++) {
      const so = shorts.get(`-${a[k]}`);
      if (so && optionTakesValue(so)) {
        if (k === a.length - 1 && i + 1 < args.length) out.push(args[++i] as string);
        break;
      }
    }
  }
  return [...out, ...args.slice(i)];
}
