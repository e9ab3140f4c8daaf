/** Images backend: listing, inspection, tags, removal (with Docker's conflict rules), import. */
import type { Readable } from "node:stream";
import type { Digest } from "../util/digest.js";
import { conflict, invalid, notFound } from "../util/errors.js";
import { matchLabels, parseTimestamp } from "../util/filters.js";
import { compilePathPattern } from "../util/pathmatch.js";
import { type ImageManager, type ImageRunConfig, type LayerInfo, chainIds, formatReference, fullRunConfig, parseReference, shownSize, withDefaultTag } from "../image/index.js";
import type { ContainerService } from "./containers/index.js";
import { parseChanges } from "./changes.js";
import type { Events } from "./events.js";

/** Kept here for its callers (engine/archive.ts: docker commit --change). */
export { parseChanges };

export type DeleteResponseItem = { Untagged: string } | { Deleted: string };

const short = (id: string) => id.replace(/^sha256:/, "").slice(0, 12);

export class ImageService {
  constructor(
    private readonly store: ImageManager,
    private readonly containers: ContainerService,
    private readonly events: Events,
  ) {}

  resolve(name: string): Digest {
    return this.store.mustResolve(name);
  }

  async list(opts: { all: boolean; filters: Record<string, string[]>; digests: boolean }): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    const f = opts.filters;
    validateImageFilters(f);
    const refFilters = f["reference"] ?? [];
    // Build steps record their parent: untagged images with children (intermediate images) show only with -a.
    const parents = new Set(this.store.index.list().map((i) => i.parent).filter((p) => p !== undefined));
    for (const img of this.store.index.list()) {
      let tags = this.store.index.tagsOf(img.id);
      let repoDigests = img.repoDigests;
      if (tags.length === 0 && img.repoDigests.length === 0 && parents.has(img.id) && (!opts.all || f["dangling"]?.[0] === "true")) continue;
      if (f["dangling"]?.[0] === "true" && tags.length > 0) continue;
      if (f["dangling"]?.[0] === "false" && tags.length === 0) continue;
      if (refFilters.length > 0) {
        // dockerd lists only the references that match, and skips an image none of whose do.
        tags = tags.filter((t) => refFilters.some((p) => familiarMatch(p, t)));
        repoDigests = repoDigests.filter((t) => refFilters.some((p) => familiarMatch(p, t)));
        if (tags.length === 0 && repoDigests.length === 0) continue;
      }
      const sum = await this.store.summary(img.id);
      if (f["label"] && !matchLabels(sum.labels, f["label"])) continue;
      const size = sum.size;
      out.push({
        Id: img.id,
        ParentId: img.parent ?? "",
        ...summaryRefs(tags, repoDigests),
        Created: Math.floor(Date.parse(sum.created ?? img.added) / 1000),
        Size: size,
        SharedSize: -1,
        VirtualSize: size,
        Labels: sum.labels,
        Containers: -1,
      });
    }
    out.sort((a, b) => (b["Created"] as number) - (a["Created"] as number));
    return out;
  }

  async inspect(name: string): Promise<Record<string, unknown>> {
    const id = this.resolve(name);
    const img = this.store.index.get(id);
    const cfg = await this.store.config(id);
    const size = await this.store.size(id);
    const rc: ImageRunConfig = cfg.config ?? {};
    return {
      Id: id,
      RepoTags: this.store.index.tagsOf(id),
      RepoDigests: img?.repoDigests ?? [],
      Parent: img?.parent ?? "",
      Comment: cfg.comment ?? "",
      Created: cfg.created ?? img?.added ?? "",
      // Until API 1.45 (the API layer drops it above): the committed container, and its config.
      Container: cfg.container ?? "",
      DockerVersion: cfg.docker_version ?? "",
      Author: cfg.author ?? "",
      Config: runConfigView(rc),
      ContainerConfig: runConfigView(cfg.container_config ?? {}),
      Architecture: cfg.architecture,
      ...(cfg.variant ? { Variant: cfg.variant } : {}),
      Os: cfg.os,
      Size: size,
      VirtualSize: size,
      GraphDriver: { Name: "overlay2", Data: null },
      RootFS: { Type: "layers", Layers: cfg.rootfs.diff_ids },
      Metadata: { LastTagTime: img?.lastTagTime ?? "0001-01-01T00:00:00Z" },
    };
  }

  async history(name: string): Promise<Record<string, unknown>[]> {
    const id = this.resolve(name);
    const cfg = await this.store.config(id);
    const hist = cfg.history ?? [];
    const layers = [...cfg.rootfs.diff_ids];
    const chain = chainIds(cfg.rootfs.diff_ids);
    const out: Record<string, unknown>[] = [];
    let li = 0;
    for (const h of hist) {
      let size = 0;
      if (!h.empty_layer && li < layers.length) {
        const c = chain[li++];
        size = c ? shownSize(await this.store.layers.get(c).catch(() => ({ size: 0 }) as LayerInfo)) : 0;
      }
      out.push({ Id: "<missing>", Created: Math.floor(Date.parse(h.created ?? "") / 1000) || 0, CreatedBy: h.created_by ?? "", Tags: null, Size: size, Comment: h.comment ?? "" });
    }
    out.reverse();
    // dockerd names the entry of each image of the parent chain: the image's own top, then each parent's.
    const seen = new Set<Digest>();
    for (let cur: Digest | undefined = id, at = 0; cur !== undefined && !seen.has(cur) && at < out.length; ) {
      seen.add(cur);
      const entry = out[at];
      if (entry) {
        entry["Id"] = cur;
        const tags = this.store.index.tagsOf(cur);
        entry["Tags"] = tags.length > 0 ? tags : null;
      }
      const parent: Digest | undefined = this.store.index.get(cur)?.parent;
      if (parent === undefined) break;
      const pcfg = await this.store.config(parent).catch(() => undefined);
      if (!pcfg) break;
      at = out.length - (pcfg.history?.length ?? 0);
      cur = parent;
    }
    return out;
  }

  async tag(source: string, repo: string, tag: string | undefined): Promise<void> {
    const id = this.resolve(source);
    // dockerd parses the repository, then the tag on its own (with their own messages; 20.10 answers 500, Berth 400:
    // bad input is the client's error, docs/security.md).
    if (repo === "") throw invalid("invalid reference format");
    const named = parseReference(repo);
    if (tag && !/^[\w][\w.-]{0,127}$/.test(tag)) throw invalid("invalid tag format");
    const ref = withDefaultTag(tag ? { ...named, tag } : named);
    if (ref.digest) throw invalid("refusing to create a tag with a digest reference");
    await this.store.tag(id, ref);
    this.events.emit("image", "tag", id, { name: formatReference(ref) });
  }

  async import(tar: Readable, opts: { repo?: string; tag?: string; message?: string; changes: string[] }): Promise<Digest> {
    const config = parseChanges(opts.changes);
    let ref;
    if (opts.repo) ref = withDefaultTag(parseReference(opts.tag ? `${opts.repo}:${opts.tag}` : opts.repo));
    const id = await this.store.importRootfs(tar, { config, ...(opts.message ? { message: opts.message } : {}) });
    if (ref) await this.store.tag(id, ref);
    this.events.emit("image", "import", id, ref ? { name: formatReference(ref) } : {});
    return id;
  }

  /** `docker rmi` with Docker's rules for tags, containers and force. */
  async remove(name: string, opts: { force: boolean; noprune: boolean }): Promise<DeleteResponseItem[]> {
    const id = this.resolve(name);
    const out: DeleteResponseItem[] = [];
    const users = this.containers.usingImage(id);
    const running = users.find((c) => c.State.Running);
    const tags = this.store.index.tagsOf(id);
    const byId = name.replace(/^sha256:/, "") !== "" && id.slice(7).startsWith(name.replace(/^sha256:/, "")) && !isReference(name, tags);

    if (!byId) {
      const key = formatReference(withDefaultTag(parseReference(name)));
      const lastRef = tags.length === 1 && tags[0] === key;
      if (lastRef && users.length > 0 && !opts.force) {
        const u = users[0];
        throw conflict(`conflict: unable to remove repository reference "${name}" (must force) - container ${short(u?.Id ?? "")} is using its referenced image ${short(id)}`);
      }
      await this.store.index.untag(key);
      out.push({ Untagged: key });
      this.events.emit("image", "untag", id, { name: key });
      const repo = key.slice(0, key.lastIndexOf(":"));
      if (!tags.some((t) => t !== key && t.slice(0, t.lastIndexOf(":")) === repo)) {
        for (const d of await this.store.index.dropRepoDigests(id, repo)) out.push({ Untagged: d });
      }
      if (!lastRef || users.length > 0) return out;
    } else {
      if (running) {
        throw conflict(`conflict: unable to delete ${short(id)} (cannot be forced) - image is being used by running container ${short(running.Id)}`);
      }
      if (tags.length > 1 && !opts.force) {
        throw conflict(`conflict: unable to delete ${short(id)} (must be forced) - image is referenced in multiple repositories`);
      }
      if (users.length > 0 && !opts.force) {
        throw conflict(`conflict: unable to delete ${short(id)} (must be forced) - image is being used by stopped container ${short(users[0]?.Id ?? "")}`);
      }
      for (const t of tags) {
        await this.store.index.untag(t);
        out.push({ Untagged: t });
        this.events.emit("image", "untag", id, { name: t });
      }
      // dockerd removes every reference to the id, digest references too.
      const digests = [...new Set((this.store.index.get(id)?.repoDigests ?? []).map((d) => d.slice(0, d.indexOf("@"))))];
      for (const repo of digests) for (const d of (await this.store.index.dropRepoDigests(id, repo)).sort()) out.push({ Untagged: d });
      if (users.length > 0) return out; // forced: untagged, kept for its containers
    }
    if (!this.store.index.get(id)) throw notFound(`No such image: ${name}`);
    const parent = this.store.index.get(id)?.parent;
    await this.deleteRecord(id, out);
    if (!opts.noprune && parent) await this.pruneParents(parent, out);
    return out;
  }

  /**
   * Remove an image record; dockerd lists the layers that went with it right after it (only
   * its own: a build's orphaned init layer that the same collection takes is not the image's).
   */
  private async deleteRecord(id: Digest, out: DeleteResponseItem[]): Promise<void> {
    const cfg = await this.store.config(id).catch(() => undefined);
    const own = new Set(cfg ? chainIds(cfg.rootfs.diff_ids) : []);
    await this.store.index.delete(id);
    out.push({ Deleted: id });
    this.events.emit("image", "delete", id, {});
    for (const l of (await this.store.gc()).removedLayers) if (own.has(l)) out.push({ Deleted: l });
  }

  /** Like Docker, removing an image also removes its untagged, unused parents (build steps) that have no other children. */
  private async pruneParents(first: Digest, out: DeleteResponseItem[]): Promise<void> {
    const seen = new Set<Digest>();
    for (let p: Digest | undefined = first; p !== undefined && !seen.has(p); ) {
      seen.add(p);
      const rec = this.store.index.get(p);
      if (!rec || this.store.index.tagsOf(p).length > 0 || rec.repoDigests.length > 0) return;
      if (this.containers.usingImage(p).length > 0) return;
      if (this.store.index.list().some((i) => i.parent === p)) return;
      await this.deleteRecord(p, out);
      p = rec.parent;
    }
  }

  async prune(opts: { all: boolean; filters: Record<string, string[]> }): Promise<{ ImagesDeleted: DeleteResponseItem[] | null; SpaceReclaimed: number }> {
    for (const k of Object.keys(opts.filters)) if (!["dangling", "label", "label!", "until"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    const { until, label, notLabel } = pruneFilters(opts.filters);
    /** dockerd's ImagesPrune: images created after `until`, or whose labels do not pass, stay. */
    const kept = async (id: Digest): Promise<boolean> => {
      if (until === undefined && !label && !notLabel) return false;
      const sum = await this.store.summary(id);
      if (until !== undefined && Date.parse(sum.created ?? "") / 1000 > until) return true;
      if (label && !matchLabels(sum.labels, label)) return true;
      return notLabel !== undefined && matchLabels(sum.labels, notLabel);
    };
    const deleted: DeleteResponseItem[] = [];
    // Dangling images only: an untagged image with children (a build step under a tagged image) is not dangling;
    // once its dangling children are gone it is, so the pass repeats (bounded by the number of images).
    const passes = this.store.index.list().length + 1;
    for (let pass = 0, more = true; more && pass < passes; pass++) {
      more = false;
      const parents = new Set(this.store.index.list().map((i) => i.parent).filter((p) => p !== undefined));
      for (const img of this.store.index.list()) {
        const tags = this.store.index.tagsOf(img.id);
        if (tags.length > 0 && !opts.all) continue;
        if (!opts.all && parents.has(img.id)) continue;
        if (this.containers.usingImage(img.id).length > 0) continue;
        if (await kept(img.id)) continue;
        more = true;
        for (const t of tags) {
          await this.store.index.untag(t);
          deleted.push({ Untagged: t });
        }
        await this.store.index.delete(img.id);
        deleted.push({ Deleted: img.id });
        this.events.emit("image", "delete", img.id, {});
      }
    }
    const gc = await this.store.gc();
    for (const l of gc.removedLayers) deleted.push({ Deleted: l });
    // dockerd: the layers' sizes; null when nothing went.
    return { ImagesDeleted: deleted.length > 0 ? deleted : null, SpaceReclaimed: gc.layerBytes };
  }
}

/**
 * The filters of POST /images/prune as dockerd 20.10 reads them: dangling=true|1|false|0, one `until`
 * (timetypes.GetTimestamp: a duration, unix seconds or a date), label and label! (MatchKVList).
 */
export function pruneFilters(f: Record<string, string[]>): { until?: number; label?: string[]; notLabel?: string[] } {
  const dangling = f["dangling"] ?? [];
  // dockerd prints the filter's values as Go prints a []string: "[a b]".
  if (dangling.some((v) => !["true", "1", "false", "0"].includes(v))) throw invalid(`Invalid filter 'dangling=[${dangling.join(" ")}]'`);
  const u = f["until"] ?? [];
  if (u.length > 1) throw invalid("more than one until filter specified");
  let until: number | undefined;
  if (u[0] !== undefined) {
    until = parseTimestamp(u[0]);
    if (until === undefined) throw invalid(`failed to parse value as time or duration: "${u[0]}"`);
  }
  return {
    ...(until !== undefined ? { until } : {}),
    ...(f["label"]?.length ? { label: f["label"] } : {}),
    ...(f["label!"]?.length ? { notLabel: f["label!"] } : {}),
  };
}

/** An image's run config as dockerd shows it (Config, and ContainerConfig before API 1.45): its container Config, whatever the image stored. */
function runConfigView(rc: ImageRunConfig): Record<string, unknown> {
  return { ...fullRunConfig(rc) };
}

/** dockerd's list entry names: an image with neither tags nor digests shows as <none>; empty lists are null. */
export function summaryRefs(tags: string[], digests: string[]): { RepoTags: string[] | null; RepoDigests: string[] | null } {
  if (tags.length === 0 && digests.length === 0) return { RepoTags: ["<none>:<none>"], RepoDigests: ["<none>@<none>"] };
  return { RepoTags: tags.length > 0 ? tags : null, RepoDigests: digests.length > 0 ? digests : null };
}

/** dockerd checks the image list filters first (its 20.10 wording). */
function validateImageFilters(f: Record<string, string[]>): void {
  for (const [k, vals] of Object.entries(f)) {
    if (!["dangling", "label", "before", "since", "reference"].includes(k)) throw invalid(`Invalid filter '${k}'`);
    if (k === "dangling" && vals.some((v) => !["true", "false", "1", "0"].includes(v.toLowerCase()))) throw invalid(`Invalid filter 'dangling=[${vals.join(" ")}]'`);
  }
}

function isReference(name: string, tags: string[]): boolean {
  try {
    const key = formatReference(withDefaultTag(parseReference(name)));
    return tags.includes(key);
  } catch {
    return false;
  }
}

/**
 * dockerd's reference.FamiliarMatch: a path.Match pattern against the familiar
 * reference (`busybox:latest`, `foo/app@sha256:…`) or else its name alone (`busybox`).
 */
function familiarMatch(pattern: string, ref: string): boolean {
  const re = compilePathPattern(pattern);
  if (re.test(ref)) return true;
  const at = ref.indexOf("@");
  const colon = ref.lastIndexOf(":");
  const name = at >= 0 ? ref.slice(0, at) : colon > ref.lastIndexOf("/") ? ref.slice(0, colon) : ref;
  return re.test(name);
}
