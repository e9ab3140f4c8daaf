/**
 * `berth update` / `berth container update`: change the resource limits and the
 * restart policy of containers (docker's cli/command/container/update.go: the same
 * flags, names printed on success, the daemon's warnings after them).
 */
import type { Command } from "commander";
import { FlagValueError, MultiError, getClient, outln, parseIntStrict } from "../context.js";
import { ramInBytes } from "../format.js";

const enc = encodeURIComponent;

export interface UpdateFlags {
  blkioWeight?: string;
  cpuPeriod?: string;
  cpuQuota?: string;
  cpusetCpus?: string;
  cpusetMems?: string;
  cpuShares?: string;
  memory?: string;
  memoryReservation?: string;
  memorySwap?: string;
  restart?: string;
  pidsLimit?: string;
  cpus?: string;
}

/** pflag names a flag with its shorthand when it has one. */
const SHORT: Record<string, string> = { "--memory": "-m, --memory", "--cpu-shares": "-c, --cpu-shares" };
const flagError = (v: string, flag: string, why: string): FlagValueError => new FlagValueError(v, SHORT[flag] ?? flag, why);

function bytes(v: string, flag: string): number {
  try {
    return ramInBytes(v);
  } catch (e) {
    throw flagError(v, flag, e instanceof Error ? e.message : String(e));
  }
}

/** opts.ParseCPUs: a decimal number of CPUs → nano CPUs, refusing more precision than 1e-9. */
export function parseCpus(v: string): number {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(v.trim());
  if (!m || (m[2] === "" && (m[3] ?? "") === "")) throw flagError(v, "--cpus", `failed to parse ${v} as a rational number`);
  const frac = (m[3] ?? "").replace(/0+$/, "");
  if (frac.length > 9) throw flagError(v, "--cpus", "value is too precise");
  const nano = Number(m[2] || "0") * 1e9 + Number(frac.padEnd(9, "0") || "0");
  return m[1] === "-" ? -nano : nano;
}

/** docker's ParseRestartPolicy: "name[:count]"; the daemon checks the name. */
export function parseRestart(s: string): { Name: string; MaximumRetryCount: number } {
  const i = s.indexOf(":");
  const name = i < 0 ? s : s.slice(0, i);
  const count = i < 0 ? "" : s.slice(i + 1);
  if (i >= 0 && name === "") throw new Error("invalid restart policy format: no policy provided before colon");
  if (count !== "" && !/^[+-]?\d+$/.test(count)) throw new Error("invalid restart policy format: maximum retry count must be an integer");
  return { Name: name, MaximumRetryCount: count === "" ? 0 : Number(count) };
}

/** The flags → docker's UpdateConfig body (every resource field, zero meaning "unchanged"). */
export function buildUpdateConfig(f: UpdateFlags): Record<string, unknown> {
  const int = (v: string | undefined, flag: string) => (v === undefined ? 0 : parseIntStrict(v, flag));
  let blkio = 0;
  if (f.blkioWeight !== undefined) {
    if (!/^\+?\d+$/.test(f.blkioWeight.trim())) throw flagError(f.blkioWeight, "--blkio-weight", `strconv.ParseUint: parsing "${f.blkioWeight}": invalid syntax`);
    blkio = Number(f.blkioWeight);
    if (blkio > 65535) throw flagError(f.blkioWeight, "--blkio-weight", `strconv.ParseUint: parsing "${f.blkioWeight}": value out of range`);
  }
  const pids = f.pidsLimit !== undefined ? parseIntStrict(f.pidsLimit, "--pids-limit") : 0;
  return {
    BlkioWeight: blkio,
    CpusetCpus: f.cpusetCpus ?? "",
    CpusetMems: f.cpusetMems ?? "",
    CpuShares: int(f.cpuShares, "-c, --cpu-shares"),
    Memory: f.memory !== undefined ? bytes(f.memory, "--memory") : 0,
    MemoryReservation: f.memoryReservation !== undefined ? bytes(f.memoryReservation, "--memory-reservation") : 0,
    MemorySwap: f.memorySwap === undefined ? 0 : f.memorySwap.trim() === "-1" ? -1 : bytes(f.memorySwap, "--memory-swap"),
    CpuPeriod: int(f.cpuPeriod, "--cpu-period"),
    CpuQuota: int(f.cpuQuota, "--cpu-quota"),
    NanoCpus: f.cpus !== undefined ? parseCpus(f.cpus) : 0,
    // docker sends the pids limit only when it is not 0; -1 (or any negative) is "unlimited".
    ...(pids !== 0 ? { PidsLimit: pids } : {}),
    RestartPolicy: f.restart ? parseRestart(f.restart) : { Name: "", MaximumRetryCount: 0 },
  };
}

export function registerUpdate(parent: Command): void {
  parent
    .command("update")
    .description("Update configuration of one or more containers")
    .usage("[OPTIONS] CONTAINER [CONTAINER...]")
    .option("--blkio-weight <uint16>", "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
    .option("--cpu-period <int>", "Limit CPU CFS (Completely Fair Scheduler) period")
    .option("--cpu-quota <int>", "Limit CPU CFS (Completely Fair Scheduler) quota")
    .option("-c, --cpu-shares <int>", "CPU shares (relative weight)")
    .option("--cpus <decimal>", "Number of CPUs")
    .option("--cpuset-cpus <string>", "CPUs in which to allow execution (0-3, 0,1)")
    .option("--cpuset-mems <string>", "MEMs in which to allow execution (0-3, 0,1)")
    .option("-m, --memory <bytes>", "Memory limit")
    .option("--memory-reservation <bytes>", "Memory soft limit")
    .option("--memory-swap <bytes>", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
    .option("--pids-limit <int>", "Tune container pids limit (set -1 for unlimited)")
    .option("--restart <string>", "Restart policy to apply when a container exits")
    .argument("<container...>")
    .action(async (containers: string[], flags: UpdateFlags) => {
      if (Object.values(flags).every((v) => v === undefined)) throw new Error("you must provide one or more flags when using this command");
      const body = buildUpdateConfig(flags);
      const client = getClient();
      const warnings: string[] = [];
      const errors: Error[] = [];
      for (const c of containers) {
        try {
          const r = await client.post<{ Warnings?: string[] | null }>(`/containers/${enc(c)}/update`, undefined, body);
          outln(c);
          warnings.push(...(r.Warnings ?? []));
        } catch (e) {
          errors.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
      if (warnings.length > 0) outln(warnings.join("\n"));
      if (errors.length > 0) throw new MultiError(errors);
    });
}
