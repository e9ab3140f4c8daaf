/**
 * Dockerfile syntax: parser directives (`# syntax=`, `# escape=`, `# check=`),
 * comments, line continuations (with the escape token), per-instruction
 * argument forms (JSON exec form, shell form, key=value pairs, whitespace
 * lists), builder flags (`--from=x`) and heredocs (`RUN <<EOF`,
 * `COPY <<EOF /file`). The result is a list of nodes, one per instruction,
 * with their source location; instructions.ts gives them meaning.
 *
 * Pure: text in, nodes out. Follows BuildKit's parser, which both of Docker's
 * builders use, so the same file yields the same words.
 */
import { DockerfileError } from "./errors.js";
import { ShellLex, emptyEnv } from "./lex.js";

export interface Heredoc {
  /** The terminator word, e.g. EOF. */
  name: string;
  fileDescriptor: number;
  /** Unquoted terminator: variables in the content are expanded (COPY). */
  expand: boolean;
  /** `<<-`: leading tabs are stripped. */
  chomp: boolean;
  content: string;
}

export interface Node {
  /** The instruction as written (e.g. "RUN", "run"). */
  cmd: string;
  /** The logical line: physical lines joined, continuation tokens removed. */
  original: string;
  /** Builder flags, e.g. ["--from=build", "--chown=1:1"]. */
  flags: string[];
  /** The arguments as the instruction's line parser split them (ENV/LABEL: key, value, separator triples). */
  args: string[];
  /** The arguments were a JSON array (exec form). */
  json: boolean;
  heredocs: Heredoc[];
  /** ONBUILD's instruction. */
  sub?: Node;
  /** Comment lines directly above the instruction. */
  comments: string[];
  startLine: number;
  endLine: number;
  /** Column of the instruction keyword on its first line. */
  column: number;
}

export interface ParseResult {
  nodes: Node[];
  escapeToken: string;
  /** `# syntax=` directive, if any (informational: the built-in frontend is always used). */
  syntax?: string;
  warnings: string[];
}

const DIRECTIVE_RE = /^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const VALID_DIRECTIVES = new Set(["syntax", "escape", "check"]);
const HEREDOC_RE = /^(\d*)<<(-?)\s*([^<]*)$/;
const WHITESPACE_RE = /[\t\v\f\r ]+/;
const HEREDOC_INSTRUCTIONS = new Set(["add", "copy", "run"]);

export const INSTRUCTIONS = [
  "add",
  "arg",
  "cmd",
  "copy",
  "entrypoint",
  "env",
  "expose",
  "from",
  "healthcheck",
  "label",
  "maintainer",
  "onbuild",
  "run",
  "shell",
  "stopsignal",
  "user",
  "volume",
  "workdir",
] as const;

/** Go's unicode.IsSpace for one UTF-16 unit (surrogates never are). */
function isSpaceChar(c: string): boolean {
  return /^\s$/u.test(c) || c === "\u0085";
}

function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpaceChar(s[i] as string)) i++;
  return s.slice(i);
}

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, "");
}

function isComment(line: string): boolean {
  return trimLeftSpace(line).startsWith("#");
}

class Directives {
  escapeToken = "\\";
  private continuation!: RegExp;
  private done = false;
  private readonly seen = new Set<string>();
  syntax: string | undefined;

  constructor() {
    this.setEscape("\\");
  }

  setEscape(s: string): void {
    if (s !== "`" && s !== "\\") throw new Error(`invalid escape token '${s}' does not match \` or \\`);
    this.escapeToken = s;
    const e = `\\${s}`;
    // The escape token as the last non-blank character continues the line, unless it is itself escaped.
    this.continuation = new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
  }

  /** Returns true when the line was a parser directive. */
  possibleDirective(line: string): boolean {
    if (this.done) return false;
    if (!line.startsWith("#")) {
      this.done = true;
      return false;
    }
    const m = DIRECTIVE_RE.exec(trimLeftSpace(line.slice(1)));
    if (!m) {
      this.done = true;
      return false;
    }
    const key = (m[1] as string).toLowerCase();
    if (!VALID_DIRECTIVES.has(key)) {
      this.done = true;
      return false;
    }
    if (this.seen.has(key)) throw new Error(`only one ${key} parser directive can be used`);
    this.seen.add(key);
    const value = m[2] as string;
    if (key === "escape") this.setEscape(value);
    if (key === "syntax") this.syntax = value;
    return true;
  }

  trimContinuation(line: string): [string, boolean] {
    if (this.continuation.test(line)) return [line.replace(this.continuation, "$1"), false];
    return [line, true];
  }
}

/** Split a Dockerfile into lines, keeping each line's terminator. */
function splitLines(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const i = text.indexOf("\n", start);
    if (i < 0) {
      if (start < text.length) out.push(text.slice(start));
      return out;
    }
    out.push(text.slice(start, i + 1));
    start = i + 1;
  }
}

/**
 * Parse a Dockerfile. Throws DockerfileError (file, line, column, and what was
 * expected) on syntax errors.
 */
export function parseDockerfile(text: string, file = "Dockerfile"): ParseResult {
  const d = new Directives();
  const lines = splitLines(text.startsWith("\uFEFF") ? text.slice(1) : text);
  const nodes: Node[] = [];
  const warnings: string[] = [];
  let comments: string[] = [];
  let li = 0; // index of the next physical line
  const fail = (msg: string, line: number, column = 1): never => {
    throw new DockerfileError(msg, { file, line, column });
  };

  const processLine = (raw: string, stripLeft: boolean, lineNo: number): [string, boolean] => {
    let token = trimNewline(raw);
    if (stripLeft) token = trimLeftSpace(token);
    let directive = false;
    try {
      directive = d.possibleDirective(token);
    } catch (e) {
      fail((e as Error).message, lineNo);
    }
    return [isComment(token) ? "" : token, directive];
  };

  while (li < lines.length) {
    const raw = lines[li] as string;
    const lineNo = li + 1;
    li++;
    if (isComment(raw)) {
      const c = trimLeftSpace(raw).slice(1).trim();
      if (c === "") comments = [];
      else comments.push(c);
    }
    const [first, directive] = processLine(raw, true, lineNo);
    if (directive) comments.pop();
    const startLine = lineNo;
    const column = trimNewline(raw).length - trimLeftSpace(trimNewline(raw)).length + 1;
    let [buf, eol] = d.trimContinuation(first);
    if (eol && buf.length === 0) continue;
    let emptyContinuation = false;
    let endLine = startLine;
    while (!eol && li < lines.length) {
      const next = lines[li] as string;
      endLine = li + 1;
      li++;
      const [part] = processLine(next, false, endLine);
      if (isComment(next)) continue;
      if (trimLeftSpace(trimNewline(part)).length === 0) {
        emptyContinuation = true;
        continue;
      }
      const [trimmed, e] = d.trimContinuation(part);
      eol = e;
      buf += trimmed;
    }
    if (emptyContinuation) warnings.push(`Empty continuation line found in: ${buf}`);

    let node: Node;
    try {
      node = nodeFromLine(buf, d.escapeToken, comments);
    } catch (e) {
      if (e instanceof DockerfileError) throw e;
      return fail((e as Error).message, startLine, column);
    }
    node.startLine = startLine;
    node.column = column;

    if (canContainHeredoc(node) && buf.includes("<<")) {
      let heredocs: Heredoc[];
      try {
        heredocs = heredocsFromLine(buf);
      } catch (e) {
        return fail((e as Error).message, startLine, column);
      }
      for (const h of heredocs) {
        let terminated = false;
        let content = "";
        while (li < lines.length) {
          const l = lines[li] as string;
          endLine = li + 1;
          li++;
          let candidate = trimNewline(l);
          if (h.chomp) candidate = candidate.replace(/^\t+/, "");
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += l;
        }
        if (!terminated) fail(`unterminated heredoc: expected a line "${h.name}" to end the heredoc started here`, startLine, column);
        node.heredocs.push({ ...h, content });
      }
      if (node.sub) node.sub.heredocs = node.heredocs;
    }
    node.endLine = endLine;
    nodes.push(node);
    comments = [];
  }
  if (nodes.length === 0) fail("file with no instructions: expected at least a FROM instruction", Math.max(1, lines.length));
  const res: ParseResult = { nodes, escapeToken: d.escapeToken, warnings };
  if (d.syntax !== undefined) res.syntax = d.syntax;
  return res;
}

function canContainHeredoc(node: Node): boolean {
  const n = node.cmd.toLowerCase() === "onbuild" && node.sub ? node.sub : node;
  return HEREDOC_INSTRUCTIONS.has(n.cmd.toLowerCase()) && !n.json;
}

/** Split `CMD [flags] args` and run the instruction's line parser. */
function nodeFromLine(line: string, escapeToken: string, comments: string[]): Node {
  const trimmed = line.trim();
  const m = /^([^\t\v\f\r ]+)(?:[\t\v\f\r ]+([\s\S]*))?$/.exec(trimmed);
  const cmd = m?.[1] ?? trimmed;
  let rest = m?.[2] ?? "";
  let flags: string[] = [];
  if (rest !== "") [rest, flags] = extractBuilderFlags(rest, escapeToken);
  rest = rest.trim();
  const node: Node = { cmd, original: line, flags, args: [], json: false, heredocs: [], comments: [...comments], startLine: 0, endLine: 0, column: 1 };
  const lower = cmd.toLowerCase();
  switch (lower) {
    case "add":
    case "copy":
    case "volume":
      parseMaybeJSONToList(node, rest);
      break;
    case "arg":
      node.args = parseWords(rest, escapeToken);
      break;
    case "cmd":
    case "entrypoint":
    case "run":
    case "shell":
      parseMaybeJSON(node, rest);
      break;
    case "env":
    case "label":
      node.args = parseNameVal(rest, lower === "env" ? "ENV" : "LABEL", escapeToken);
      break;
    case "expose":
    case "from":
      node.args = rest === "" ? [] : rest.split(WHITESPACE_RE);
      break;
    case "healthcheck":
      parseHealthConfig(node, rest);
      break;
    case "maintainer":
    case "stopsignal":
    case "user":
    case "workdir":
      node.args = rest === "" ? [] : [rest];
      break;
    case "onbuild":
      if (rest !== "") {
        node.sub = nodeFromLine(rest, escapeToken, []);
        node.args = [node.sub.cmd, ...node.sub.args];
      }
      break;
    default:
      // Unknown instructions are reported when the instructions are interpreted.
      break;
  }
  return node;
}

/**
 * Builder flags at the start of the arguments (`--chown=1 --from=x src dst`):
 * words starting with `--`, with quotes and escapes processed; `--` alone ends them.
 */
export function extractBuilderFlags(line: string, escapeToken: string): [string, string[]] {
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let word = "";
  let quote = "";
  let blankOK = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const ch = pos < line.length ? (line[pos] as string) : "";
    if (phase === "spaces") {
      if (pos === line.length) break;
      if (isSpaceChar(ch)) continue;
      if (ch !== "-" || pos + 1 === line.length || line[pos + 1] !== "-") return [line.slice(pos), words];
      phase = "word";
    }
    if (pos === line.length) {
      if (word !== "--" && (blankOK || word.length > 0)) words.push(word);
      break;
    }
    if (phase === "word") {
      if (isSpaceChar(ch)) {
        phase = "spaces";
        if (word === "--") return [line.slice(pos), words];
        if (blankOK || word.length > 0) words.push(word);
        word = "";
        blankOK = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOK = true;
        phase = "quote";
        continue;
      }
      let c = ch;
      if (c === escapeToken) {
        if (pos + 1 === line.length) continue;
        pos++;
        c = line[pos] as string;
      }
      word += c;
      continue;
    }
    // in quotes
    if (ch === quote) {
      phase = "word";
      continue;
    }
    let c = ch;
    if (c === escapeToken) {
      if (pos + 1 === line.length) {
        phase = "word";
        continue;
      }
      pos++;
      c = line[pos] as string;
    }
    word += c;
  }
  return ["", words];
}

/** Words separated by whitespace; quotes and escapes are kept (removed later, by the lexer). */
export function parseWords(rest: string, escapeToken: string): string[] {
  const words: string[] = [];
  let phase: "spaces" | "word" | "quote" = "spaces";
  let quote = "";
  let blankOK = false;
  let buf = "";
  const cps = Array.from(rest);
  for (let pos = 0; pos <= cps.length; pos++) {
    const ch = pos < cps.length ? (cps[pos] as string) : "";
    if (phase === "spaces") {
      if (pos === cps.length) break;
      if (isSpaceChar(ch)) continue;
      phase = "word";
    }
    if (pos === cps.length) {
      if (blankOK || buf.length > 0) words.push(buf);
      break;
    }
    if (phase === "word") {
      if (isSpaceChar(ch)) {
        phase = "spaces";
        if (blankOK || buf.length > 0) words.push(buf);
        buf = "";
        blankOK = false;
        continue;
      }
      let c = ch;
      if (c === "'" || c === '"') {
        quote = c;
        blankOK = true;
        phase = "quote";
      }
      if (c === escapeToken) {
        if (pos + 1 === cps.length) continue; // an escape token at the end is dropped
        buf += c;
        pos++;
        c = cps[pos] as string;
      }
      buf += c;
      continue;
    }
    // in quotes
    let c = ch;
    if (c === quote) phase = "word";
    if (c === escapeToken && quote !== "'") {
      if (pos + 1 === cps.length) {
        phase = "word";
        continue;
      }
      pos++;
      buf += c;
      c = cps[pos] as string;
    }
    buf += c;
  }
  return words;
}

/** ENV / LABEL: `key value` (old form) or `k1=v1 k2="v 2"`. Returns key, value, separator triples. */
function parseNameVal(rest: string, key: string, escapeToken: string): string[] {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return [];
  if (!(words[0] as string).includes("=")) {
    const m = /^([^\t\v\f\r ]+)[\t\v\f\r ]+([\s\S]*)$/.exec(rest);
    if (!m || (m[2] ?? "") === "") throw new Error(`${key} must have two arguments: expected ${key} name=value (or ${key} name value)`);
    return [m[1] as string, m[2] as string, ""];
  }
  const out: string[] = [];
  for (const w of words) {
    const i = w.indexOf("=");
    if (i < 0) throw new Error(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    out.push(w.slice(0, i), w.slice(i + 1), "=");
  }
  return out;
}

class NotJsonArray extends Error {}
class NotStringArray extends Error {}

function parseJSON(rest: string): string[] {
  const r = trimLeftSpace(rest);
  if (!r.startsWith("[")) throw new NotJsonArray("not a JSON array");
  let v: unknown;
  try {
    v = JSON.parse(r);
  } catch {
    throw new NotJsonArray("not a JSON array");
  }
  if (!Array.isArray(v)) throw new NotJsonArray("not a JSON array");
  if (!v.every((x) => typeof x === "string")) throw new NotStringArray("when using JSON array syntax, arrays must be comprised of strings only");
  return v as string[];
}

function parseMaybeJSON(node: Node, rest: string): void {
  if (rest === "") return;
  try {
    node.args = parseJSON(rest);
    node.json = true;
  } catch (e) {
    if (e instanceof NotStringArray) throw e;
    node.args = [rest];
  }
}

function parseMaybeJSONToList(node: Node, rest: string): void {
  try {
    node.args = parseJSON(rest);
    node.json = true;
  } catch (e) {
    if (e instanceof NotStringArray) throw e;
    node.args = rest === "" ? [] : rest.split(WHITESPACE_RE);
  }
}

function parseHealthConfig(node: Node, rest: string): void {
  let sep = 0;
  while (sep < rest.length && !isSpaceChar(rest[sep] as string)) sep++;
  let next = sep;
  while (next < rest.length && isSpaceChar(rest[next] as string)) next++;
  if (sep === 0) return;
  const sub: Node = { ...node, args: [] };
  parseMaybeJSON(sub, rest.slice(next));
  node.args = [rest.slice(0, sep), ...sub.args];
  node.json = sub.json;
}

/** A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined. */
export function parseHeredoc(src: string): Omit<Heredoc, "content"> | undefined {
  const m = HEREDOC_RE.exec(src);
  if (!m) return undefined;
  const rest = m[3] ?? "";
  if (rest.length === 0) return undefined;
  const lex = new ShellLex("\\", { skipUnsetEnv: true });
  const words = lex.processWords(rest, emptyEnv);
  if (words.length !== 1) return undefined;
  const raw = new ShellLex("\\", { skipUnsetEnv: true, rawQuotes: true }).processWords(rest, emptyEnv);
  if (raw.length !== words.length) throw new Error(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  const word = words[0] as string;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  return {
    name: word,
    fileDescriptor: m[1] ? Number(m[1]) : 0,
    chomp: m[2] === "-",
    expand: quotes(word) === quotes(raw[0] as string),
  };
}

function heredocsFromLine(line: string): Heredoc[] {
  const lex = new ShellLex("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true });
  let words: string[];
  try {
    words = lex.processWords(line, emptyEnv);
  } catch {
    words = [];
  }
  const docs: Heredoc[] = [];
  for (const w of words) {
    const h = parseHeredoc(w);
    if (h) docs.push({ ...h, content: "" });
  }
  return docs;
}

/** `<<-` heredocs: leading tabs of every line are removed. */
export function chompHeredocContent(src: string): string {
  return src.replace(/^\t+/gm, "");
}
