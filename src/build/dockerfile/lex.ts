/**
 * Word processing of Dockerfile arguments, as Docker does it: quote removal,
 * escapes, and variable substitution with `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?msg}`, `${VAR?msg}`,
 * `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}` and
 * `${VAR/pat/repl}`, `${VAR//pat/repl}`. Word splitting (for EXPOSE and the
 * heredoc scanner) happens after substitution, taking quotes into account.
 *
 * Pure: no I/O. A faithful port of BuildKit's shell lexer, so every instruction
 * sees the same words Docker's builder sees.
 */

export interface EnvGetter {
  get(name: string): string | undefined;
}

export class LexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LexError";
  }
}

/** Environment from `KEY=value` strings (last one wins). */
export function envFromList(list: readonly string[]): EnvGetter {
  const m = new Map<string, string>();
  for (const e of list) {
    const i = e.indexOf("=");
    if (i < 0) m.set(e, "");
    else m.set(e.slice(0, i), e.slice(i + 1));
  }
  return { get: (k) => m.get(k) };
}

export const emptyEnv: EnvGetter = { get: () => undefined };

export interface LexOptions {
  /** Keep quote characters in the result (they are still interpreted). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result (they are still interpreted). */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters. */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as they are written. */
  skipUnsetEnv?: boolean;
}

export interface ProcessResult {
  result: string;
  words: string[];
  /** Variables that were referenced and set. */
  matched: Set<string>;
  /** Variables that were referenced but unset. */
  unmatched: Set<string>;
}

const EOF = -1;

function isSpace(ch: number): boolean {
  // Go's unicode.IsSpace: '\t', '\n', '\v', '\f', '\r', ' ', U+0085, U+00A0 and the Z category.
  if (ch === 0x20 || (ch >= 0x09 && ch <= 0x0d) || ch === 0x85 || ch === 0xa0) return true;
  if (ch < 0x100) return false;
  return /\p{White_Space}/u.test(String.fromCodePoint(ch));
}

function isLetter(ch: number): boolean {
  if (ch < 0) return false;
  if ((ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a)) return true;
  if (ch < 0x80) return false;
  return /\p{L}/u.test(String.fromCodePoint(ch));
}

function isDigit(ch: number): boolean {
  if (ch >= 0x30 && ch <= 0x39) return true;
  if (ch < 0x80) return false;
  return /\p{Nd}/u.test(String.fromCodePoint(ch));
}

function isSpecialParam(ch: number): boolean {
  return ch >= 0 && "@*#?-$!0".includes(String.fromCodePoint(ch));
}

class Words {
  buf = "";
  words: string[] = [];
  inWord = false;

  addChar(ch: number): void {
    if (isSpace(ch) && this.inWord) {
      if (this.buf.length !== 0) {
        this.words.push(this.buf);
        this.buf = "";
        this.inWord = false;
      }
    } else if (!isSpace(ch)) {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: number): void {
    this.buf += String.fromCodePoint(ch);
    this.inWord = true;
  }

  addString(s: string): void {
    for (const c of s) this.addChar(c.codePointAt(0) as number);
  }

  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  get(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf);
      this.buf = "";
      this.inWord = false;
    }
    return this.words;
  }
}

class Scanner {
  private readonly cps: number[];
  private pos = 0;
  constructor(s: string) {
    this.cps = Array.from(s, (c) => c.codePointAt(0) as number);
  }
  peek(): number {
    return this.pos < this.cps.length ? (this.cps[this.pos] as number) : EOF;
  }
  next(): number {
    return this.pos < this.cps.length ? (this.cps[this.pos++] as number) : EOF;
  }
}

const chr = (c: number): string => (c === EOF ? "" : String.fromCodePoint(c));

/**
 * The lexer. `escapeToken` is `\` or `` ` `` (the Dockerfile's escape directive).
 */
export class ShellLex {
  constructor(
    readonly escapeToken: string = "\\",
    readonly opts: LexOptions = {},
  ) {}

  /** Substitute variables and remove quotes; the result is one word (spaces kept). */
  processWord(word: string, env: EnvGetter): string {
    return this.process(word, env).result;
  }

  /** Substitute variables, then split into words honouring quotes (EXPOSE, heredoc detection). */
  processWords(word: string, env: EnvGetter): string[] {
    return this.process(word, env).words;
  }

  process(word: string, env: EnvGetter): ProcessResult {
    const w = new ShellWord(this, env, word);
    try {
      const [result, words] = w.processStopOn(EOF, this.opts.rawEscapes ?? false);
      return { result, words, matched: w.matched, unmatched: w.unmatched };
    } catch (e) {
      if (e instanceof LexError) throw new LexError(`failed to process ${JSON.stringify(word)}: ${e.message}`);
      throw e;
    }
  }
}

class ShellWord {
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  private readonly sc: Scanner;
  private rawEscapes: boolean;
  private readonly esc: number;

  constructor(
    private readonly lex: ShellLex,
    private readonly env: EnvGetter,
    source: string,
  ) {
    this.sc = new Scanner(source);
    this.rawEscapes = lex.opts.rawEscapes ?? false;
    this.esc = lex.escapeToken.codePointAt(0) as number;
  }

  processStopOn(stopChar: number, rawEscapes: boolean): [string, string[]] {
    let result = "";
    const words = new Words();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.sc.peek() !== EOF) {
        const ch = this.sc.peek();
        if (stopChar !== EOF && ch === stopChar) {
          this.sc.next();
          return [result, words.get()];
        }
        const special =
          ch === 0x24 /* $ */ ? () => this.processDollar()
          : ch === 0x3c /* < */ ? () => this.processPossibleHeredoc()
          : !this.lex.opts.skipProcessQuotes && ch === 0x27 /* ' */ ? () => this.processSingleQuote()
          : !this.lex.opts.skipProcessQuotes && ch === 0x22 /* " */ ? () => this.processDoubleQuote()
          : undefined;
        if (special) {
          const tmp = special();
          result += tmp;
          if (ch === 0x24) words.addString(tmp);
          else words.addRawString(tmp);
          continue;
        }
        let c = this.sc.next();
        if (c === this.esc) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += chr(c);
          }
          // The escape token escapes the next character, except at the end.
          c = this.sc.next();
          if (c === EOF) break;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += chr(c);
      }
      if (stopChar !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${chr(stopChar)}`);
      return [result, words.get()];
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    // Everything between single quotes is literal; a single quote cannot be escaped.
    let result = "";
    let ch = this.sc.next();
    if (this.lex.opts.rawQuotes) result += chr(ch);
    for (;;) {
      ch = this.sc.next();
      if (ch === EOF) throw new LexError("unexpected end of statement while looking for matching single-quote");
      if (ch === 0x27) {
        if (this.lex.opts.rawQuotes) result += chr(ch);
        return result;
      }
      result += chr(ch);
    }
  }

  private processDoubleQuote(): string {
    // Literal except $ (substitution) and the escape token, which escapes only " $ and itself.
    let result = "";
    let ch = this.sc.next();
    if (this.lex.opts.rawQuotes) result += chr(ch);
    for (;;) {
      const p = this.sc.peek();
      if (p === EOF) throw new LexError("unexpected end of statement while looking for matching double-quote");
      if (p === 0x22) {
        ch = this.sc.next();
        if (this.lex.opts.rawQuotes) result += chr(ch);
        return result;
      }
      if (p === 0x24) {
        result += this.processDollar();
        continue;
      }
      ch = this.sc.next();
      if (ch === this.esc) {
        if (this.rawEscapes) result += chr(ch);
        const n = this.sc.peek();
        if (n === EOF) continue;
        if (n === 0x22 || n === 0x24 || n === this.esc) ch = this.sc.next();
      }
      result += chr(ch);
    }
  }

  private processDollar(): string {
    this.sc.next();
    if (this.sc.peek() !== 0x7b /* { */) {
      const name = this.processName();
      if (name === "") return "$";
      const value = this.getEnv(name);
      if (value === undefined && this.lex.opts.skipUnsetEnv) return `$${name}`;
      return value ?? "";
    }
    this.sc.next();
    const p = this.sc.peek();
    if (p === EOF) throw new LexError("syntax error: missing '}'");
    if (p === 0x7b || p === 0x7d || p === 0x3a) throw new LexError("syntax error: bad substitution");
    const name = this.processName();
    let ch = this.sc.next();
    let chs = chr(ch);
    let nullIsUnset = false;
    if (ch === 0x7d /* } */) {
      const value = this.getEnv(name);
      if (value === undefined && this.lex.opts.skipUnsetEnv) return `\${${name}}`;
      return value ?? "";
    }
    if (ch === 0x3a /* : */) {
      nullIsUnset = true;
      ch = this.sc.next();
      chs += chr(ch);
    }
    if (nullIsUnset || ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25) {
      // + - ? # %
      const rawEscapes = ch === 0x23 || ch === 0x25;
      if (nullIsUnset && rawEscapes) throw new LexError(`unsupported modifier (${chs}) in substitution`);
      let word: string;
      try {
        [word] = this.processStopOn(0x7d, rawEscapes);
      } catch (e) {
        if (this.sc.peek() === EOF) throw new LexError("syntax error: missing '}'");
        throw e;
      }
      const value = this.getEnv(name);
      if (this.lex.opts.skipUnsetEnv && value === undefined) return `\${${name}${chs}${word}}`;
      const set = value !== undefined;
      const empty = (value ?? "") === "";
      switch (ch) {
        case 0x2d: // -
          return !set || (nullIsUnset && empty) ? word : (value as string);
        case 0x2b: // +
          return !set || (nullIsUnset && empty) ? "" : word;
        case 0x3f: // ?
          if (!set) throw new LexError(`${name}: ${word !== "" ? word : "is not allowed to be unset"}`);
          if (nullIsUnset && empty) throw new LexError(`${name}: ${word !== "" ? word : "is not allowed to be empty"}`);
          return value as string;
        case 0x23:
        case 0x25: {
          // # and % trim a prefix/suffix; doubled, the longest match.
          let greedy = false;
          let pat = word;
          if (pat.length > 0 && pat.codePointAt(0) === ch) {
            greedy = true;
            pat = pat.slice(1);
          }
          return ch === 0x25 ? trimSuffix(pat, value ?? "", greedy) : trimPrefix(pat, value ?? "", greedy);
        }
        default:
          throw new LexError(`unsupported modifier (${chs}) in substitution`);
      }
    }
    if (ch === 0x2f /* / */) {
      const replaceAll = this.sc.peek() === 0x2f;
      if (replaceAll) this.sc.next();
      let pattern: string;
      let replacement: string;
      try {
        [pattern] = this.processStopOn(0x2f, true);
      } catch (e) {
        if (this.sc.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
        throw e;
      }
      try {
        [replacement] = this.processStopOn(0x7d, true);
      } catch (e) {
        if (this.sc.peek() === EOF) throw new LexError("syntax error: missing '}'");
        throw e;
      }
      const value = this.getEnv(name);
      if (this.lex.opts.skipUnsetEnv && value === undefined) return `\${${name}/${pattern}/${replacement}}`;
      const re = shellPatternToRegex(pattern, true, false, replaceAll);
      const v = value ?? "";
      return replaceAll ? v.replace(re, () => replacement) : v.replace(re, () => replacement);
    }
    if (ch === EOF) throw new LexError("syntax error: missing '}'");
    throw new LexError(`unsupported modifier (${chs}) in substitution`);
  }

  private processName(): string {
    let name = "";
    while (this.sc.peek() !== EOF) {
      const ch = this.sc.peek();
      if (name.length === 0 && isDigit(ch)) {
        while (this.sc.peek() !== EOF && isDigit(this.sc.peek())) name += chr(this.sc.next());
        return name;
      }
      if (name.length === 0 && isSpecialParam(ch)) return chr(this.sc.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== 0x5f) break;
      name += chr(this.sc.next());
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.sc.next();
    if (this.sc.peek() !== 0x3c) return "<";
    this.sc.next();
    let space = "";
    for (let n = this.sc.peek(); n === 0x09 || n === 0x0d || n === 0x20; n = this.sc.peek()) {
      space += chr(n);
      this.sc.next();
    }
    return `<<${space}`;
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.get(name);
    if (v !== undefined) this.matched.add(name);
    else this.unmatched.add(name);
    return v;
  }
}

/** A shell wildcard pattern (`*`, `?`, `\` escapes; no brackets) as a regular expression. */
function shellPatternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  let out = anchored ? "^" : "";
  const star = greedy ? "[^\\n]*" : "[^\\n]*?";
  const cps = Array.from(pattern);
  for (let i = 0; i < cps.length; i++) {
    const tok = cps[i] as string;
    if (tok === "*") out += star;
    else if (tok === "?") out += "[^\\n]";
    else if (tok === "\\") {
      const n = cps[i + 1];
      if (n === "}" || n === "/") continue; // escaped only for the ${} syntax
      if (n !== "*" && n !== "?" && n !== "\\") throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ""}'`);
      out += `\\${n}`;
      i++;
    } else if ("[]{}.+()|^$".includes(tok)) out += `\\${tok}`;
    else out += tok;
  }
  return new RegExp(out, global ? "gu" : "u");
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegex(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/** Reverse a pattern without reversing its escapes (a\*c → c\*a). */
function reversePattern(pattern: string): string {
  const p = Array.from(pattern);
  const out: string[] = new Array<string>(p.length);
  const last = p.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = p[i] as string;
    const o = last - i;
    if (tok === "\\" && i !== last) {
      out[o - 1] = tok;
      out[o] = p[i + 1] as string;
      i += 2;
    } else {
      out[o] = tok;
      i++;
    }
  }
  return out.join("");
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const rev = (s: string): string => Array.from(s).reverse().join("");
  return rev(trimPrefix(reversePattern(pattern), rev(value), greedy));
}
