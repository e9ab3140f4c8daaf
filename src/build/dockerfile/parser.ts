/**
 * Dockerfile syntax, from text to one node per instruction. instructions.ts
 * gives the nodes meaning. Pure: text in, nodes out. It matches the syntax
 * Docker's builders accept (see the Dockerfile reference):
 *
 * - Parser directives (`# syntax=`, `# escape=`, `# check=`) are only
 *   recognised in the lines at the very top of the file. The first line that
 *   is not a known directive (an instruction, a blank line, an ordinary
 *   comment, an unknown `# key=value`) ends them. Each one may appear once.
 *   `escape` picks the escape character: `\` (default) or a backtick.
 * - `#` lines are comments. Comments directly above an instruction are kept
 *   with it; a bare `#` line drops the ones before it.
 * - The escape character as the last non-blank character of a line joins the
 *   next line to it, unless that escape character is escaped itself. Comment
 *   lines inside such a run are skipped. Blank lines inside it are skipped
 *   too, with a warning.
 * - An instruction is a keyword (any case), then optional builder flags
 *   (`--name=value`, ended by the first word that doesn't start with `--`, or
 *   by a bare `--`), then arguments. How the arguments are split depends on
 *   the instruction: exec form (a JSON array of strings) or shell form, plain
 *   whitespace lists, `key=value` pairs with their quotes kept, and so on.
 *   See ARGUMENT_FORMS.
 * - RUN, COPY and ADD (also as ONBUILD triggers), in shell form, may name
 *   heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`). Their bodies are the
 *   physical lines that follow, up to a line that is exactly the terminator
 *   (with leading tabs ignored for `<<-`).
 *
 * How it is built: a cursor hands out physical lines; a statement reader
 * folds them into logical lines, keeping comments and line numbers; a
 * statement is then split into keyword, flags and arguments by a word scanner
 * shared by the flag and argument rules; the heredoc bodies are read last,
 * from the lines after the statement.
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
  /** The arguments, split as the instruction's argument form says (ENV/LABEL: key, value, separator triples). */
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

// --- characters ------------------------------------------------------------------------

/** Unicode white space, as Go's unicode.IsSpace sees it (which is what Docker uses). */
const UNICODE_BLANKS = new Set(["\t", "\n", "\v", "\f", "\r", " ", "\u0085", "\u00a0", "\u1680", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]);

function isBlank(c: string | undefined): boolean {
  if (c === undefined) return false;
  return UNICODE_BLANKS.has(c) || (c >= "\u2000" && c <= "\u200a");
}

/**
 * ASCII blanks, which separate the instruction keyword from its arguments and
 * the items of whitespace lists (FROM, EXPOSE, COPY's shell form).
 */
function isFieldBreak(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\v" || c === "\f" || c === "\r";
}

function isLetter(c: string | undefined): boolean {
  return c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function skipBlanks(s: string, from: number): number {
  let i = from;
  while (i < s.length && isBlank(s[i])) i++;
  return i;
}

function trimBlanks(s: string): string {
  let end = s.length;
  while (end > 0 && isBlank(s[end - 1])) end--;
  return s.slice(skipBlanks(s.slice(0, end), 0), end);
}

/** The items of a whitespace list (the callers pass trimmed, non-empty text). */
function fields(s: string): string[] {
  const out: string[] = [];
  let item = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (!isFieldBreak(c)) item += c;
    else if (!isFieldBreak(s[i - 1])) {
      out.push(item);
      item = "";
    }
  }
  out.push(item);
  return out;
}

// --- physical lines --------------------------------------------------------------------

interface PhysicalLine {
  /** 1-based line number. */
  no: number;
  /** The line with its terminator, as heredoc bodies need it. */
  raw: string;
  /** The line without trailing CR/LF characters. */
  body: string;
}

/** Hands out the lines of a text one by one; a line ends after "\n" or at the end of the text. */
class LineCursor {
  private offset = 0;
  private handedOut = 0;

  constructor(private readonly text: string) {}

  /** How many lines have been taken so far (the number of the last one). */
  get taken(): number {
    return this.handedOut;
  }

  peek(): PhysicalLine | undefined {
    if (this.offset >= this.text.length) return undefined;
    const nl = this.text.indexOf("\n", this.offset);
    const raw = nl < 0 ? this.text.slice(this.offset) : this.text.slice(this.offset, nl + 1);
    let end = raw.length;
    while (end > 0 && (raw[end - 1] === "\n" || raw[end - 1] === "\r")) end--;
    return { no: this.handedOut + 1, raw, body: raw.slice(0, end) };
  }

  take(): PhysicalLine | undefined {
    const line = this.peek();
    if (line) {
      this.offset += line.raw.length;
      this.handedOut++;
    }
    return line;
  }
}

// --- parser directives -----------------------------------------------------------------

const DIRECTIVE_NAMES = new Set(["syntax", "escape", "check"]);

/** The blanks allowed around a directive's `=` and after its value: space, tab, CR, FF (and LF). */
function isDirectiveBlank(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\n";
}

/**
 * `#  name = value` with a known name, or undefined. The name is a letter
 * followed by letters and digits, in any case. If the value is nothing but
 * blanks, Docker takes the last blank as the value (so `# escape= ` is an
 * invalid escape token, not a comment); this does the same.
 */
function readDirective(body: string): { name: string; value: string } | undefined {
  let i = skipBlanks(body, 0);
  if (body[i] !== "#") return undefined;
  i = skipBlanks(body, i + 1);
  const nameStart = i;
  if (!isLetter(body[i])) return undefined;
  while (isLetter(body[i]) || isDigit(body[i])) i++;
  const name = body.slice(nameStart, i).toLowerCase();
  while (isDirectiveBlank(body[i])) i++;
  if (body[i] !== "=") return undefined;
  const afterEq = i + 1;
  let from = afterEq;
  while (isDirectiveBlank(body[from])) from++;
  let to = body.length;
  while (to > from && isDirectiveBlank(body[to - 1])) to--;
  if (from === to) {
    if (from === afterEq) return undefined; // nothing after `=`
    from--; // a value of blanks only: the last one
  }
  if (!DIRECTIVE_NAMES.has(name)) return undefined;
  return { name, value: body.slice(from, to) };
}

interface Header {
  escape: string;
  syntax?: string;
}

/** Consume the directive lines at the top of the file. */
function readHeader(lines: LineCursor, fail: (msg: string, line: number) => never): Header {
  const header: Header = { escape: "\\" };
  const seen = new Set<string>();
  for (let line = lines.peek(); line; line = lines.peek()) {
    const d = readDirective(line.body);
    if (!d) break;
    lines.take();
    if (seen.has(d.name)) fail(`only one ${d.name} parser directive can be used`, line.no);
    seen.add(d.name);
    if (d.name === "escape") {
      if (d.value !== "\\" && d.value !== "`") fail(`invalid escape token '${d.value}' does not match \` or \\`, line.no);
      header.escape = d.value;
    } else if (d.name === "syntax") {
      header.syntax = d.value;
    }
  }
  return header;
}

// --- logical lines ---------------------------------------------------------------------

/**
 * If the line ends (before trailing spaces and tabs) with an unescaped escape
 * character, the line without it and `joined: true`.
 */
function splitContinuation(line: string, esc: string): { text: string; joined: boolean } {
  let end = line.length;
  while (end > 0 && (line[end - 1] === " " || line[end - 1] === "\t")) end--;
  if (end === 0 || line[end - 1] !== esc || (end >= 2 && line[end - 2] === esc)) return { text: line, joined: false };
  return { text: line.slice(0, end - 1), joined: true };
}

function isCommentLine(body: string): boolean {
  return body[skipBlanks(body, 0)] === "#";
}

interface Statement {
  text: string;
  firstLine: number;
  lastLine: number;
  column: number;
  comments: string[];
  /** Blank lines were skipped inside the continuation run. */
  hadBlankLines: boolean;
}

/** Read the next instruction's logical line, collecting the comments above it. Undefined at the end of the file. */
function readStatement(lines: LineCursor, esc: string): Statement | undefined {
  let comments: string[] = [];
  for (let line = lines.take(); line; line = lines.take()) {
    const indent = skipBlanks(line.body, 0);
    const content = line.body.slice(indent);
    if (content.startsWith("#")) {
      const note = trimBlanks(content.slice(1));
      if (note === "") comments = [];
      else comments.push(note);
      continue;
    }
    let { text, joined } = splitContinuation(content, esc);
    if (!joined && text === "") continue;
    const st: Statement = { text, firstLine: line.no, lastLine: line.no, column: indent + 1, comments, hadBlankLines: false };
    while (joined) {
      const next = lines.take();
      if (!next) break;
      st.lastLine = next.no;
      if (isCommentLine(next.body)) continue;
      if (skipBlanks(next.body, 0) === next.body.length) {
        st.hadBlankLines = true;
        continue;
      }
      ({ text, joined } = splitContinuation(next.body, esc));
      st.text += text;
    }
    return st;
  }
  return undefined;
}

// --- words -----------------------------------------------------------------------------

interface WordRules {
  esc: string;
  /** Keep quote and escape characters in the word (they are still interpreted). */
  keepSyntax: boolean;
  /** The escape character also works inside single quotes. */
  escapeInSingleQuotes: boolean;
}

/**
 * The word starting at `start` (not a blank): it runs to the first blank
 * outside quotes. Inside double quotes (and single quotes, if the rules say
 * so) the escape character escapes the next character. An escape character
 * at the very end of the text is dropped.
 */
function scanWord(s: string, start: number, rules: WordRules): { text: string; end: number } {
  let text = "";
  let quote: string | undefined;
  let i = start;
  while (i < s.length) {
    const c = s[i] as string;
    if (quote === undefined && isBlank(c)) break;
    i++;
    if (c === rules.esc && (quote === undefined || quote === '"' || rules.escapeInSingleQuotes)) {
      if (i === s.length) break;
      if (rules.keepSyntax) text += c;
      text += s[i] as string;
      i++;
    } else if (quote === undefined && (c === '"' || c === "'")) {
      quote = c;
      if (rules.keepSyntax) text += c;
    } else if (c === quote) {
      quote = undefined;
      if (rules.keepSyntax) text += c;
    } else {
      text += c;
    }
  }
  return { text, end: i };
}

/**
 * Builder flags at the start of the arguments (`--chown=1 --from=x src dst`):
 * the leading words that start with `--`, with quotes and escapes resolved. A
 * bare `--` ends them and is dropped. Returns what follows and the flags.
 */
export function extractBuilderFlags(line: string, escapeToken: string): [string, string[]] {
  const rules: WordRules = { esc: escapeToken, keepSyntax: false, escapeInSingleQuotes: true };
  const flags: string[] = [];
  let at = skipBlanks(line, 0);
  while (line.startsWith("--", at)) {
    const w = scanWord(line, at, rules);
    if (w.text === "--") return [line.slice(w.end), flags];
    flags.push(w.text);
    at = skipBlanks(line, w.end);
  }
  return [line.slice(at), flags];
}

/**
 * Arguments separated by blanks, with quotes and escapes kept as written
 * (the lexer removes them when the words are expanded). Inside single quotes
 * the escape character is an ordinary character.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const rules: WordRules = { esc: escapeToken, keepSyntax: true, escapeInSingleQuotes: false };
  const words: string[] = [];
  for (let at = skipBlanks(rest, 0); at < rest.length; ) {
    const w = scanWord(rest, at, rules);
    if (w.text !== "") words.push(w.text);
    at = skipBlanks(rest, w.end);
  }
  return words;
}

// --- arguments -------------------------------------------------------------------------

type ArgumentForm =
  /** Exec form (JSON array) or shell form (the whole text as one argument). */
  | "command"
  /** Exec form or a whitespace list. */
  | "paths"
  /** `k=v k2="v 2"`, or the legacy `key the value` (ENV, LABEL). */
  | "assignments"
  /** Blank-separated words, quotes kept (ARG). */
  | "declarations"
  /** A whitespace list. */
  | "list"
  /** The whole text as one argument. */
  | "text"
  /** HEALTHCHECK: a kind word, then a command. */
  | "probe"
  /** ONBUILD: another instruction. */
  | "trigger";

const ARGUMENT_FORMS: Readonly<Record<string, ArgumentForm>> = {
  run: "command",
  cmd: "command",
  entrypoint: "command",
  shell: "command",
  add: "paths",
  copy: "paths",
  volume: "paths",
  env: "assignments",
  label: "assignments",
  arg: "declarations",
  from: "list",
  expose: "list",
  maintainer: "text",
  stopsignal: "text",
  user: "text",
  workdir: "text",
  healthcheck: "probe",
  onbuild: "trigger",
};

/** The strings of a JSON array, or undefined when the text isn't one. Throws for arrays holding anything else. */
function jsonStrings(text: string): string[] | undefined {
  const body = text.slice(skipBlanks(text, 0));
  if (!body.startsWith("[")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (value.some((v) => typeof v !== "string")) throw new Error("when using JSON array syntax, arrays must be comprised of strings only");
  return value as string[];
}

/** Exec form or shell form. */
function commandArgs(text: string): { args: string[]; json: boolean } {
  if (text === "") return { args: [], json: false };
  const exec = jsonStrings(text);
  return exec ? { args: exec, json: true } : { args: [text], json: false };
}

function assignmentArgs(text: string, what: string, esc: string): string[] {
  const words = parseWords(text, esc);
  if (words.length === 0) return [];
  if (!(words[0] as string).includes("=")) {
    // Legacy form: the first field is the name, everything after it the value.
    let i = 0;
    while (i < text.length && !isFieldBreak(text[i])) i++;
    const name = text.slice(0, i);
    while (i < text.length && isFieldBreak(text[i])) i++;
    const value = text.slice(i);
    if (name === text || value === "") throw new Error(`${what} must have two arguments: expected ${what} name=value (or ${what} name value)`);
    return [name, value, ""];
  }
  return words.flatMap((w) => {
    const eq = w.indexOf("=");
    if (eq < 0) throw new Error(`Syntax error - can't find = in ${JSON.stringify(w)}. Must be of the form: name=value`);
    return [w.slice(0, eq), w.slice(eq + 1), "="];
  });
}

function shapeArguments(node: Node, form: ArgumentForm | undefined, text: string, esc: string): void {
  switch (form) {
    case "command": {
      const c = commandArgs(text);
      node.args = c.args;
      node.json = c.json;
      return;
    }
    case "paths": {
      const exec = jsonStrings(text);
      if (exec) {
        node.args = exec;
        node.json = true;
      } else {
        node.args = text === "" ? [] : fields(text);
      }
      return;
    }
    case "assignments":
      node.args = assignmentArgs(text, node.cmd.toUpperCase() === "ENV" ? "ENV" : "LABEL", esc);
      return;
    case "declarations":
      node.args = parseWords(text, esc);
      return;
    case "list":
      node.args = text === "" ? [] : fields(text);
      return;
    case "text":
      node.args = text === "" ? [] : [text];
      return;
    case "probe": {
      if (text === "") return;
      let kindEnd = 0;
      while (kindEnd < text.length && !isBlank(text[kindEnd])) kindEnd++;
      const c = commandArgs(text.slice(skipBlanks(text, kindEnd)));
      node.args = [text.slice(0, kindEnd), ...c.args];
      node.json = c.json;
      return;
    }
    case "trigger":
      if (text === "") return;
      node.sub = dissect(text, esc, []);
      node.args = [node.sub.cmd, ...node.sub.args];
      return;
    case undefined:
      // Unknown instructions are reported when the instructions are interpreted.
      return;
  }
}

/** Split a logical line into keyword, builder flags and arguments. Throws Error for malformed arguments. */
function dissect(line: string, esc: string, comments: string[]): Node {
  const body = trimBlanks(line);
  let k = 0;
  while (k < body.length && !isFieldBreak(body[k])) k++;
  const cmd = body.slice(0, k);
  while (k < body.length && isFieldBreak(body[k])) k++;
  let rest = body.slice(k);
  let flags: string[] = [];
  if (rest !== "") [rest, flags] = extractBuilderFlags(rest, esc);
  const node: Node = { cmd, original: line, flags, args: [], json: false, heredocs: [], comments: [...comments], startLine: 0, endLine: 0, column: 1 };
  shapeArguments(node, ARGUMENT_FORMS[cmd.toLowerCase()], trimBlanks(rest), esc);
  return node;
}

// --- heredocs --------------------------------------------------------------------------

const HEREDOC_INSTRUCTIONS = new Set(["add", "copy", "run"]);

/**
 * A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined: optional
 * digits, `<<`, an optional `-`, then a terminator that is one word of shell
 * syntax with no `<` in it. Quoting any part of the terminator turns
 * expansion of the content off.
 */
export function parseHeredoc(src: string): Omit<Heredoc, "content"> | undefined {
  let i = 0;
  while (isDigit(src[i])) i++;
  const fd = src.slice(0, i);
  if (!src.startsWith("<<", i)) return undefined;
  i += 2;
  const chomp = src[i] === "-";
  if (chomp) i++;
  const terminator = src.slice(skipBlanks(src, i));
  if (terminator === "" || terminator.includes("<")) return undefined;
  let plain: string[];
  let withQuotes: string[];
  try {
    plain = new ShellLex("\\", { skipUnsetEnv: true }).processWords(terminator, emptyEnv);
    withQuotes = new ShellLex("\\", { skipUnsetEnv: true, rawQuotes: true }).processWords(terminator, emptyEnv);
  } catch {
    return undefined; // not valid shell syntax: an ordinary word
  }
  if (plain.length !== 1) return undefined;
  const name = plain[0] as string;
  return { name, fileDescriptor: fd === "" ? 0 : Number(fd), chomp, expand: withQuotes.length === 1 && withQuotes[0] === name };
}

/** The heredoc markers among the words of a logical line. */
function heredocMarkers(line: string): Omit<Heredoc, "content">[] {
  let words: string[];
  try {
    words = new ShellLex("\\", { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).processWords(line, emptyEnv);
  } catch {
    return [];
  }
  return words.map(parseHeredoc).filter((h) => h !== undefined);
}

function takesHeredocs(node: Node): boolean {
  const target = node.cmd.toLowerCase() === "onbuild" && node.sub ? node.sub : node;
  return HEREDOC_INSTRUCTIONS.has(target.cmd.toLowerCase()) && !target.json;
}

/** `<<-` heredocs: leading tabs of every line are removed. */
export function chompHeredocContent(src: string): string {
  return src
    .split("\n")
    .map((l) => l.replace(/^\t+/, ""))
    .join("\n");
}

// --- the file --------------------------------------------------------------------------

/**
 * Parse a Dockerfile. Throws DockerfileError (file, line, column, and what was
 * expected) on syntax errors.
 */
export function parseDockerfile(text: string, file = "Dockerfile"): ParseResult {
  const fail = (msg: string, line: number, column = 1): never => {
    throw new DockerfileError(msg, { file, line, column });
  };
  const lines = new LineCursor(text.startsWith("\uFEFF") ? text.slice(1) : text);
  const header = readHeader(lines, fail);
  const esc = header.escape;
  const nodes: Node[] = [];
  const warnings: string[] = [];

  for (let st = readStatement(lines, esc); st; st = readStatement(lines, esc)) {
    if (st.hadBlankLines) warnings.push(`Empty continuation line found in: ${st.text}`);
    let node: Node;
    try {
      node = dissect(st.text, esc, st.comments);
    } catch (e) {
      return fail((e as Error).message, st.firstLine, st.column);
    }
    node.startLine = st.firstLine;
    node.column = st.column;
    node.endLine = st.lastLine;
    if (node.sub) {
      node.sub.startLine = node.startLine;
      node.sub.column = node.column;
    }

    if (takesHeredocs(node) && st.text.includes("<<")) {
      for (const marker of heredocMarkers(st.text)) {
        let content = "";
        for (;;) {
          const line = lines.take();
          if (!line) return fail(`unterminated heredoc: expected a line "${marker.name}" to end the heredoc started here`, st.firstLine, st.column);
          node.endLine = line.no;
          if ((marker.chomp ? line.body.replace(/^\t+/, "") : line.body) === marker.name) break;
          content += line.raw;
        }
        node.heredocs.push({ ...marker, content });
      }
      if (node.sub) node.sub.heredocs = node.heredocs;
    }
    if (node.sub) node.sub.endLine = node.endLine;
    nodes.push(node);
  }

  if (nodes.length === 0) fail("file with no instructions: expected at least a FROM instruction", Math.max(1, lines.taken));
  const res: ParseResult = { nodes, escapeToken: esc, warnings };
  if (header.syntax !== undefined) res.syntax = header.syntax;
  return res;
}
