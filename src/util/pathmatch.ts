/**
 * Go's path.Match glob syntax, which dockerd uses for the `reference` filter of
 * `docker images` (`busy*`, `busybox:[a-k]*`, a star before `/name`): `*` is any run of
 * characters but `/`, `?` one character but `/`, `[a-z]`/`[^a-z]` classes (which
 * may match `/`), `\x` a literal x. Hand-written because the JS glob libraries
 * (minimatch, picomatch) have other rules (`**`, braces, `!` negation), and a
 * client's pattern must mean here what it means to dockerd. A malformed pattern
 * is an error (Go's ErrBadPattern, "syntax error in pattern").
 */
import { invalid } from "./errors.js";

const BAD = "syntax error in pattern";

// Under the u flag, `\-` is valid only inside a class: outside one a `-` stands for itself.
const escapeRe = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
const escapeInClass = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");

/** Compile a path.Match pattern to an anchored RegExp; throws an invalid error for a malformed one. */
export function compilePathPattern(pattern: string): RegExp {
  const cs = [...pattern];
  let i = 0;
  let re = "^";
  // One character of a class: a literal (not '-' or ']') or an escaped one.
  const classChar = (): string => {
    let c = cs[i];
    if (c === undefined || c === "-" || c === "]") throw invalid(BAD);
    if (c === "\\") {
      c = cs[++i];
      if (c === undefined) throw invalid(BAD);
    }
    i++;
    return c;
  };
  while (i < cs.length) {
    const c = cs[i] as string;
    if (c === "*") {
      re += "[^/]*";
      i++;
    } else if (c === "?") {
      re += "[^/]";
      i++;
    } else if (c === "\\") {
      const next = cs[i + 1];
      if (next === undefined) throw invalid(BAD);
      re += escapeRe(next);
      i += 2;
    } else if (c === "[") {
      i++;
      const negated = cs[i] === "^";
      if (negated) i++;
      let ranges = "";
      let n = 0;
      for (;;) {
        if (cs[i] === "]" && n > 0) {
          i++;
          break;
        }
        const lo = classChar();
        let hi = lo;
        if (cs[i] === "-") {
          i++;
          hi = classChar();
        }
        n++;
        // Go accepts a reversed range (it matches nothing); a JS class would not compile.
        if ((lo.codePointAt(0) ?? 0) <= (hi.codePointAt(0) ?? 0)) ranges += lo === hi ? escapeInClass(lo) : `${escapeInClass(lo)}-${escapeInClass(hi)}`;
      }
      re += negated ? `[^${ranges}]` : ranges === "" ? "[]" : `[${ranges}]`;
    } else {
      re += escapeRe(c);
      i++;
    }
  }
  return new RegExp(`${re}$`, "u");
}

/** Go's path.Match(pattern, name). */
export function pathMatch(pattern: string, name: string): boolean {
  return compilePathPattern(pattern).test(name);
}

/**
 * Go's regexp.MatchString as moby's filters.Match uses it (name filters of containers, volumes):
 * the value is an unanchored regular expression, and one that does not compile matches nothing
 * (dockerd ignores the error: the list is empty, never a 500).
 */
export function regexpMatches(pattern: string, s: string): boolean {
  try {
    return new RegExp(pattern).test(s);
  } catch {
    return false;
  }
}
