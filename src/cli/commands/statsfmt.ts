/**
 * docker stats' numbers and table: CPU % from the two samples of one stats
 * document, memory without the page cache, network and block I/O sums, and the
 * formatter's columns (cli/command/container/stats_helpers.go, formatter_stats.go).
 */
import { bytesSize, humanSize, renderFormatted } from "../format.js";

export interface StatsJSON {
  id?: string;
  name?: string;
  read?: string;
  cpu_stats?: { cpu_usage?: { total_usage?: number; percpu_usage?: number[] | null }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats?: { cpu_usage?: { total_usage?: number }; system_cpu_usage?: number };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> | null };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }> | null;
  blkio_stats?: { io_service_bytes_recursive?: { op: string; value: number }[] | null } | null;
  pids_stats?: { current?: number } | null;
}

export interface StatsEntry {
  container: string;
  id: string;
  name: string;
  cpu: number;
  mem: number;
  memLimit: number;
  memPerc: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  pids: number;
}

/** One table row from a stats document; `label` is what the user named (or the short id). */
export function statsEntry(label: string, s: StatsJSON): StatsEntry {
  const cpuDelta = (s.cpu_stats?.cpu_usage?.total_usage ?? 0) - (s.precpu_stats?.cpu_usage?.total_usage ?? 0);
  const sysDelta = (s.cpu_stats?.system_cpu_usage ?? 0) - (s.precpu_stats?.system_cpu_usage ?? 0);
  const online = s.cpu_stats?.online_cpus || (s.cpu_stats?.cpu_usage?.percpu_usage ?? []).length;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const usage = s.memory_stats?.usage ?? 0;
  const st = s.memory_stats?.stats ?? {};
  // cgroup v1 counts the inactive page cache as total_inactive_file, v2 as inactive_file.
  const cache = st["total_inactive_file"] ?? st["inactive_file"] ?? 0;
  const mem = cache < usage ? usage - cache : usage;
  const memLimit = s.memory_stats?.limit ?? 0;
  let netRx = 0;
  let netTx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    netRx += n.rx_bytes ?? 0;
    netTx += n.tx_bytes ?? 0;
  }
  let blkRead = 0;
  let blkWrite = 0;
  for (const e of s.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = e.op.slice(0, 1).toLowerCase();
    if (op === "r") blkRead += e.value;
    else if (op === "w") blkWrite += e.value;
  }
  return {
    container: label,
    id: s.id ?? "",
    name: s.name ?? "",
    cpu,
    mem,
    memLimit,
    memPerc: memLimit > 0 ? (mem / memLimit) * 100 : 0,
    netRx,
    netTx,
    blkRead,
    blkWrite,
    pids: s.pids_stats?.current ?? 0,
  };
}

const STATS_HEADERS: Record<string, string> = {
  Container: "CONTAINER",
  ID: "CONTAINER ID",
  Name: "NAME",
  CPUPerc: "CPU %",
  MemUsage: "MEM USAGE / LIMIT",
  MemPerc: "MEM %",
  NetIO: "NET I/O",
  BlockIO: "BLOCK I/O",
  PIDs: "PIDS",
};

const DEFAULT_STATS_TABLE = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

const perc = (v: number): string => `${v.toFixed(2)}%`;

/** The `--format` context of one row (sorted keys, so `{{json .}}` matches docker). */
export function statsContext(e: StatsEntry, trunc: boolean): Record<string, unknown> {
  return {
    BlockIO: `${humanSize(e.blkRead)} / ${humanSize(e.blkWrite)}`,
    CPUPerc: perc(e.cpu),
    Container: e.container,
    ID: trunc ? e.id.slice(0, 12) : e.id,
    MemPerc: perc(e.memPerc),
    MemUsage: `${bytesSize(e.mem)} / ${bytesSize(e.memLimit)}`,
    Name: e.name.length > 1 ? e.name.replace(/^\//, "") : "--",
    NetIO: `${humanSize(e.netRx)} / ${humanSize(e.netTx)}`,
    PIDs: String(e.pids),
  };
}

export function renderStats(entries: StatsEntry[], format: string, trunc: boolean): string {
  return renderFormatted(
    entries.map((e) => statsContext(e, trunc)),
    format === "" ? "table" : format,
    STATS_HEADERS,
    DEFAULT_STATS_TABLE,
  );
}
