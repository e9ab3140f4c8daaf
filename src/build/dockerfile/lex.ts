/**
 * Dockerfile word processing: environment replacement, quote removal and
 * word splitting, as documented for the Dockerfile ("Environment replacement").
 *
 * Semantics
 * - `$NAME` and `${NAME}` substitute a variable; an unset one becomes "".
 *   `$` followed by a digit or one of the shell's special parameters
 *   (`$1`, `$@`, …) is a positional/special parameter, which never has a value
 *   here. A `$` followed by anything else is an ordinary character.
 * - Braced references may carry a modifier:
 *     ${V:-w} w if V is unset or empty       ${V-w} w if V is unset
 *     ${V:+w} w if V is set and non-empty    ${V+w} w if V is set
 *     ${V:?m} fail with m if unset or empty  ${V?m} fail with m if unset
 *     ${V#p} ${V##p}  remove the shortest / longest prefix matching glob p
 *     ${V%p} ${V%%p}  remove the shortest / longest suffix matching glob p
 *     ${V/p/r} ${V//p/r}  replace the first / every longest match of p by r
 *   The words w, m, p and r are themselves processed (variables, quotes,
 *   escapes) and end at the first unescaped `}` (p of `/` also at `/`).
 *   Only the chosen alternative is evaluated. Anything else after the name
 *   (`${V:x}`, `${V=w}`, `${}`, `${.}`) is a "bad substitution".
 * - Glob patterns: `*` any run, `?` one character, `[...]` a set (`!` or `^`
 *   negates, `a-z` ranges). Quoted or escaped characters are literal, as are
 *   characters of variable values that came from a quoted context. Set
 *   brackets are not recognised in `/` replacement patterns, where `[` and `]`
 *   are literal (only `*` and `?` are wildcards there).
 * - Single quotes: everything literal up to the next `'`.
 *   Double quotes: `$` references are expanded; the escape character escapes
 *   only `"`, `$` and itself, and is otherwise kept.
 *   Unquoted: the escape character makes the next character literal; at the
 *   very end of the word it is dropped.
 *   The escape character is `\` unless the Dockerfile's `# escape=` directive
 *   chose another (the backtick).
 * - Word splitting (processWords): unquoted whitespace — typed in the word or
 *   produced by an unquoted substitution — separates words; quoted or escaped
 *   whitespace does not. A quoted empty string still makes a (empty) word.
 *
 * Options: `rawQuotes` / `rawEscapes` keep the quote / escape characters in the
 * output (while still honouring their meaning); `skipProcessQuotes` makes
 * quotes ordinary characters and, as in a shell here-document, lets the escape
 * character escape only `$` and itself; `skipUnsetEnv` leaves any reference to
 * an unset variable exactly as written, modifiers included.
 *
 * Implementation: a recursive-descent reader turns the word into a small tree
 * (text runs and variable references, whose modifier words are sub-trees);
 * an evaluator then walks the tree against an environment, producing pieces of
 * text flagged as "guarded" (quoted/escaped: never split, never a wildcard).
 */

export interface EnvGetter {
  get(name: string): string | undefined;
}

export class LexError extends Error {}

/** An environment from `KEY=value` strings (the last one wins; a bare `KEY` is set to ""). */
export function envFromList(list: readonly string[]): EnvGetter {
  const vars = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf("=");
    if (eq < 0) vars.set(entry, "");
    else vars.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return { get: (name) => vars.get(name) };
}

export const emptyEnv: EnvGetter = { get: () => undefined };

export interface LexOptions {
  /** Keep quote characters in the result (they are still interpreted). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result (they are still interpreted). */
  rawEscapes?: boolean;
  /** Quotes are ordinary characters (here-document contents). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as they were written. */
  skipUnsetEnv?: boolean;
}

export interface ProcessResult {
  result: string;
  words: string[];
  /** Variables referenced that had a value. */
  matched: Set<string>;
  /** Variables referenced that were unset. */
  unmatched: Set<string>;
}

// --- syntax tree ---------------------------------------------------------------------

/** Literal output; `guarded` text came from quotes or escapes. */
interface TextNode {
  kind: "text";
  text: string;
  guarded: boolean;
}

type Modifier = "" | ":-" | "-" | ":+" | "+" | ":?" | "?" | "#" | "##" | "%" | "%%" | "/" | "//";

interface RefNode {
  kind: "ref";
  name: string;
  /** Positional or special parameter ($1, $@, …): never set. */
  special: boolean;
  modifier: Modifier;
  /** The modifier's word (default, alternative, message, pattern). */
  arg: WordTree;
  /** The replacement of `/` and `//`. */
  replacement: WordTree;
  /** The reference exactly as written. */
  source: string;
  /** Inside double quotes: its value is guarded. */
  quoted: boolean;
}

type WordTree = (TextNode | RefNode)[];

/** A syntax problem or a `${V:?}` failure; becomes a LexError naming the word. */
class Fault extends Error {}

const SPECIAL_PARAMS = new Set(["@", "*", "#", "?", "!", "$", "-"]);
const isDigit = (c: string): boolean => c >= "0" && c <= "9";
const isNameStart = (c: string): boolean => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_";
const isNameChar = (c: string): boolean => isNameStart(c) || isDigit(c);

type Context = "bare" | "double" | "heredoc";

class Reader {
  private readonly chars: string[];
  private at = 0;

  constructor(
    source: string,
    private readonly esc: string,
    private readonly opts: LexOptions,
  ) {
    this.chars = Array.from(source);
  }

  /** The whole input as one word. */
  readAll(): WordTree {
    const tree = this.readWord([], false);
    if (this.at < this.chars.length) throw new Fault(`unexpected ${this.peek() ?? "end"}`);
    return tree;
  }

  private peek(ahead = 0): string | undefined {
    return this.chars[this.at + ahead];
  }

  private slice(from: number): string {
    return this.chars.slice(from, this.at).join("");
  }

  /** Read until EOF or one of `stops` (left unconsumed). */
  private readWord(stops: readonly string[], inDouble: boolean): WordTree {
    const out: WordTree = [];
    const quotes = !this.opts.skipProcessQuotes;
    const ctx: Context = inDouble ? "double" : quotes ? "bare" : "heredoc";
    const text = (t: string, guarded: boolean): void => {
      const last = out[out.length - 1];
      if (last?.kind === "text" && last.guarded === guarded && t !== "") last.text += t;
      else out.push({ kind: "text", text: t, guarded });
    };
    for (;;) {
      const c = this.peek();
      if (c === undefined || stops.includes(c)) return out;
      if (c === this.esc) {
        this.readEscape(ctx, text);
      } else if (c === "'" && quotes && !inDouble) {
        this.at++;
        const start = this.at;
        while (this.peek() !== undefined && this.peek() !== "'") this.at++;
        if (this.peek() === undefined) throw new Fault("unexpected end of statement while looking for matching single-quote");
        const body = this.slice(start);
        this.at++;
        text(this.opts.rawQuotes ? `'${body}'` : body, true);
      } else if (c === '"' && quotes) {
        this.at++;
        const open = this.opts.rawQuotes ? '"' : "";
        out.push({ kind: "text", text: open, guarded: true });
        out.push(...this.readWord(['"'], true));
        if (this.peek() !== '"') throw new Fault("unexpected end of statement while looking for matching double-quote");
        this.at++;
        if (open) text(open, true);
      } else if (c === "$") {
        const ref = this.readDollar(inDouble);
        if (ref) out.push(ref);
        else text("$", inDouble);
      } else {
        this.at++;
        text(c, inDouble);
      }
    }
  }

  /** The escape character at the cursor, in the given quoting context. */
  private readEscape(ctx: Context, text: (t: string, guarded: boolean) => void): void {
    const next = this.peek(1);
    const kept = this.opts.rawEscapes ? this.esc : "";
    if (next === undefined) {
      this.at++;
      if (kept) text(kept, true);
      return;
    }
    const escapes = ctx === "bare" || next === "$" || next === this.esc || (ctx === "double" && next === '"');
    if (!escapes) {
      this.at++;
      text(this.esc, ctx !== "heredoc");
      return;
    }
    this.at += 2;
    text(kept + next, true);
  }

  /** A reference at the `$` under the cursor, or undefined (cursor past a literal `$`). */
  private readDollar(quoted: boolean): RefNode | undefined {
    const start = this.at;
    this.at++;
    const c = this.peek();
    const ref = (name: string, special: boolean): RefNode => ({ kind: "ref", name, special, modifier: "", arg: [], replacement: [], source: this.slice(start), quoted });
    if (c === undefined) return undefined;
    if (c === "{") {
      this.at++;
      return this.readBraced(start, quoted);
    }
    if (isNameStart(c)) {
      while (this.peek() !== undefined && isNameChar(this.peek() as string)) this.at++;
      return ref(this.slice(start + 1), false);
    }
    if (isDigit(c) || SPECIAL_PARAMS.has(c)) {
      this.at++;
      return ref(c, true);
    }
    return undefined;
  }

  /** `${…}` after its opening brace. */
  private readBraced(start: number, quoted: boolean): RefNode {
    const nameStart = this.at;
    const first = this.peek();
    if (first === undefined) throw new Fault("missing '}'");
    let special = true;
    if (isNameStart(first)) {
      special = false;
      while (this.peek() !== undefined && isNameChar(this.peek() as string)) this.at++;
    } else if (isDigit(first)) {
      while (this.peek() !== undefined && isDigit(this.peek() as string)) this.at++;
    } else if (SPECIAL_PARAMS.has(first)) {
      this.at++;
    } else {
      throw new Fault("bad substitution");
    }
    const name = this.slice(nameStart);
    const modifier = this.readModifier();
    let arg: WordTree = [];
    let replacement: WordTree = [];
    if (modifier === "/" || modifier === "//") {
      arg = this.readWord(["/", "}"], quoted);
      if (this.peek() === "/") {
        this.at++;
        replacement = this.readWord(["}"], quoted);
      }
    } else if (modifier !== "") {
      arg = this.readWord(["}"], quoted);
    }
    if (this.peek() !== "}") throw new Fault("missing '}'");
    this.at++;
    return { kind: "ref", name, special, modifier, arg, replacement, source: this.slice(start), quoted };
  }

  private readModifier(): Modifier {
    const c = this.peek();
    if (c === undefined) throw new Fault("missing '}'");
    if (c === "}") return "";
    this.at++;
    switch (c) {
      case ":": {
        const d = this.peek();
        if (d === undefined) throw new Fault("missing '}'");
        if (d !== "-" && d !== "+" && d !== "?") throw new Fault(`unsupported modifier (:${d}) in substitution`);
        this.at++;
        return `:${d}`;
      }
      case "-":
      case "+":
      case "?":
        return c;
      case "#":
      case "%":
      case "/":
        if (this.peek() === c) {
          this.at++;
          return `${c}${c}` as Modifier;
        }
        return c;
      default:
        throw new Fault(`unsupported modifier (${c}) in substitution`);
    }
  }
}

// --- glob patterns ---------------------------------------------------------------------

/** Output of evaluation: text and whether it is protected from splitting and globbing. */
interface Piece {
  text: string;
  guarded: boolean;
}

const joinPieces = (pieces: readonly Piece[]): string => pieces.map((p) => p.text).join("");
const lit = (c: string): string => `\\u{${(c.codePointAt(0) as number).toString(16)}}`;

/** A `[...]` set starting at `i` (the `[`), as a regexp class and the index after `]`; undefined if not closed. */
function bracketSet(chars: readonly string[], i: number): { re: string; end: number } | undefined {
  let j = i + 1;
  let negate = false;
  if (chars[j] === "!" || chars[j] === "^") {
    negate = true;
    j++;
  }
  const items: string[] = [];
  let firstItem = true;
  for (;;) {
    const c = chars[j];
    if (c === undefined) return undefined;
    if (c === "]" && !firstItem) break;
    firstItem = false;
    const hi = chars[j + 2];
    if (chars[j + 1] === "-" && hi !== undefined && hi !== "]") {
      if ((c.codePointAt(0) as number) <= (hi.codePointAt(0) as number)) items.push(`${lit(c)}-${lit(hi)}`);
      j += 3;
    } else {
      items.push(lit(c));
      j++;
    }
  }
  const body = items.join("");
  const re = body === "" ? (negate ? "[^]" : "(?!)") : `[${negate ? "^" : ""}${body}]`;
  return { re, end: j + 1 };
}

/** A whole-string matcher for a glob made of pieces (guarded pieces are literal). */
function globMatcher(pieces: readonly Piece[], sets: boolean): RegExp {
  let re = "";
  for (const p of pieces) {
    const chars = Array.from(p.text);
    for (let i = 0; i < chars.length; ) {
      const c = chars[i] as string;
      if (p.guarded) {
        re += lit(c);
        i++;
      } else if (c === "*") {
        re += ".*";
        i++;
      } else if (c === "?") {
        re += ".";
        i++;
      } else if (c === "[" && sets) {
        const set = bracketSet(chars, i);
        if (set) {
          re += set.re;
          i = set.end;
        } else {
          re += lit(c);
          i++;
        }
      } else {
        re += lit(c);
        i++;
      }
    }
  }
  return new RegExp(`^(?:${re})$`, "su");
}

function trim(value: string, modifier: "#" | "##" | "%" | "%%", pattern: RegExp): string {
  const chars = Array.from(value);
  const n = chars.length;
  const matches = (from: number, to: number): boolean => pattern.test(chars.slice(from, to).join(""));
  const cut = (from: number, to: number): string => chars.slice(from, to).join("");
  switch (modifier) {
    case "#":
      for (let k = 0; k <= n; k++) if (matches(0, k)) return cut(k, n);
      break;
    case "##":
      for (let k = n; k >= 0; k--) if (matches(0, k)) return cut(k, n);
      break;
    case "%":
      for (let k = n; k >= 0; k--) if (matches(k, n)) return cut(0, k);
      break;
    case "%%":
      for (let k = 0; k <= n; k++) if (matches(k, n)) return cut(0, k);
      break;
  }
  return value;
}

/** Replace the leftmost-longest non-empty match (or every one, left to right). */
function replace(value: string, pattern: RegExp, replacement: string, all: boolean): string {
  const chars = Array.from(value);
  let out = "";
  let i = 0;
  let done = false;
  while (i < chars.length) {
    let end = -1;
    if (!done) {
      for (let k = chars.length; k > i; k--) {
        if (pattern.test(chars.slice(i, k).join(""))) {
          end = k;
          break;
        }
      }
    }
    if (end < 0) {
      out += chars[i] as string;
      i++;
      continue;
    }
    out += replacement;
    i = end;
    if (!all) done = true;
  }
  return out;
}

// --- evaluation ------------------------------------------------------------------------

class Evaluator {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    private readonly env: EnvGetter,
    private readonly keepUnset: boolean,
  ) {}

  word(tree: WordTree): Piece[] {
    const out: Piece[] = [];
    for (const node of tree) {
      if (node.kind === "text") out.push({ text: node.text, guarded: node.guarded });
      else out.push(...this.ref(node));
    }
    return out;
  }

  private ref(r: RefNode): Piece[] {
    let value: string | undefined;
    if (!r.special) {
      value = this.env.get(r.name);
      (value === undefined ? this.unmatched : this.matched).add(r.name);
    }
    if (value === undefined && this.keepUnset) return [{ text: r.source, guarded: true }];
    const own = (text: string): Piece[] => [{ text, guarded: r.quoted }];
    const nonEmpty = value !== undefined && value !== "";
    switch (r.modifier) {
      case "":
        return own(value ?? "");
      case ":-":
        return nonEmpty ? own(value as string) : this.word(r.arg);
      case "-":
        return value !== undefined ? own(value) : this.word(r.arg);
      case ":+":
        return nonEmpty ? this.word(r.arg) : [];
      case "+":
        return value !== undefined ? this.word(r.arg) : [];
      case ":?":
      case "?": {
        const ok = r.modifier === "?" ? value !== undefined : nonEmpty;
        if (ok) return own(value as string);
        const message = joinPieces(this.word(r.arg));
        throw new Fault(`${r.name}: ${message || (r.modifier === "?" ? "parameter not set" : "parameter null or not set")}`);
      }
      case "#":
      case "##":
      case "%":
      case "%%":
        return own(trim(value ?? "", r.modifier, globMatcher(this.word(r.arg), true)));
      case "/":
      case "//": {
        const pattern = this.word(r.arg);
        const replacement = joinPieces(this.word(r.replacement));
        if (joinPieces(pattern) === "") return own(value ?? "");
        return own(replace(value ?? "", globMatcher(pattern, false), replacement, r.modifier === "//"));
      }
    }
  }
}

/** Split pieces into words at unguarded whitespace. */
function splitWords(pieces: readonly Piece[]): string[] {
  const words: string[] = [];
  let current: string | undefined;
  for (const p of pieces) {
    if (p.guarded) {
      current = (current ?? "") + p.text;
      continue;
    }
    for (const c of p.text) {
      if (/\s/u.test(c)) {
        if (current !== undefined) words.push(current);
        current = undefined;
      } else {
        current = (current ?? "") + c;
      }
    }
  }
  if (current !== undefined) words.push(current);
  return words;
}

export class ShellLex {
  private readonly opts: LexOptions;

  constructor(
    private readonly escapeToken = "\\",
    opts: LexOptions = {},
  ) {
    this.opts = { ...opts };
  }

  /** Substitute variables and remove quotes, giving one string. */
  processWord(word: string, env: EnvGetter): string {
    return this.process(word, env).result;
  }

  /** Substitute variables, then split into words at unquoted whitespace. */
  processWords(word: string, env: EnvGetter): string[] {
    return this.process(word, env).words;
  }

  process(word: string, env: EnvGetter): ProcessResult {
    try {
      const tree = new Reader(word, this.escapeToken, this.opts).readAll();
      const ev = new Evaluator(env, this.opts.skipUnsetEnv === true);
      const pieces = ev.word(tree);
      return { result: joinPieces(pieces), words: splitWords(pieces), matched: ev.matched, unmatched: ev.unmatched };
    } catch (e) {
      if (e instanceof Fault) throw new LexError(`failed to process "${word}": ${e.message}`);
      throw e;
    }
  }
}
