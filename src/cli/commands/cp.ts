/** `berth cp` (the archive API: GET/PUT/HEAD /containers/{id}/archive). */
import type { Command } from "commander";
import { createWriteStream, existsSync, lstatSync, mkdirSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract } from "tar-stream";
import { DaemonError } from "../client.js";
import { errln, getClient } from "../context.js";
import { humanSize } from "../format.js";
import { listContext, packContext } from "../buildctx.js";

const enc = encodeURIComponent;

interface PathStat {
  name: string;
  size: number;
  mode: number;
  linkTarget?: string;
}

/** `container:path` → its parts; a local path (absolute or ./x, or no colon) → undefined. */
export function splitCpArg(arg: string): { container: string; path: string } | undefined {
  if (arg.startsWith("/") || arg.startsWith(".")) return undefined;
  const i = arg.indexOf(":");
  if (i <= 0) return undefined;
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/**
 * Where a tar entry lands under `root`, with its first component renamed
 * (`rename`) or stripped (`strip`); undefined when it would escape `root`.
 */
export function safeTarget(root: string, entry: string, opts: { rename?: { from: string; to: string }; strip?: boolean } = {}): string | undefined {
  let parts = entry.split("/").filter((s) => s !== "" && s !== ".");
  if (parts.some((s) => s === "..")) return undefined;
  if (opts.strip) parts = parts.slice(1);
  else if (opts.rename && parts[0] === opts.rename.from) parts[0] = opts.rename.to;
  if (parts.length === 0) return opts.strip ? root : undefined;
  const target = path.resolve(root, ...parts);
  const rel = path.relative(root, target);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return undefined;
  return target;
}

const isDirMode = (mode: number): boolean => (mode & 0x80000000) !== 0; // Go's os.ModeDir

async function statInContainer(container: string, p: string): Promise<PathStat | undefined> {
  const client = getClient();
  const res = await client.raw("HEAD", `/containers/${enc(container)}/archive`, { query: { path: p } });
  res.resume();
  const status = res.statusCode ?? 0;
  if (status === 404) {
    // Tell a missing container from a missing path.
    await client.get(`/containers/${enc(container)}/json`);
    return undefined;
  }
  if (status >= 400) throw new DaemonError(status, `${status}`);
  const h = res.headers["x-docker-container-path-stat"];
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  return JSON.parse(Buffer.from(v, "base64").toString("utf8")) as PathStat;
}

/** Refuse to write through a path whose real location is outside `root`. */
function assertInside(root: string, p: string): void {
  const realRoot = realpathSync(root);
  let dir = path.dirname(p);
  while (!existsSync(dir)) dir = path.dirname(dir);
  const real = realpathSync(dir);
  if (real !== realRoot && !real.startsWith(`${realRoot}${path.sep}`)) throw new Error(`refusing to write outside ${root}: ${p}`);
}

/** Extract a tar stream under `root` (which exists), never outside it. */
export async function extractSafely(src: Readable, root: string, opts: { rename?: { from: string; to: string }; strip?: boolean }): Promise<number> {
  const ex = extract();
  let bytes = 0;
  const dirTimes: { p: string; mtime: Date }[] = [];
  ex.on("entry", (header, stream, next) => {
    // The entry stream is destroyed with the archive's error; that error is reported once, by the pipeline.
    stream.on("error", () => undefined);
    const done = (e?: unknown) => {
      if (e) ex.destroy(e instanceof Error ? e : new Error(String(e)));
      else next();
    };
    try {
      const target = safeTarget(root, header.name, opts);
      if (target === undefined) {
        stream.resume();
        if (opts.strip && header.name.split("/").filter((s) => s !== "" && s !== ".").length <= 1) return void stream.on("end", () => done());
        throw new Error(`refusing to extract ${JSON.stringify(header.name)}: it escapes ${root}`);
      }
      if (target === root) {
        stream.resume();
        return void stream.on("end", () => done());
      }
      assertInside(root, target);
      const mode = (header.mode ?? 0o644) & 0o7777;
      if (header.type === "directory") {
        if (existsSync(target) && !lstatSync(target).isDirectory()) rmSync(target, { force: true });
        mkdirSync(target, { recursive: true, mode });
        if (header.mtime) dirTimes.push({ p: target, mtime: header.mtime });
        stream.resume();
        stream.on("end", () => done());
      } else if (header.type === "symlink") {
        rmSync(target, { force: true, recursive: false });
        symlinkSync(header.linkname ?? "", target);
        stream.resume();
        stream.on("end", () => done());
      } else if (header.type === "file" || header.type === "contiguous-file") {
        // Replace, never write through, an existing symlink.
        if (existsSync(target) || isLink(target)) {
          if (lstatSync(target).isDirectory()) throw new Error(`cannot overwrite directory ${target} with non-directory`);
          rmSync(target, { force: true });
        }
        const w = createWriteStream(target, { mode, flags: "wx" });
        stream.on("data", (c: unknown) => {
          bytes += (c as Buffer).length;
        });
        pipeline(stream, w).then(() => {
          if (header.mtime) utimesSync(target, header.mtime, header.mtime);
          done();
        }, done);
      } else {
        // hard links, devices, fifos: skipped
        stream.resume();
        stream.on("end", () => done());
      }
    } catch (e) {
      stream.resume();
      done(e);
    }
  });
  await pipeline(src, ex);
  for (const d of dirTimes.reverse()) {
    try {
      utimesSync(d.p, d.mtime, d.mtime);
    } catch {
      // best effort
    }
  }
  return bytes;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

async function copyFromContainer(container: string, srcPath: string, dest: string, quiet: boolean): Promise<void> {
  const client = getClient();
  const res = await client.request("GET", `/containers/${enc(container)}/archive`, { query: { path: srcPath } });
  if (dest === "-") {
    await pipeline(res, process.stdout, { end: false });
    return;
  }
  const h = res.headers["x-docker-container-path-stat"];
  const hv = Array.isArray(h) ? h[0] : h;
  const st: PathStat | undefined = hv ? (JSON.parse(Buffer.from(hv, "base64").toString("utf8")) as PathStat) : undefined;
  const srcName = st?.name ?? path.posix.basename(srcPath);
  const srcIsDir = st ? isDirMode(st.mode) : false;
  const contentsOnly = /\/\.$/.test(srcPath);
  const destAbs = path.resolve(dest);
  let root: string;
  let opts: { rename?: { from: string; to: string }; strip?: boolean } = {};
  const destStat = existsSync(destAbs) ? statSync(destAbs) : undefined;
  if (destStat?.isDirectory()) {
    root = destAbs;
    if (contentsOnly && srcIsDir) opts = { strip: true };
  } else if (destStat) {
    if (srcIsDir) throw new Error("cannot copy directory");
    root = path.dirname(destAbs);
    opts = { rename: { from: srcName, to: path.basename(destAbs) } };
  } else {
    if (dest.endsWith("/") && !srcIsDir) throw new Error("no such directory");
    root = path.dirname(destAbs);
    if (!existsSync(root)) throw new Error(`lstat ${root}: no such file or directory`);
    opts = { rename: { from: srcName, to: path.basename(destAbs) } };
  }
  const bytes = await extractSafely(res, root, opts);
  if (!quiet && process.stderr.isTTY) errln(`Successfully copied ${humanSize(bytes)} to ${dest}`);
}

async function copyToContainer(src: string, container: string, destPath: string, followLink: boolean, quiet: boolean): Promise<void> {
  const client = getClient();
  const destStat = await statInContainer(container, destPath);
  // A link in the container is resolved to its target as docker does.
  const destIsDir = destStat ? isDirMode(destStat.mode) : false;
  if (src === "-") {
    if (!destIsDir) throw new Error(`destination "${container}:${destPath}" must be a directory`);
    await client.request("PUT", `/containers/${enc(container)}/archive`, { query: { path: destPath }, body: process.stdin, contentType: "application/x-tar" }).then((r) => r.resume());
    return;
  }
  const srcAbs = path.resolve(src);
  let st;
  try {
    st = followLink ? statSync(srcAbs) : lstatSync(srcAbs);
  } catch {
    throw new Error(`lstat ${srcAbs}: no such file or directory`);
  }
  const contentsOnly = /\/\.$/.test(src);
  let putPath: string;
  let name: string;
  if (destIsDir) {
    putPath = destPath;
    name = path.basename(srcAbs);
  } else {
    if (destStat === undefined && destPath.endsWith("/") && !st.isDirectory()) throw new Error("no such directory");
    if (destStat && st.isDirectory()) throw new Error("cannot copy directory");
    putPath = path.posix.dirname(destPath.replace(/\/+$/, "") || "/");
    name = path.posix.basename(destPath.replace(/\/+$/, ""));
  }
  let entries;
  const top = { rel: name, abs: srcAbs, type: st.isDirectory() ? ("directory" as const) : st.isSymbolicLink() ? ("symlink" as const) : ("file" as const) };
  if (st.isDirectory()) {
    const inner = listContext(srcAbs, []);
    if (contentsOnly && destIsDir) entries = inner;
    else entries = [top, ...inner.map((e) => ({ ...e, rel: `${name}/${e.rel}` }))];
  } else entries = [top];
  let bytes = 0;
  for (const e of entries) if (e.type === "file") bytes += statSync(e.abs).size;
  const res = await client.request("PUT", `/containers/${enc(container)}/archive`, {
    query: { path: putPath, noOverwriteDirNonDir: true },
    body: packContext(entries),
    contentType: "application/x-tar",
  });
  res.resume();
  if (!quiet && process.stderr.isTTY) errln(`Successfully copied ${humanSize(bytes)} to ${container}:${destPath}`);
}

export function registerCp(parent: Command): void {
  parent
    .command("cp")
    .description("Copy files/folders between a container and the local filesystem")
    .usage("[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH")
    .option("-a, --archive", "Archive mode (copy all uid/gid information)")
    .option("-L, --follow-link", "Always follow symbol link in SRC_PATH")
    .option("-q, --quiet", "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
    .argument("<src>")
    .argument("<dest>")
    .action(async (src: string, dest: string, flags: { followLink?: boolean; quiet?: boolean }) => {
      const s = splitCpArg(src);
      const d = splitCpArg(dest);
      if (s && d) throw new Error("copying between containers is not supported");
      if (!s && !d) throw new Error("must specify at least one container source");
      if (s) {
        if (s.path === "") throw new Error("filepath can not be empty");
        await copyFromContainer(s.container, s.path, dest, !!flags.quiet);
      } else if (d) {
        if (d.path === "") throw new Error("filepath can not be empty");
        await copyToContainer(src, d.container, d.path, !!flags.followLink, !!flags.quiet);
      }
    });
}
