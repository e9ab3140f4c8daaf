/**
 * Image commands: images / image ls, image inspect, tag, rmi, import, pull,
 * image prune and `image make-busybox` (the default base image).
 */
import type { Command } from "commander";
import { createReadStream, createWriteStream } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { registryAuthHeader } from "../auth.js";
import type { Client } from "../client.js";
import { MultiError, collect, confirm, filtersJson, getClient, out, outln, filterCollector } from "../context.js";
import { ago, familiarReference, formatGoTime, humanSize, referenceError, renderFormatted, shortId, splitRepoTag } from "../format.js";
import { type JSONMessage, displayJsonStream } from "../progress.js";
import { inspectOutput } from "./system.js";

/** Image names keep their slashes in the URL path (`/images/localhost:5000/x/json`). */
export const imagePath = (name: string): string => name.split("/").map(encodeURIComponent).join("/");

type TtyStream = Writable & { isTTY?: boolean; columns?: number };

/** POST /images/create?fromImage=...; shows the progress on `outStream`. */
/** `allTags`: no tag is sent, and the daemon pulls every tag of the repository (docker pull -a). */
export async function pullImage(client: Client, image: string, outStream: TtyStream, quiet = false, platform?: string, allTags = false): Promise<void> {
  let fromImage = image;
  let tag = "";
  const at = image.indexOf("@");
  if (at >= 0) {
    fromImage = image.slice(0, at);
    tag = image.slice(at + 1);
  } else {
    const rt = splitRepoTag(image);
    fromImage = rt.repo;
    tag = allTags ? "" : rt.tag || "latest";
  }
  const stream = await client.jsonStream<JSONMessage>("POST", "/images/create", {
    query: { fromImage, tag, platform: platform || undefined },
    headers: { "X-Registry-Auth": registryAuthHeader(fromImage) },
  });
  const sink = quiet ? { write: () => true, isTTY: false } : { write: (s: string) => outStream.write(s), isTTY: outStream.isTTY === true, columns: outStream.columns };
  await displayJsonStream(stream, sink);
}

// --- images ------------------------------------------------------------------------------

interface ImageSummary {
  Id: string;
  ParentId?: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created: number;
  Size: number;
  SharedSize?: number;
  VirtualSize?: number;
  Labels?: Record<string, string> | null;
  Containers?: number;
}

const IMAGE_HEADERS: Record<string, string> = {
  ID: "IMAGE ID",
  Repository: "REPOSITORY",
  Tag: "TAG",
  Digest: "DIGEST",
  CreatedSince: "CREATED",
  CreatedAt: "CREATED AT",
  Size: "SIZE",
  Containers: "CONTAINERS",
  VirtualSize: "SIZE",
  SharedSize: "SHARED SIZE",
  UniqueSize: "UNIQUE SIZE",
};

/** One row per repository:tag (docker's imageFormatTaggedAndDigest); dangling images get <none>. */
export function imageRows(img: ImageSummary, trunc: boolean, showDigests: boolean, now = Date.now()): Record<string, unknown>[] {
  const ctx = (repo: string, tag: string, digest: string): Record<string, unknown> => ({
    Containers: img.Containers === undefined || img.Containers < 0 ? "N/A" : String(img.Containers),
    CreatedAt: formatGoTime(img.Created),
    CreatedSince: ago(img.Created, now),
    Digest: digest,
    ID: trunc ? shortId(img.Id) : img.Id,
    Repository: repo,
    SharedSize: img.SharedSize === undefined || img.SharedSize < 0 ? "N/A" : humanSize(img.SharedSize, 4),
    Size: humanSize(img.Size),
    Tag: tag,
    UniqueSize: img.SharedSize === undefined || img.SharedSize < 0 ? "N/A" : humanSize(img.Size - img.SharedSize, 4),
    VirtualSize: humanSize(img.VirtualSize ?? img.Size, 4),
  });
  const tags = (img.RepoTags ?? []).filter((t) => t !== "<none>:<none>");
  const digests = (img.RepoDigests ?? []).filter((d) => d !== "<none>@<none>");
  if (tags.length === 0 && digests.length === 0) return [ctx("<none>", "<none>", "<none>")];
  const repoTags = new Map<string, string[]>();
  for (const t of tags) {
    const { repo, tag } = splitRepoTag(familiarReference(t));
    if (tag === "") continue;
    repoTags.set(repo, [...(repoTags.get(repo) ?? []), tag]);
  }
  const repoDigests = new Map<string, string[]>();
  for (const d of digests) {
    const at = d.indexOf("@");
    if (at < 0) continue;
    const repo = splitRepoTag(familiarReference(d.slice(0, at))).repo;
    repoDigests.set(repo, [...(repoDigests.get(repo) ?? []), d.slice(at + 1)]);
  }
  const rows: Record<string, unknown>[] = [];
  for (const [repo, ts] of repoTags) {
    const ds = showDigests ? (repoDigests.get(repo) ?? []) : [];
    repoDigests.delete(repo);
    for (const t of ts) {
      if (ds.length === 0) rows.push(ctx(repo, t, "<none>"));
      else for (const d of ds) rows.push(ctx(repo, t, d));
    }
  }
  for (const [repo, ds] of repoDigests) {
    if (showDigests) for (const d of ds) rows.push(ctx(repo, "<none>", d));
    else rows.push(ctx(repo, "<none>", ""));
  }
  return rows;
}

export function registerImages(parent: Command, name = "images"): Command {
  return parent
    .command(name)
    .description("List images")
    .usage("[OPTIONS] [REPOSITORY[:TAG]]")
    .option("-a, --all", "Show all images (default hides intermediate images)")
    .option("--digests", "Show digests")
    .option("-f, --filter <filter>", "Filter output based on conditions provided", filterCollector("-f, --filter"))
    .option("--format <string>", "Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')")
    .option("--no-trunc", "Don't truncate output")
    .option("-q, --quiet", "Only show image IDs")
    .argument("[reference]")
    .action(async (reference: string | undefined, flags: { all?: boolean; digests?: boolean; filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }) => {
      const filters = [...(flags.filter ?? [])];
      if (reference) filters.push(`reference=${reference}`);
      const list = await getClient().get<ImageSummary[]>("/images/json", { all: flags.all || undefined, filters: filtersJson(filters), digests: flags.digests || undefined });
      let format = flags.format ?? "table";
      if (flags.quiet) format = "{{.ID}}";
      const defaultTable = flags.digests
        ? "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        : "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
      const now = Date.now();
      const rows = list.flatMap((img) => imageRows(img, flags.trunc !== false, !!flags.digests, now));
      out(renderFormatted(rows, format, IMAGE_HEADERS, defaultTable));
    });
}

// --- inspect / tag / rmi ------------------------------------------------------------------------

export function registerImageInspect(parent: Command): void {
  parent
    .command("inspect")
    .description("Display detailed information on one or more images")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .argument("<image...>")
    .action(async (images: string[], flags: { format?: string }) => {
      const client = getClient();
      await inspectOutput(images, flags.format, async (i) => client.get(`/images/${imagePath(i)}/json`));
    });
}

export function registerTag(parent: Command): void {
  parent
    .command("tag")
    .description("Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    .usage("SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    .argument("<source>")
    .argument("<target>")
    .action(async (source: string, target: string) => {
      for (const ref of [source, target]) {
        const err = ref === source && /^(sha256:)?[0-9a-f]{12,64}$/.test(ref) ? undefined : referenceError(ref);
        if (err) throw new Error(`Error parsing reference: "${ref}" is not a valid repository/tag: ${err}`);
      }
      if (target.includes("@")) throw new Error("refusing to create a tag with a digest reference");
      const { repo, tag } = splitRepoTag(target);
      await getClient().post(`/images/${imagePath(source)}/tag`, { repo, tag: tag || "latest" });
    });
}

export function registerRmi(parent: Command, name = "rmi"): Command {
  return parent
    .command(name)
    .description("Remove one or more images")
    .usage("[OPTIONS] IMAGE [IMAGE...]")
    .option("-f, --force", "Force removal of the image")
    .option("--no-prune", "Do not delete untagged parents")
    .argument("<image...>")
    .action(async (images: string[], flags: { force?: boolean; prune: boolean }) => {
      const client = getClient();
      const errors: Error[] = [];
      for (const img of images) {
        try {
          const dels = await client.delete<({ Untagged?: string; Deleted?: string })[]>(`/images/${imagePath(img)}`, { force: flags.force || undefined, noprune: flags.prune === false || undefined });
          for (const d of dels ?? []) {
            if (d.Deleted) outln(`Deleted: ${d.Deleted}`);
            else outln(`Untagged: ${d.Untagged ?? ""}`);
          }
        } catch (e) {
          errors.push(e instanceof Error ? e : new Error(String(e)));
        }
      }
      if (errors.length > 0) throw new MultiError(errors);
    });
}

// --- import / pull / make-busybox ------------------------------------------------------------

/** POST /images/create?fromSrc=- with a tar body; returns the new image id. */
async function importTar(client: Client, body: Readable | undefined, query: Record<string, string | string[] | undefined>, show: TtyStream): Promise<string> {
  const stream = await client.jsonStream<JSONMessage>("POST", "/images/create", {
    query,
    ...(body ? { body, contentType: "application/x-tar" } : {}),
  });
  let id = "";
  const sink = {
    write: (s: string) => show.write(s),
    isTTY: show.isTTY === true,
    ...(show.columns !== undefined ? { columns: show.columns } : {}),
  };
  async function* tap(): AsyncGenerator<JSONMessage> {
    for await (const m of stream) {
      if (typeof m.status === "string" && m.status.startsWith("sha256:")) id = m.status;
      yield m;
    }
  }
  await displayJsonStream(tap(), sink);
  return id;
}

export function registerImport(parent: Command): void {
  parent
    .command("import")
    .description("Import the contents from a tarball to create a filesystem image")
    .usage("[OPTIONS] file|URL|- [REPOSITORY[:TAG]]")
    .option("-c, --change <list>", "Apply Dockerfile instruction to the created image", collect)
    .option("-m, --message <string>", "Set commit message for imported image")
    .option("--platform <string>", "Set platform if server is multi-platform capable")
    .argument("<source>")
    .argument("[reference]")
    .action(async (source: string, reference: string | undefined, flags: { change?: string[]; message?: string; platform?: string }) => {
      const isUrl = /^https?:\/\//.test(source);
      let body: Readable | undefined;
      if (source === "-") body = process.stdin;
      else if (!isUrl) {
        body = createReadStream(source);
        await new Promise<void>((resolve, reject) => {
          (body as Readable).once("open", () => resolve());
          (body as Readable).once("error", (e: NodeJS.ErrnoException) => reject(new Error(`open ${source}: ${e.code === "ENOENT" ? "no such file or directory" : e.message}`)));
        });
      }
      await importTar(
        getClient(),
        body,
        {
          fromSrc: isUrl ? source : "-",
          repo: reference,
          message: flags.message,
          changes: flags.change,
          platform: flags.platform,
        },
        process.stdout,
      );
    });
}

export function registerPull(parent: Command): void {
  parent
    .command("pull")
    .description("Download an image from a registry")
    .usage("[OPTIONS] NAME[:TAG|@DIGEST]")
    .option("-q, --quiet", "Suppress verbose output")
    .option("-a, --all-tags", "Download all tagged images in the repository")
    .option("--platform <string>", "Set platform if server is multi-platform capable")
    .argument("<name>")
    .action(async (name: string, flags: { quiet?: boolean; platform?: string; allTags?: boolean }) => {
      const nameOnly = !name.includes("@") && !splitRepoTag(name).tag;
      if (flags.allTags && !nameOnly) throw new Error("tag can't be used with --all-tags/-a");
      if (!flags.quiet && nameOnly && !flags.allTags) process.stdout.write("Using default tag: latest\n");
      await pullImage(getClient(), name, process.stdout, !!flags.quiet, flags.platform, !!flags.allTags);
      outln(!nameOnly || flags.allTags ? name : `${name}:latest`);
    });
}

export function registerMakeBusybox(parent: Command): void {
  parent
    .command("make-busybox")
    .description("Build the default base image (busybox:latest) from the host's busybox-static and load it")
    .option("--tag <string>", "Name and tag of the image", "busybox:latest")
    .option("-o, --output <file>", "Write the root filesystem tar to FILE ('-' for stdout) instead of loading it")
    .action(async (flags: { tag: string; output?: string }) => {
      const { busyboxRootfsTar } = await import("../../image/index.js");
      if (flags.output !== undefined) {
        if (flags.output === "-" && process.stdout.isTTY) throw new Error("refusing to write a tar archive to a terminal: use -o FILE");
        const tar = await busyboxRootfsTar();
        await pipeline(tar, flags.output === "-" ? process.stdout : createWriteStream(flags.output));
        return;
      }
      const { repo, tag } = splitRepoTag(flags.tag);
      if (repo === "") throw new Error(`invalid reference format: ${flags.tag}`);
      const client = getClient();
      // Reach the daemon before building the tar, so a missing daemon fails fast.
      await client.apiVersion();
      // The tar is deterministic: when the image already holds exactly this layer, keep it (same id).
      const { createHash } = await import("node:crypto");
      const h = createHash("sha256");
      for await (const c of await busyboxRootfsTar()) h.update(c as Buffer);
      const diffId = `sha256:${h.digest("hex")}`;
      const ref = `${repo}:${tag || "latest"}`;
      const existing = await client
        .get<{ Id: string; RootFS?: { Layers?: string[] } }>(`/images/${imagePath(ref)}/json`)
        .catch(() => undefined);
      const layers = existing?.RootFS?.Layers ?? [];
      if (existing && layers.length === 1 && layers[0] === diffId) {
        outln(existing.Id);
        outln(`${ref} is up to date`);
        return;
      }
      const tar = await busyboxRootfsTar();
      const id = await importTar(client, tar, { fromSrc: "-", repo, tag: tag || "latest", message: "berth image make-busybox" }, process.stdout);
      if (id === "") throw new Error("the daemon did not return an image id");
      outln(`Loaded ${repo}:${tag || "latest"}`);
    });
}

export function registerImagePrune(parent: Command): void {
  parent
    .command("prune")
    .description("Remove unused images")
    .option("-a, --all", "Remove all unused images, not just dangling ones")
    .option("--filter <filter>", 'Provide filter values (e.g. "until=<timestamp>")', filterCollector("--filter"))
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { all?: boolean; filter?: string[]; force?: boolean }) => {
      const warning = flags.all
        ? "WARNING! This will remove all images without at least one container associated to them."
        : "WARNING! This will remove all dangling images.";
      if (!flags.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const filters = [...(flags.filter ?? []), `dangling=${flags.all ? "false" : "true"}`];
      const r = await getClient().post<{ ImagesDeleted?: { Untagged?: string; Deleted?: string }[] | null; SpaceReclaimed?: number }>("/images/prune", { filters: filtersJson(filters) });
      const deleted = r.ImagesDeleted ?? [];
      if (deleted.length > 0) {
        let s = "Deleted Images:\n";
        for (const d of deleted) s += d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted ?? ""}\n`;
        outln(s);
      }
      outln(`Total reclaimed space: ${humanSize(deleted.length > 0 ? (r.SpaceReclaimed ?? 0) : 0, 4)}`);
    });
}

/** `berth image ...` and the top-level shortcuts. */
export function registerImageCommands(program: Command): void {
  const group = program.command("image").description("Manage images");
  registerImages(program);
  registerImages(group, "ls").alias("list");
  registerImageInspect(group);
  for (const p of [program, group]) {
    registerTag(p);
    registerImport(p);
    registerPull(p);
  }
  registerRmi(program);
  registerRmi(group, "rm").alias("remove");
  registerImagePrune(group);
  registerMakeBusybox(group);
}
