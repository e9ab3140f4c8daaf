/**
 * COPY and ADD sources: what each source names (build context, another stage or
 * image, a URL, a heredoc), its cache hash, and copying it into the step's root
 * with Docker's rules (builder.ts runs the step; fsops.ts does the copying).
 */
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { EngineError, invalid, notFound } from "../../util/errors.js";
import { mkdirp } from "../../util/fsutil.js";
import type { IdMap } from "../../util/idmap.js";
import { readInRoot } from "../../runtime/index.js";
import { type AddCommand, type CopyCommand, envFromList, expandHeredocContent } from "../dockerfile/index.js";
import { extractArchive, isArchiveFile } from "./archive.js";
import { copyEntry, globInRoot, hasWildcards, mkdirAllInRoot, type Owner, resolveInRoot, sourceHash } from "./fsops.js";

/** GET a URL for `ADD <url>` (BuilderOptions.download). */
export type Download = (url: string) => Promise<{ body: Readable; headers: Record<string, string | string[] | undefined> }>;

export interface SourceInfo {
  /** Host path of the (resolved) source. */
  host: string;
  /** The path as named (for the destination's base name). */
  rel: string;
  hash: string;
  isDir: boolean;
  /** COPY --parents: the directories to keep above the source. */
  parentDirs?: string;
  /** Downloaded by ADD <url>: copied as it is, never unpacked. */
  remote?: boolean;
}

export async function sourceInfos(
  env: string[],
  download: Download | undefined,
  c: AddCommand | CopyCommand,
  name: string,
  srcRoot: string,
  fromImage: boolean,
  work: string,
  skip: ((rel: string) => boolean) | undefined,
): Promise<SourceInfo[]> {
  const infos: SourceInfo[] = [];
  const parents = c.kind === "copy" && c.parents;
  const one = async (rel: string, parentDirs?: string): Promise<SourceInfo> => {
    // dockerd's words for a path that leaves the context by its ../ alone (links are followed inside it below)
    const lexical = path.posix.normalize(rel);
    if (!fromImage && (lexical === ".." || lexical.startsWith("../"))) throw invalid(`forbidden path outside the build context: ${rel} ()`);
    const { host } = resolveInRoot(srcRoot, rel);
    const stt = fss.lstatSync(host, { throwIfNoEntry: false });
    if (stt === undefined) {
      if (fromImage) throw notFound(`stat ${rel}: file does not exist`);
      throw notFound(`file not found in build context or excluded by .dockerignore: stat ${rel}: file does not exist`);
    }
    const hash = await sourceHash(host, { withOwner: fromImage, ...(skip ? { skip } : {}) });
    return { host, rel, hash, isDir: stt.isDirectory(), ...(parentDirs !== undefined && parentDirs !== "" ? { parentDirs } : {}) };
  };
  for (const orig of c.sd.sources) {
    if (/^https?:\/\//i.test(orig)) {
      if (c.kind === "copy") throw invalid("source can't be a URL for COPY");
      infos.push(await downloadSource(download, orig, c.sd.dest, path.join(work, `url-${infos.length}`)));
      continue;
    }
    let p = orig.replace(/^\/+/, "").replace(/^\.\//, "");
    let pivot = "";
    if (parents) {
      const i = p.indexOf("/./");
      if (i >= 0) {
        pivot = p.slice(0, i);
        p = p.slice(i + 3);
      }
    }
    const full = pivot === "" ? p : `${pivot}/${p}`;
    const parentOf = (rel: string): string | undefined => {
      if (!parents) return undefined;
      const inner = pivot === "" ? rel : rel.slice(pivot.length + 1);
      const d = path.posix.dirname(inner);
      return d === "." ? "" : d;
    };
    if (hasWildcards(full)) {
      for (const m of globInRoot(srcRoot, full)) {
        if (skip?.(m)) continue;
        infos.push(await one(m, parentOf(m)));
      }
      continue;
    }
    infos.push(await one(full === "" ? "." : full, parentOf(full)));
  }
  if (c.sd.contents.length > 0) {
    await mkdirp(work, 0o700);
    const vars = envFromList(env);
    for (const [i, content] of c.sd.contents.entries()) {
      const data = content.expand ? expandHeredocContent(content.data, vars) : content.data;
      const base = path.posix.basename(content.path) || "heredoc";
      const dir = path.join(work, String(i));
      await mkdirp(dir, 0o700);
      const file = path.join(dir, base);
      await fs.writeFile(file, data, { mode: 0o644 });
      await fs.chmod(file, 0o644);
      infos.push({ host: file, rel: base, hash: `file:${createHash("sha256").update(`${base}\0${data}`).digest("hex")}`, isDir: false });
    }
  }
  if (infos.length === 0) throw invalid("no source files were specified");
  return infos;
}

/**
 * ADD <url>, as dockerd's legacy builder: the file is named after the URL's last path segment (or the
 * Content-Disposition filename), mode 0600, mtime from Last-Modified (else the epoch), never unpacked;
 * downloaded at every build, the cache keyed by its content.
 */
export async function downloadSource(get: Download | undefined, orig: string, dest: string, dir: string): Promise<SourceInfo> {
  if (!get) throw new EngineError("notImplemented", `downloading ${orig} is not supported by this builder`);
  const { body, headers } = await get(orig);
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
  let name = downloadFilename(new URL(orig).pathname, one(headers["content-disposition"]));
  if (name === "") {
    if (dest.endsWith("/")) {
      body.destroy();
      throw invalid(`cannot determine filename for source ${orig}`);
    }
    name = "download"; // the destination names the file
  }
  await mkdirp(dir, 0o700);
  const file = path.join(dir, name);
  await pipeline(body, fss.createWriteStream(file, { mode: 0o600, flags: "wx" }));
  const lm = Date.parse(one(headers["last-modified"]) ?? "");
  const t = Number.isFinite(lm) ? new Date(lm) : new Date(0);
  await fs.utimes(file, t, t);
  // dockerd shows the bare checksum for a URL ("ADD <hex> in /dest").
  const hash = (await sourceHash(file, { withOwner: false })).replace(/^file:/, "");
  return { host: file, rel: name, hash, isDir: false, remote: true };
}

/** Docker's normalizeDest: relative destinations are relative to WORKDIR; a trailing slash is kept. */
export function normalizeDest(workdir: string, requested: string): string {
  if (requested.startsWith("/")) return requested;
  const slash = requested.endsWith("/") || requested === "." || requested === "./";
  let d = path.posix.join("/", workdir, requested);
  if (slash && !d.endsWith("/")) d += "/";
  return d;
}

/** `--chown=user[:group]`: names looked up in the image's /etc/passwd and /etc/group; a lone user is also the group. */
export async function parseChown(root: string, chown: string): Promise<Owner> {
  const parts = chown.split(":");
  if (parts.length > 2) throw invalid(`invalid chown string format: ${chown}`);
  const user = parts[0] as string;
  const group = parts.length === 1 ? user : (parts[1] as string);
  const lookup = async (file: string, name: string, what: string, idField: number): Promise<number> => {
    if (/^\d+$/.test(name)) return Number(name);
    const text = (await readInRoot(root, file)) ?? "";
    for (const line of text.split("\n")) {
      const f = line.split(":");
      if (f[0] === name && f[idField] !== undefined && /^\d+$/.test(f[idField] as string)) return Number(f[idField]);
    }
    throw invalid(`unable to convert uid/gid chown string to host mapping: can't find ${what === "user" ? "uid" : "gid"} for ${what} ${name}: no such ${what}: ${name}`);
  };
  return { uid: await lookup("/etc/passwd", user, "user", 2), gid: await lookup("/etc/group", group, "group", 2) };
}

/** Copy one source into the image root, with Docker's rules for files, directories and local archives (ADD). */
export async function copyInfo(
  root: string,
  dest: string,
  info: SourceInfo,
  o: {
    /** New owner of what is copied (host ids); undefined keeps the source's. */
    owner: Owner | undefined;
    /** Owner of directories created on the way (host ids). */
    dirOwner: Owner;
    idMap: IdMap | undefined;
    mode: number | undefined;
    skip: ((rel: string) => boolean) | undefined;
    decompress: boolean;
  },
): Promise<void> {
  const copyOpts = { ...(o.owner ? { owner: o.owner } : {}), ...(o.mode !== undefined ? { mode: o.mode } : {}), ...(o.skip ? { skip: o.skip } : {}) };
  const endsWithSlash = dest.endsWith("/");
  const resolved = resolveInRoot(root, dest);
  const destStat = fss.statSync(resolved.host, { throwIfNoEntry: false });
  if (info.isDir) {
    const parent = path.posix.dirname(resolved.rel);
    mkdirAllInRoot(root, parent, o.dirOwner);
    const again = resolveInRoot(root, resolved.rel);
    await copyEntry(info.host, again.host, copyOpts);
    return;
  }
  if (o.decompress && !info.remote && (await isArchiveFile(info.host))) {
    const dir = mkdirAllInRoot(root, resolved.rel, o.dirOwner);
    await extractArchive(fss.createReadStream(info.host), dir, o.idMap ? { idMap: o.idMap } : {});
    return;
  }
  let targetParent: string;
  let targetName: string;
  if ((destStat?.isDirectory() ?? false) || endsWithSlash) {
    targetParent = resolved.rel;
    targetName = path.posix.basename(info.rel);
  } else {
    targetParent = path.posix.dirname(resolved.rel);
    targetName = path.posix.basename(resolved.rel);
  }
  if (targetName === "" || targetName === "." || targetName === "/") throw invalid(`cannot copy to ${dest}`);
  const parentHost = mkdirAllInRoot(root, targetParent, o.dirOwner);
  await copyEntry(info.host, path.join(parentHost, targetName), copyOpts);
}

/** dockerd's getFilenameForDownload: the URL path's base name, else Content-Disposition's filename, else "". */
export function downloadFilename(urlPath: string, contentDisposition: string | undefined): string {
  if (urlPath !== "" && !urlPath.endsWith("/")) {
    const base = path.posix.basename(urlPath);
    const bad = /%(?![0-9a-f]{2}).{0,2}/i.exec(base);
    if (bad) throw invalid(`invalid URL escape "${bad[0]}"`);
    if (base !== "") return decodeURIComponent(base);
  }
  const m = /(?:^|;)\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(contentDisposition ?? "");
  const f = m ? (m[1] ?? m[2] ?? "").replace(/\\(.)/g, "$1") : "";
  if (f !== "" && !f.endsWith("/")) return path.posix.basename(f);
  return "";
}

export const ROOT: Owner = { uid: 0, gid: 0 };

/** A container-side owner as the host ids that stand for it (`--userns-remap`). */
export function hostOwner(idMap: IdMap | undefined, o: Owner): Owner {
  return idMap ? idMap.toHost(o) : o;
}

