/** The /volumes API over the local driver: create, ls (Docker's filters), inspect, rm, prune, and the df view. */
import { z } from "zod";
import { conflict, invalid, messageOf, notFound } from "../../util/errors.js";
import { matchLabels } from "../../util/filters.js";
import { regexpMatches } from "../../util/pathmatch.js";
import { ANONYMOUS_LABEL, DEFAULT_DRIVER, type VolumeRecord } from "../../volume/index.js";
import { type VolumeState, randomName } from "./state.js";

const nullable = <T extends z.ZodTypeAny>(t: T) => t.nullable().optional();

export const VolumeCreateSchema = z.looseObject({
  Name: nullable(z.string()),
  Driver: nullable(z.string()),
  DriverOpts: nullable(z.record(z.string(), z.string())),
  Labels: nullable(z.record(z.string(), z.string())),
});
export type VolumeCreateBody = z.infer<typeof VolumeCreateSchema>;

/** Docker's Volume object (GET /volumes/{name}). */
export interface VolumeInfo {
  CreatedAt: string;
  Driver: string;
  Labels: Record<string, string> | null;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: "local";
  UsageData?: { Size: number; RefCount: number };
}

/** Docker's filters.Match: exact, or the value as a regular expression. */
function matchName(name: string, wanted: string[]): boolean {
  return wanted.some((w) => w === name || regexpMatches(w, name));
}

function boolFilter(key: string, vals: string[]): boolean {
  // dockerd prints the values as a Go slice: 'dangling=[maybe]'.
  if (vals.length !== 1) throw invalid(`Invalid filter '${key}=[${vals.join(" ")}]'`);
  const v = (vals[0] as string).toLowerCase();
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  throw invalid(`Invalid filter '${key}=[${vals[0]}]'`);
}

function checkFilters(filters: Record<string, string[]>, accepted: string[]): void {
  for (const k of Object.keys(filters)) if (!accepted.includes(k)) throw invalid(`Invalid filter '${k}'`);
}

export class VolumeApi {
  private pruning = false;

  constructor(protected readonly s: VolumeState) {}

  private info(v: VolumeRecord): VolumeInfo {
    return {
      CreatedAt: v.CreatedAt,
      Driver: v.Driver,
      Labels: v.Labels,
      Mountpoint: this.s.driver.dataPath(v.Name),
      Name: v.Name,
      Options: v.Options,
      Scope: "local",
    };
  }

  /** POST /volumes/create: a name-less volume is anonymous (random name, com.docker.volume.anonymous label). */
  async create(body: VolumeCreateBody): Promise<VolumeInfo> {
    let name = body.Name ?? "";
    let labels = body.Labels ?? null;
    if (name === "") {
      name = randomName();
      labels = { ...(labels ?? {}), [ANONYMOUS_LABEL]: "" };
    }
    return this.info(await this.s.lock.run("refs", () => this.s.createVolume(name, body.Driver ?? "", body.DriverOpts ?? null, labels)));
  }

  inspect(name: string): VolumeInfo {
    const v = this.s.driver.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return this.info(v);
  }

  /** GET /volumes with Docker's filters: dangling, name, driver, label. */
  list(filters: Record<string, string[]>): { Volumes: VolumeInfo[]; Warnings: string[] | null } {
    checkFilters(filters, ["dangling", "name", "driver", "label"]);
    let vols = this.s.driver.list();
    const drivers = filters["driver"] ?? [];
    if (drivers.length > 0) vols = vols.filter((v) => drivers.includes(v.Driver));
    const names = filters["name"] ?? [];
    if (names.length > 0) vols = vols.filter((v) => matchName(v.Name, names));
    const labels = filters["label"] ?? [];
    if (labels.length > 0) vols = vols.filter((v) => matchLabels(v.Labels, labels));
    if (filters["dangling"] && filters["dangling"].length > 0) {
      const dangling = boolFilter("dangling", filters["dangling"]);
      vols = vols.filter((v) => (this.s.refs(v.Name).length === 0) === dangling);
    }
    vols.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    return { Volumes: vols.map((v) => this.info(v)), Warnings: null };
  }

  /** DELETE /volumes/{name}: 409 while a container refers to it; force ignores a missing volume. */
  async remove(name: string, force = false): Promise<void> {
    await this.s.lock.run("refs", async () => {
      const v = this.s.driver.get(name);
      if (!v) {
        if (force) return;
        throw notFound(`get ${name}: no such volume`);
      }
      const refs = this.s.refs(name);
      if (refs.length > 0) throw conflict(`remove ${name}: volume is in use - [${refs.join(", ")}]`);
      await this.s.destroy(v);
    });
  }

  /**
   * POST /volumes/prune: unused local volumes without mount options; only anonymous
   * ones unless all=true (Docker 23+). Filters: label, label!, all.
   */
  async prune(filters: Record<string, string[]>): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    checkFilters(filters, ["label", "label!", "all"]);
    const allVals = filters["all"] ?? [];
    if (allVals.length > 1) throw invalid(`invalid filter 'all=[${allVals.join(" ")}]': only one value is expected`);
    let all = false;
    if (allVals.length === 1) {
      const v = (allVals[0] as string).toLowerCase();
      if (["1", "t", "true"].includes(v)) all = true;
      else if (!["0", "f", "false"].includes(v)) throw invalid(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(allVals[0])}: invalid syntax`);
    }
    if (this.pruning) throw conflict("a prune operation is already running");
    this.pruning = true;
    try {
      const labels = [...(filters["label"] ?? []), ...(all ? [] : [ANONYMOUS_LABEL])];
      const notLabels = filters["label!"] ?? [];
      const deleted: string[] = [];
      let reclaimed = 0;
      for (const v of this.s.driver.list()) {
        if (v.Driver !== DEFAULT_DRIVER || Object.keys(v.Options ?? {}).length > 0) continue;
        if (!matchLabels(v.Labels, labels)) continue;
        if (notLabels.length > 0 && matchLabels(v.Labels, notLabels)) continue;
        const size = await this.s.driver.size(v.Name);
        try {
          await this.remove(v.Name);
        } catch (e) {
          this.s.o.log.debug(`prune: keeping volume ${v.Name}: ${messageOf(e)}`);
          continue;
        }
        deleted.push(v.Name);
        if (size > 0) reclaimed += size;
      }
      this.s.o.events.emit("volume", "prune", "", { reclaimed: String(reclaimed) });
      return { VolumesDeleted: deleted, SpaceReclaimed: reclaimed };
    } finally {
      this.pruning = false;
    }
  }

  /** Volumes with UsageData (size, reference count) for GET /system/df; volumes with mount options are left out, as Docker does. */
  async usage(): Promise<VolumeInfo[]> {
    const out: VolumeInfo[] = [];
    for (const v of this.s.driver.list()) {
      if (Object.keys(v.Options ?? {}).length > 0) continue;
      out.push({ ...this.info(v), UsageData: { Size: await this.s.driver.size(v.Name), RefCount: this.s.refs(v.Name).length } });
    }
    return out;
  }
}
