/**
 * `.dockerignore` with Docker's rules (moby/patternmatcher): one pattern per
 * line, `#` comments, patterns cleaned like filepath.Clean with a leading `/`
 * dropped, `*` and `?` within one path component, `**` across any number of
 * components, `[...]` classes, `\` escapes, and `!` exceptions; the last
 * matching pattern wins, and a path is excluded when it or one of its parent
 * directories matches. Pure: text in, matcher out.
 */

/** filepath.Clean for slash-separated paths. */
import { invalid } from "../../util/errors.js";

export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/** The patterns of a .dockerignore file, normalized as Docker's ReadAll does. */
export function parseDockerignore(text: string): string[] {
  const out: string[] = [];
  const lines = (text.startsWith("\uFEFF") ? text.slice(1) : text).split(/\r?\n/);
  for (const raw of lines) {
    if (raw.startsWith("#")) continue;
    let p = raw.trim();
    if (p === "") continue;
    const invert = p.startsWith("!");
    if (invert) p = p.slice(1).trim();
    if (p.length > 0) {
      p = cleanPath(p);
      if (p.length > 1 && p.startsWith("/")) p = p.slice(1);
    }
    out.push(invert ? `!${p}` : p);
  }
  return out;
}

type MatchType = "exact" | "prefix" | "suffix" | "regexp";

class Pattern {
  readonly exclusion: boolean;
  readonly cleaned: string;
  readonly dirs: string[];
  private type: MatchType = "exact";
  private re: RegExp | undefined;

  constructor(p: string) {
    this.exclusion = p.startsWith("!");
    this.cleaned = this.exclusion ? p.slice(1) : p;
    this.dirs = this.cleaned.split("/");
    this.compile();
  }

  private compile(): void {
    let re = "^";
    let type: MatchType = "exact";
    const cps = Array.from(this.cleaned);
    for (let i = 0; i < cps.length; i++) {
      const ch = cps[i] as string;
      if (ch === "*") {
        if (cps[i + 1] === "*") {
          const first = i === 0;
          i++;
          if (cps[i + 1] === "/") i++;
          if (i + 1 >= cps.length) {
            if (type === "exact") type = "prefix";
            else {
              re += ".*";
              type = "regexp";
            }
          } else {
            re += "(.*/)?";
            type = "regexp";
          }
          if (first) type = "suffix";
        } else {
          re += "[^/]*";
          type = "regexp";
        }
      } else if (ch === "?") {
        re += "[^/]";
        type = "regexp";
      } else if (".+()|{}$^".includes(ch)) {
        re += `\\${ch}`;
      } else if (ch === "\\") {
        const n = cps[i + 1];
        if (n !== undefined) {
          re += /[\\^$.*+?()[\]{}|/]/.test(n) ? `\\${n}` : n;
          i++;
          type = "regexp";
        } else re += "\\\\";
      } else if (ch === "[" || ch === "]") {
        re += ch;
        type = "regexp";
      } else {
        re += ch;
      }
    }
    this.type = type;
    if (type === "regexp") {
      try {
        this.re = new RegExp(`${re}$`, "u");
      } catch {
        throw invalid(`syntax error in pattern ${JSON.stringify(this.cleaned)}`);
      }
    }
  }

  match(path: string): boolean {
    switch (this.type) {
      case "exact":
        return path === this.cleaned;
      case "prefix":
        return path.startsWith(this.cleaned.slice(0, -2));
      case "suffix": {
        const suffix = this.cleaned.slice(2);
        if (path.endsWith(suffix)) return true;
        return suffix.startsWith("/") && path === suffix.slice(1);
      }
      case "regexp":
        return this.re?.test(path) ?? false;
    }
  }
}

export class IgnoreMatcher {
  private readonly patterns: Pattern[] = [];
  /** Some patterns re-include paths (`!x`): an excluded directory may still have included children. */
  readonly hasExclusions: boolean;

  constructor(patterns: readonly string[]) {
    for (let p of patterns) {
      p = p.trim();
      if (p === "") continue;
      p = cleanPath(p);
      if (p.startsWith("!") && p.length === 1) throw invalid('illegal exclusion pattern: "!"');
      this.patterns.push(new Pattern(p));
    }
    this.hasExclusions = this.patterns.some((p) => p.exclusion);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether a context path (relative, slash-separated) is excluded: it or a parent directory matches, last pattern wins. */
  excluded(file: string): boolean {
    let matched = false;
    const f = cleanPath(file);
    const slash = f.lastIndexOf("/");
    const parent = slash < 0 ? "." : f.slice(0, slash);
    const parentDirs = parent.split("/");
    for (const p of this.patterns) {
      if (p.exclusion !== matched) continue;
      let m = p.match(f);
      if (!m && parent !== ".") {
        for (let i = 0; i < parentDirs.length; i++) {
          if (p.match(parentDirs.slice(0, i + 1).join("/"))) {
            m = true;
            break;
          }
        }
      }
      if (m) matched = !p.exclusion;
    }
    return matched;
  }
}
