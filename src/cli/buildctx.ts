/**
 * The build context as the docker CLI sends it: a tar of the context directory,
 * minus what .dockerignore excludes (moby/patternmatcher semantics, roughly),
 * never following symlinks (they are stored as symlinks).
 */
import { lstatSync, readFileSync, readdirSync, readlinkSync, createReadStream } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pack } from "tar-stream";

export interface IgnorePattern {
  exclusion: boolean;
  /** The cleaned pattern text (for the record). */
  text: string;
  re: RegExp;
  /** Path segments in the pattern: a path also matches when its ancestor of this depth does. */
  depth: number;
}

/** filepath.Clean for slash paths, without a leading "/". */
export function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length > 0 && parts[parts.length - 1] !== "..") parts.pop();
      continue;
    }
    parts.push(seg);
  }
  return parts.join("/") || ".";
}

/** patternmatcher's glob → regexp: `**` spans directories, `*` and `?` stay in one. */
export function globToRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "*") {
      if (pattern[i + 1] === "*") {
        i++;
        // eat any further '*'
        while (pattern[i + 1] === "*") i++;
        if (i + 1 >= pattern.length) re += ".*";
        else if (pattern[i + 1] === "/") {
          i++;
          re += "(?:.*/)?";
        } else re += ".*";
      } else re += "[^/]*";
    } else if (ch === "?") re += "[^/]";
    else if (ch === "\\" && i + 1 < pattern.length) {
      i++;
      re += (pattern[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else if (ch === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith("^") || cls.startsWith("!")) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, "\\\\")}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\]\\/]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

/** Parse a .dockerignore file (comments, blank lines, `!` exceptions). */
export function parseDockerignore(text: string): IgnorePattern[] {
  const out: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let exclusion = false;
    if (line.startsWith("!")) {
      exclusion = true;
      line = line.slice(1).trim();
      if (line === "") continue;
    }
    const text = cleanPath(line);
    if (text === ".") continue;
    out.push({ exclusion, text, re: globToRegExp(text), depth: text.split("/").length });
  }
  return out;
}

/** Whether a context-relative slash path is excluded (last matching pattern wins). */
export function isExcluded(rel: string, patterns: IgnorePattern[]): boolean {
  const p = cleanPath(rel);
  const segs = p.split("/");
  let excluded = false;
  for (const pat of patterns) {
    let match = pat.re.test(p);
    if (!match && segs.length > pat.depth) match = pat.re.test(segs.slice(0, pat.depth).join("/"));
    if (match) excluded = !pat.exclusion;
  }
  return excluded;
}

/** Whether some exception pattern could re-include something under `dir`. */
function mayReinclude(dir: string, patterns: IgnorePattern[]): boolean {
  return patterns.some((p) => p.exclusion && (p.text.startsWith(`${dir}/`) || p.text.includes("*") || p.text.includes("?") || p.text.includes("[")));
}

export interface ContextEntry {
  /** Slash path relative to the context root. */
  rel: string;
  abs: string;
  type: "file" | "directory" | "symlink";
}

/**
 * The entries of the context that go into the tar, in walk order (sorted).
 * `keep` names files kept whatever .dockerignore says (the Dockerfile, .dockerignore).
 */
export function listContext(root: string, patterns: IgnorePattern[], keep: string[] = []): ContextEntry[] {
  const keepSet = new Set(keep.map(cleanPath));
  const out: ContextEntry[] = [];
  const walk = (dirAbs: string, dirRel: string): void => {
    const names = readdirSync(dirAbs).sort();
    for (const name of names) {
      const rel = dirRel === "" ? name : `${dirRel}/${name}`;
      const abs = path.join(dirAbs, name);
      const st = lstatSync(abs);
      const excluded = !keepSet.has(rel) && isExcluded(rel, patterns);
      if (st.isDirectory()) {
        if (excluded && !mayReinclude(rel, patterns) && ![...keepSet].some((k) => k.startsWith(`${rel}/`))) continue;
        if (!excluded) out.push({ rel, abs, type: "directory" });
        walk(abs, rel);
      } else if (excluded) continue;
      else if (st.isSymbolicLink()) out.push({ rel, abs, type: "symlink" });
      else if (st.isFile()) out.push({ rel, abs, type: "file" });
      // sockets, fifos, devices: skipped
    }
  };
  walk(root, "");
  return out;
}

/** Read .dockerignore of a context directory (none → no patterns). */
export function readDockerignore(root: string): IgnorePattern[] {
  try {
    return parseDockerignore(readFileSync(path.join(root, ".dockerignore"), "utf8"));
  } catch {
    return [];
  }
}

/** Pack the context entries (plus extra in-memory files) into a tar stream. */
export function packContext(entries: ContextEntry[], extra: { name: string; data: Buffer }[] = []): Readable {
  const p = pack();
  void (async () => {
    try {
      for (const e of entries) {
        const st = lstatSync(e.abs);
        const base = { name: e.rel, mode: st.mode & 0o7777, mtime: st.mtime, uid: 0, gid: 0 };
        if (e.type === "directory") {
          await new Promise<void>((res, rej) => p.entry({ ...base, type: "directory" }, (err) => (err ? rej(err) : res())));
        } else if (e.type === "symlink") {
          await new Promise<void>((res, rej) => p.entry({ ...base, type: "symlink", linkname: readlinkSync(e.abs) }, (err) => (err ? rej(err) : res())));
        } else {
          await new Promise<void>((res, rej) => {
            const w = p.entry({ ...base, type: "file", size: st.size }, (err) => (err ? rej(err) : res()));
            const r = createReadStream(e.abs);
            r.on("error", rej);
            r.pipe(w);
          });
        }
      }
      for (const x of extra) {
        await new Promise<void>((res, rej) => p.entry({ name: x.name, mode: 0o644, mtime: new Date(), type: "file", size: x.data.length }, x.data, (err) => (err ? rej(err) : res())));
      }
      p.finalize();
    } catch (err) {
      p.destroy(err instanceof Error ? err : new Error(String(err)));
    }
  })();
  return Readable.from(p as AsyncIterable<Buffer>);
}

/** Build args: `K=V`, or `K` alone taking the value from the environment (skipped if unset). */
export function parseKeyValues(list: string[] | undefined, env?: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf("=");
    if (i >= 0) out[kv.slice(0, i)] = kv.slice(i + 1);
    else if (env) {
      const v = env[kv];
      if (v !== undefined) out[kv] = v;
    } else out[kv] = "";
  }
  return out;
}
