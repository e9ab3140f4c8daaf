/** One stats sample as the dashboard sends it: docker stats' arithmetic on an Engine API stats object. */
export interface Sample {
  id: string;
  /** ms since the epoch. */
  t: number;
  /** CPU, percent of one CPU (docker stats' CPU %). */
  cpu: number;
  mem: number;
  memLimit: number;
  rx: number;
  tx: number;
}

interface CpuStats {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}

export interface StatsObject {
  read?: string;
  cpu_stats?: CpuStats;
  precpu_stats?: CpuStats;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  networks?: Record<string, { rx_bytes?: number; tx_bytes?: number }>;
}

export function sampleOf(id: string, s: StatsObject): Sample {
  const cpu = s.cpu_stats?.cpu_usage?.total_usage ?? 0;
  const preCpu = s.precpu_stats?.cpu_usage?.total_usage ?? 0;
  const sys = s.cpu_stats?.system_cpu_usage ?? 0;
  const preSys = s.precpu_stats?.system_cpu_usage ?? 0;
  const cpus = s.cpu_stats?.online_cpus || s.cpu_stats?.cpu_usage?.percpu_usage?.length || 1;
  const dCpu = cpu - preCpu;
  const dSys = sys - preSys;
  // The stream's first object has no previous reading (precpu empty): no rate yet, not the average since boot.
  const pct = preSys > 0 && dCpu > 0 && dSys > 0 ? (dCpu / dSys) * cpus * 100 : 0;
  const st = s.memory_stats?.stats ?? {};
  // docker stats: usage minus the page cache (cgroup v1 total_inactive_file, v2 inactive_file).
  const cache = st["total_inactive_file"] ?? st["inactive_file"] ?? 0;
  const usage = s.memory_stats?.usage ?? 0;
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) {
    rx += n.rx_bytes ?? 0;
    tx += n.tx_bytes ?? 0;
  }
  const t = s.read ? Date.parse(s.read) : NaN;
  return { id, t: Number.isFinite(t) && t > 0 ? t : Date.now(), cpu: Math.round(pct * 100) / 100, mem: Math.max(0, usage - (cache < usage ? cache : 0)), memLimit: s.memory_stats?.limit ?? 0, rx, tx };
}
