/**
 * `system df` (docker's disk usage summary and -v tables, formatter/disk_usage.go)
 * and `system prune` (containers, networks, volumes with --volumes, images, build
 * cache, in docker's order and wording).
 */
import type { Command } from "commander";
import type { Client } from "../client.js";
import { confirm, filtersJson, getClient, out, outln, filterCollector } from "../context.js";
import { ago, humanSize, renderFormatted, shortId, tabwrite } from "../format.js";
import { psContext } from "./containers.js";

interface DfImage {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created: number;
  Size: number;
  SharedSize: number;
  Containers: number;
}
interface DfContainer {
  Id: string;
  State: string;
  SizeRw?: number;
  [k: string]: unknown;
}
interface DfVolume {
  Name: string;
  UsageData?: { Size: number; RefCount: number } | null;
}
interface DfCache {
  ID: string;
  Type: string;
  Size: number;
  CreatedAt: string;
  LastUsedAt?: string | null;
  UsageCount: number;
  InUse: boolean;
  Shared: boolean;
  Description?: string;
}
export interface DiskUsage {
  LayersSize?: number;
  Images?: DfImage[] | null;
  Containers?: DfContainer[] | null;
  Volumes?: DfVolume[] | null;
  BuildCache?: DfCache[] | null;
}

/** units.HumanSize: decimal units with 4 significant digits. */
const size4 = (n: number): string => humanSize(n, 4);

function reclaimable(reclaim: number, total: number): string {
  // Go's integer division of int64s.
  return total > 0 ? `${size4(reclaim)} (${Math.trunc((reclaim * 100) / total)}%)` : size4(reclaim);
}

/** The four summary rows (TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE). */
export function diskUsageRows(du: DiskUsage): Record<string, string>[] {
  const images = du.Images ?? [];
  const containers = du.Containers ?? [];
  const volumes = du.Volumes ?? [];
  const cache = du.BuildCache ?? [];
  const layers = du.LayersSize ?? 0;
  let usedByImages = 0;
  for (const i of images) if (i.Containers !== 0 && i.Size !== -1 && i.SharedSize !== -1) usedByImages += i.Size - i.SharedSize;
  const active = (c: DfContainer) => ["running", "paused", "restarting"].includes(c.State);
  const ctrSize = containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const ctrReclaim = containers.filter((c) => !active(c)).reduce((a, c) => a + (c.SizeRw ?? 0), 0);
  const volSize = volumes.reduce((a, v) => a + (v.UsageData && v.UsageData.Size !== -1 ? v.UsageData.Size : 0), 0);
  const volReclaim = volumes.reduce((a, v) => a + (v.UsageData && v.UsageData.Size !== -1 && v.UsageData.RefCount === 0 ? v.UsageData.Size : 0), 0);
  const cacheSize = cache.filter((b) => !b.Shared).reduce((a, b) => a + b.Size, 0);
  const cacheReclaim = cache.filter((b) => !b.Shared && !b.InUse).reduce((a, b) => a + b.Size, 0);
  const row = (Type: string, total: number, act: number, sizeN: number, rec: string) => ({ Active: String(act), Reclaimable: rec, Size: size4(sizeN), TotalCount: String(total), Type });
  return [
    row("Images", images.length, images.filter((i) => i.Containers > 0).length, layers, reclaimable(layers - usedByImages, layers)),
    row("Containers", containers.length, containers.filter(active).length, ctrSize, reclaimable(ctrReclaim, ctrSize)),
    row("Local Volumes", volumes.length, volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length, volSize, reclaimable(volReclaim, volSize)),
    row("Build Cache", cache.length, cache.filter((b) => b.InUse).length, cacheSize, reclaimable(cacheReclaim, cacheSize)),
  ];
}

const DF_HEADERS = { Type: "TYPE", TotalCount: "TOTAL", Active: "ACTIVE", Size: "SIZE", Reclaimable: "RECLAIMABLE" };

/** The -v report: images, containers, volumes and build cache, each as its own table. */
export function verboseDiskUsage(du: DiskUsage, now = Date.now()): string {
  let s = "Images space usage:\n\n";
  let t = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n";
  for (const i of du.Images ?? []) {
    // docker shows an image once, by its first tag.
    const first = (i.RepoTags ?? []).find((x) => x !== "<none>:<none>");
    const pairs: [string, string][] = first ? [[first.slice(0, first.lastIndexOf(":")), first.slice(first.lastIndexOf(":") + 1)]] : [["<none>", "<none>"]];
    for (const [repo, tag] of pairs) {
      const shared = i.SharedSize === -1 ? "N/A" : humanSize(i.SharedSize);
      const unique = i.Size === -1 || i.SharedSize === -1 ? "N/A" : size4(i.Size - i.SharedSize);
      t += `${repo}\t${tag}\t${shortId(i.Id)}\t${ago(i.Created, now)}\t${humanSize(i.Size)}\t${shared}\t${unique}\t${i.Containers === -1 ? "N/A" : String(i.Containers)}\n`;
    }
  }
  s += tabwrite(t);
  s += "\nContainers space usage:\n\n";
  t = "CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n";
  for (const c of du.Containers ?? []) {
    const x = psContext(c as unknown as Parameters<typeof psContext>[0], true, now);
    t += `${String(x["ID"])}\t${String(x["Image"])}\t${String(x["Command"])}\t${String(x["LocalVolumes"])}\t${humanSize(c.SizeRw ?? 0)}\t${String(x["RunningFor"])}\t${String(x["Status"])}\t${String(x["Names"])}\n`;
  }
  s += tabwrite(t);
  s += "\nLocal Volumes space usage:\n\n";
  t = "VOLUME NAME\tLINKS\tSIZE\n";
  for (const v of du.Volumes ?? []) {
    const links = v.UsageData && v.UsageData.RefCount !== -1 ? String(v.UsageData.RefCount) : "N/A";
    const sz = v.UsageData && v.UsageData.Size !== -1 ? size4(v.UsageData.Size) : "N/A";
    t += `${v.Name}\t${links}\t${sz}\n`;
  }
  s += tabwrite(t);
  const cache = du.BuildCache ?? [];
  s += `\nBuild cache usage: ${size4(cache.filter((b) => !b.Shared).reduce((a, b) => a + b.Size, 0))}\n\n`;
  t = "CACHE ID\tCACHE TYPE\tSIZE\tCREATED\tLAST USED\tUSAGE\tSHARED\n";
  for (const b of cache) {
    const created = ago(Date.parse(b.CreatedAt) / 1000, now);
    const last = b.LastUsedAt ? ago(Date.parse(b.LastUsedAt) / 1000, now) : "";
    t += `${b.ID.slice(0, 12)}\t${b.Type}\t${humanSize(b.Size)}\t${created}\t${last}\t${b.UsageCount}\t${String(b.Shared)}\n`;
  }
  s += tabwrite(t);
  return s;
}

export function registerSystemDf(group: Command): void {
  group
    .command("df")
    .description("Show docker disk usage")
    .usage("[OPTIONS]")
    .option("--format <string>", "Format output using a custom template")
    .option("-v, --verbose", "Show detailed information on space usage")
    .action(async (flags: { format?: string; verbose?: boolean }) => {
      const du = await getClient().get<DiskUsage>("/system/df");
      if (flags.verbose && (flags.format === undefined || flags.format === "" || flags.format === "table")) {
        out(verboseDiskUsage(du));
        return;
      }
      out(renderFormatted(diskUsageRows(du), flags.format || "table", DF_HEADERS, "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"));
    });
}

// --- system prune --------------------------------------------------------------------------------

type Pruner = (client: Client, filters: string[]) => Promise<{ space: number; output: string }>;

const list = (title: string, items: string[]): string => (items.length > 0 ? `${title}:\n${items.map((x) => `${x}\n`).join("")}` : "");

const pruneContainers: Pruner = async (client, filters) => {
  const r = await client.post<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>("/containers/prune", { filters: filtersJson(filters) });
  const deleted = r.ContainersDeleted ?? [];
  return { space: deleted.length > 0 ? (r.SpaceReclaimed ?? 0) : 0, output: list("Deleted Containers", deleted) };
};
const pruneNetworks: Pruner = async (client, filters) => {
  const r = await client.post<{ NetworksDeleted?: string[] | null }>("/networks/prune", { filters: filtersJson(filters) });
  return { space: 0, output: list("Deleted Networks", r?.NetworksDeleted ?? []) };
};
const pruneVolumes =
  (all: boolean): Pruner =>
  async (client, filters) => {
    const r = await client.post<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>("/volumes/prune", { filters: filtersJson([...filters, ...(all ? ["all=true"] : [])]) });
    const deleted = r?.VolumesDeleted ?? [];
    return { space: deleted.length > 0 ? (r?.SpaceReclaimed ?? 0) : 0, output: list("Deleted Volumes", deleted) };
  };
const pruneImages =
  (all: boolean): Pruner =>
  async (client, filters) => {
    const r = await client.post<{ ImagesDeleted?: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed?: number }>("/images/prune", {
      filters: filtersJson([...filters, `dangling=${all ? "false" : "true"}`]),
    });
    const deleted = r.ImagesDeleted ?? [];
    const lines = deleted.map((d) => (d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted ?? ""}`));
    return { space: deleted.length > 0 ? (r.SpaceReclaimed ?? 0) : 0, output: list("Deleted Images", lines) };
  };
const pruneBuildCache =
  (all: boolean): Pruner =>
  async (client, filters) => {
    const r = await client.post<{ CachesDeleted?: string[] | null; SpaceReclaimed?: number }>("/build/prune", { all: all || undefined, filters: filtersJson(filters) });
    return { space: r?.SpaceReclaimed ?? 0, output: list("Deleted build cache objects", r?.CachesDeleted ?? []) };
  };

export function systemPruneWarning(all: boolean, volumes: boolean, filters: string[] = []): string {
  const lines = ["  - all stopped containers", "  - all networks not used by at least one container"];
  if (volumes) lines.push("  - all anonymous volumes not used by at least one container");
  lines.push(all ? "  - all images without at least one container associated to them" : "  - all dangling images");
  lines.push(all ? "  - all build cache" : "  - unused build cache");
  const filtered = filters.length > 0 ? `\n  Items to be pruned will be filtered with:\n${filters.map((f) => `  - ${f}\n`).join("")}` : "";
  return `WARNING! This will remove:\n${lines.join("\n")}\n${filtered}\nAre you sure you want to continue?`;
}

export function registerSystemPrune(group: Command): void {
  group
    .command("prune")
    .description("Remove unused data")
    .usage("[OPTIONS]")
    .option("-a, --all", "Remove all unused images not just dangling ones")
    .option("--filter <filter>", 'Provide filter values (e.g. "label=<key>=<value>")', filterCollector("--filter"))
    .option("-f, --force", "Do not prompt for confirmation")
    .option("--volumes", "Prune anonymous volumes")
    .action(async (flags: { all?: boolean; filter?: string[]; force?: boolean; volumes?: boolean }) => {
      const all = !!flags.all;
      if (!flags.force && !(await confirm(systemPruneWarning(all, !!flags.volumes, flags.filter)))) return;
      const client = getClient();
      const filters = flags.filter ?? [];
      const pruners: Pruner[] = [pruneContainers, pruneNetworks, ...(flags.volumes ? [pruneVolumes(false)] : []), pruneImages(all), pruneBuildCache(all)];
      let space = 0;
      for (const p of pruners) {
        const r = await p(client, filters);
        space += r.space;
        if (r.output !== "") outln(r.output);
      }
      outln(`Total reclaimed space: ${size4(space)}`);
    });
}
