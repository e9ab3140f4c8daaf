/**
 * Container stats (GET /containers/{id}/stats) and processes (GET /containers/{id}/top),
 * as dockerd produces them: samples are read from the container's cgroups, the
 * host's /proc/stat and the container's network namespace; a stream sends one
 * sample a second, each carrying the previous one's CPU figures (precpu_stats).
 */
import { conflict, invalid, messageOf, EngineError } from "../../util/errors.js";
import { run } from "../../util/exec.js";
import {
  type Runtime,
  cgroupStats,
  emptyBlkioStats,
  emptyCpuStats,
  networkStats,
  systemCpuUsage,
} from "../../runtime/index.js";
import type { ContainerLookup } from "./types.js";
import { cgroupsPathOf } from "../runspec.js";
import { type ContainerRecord, ZERO_TIME } from "../types.js";

export type StatsJSON = Record<string, unknown> & { read: string; cpu_stats: unknown };

export interface StatsOptions {
  stream: boolean;
  oneShot: boolean;
}

/** Docker's zero StatsJSON: what a stopped container reports. */
export function emptyStats(rec: Pick<ContainerRecord, "Id" | "Name">): StatsJSON {
  return {
    read: ZERO_TIME,
    preread: ZERO_TIME,
    pids_stats: {},
    blkio_stats: emptyBlkioStats(),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: emptyCpuStats(),
    precpu_stats: emptyCpuStats(),
    memory_stats: {},
    name: rec.Name,
    id: rec.Id,
  };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

export interface StatsServiceOptions {
  containers: Pick<ContainerLookup, "get" | "find">;
  runtimes: Map<string, Runtime>;
  /** Seconds between samples of a stream (Docker: 1). */
  intervalMs?: number;
}

export class StatsService {
  private readonly interval: number;

  constructor(private readonly o: StatsServiceOptions) {
    this.interval = o.intervalMs ?? 1000;
  }

  /** One sample of a running container (precpu not filled in); zeroed when it is not running. */
  async sample(rec: ContainerRecord): Promise<StatsJSON> {
    if (!rec.State.Running) return emptyStats(rec);
    const read = new Date().toISOString();
    const [cg, sys, net] = await Promise.all([cgroupStats(cgroupsPathOf(rec)), systemCpuUsage(), networkStats(rec.State.Pid)]);
    const s: StatsJSON = {
      read,
      preread: ZERO_TIME,
      pids_stats: cg.pids_stats,
      blkio_stats: cg.blkio_stats,
      num_procs: 0,
      storage_stats: {},
      cpu_stats: { ...cg.cpu_stats, system_cpu_usage: sys.systemUsage, online_cpus: sys.onlineCpus },
      precpu_stats: emptyCpuStats(),
      memory_stats: cg.memory_stats,
      name: rec.Name,
      id: rec.Id,
    };
    if (net && Object.keys(net).length > 0) s["networks"] = net;
    return s;
  }

  /**
   * The samples a stats request gets: one (stream=false; primed with an earlier
   * sample so that CPU figures have a base, unless one-shot), or one a second
   * until the signal aborts or the container is removed (stream=true).
   * Throws (before yielding) for an unknown container or bad options.
   */
  async *stats(idOrName: string, opts: StatsOptions, signal?: AbortSignal): AsyncGenerator<StatsJSON> {
    const rec = this.o.containers.get(idOrName);
    if (opts.stream && opts.oneShot) throw invalid("cannot have stream=true and one-shot=true");
    if ((!rec.State.Running || rec.State.Restarting) && !opts.stream) {
      yield emptyStats(rec);
      return;
    }
    let pre: { cpu: unknown; read: string } = { cpu: emptyCpuStats(), read: ZERO_TIME };
    const next = async (): Promise<StatsJSON> => {
      const live = this.o.containers.find(rec.Id) ?? rec;
      // A sample fails when the container exits meanwhile: dockerd then sends the zero one.
      const s = await this.sample(live).catch(() => emptyStats(live));
      s.precpu_stats = pre.cpu;
      s.preread = pre.read;
      pre = { cpu: s.cpu_stats, read: s.read };
      return s;
    };
    if (!opts.stream) {
      if (!opts.oneShot) {
        await next(); // prime the CPU figures, like dockerd's first collector tick
        await sleep(this.interval, signal);
        if (signal?.aborted) return;
      }
      yield await next();
      return;
    }
    while (!signal?.aborted) {
      if (!this.o.containers.find(rec.Id)) return; // removed: dockerd closes the stream
      yield await next();
      await sleep(this.interval, signal);
    }
  }

  /** `docker top`: ps on the host, limited to the container's processes (dockerd's ContainerTop). */
  async top(idOrName: string, psArgs: string): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.o.containers.get(idOrName);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (rec.State.Restarting) throw conflict(`Container ${rec.Id} is restarting, wait until the container is running`);
    const args = psArgs.trim() || "-ef";
    validatePsArgs(args);
    const runtime = this.o.runtimes.get(rec.HostConfig.Runtime ?? "") ?? [...this.o.runtimes.values()][0];
    if (!runtime) throw new EngineError("internal", "no OCI runtime configured");
    const pids = await runtime.container(rec.Id).pids();
    const argv = args.split(/\s+/).filter(Boolean);
    let out: string;
    try {
      out = (await run("ps", [...argv, `-q${pids.join(",")}`])).stdout;
    } catch {
      // Some ps options (f) do not combine with -q: list everything and filter.
      try {
        out = (await run("ps", argv)).stdout;
      } catch (e) {
        const line = messageOf(e).replace(/^ps [^:]*: /, "").split("\n")[0];
        // The arguments are the user's: a ps that refuses them is a bad request (dockerd answers 500).
        throw invalid(`Error running ps: ${line}`);
      }
    }
    return parsePsOutput(out, pids);
  }
}

/** dockerd refuses ps arguments that would redefine the PID column. */
export function validatePsArgs(psArgs: string): void {
  for (const m of psArgs.matchAll(/\s+(\S*)=\s*(PID\S*)/g)) {
    if (m[1] !== "pid") throw invalid(`specifying "${m[1]}=${m[2]}" is not allowed`);
  }
}

/** dockerd's parsePSOutput: keep the lines of the container's pids (and thread lines under them). */
export function parsePsOutput(output: string, pids: number[]): { Titles: string[]; Processes: string[][] } {
  const lines = output.split("\n");
  const fields = (l: string) => l.split(/[ \t\r\n\v\f]+/).filter(Boolean);
  const titles = fields(lines[0] ?? "");
  const pidIndex = titles.indexOf("PID");
  if (pidIndex < 0) throw invalid("Couldn't find PID field in ps output");
  const processes: string[][] = [];
  const add = (f: string[]) => {
    const p = f.slice(0, titles.length - 1);
    p.push(f.slice(titles.length - 1).join(" "));
    processes.push(p);
  };
  let inContainer = false;
  for (const line of lines.slice(1)) {
    if (line.length === 0) continue;
    const f = fields(line);
    const pid = f[pidIndex];
    if (pid === "-") {
      if (inContainer) add(f);
      continue;
    }
    if (pid === undefined || !/^\d+$/.test(pid)) throw new EngineError("internal", `Unexpected pid '${pid ?? ""}'`);
    inContainer = pids.includes(Number(pid));
    if (inContainer) add(f);
  }
  return { Titles: titles, Processes: processes };
}
