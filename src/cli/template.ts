/**
 * A subset of Go's text/template, enough for docker's `--format` / `-f` flags:
 * field chains (`.State.ExitCode`), variables (`$`, `$v`), pipelines (`a | b`),
 * parenthesised sub-expressions, `if`/`else`/`range`/`with`/`end`, whitespace
 * trimming (`{{-`, `-}}`), comments, and docker's functions (json, join, split,
 * upper, lower, title, pad, truncate, println) plus Go's builtins (index, len,
 * print, printf, eq, ne, lt, le, gt, ge, and, or, not).
 *
 * Values print like Go's `%v` of decoded JSON: maps as `map[k:v]` (sorted
 * keys), arrays as `[a b]`, null as `<nil>`; a missing field is an error
 * (docker's `missingkey=error`).
 */

export type TemplateFunc = (...args: unknown[]) => unknown;
export type TemplateFuncs = Record<string, TemplateFunc>;

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

// --- AST ---------------------------------------------------------------------

type Operand =
  | { kind: "field"; base: "dot" | "var"; varName: string; path: string[] }
  | { kind: "ident"; name: string }
  | { kind: "literal"; value: unknown }
  | { kind: "sub"; pipe: Pipeline; path: string[] };

interface Command {
  args: Operand[];
}

interface Pipeline {
  decl: string[];
  cmds: Command[];
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline }
  | { kind: "if" | "with"; pipe: Pipeline; body: Node[]; elseBody: Node[] }
  | { kind: "range"; pipe: Pipeline; body: Node[]; elseBody: Node[] };

// --- lexing ------------------------------------------------------------------

interface RawAction {
  text: string;
}

function splitTemplate(src: string): (string | RawAction)[] {
  const out: (string | RawAction)[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf("{{", i);
    if (open < 0) {
      out.push(src.slice(i));
      break;
    }
    let text = src.slice(i, open);
    let start = open + 2;
    if (src[start] === "-" && /\s/.test(src[start + 1] ?? "")) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    // Find the closing braces, skipping quoted strings.
    let j = start;
    let close = -1;
    while (j < src.length) {
      const ch = src[j];
      if (ch === '"' || ch === "`" || ch === "'") {
        const q = ch;
        j++;
        while (j < src.length && src[j] !== q) j += src[j] === "\\" && q !== "`" ? 2 : 1;
        j++;
        continue;
      }
      if (src.startsWith("}}", j)) {
        close = j;
        break;
      }
      j++;
    }
    if (close < 0) throw new TemplateError(`template: :${src.slice(0, start).split("\n").length}: unclosed action`);
    let inner = src.slice(start, close);
    let next = close + 2;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -1);
      const m = src.slice(next).match(/^\s*/);
      next += m ? m[0].length : 0;
    }
    if (text !== "") out.push(text);
    out.push({ text: inner });
    i = next;
  }
  return out;
}

type Tok =
  | { t: "field"; path: string[] } // ".A.B" or "." (empty path)
  | { t: "var"; name: string; path: string[] }
  | { t: "ident"; name: string }
  | { t: "string"; value: string }
  | { t: "number"; value: number }
  | { t: "pipe" }
  | { t: "lparen" }
  | { t: "rparen"; path: string[] }
  | { t: "declare" }
  | { t: "assign" }
  | { t: "comma" };

function tokenize(s: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const readPath = (): string[] => {
    const path: string[] = [];
    while (s[i] === "." && /[A-Za-z_]/.test(s[i + 1] ?? "")) {
      i++;
      const m = s.slice(i).match(/^[A-Za-z_][A-Za-z0-9_]*/);
      path.push(m ? m[0] : "");
      i += m ? m[0].length : 0;
    }
    return path;
  };
  while (i < s.length) {
    const ch = s[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === "|") {
      toks.push({ t: "pipe" });
      i++;
    } else if (ch === "(") {
      toks.push({ t: "lparen" });
      i++;
    } else if (ch === ")") {
      i++;
      toks.push({ t: "rparen", path: readPath() });
    } else if (ch === ",") {
      toks.push({ t: "comma" });
      i++;
    } else if (s.startsWith(":=", i)) {
      toks.push({ t: "declare" });
      i += 2;
    } else if (ch === "=") {
      toks.push({ t: "assign" });
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      let v = "";
      while (j < s.length && s[j] !== '"') {
        if (s[j] === "\\") {
          const e = s[j + 1] ?? "";
          const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", "'": "'", a: "\x07", b: "\b", f: "\f", v: "\v", "0": "\0" };
          if (e === "x") {
            v += String.fromCharCode(parseInt(s.slice(j + 2, j + 4), 16));
            j += 4;
            continue;
          }
          if (e === "u") {
            v += String.fromCharCode(parseInt(s.slice(j + 2, j + 6), 16));
            j += 6;
            continue;
          }
          v += map[e] ?? e;
          j += 2;
        } else {
          v += s[j];
          j++;
        }
      }
      if (j >= s.length) throw new TemplateError("template: unterminated quoted string");
      toks.push({ t: "string", value: v });
      i = j + 1;
    } else if (ch === "`") {
      const j = s.indexOf("`", i + 1);
      if (j < 0) throw new TemplateError("template: unterminated raw quoted string");
      toks.push({ t: "string", value: s.slice(i + 1, j) });
      i = j + 1;
    } else if (ch === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) throw new TemplateError("template: unterminated character constant");
      toks.push({ t: "number", value: (s.slice(i + 1, j).codePointAt(0) ?? 0) });
      i = j + 1;
    } else if (ch === ".") {
      if (/[A-Za-z_]/.test(s[i + 1] ?? "")) toks.push({ t: "field", path: readPath() });
      else {
        i++;
        toks.push({ t: "field", path: [] });
      }
    } else if (ch === "$") {
      i++;
      const m = s.slice(i).match(/^[A-Za-z0-9_]*/);
      const name = m ? m[0] : "";
      i += name.length;
      toks.push({ t: "var", name, path: readPath() });
    } else if (/[-+0-9]/.test(ch)) {
      const m = s.slice(i).match(/^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][-+]?\d+)?)/);
      if (!m) throw new TemplateError(`template: bad number syntax: "${s.slice(i)}"`);
      toks.push({ t: "number", value: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = s.slice(i).match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray;
      toks.push({ t: "ident", name: m[0] });
      i += m[0].length;
    } else {
      throw new TemplateError(`template: unexpected "${ch}" in command`);
    }
  }
  return toks;
}

// --- parsing -----------------------------------------------------------------

class PipeParser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  parsePipeline(allowDecl: boolean): Pipeline {
    const decl: string[] = [];
    if (allowDecl) {
      // `$x :=` or `$k, $v :=`
      let j = this.i;
      const names: string[] = [];
      while (this.toks[j]?.t === "var" && (this.toks[j] as { path: string[] }).path.length === 0) {
        names.push((this.toks[j] as { name: string }).name);
        j++;
        if (this.toks[j]?.t === "comma") j++;
        else break;
      }
      if (names.length > 0 && (this.toks[j]?.t === "declare" || this.toks[j]?.t === "assign")) {
        decl.push(...names);
        this.i = j + 1;
      }
    }
    const cmds: Command[] = [];
    for (;;) {
      const args: Operand[] = [];
      while (this.i < this.toks.length) {
        const tk = this.toks[this.i] as Tok;
        if (tk.t === "pipe" || tk.t === "rparen") break;
        args.push(this.parseOperand());
      }
      if (args.length === 0) throw new TemplateError("template: missing value for command");
      cmds.push({ args });
      if (this.toks[this.i]?.t === "pipe") {
        this.i++;
        continue;
      }
      break;
    }
    return { decl, cmds };
  }

  private parseOperand(): Operand {
    const tk = this.toks[this.i++] as Tok;
    switch (tk.t) {
      case "field":
        return { kind: "field", base: "dot", varName: "", path: tk.path };
      case "var":
        return { kind: "field", base: "var", varName: tk.name, path: tk.path };
      case "string":
        return { kind: "literal", value: tk.value };
      case "number":
        return { kind: "literal", value: tk.value };
      case "ident":
        if (tk.name === "true") return { kind: "literal", value: true };
        if (tk.name === "false") return { kind: "literal", value: false };
        if (tk.name === "nil") return { kind: "literal", value: null };
        return { kind: "ident", name: tk.name };
      case "lparen": {
        const pipe = this.parsePipeline(false);
        const close = this.toks[this.i++];
        if (close?.t !== "rparen") throw new TemplateError("template: unclosed left paren");
        return { kind: "sub", pipe, path: close.path };
      }
      default:
        throw new TemplateError(`template: unexpected ${tk.t} in operand`);
    }
  }

  done(): boolean {
    return this.i >= this.toks.length;
  }
}

function parsePipe(text: string, allowDecl: boolean): Pipeline {
  const p = new PipeParser(tokenize(text));
  const pipe = p.parsePipeline(allowDecl);
  if (!p.done()) throw new TemplateError("template: unexpected token in pipeline");
  return pipe;
}

function parseNodes(parts: (string | RawAction)[]): Node[] {
  let pos = 0;
  const parseList = (stopAt: string[]): { nodes: Node[]; stop: string; rest: string } => {
    const nodes: Node[] = [];
    while (pos < parts.length) {
      const part = parts[pos++] as string | RawAction;
      if (typeof part === "string") {
        nodes.push({ kind: "text", text: part });
        continue;
      }
      const t = part.text.trim();
      if (t.startsWith("/*")) continue;
      const kw = t.match(/^(if|else|end|range|with|define|template|block)\b\s*(.*)$/s);
      if (!kw) {
        nodes.push({ kind: "action", pipe: parsePipe(t, true) });
        continue;
      }
      const word = kw[1] as string;
      const rest = kw[2] ?? "";
      if (word === "end" || word === "else") {
        if (!stopAt.includes(word)) throw new TemplateError(`template: unexpected {{${word}}}`);
        return { nodes, stop: word, rest };
      }
      if (word === "if" || word === "with" || word === "range") {
        nodes.push(parseControl(word, rest));
        continue;
      }
      throw new TemplateError(`template: {{${word}}} is not supported`);
    }
    if (stopAt.length > 0) throw new TemplateError("template: unexpected EOF");
    return { nodes, stop: "", rest: "" };
  };
  const parseControl = (word: "if" | "with" | "range", pipeText: string): Node => {
    const pipe = parsePipe(pipeText, true);
    const body = parseList(["end", "else"]);
    let elseBody: Node[] = [];
    if (body.stop === "else") {
      const elseIf = body.rest.match(/^(if|with)\b\s*(.*)$/s);
      if (elseIf) {
        // `{{else if x}}` is sugar for `{{else}}{{if x}}...{{end}}` sharing the outer {{end}}.
        elseBody = [parseControl(elseIf[1] as "if" | "with", elseIf[2] ?? "")];
      } else {
        const eb = parseList(["end"]);
        elseBody = eb.nodes;
      }
    }
    return { kind: word, pipe, body: body.nodes, elseBody };
  };
  return parseList([]).nodes;
}

// --- evaluation ----------------------------------------------------------------

export interface ExecuteOptions {
  /** Extra or overriding functions (e.g. the header functions of a table). */
  funcs?: TemplateFuncs;
  /**
   * Header mode (table headers): a field with arguments (`.Label "x"`) yields its
   * plain value instead of calling it, and a missing field yields "".
   */
  headerMode?: boolean;
}

const NO_VALUE = Symbol("no value");

class Scope {
  private readonly vars: Map<string, unknown>[] = [new Map()];
  push(): void {
    this.vars.push(new Map());
  }
  pop(): void {
    this.vars.pop();
  }
  set(name: string, v: unknown): void {
    (this.vars[this.vars.length - 1] as Map<string, unknown>).set(name, v);
  }
  assign(name: string, v: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const m = this.vars[i] as Map<string, unknown>;
      if (m.has(name)) {
        m.set(name, v);
        return;
      }
    }
    this.set(name, v);
  }
  get(name: string): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      const m = this.vars[i] as Map<string, unknown>;
      if (m.has(name)) return m.get(name);
    }
    throw new TemplateError(`template: undefined variable: $${name}`);
  }
}

export class Template {
  constructor(private readonly nodes: Node[]) {}

  execute(data: unknown, opts: ExecuteOptions = {}): string {
    const funcs = { ...BUILTINS, ...(opts.funcs ?? {}) };
    const scope = new Scope();
    scope.set("", data);
    let out = "";
    const header = opts.headerMode === true;

    const lookup = (value: unknown, path: string[], args: unknown[] | undefined): unknown => {
      let v = value;
      for (let k = 0; k < path.length; k++) {
        const name = path[k] as string;
        if (v === NO_VALUE || v === undefined || v === null) {
          if (header) return "";
          throw new TemplateError(`template: nil pointer evaluating .${path.slice(0, k + 1).join(".")}`);
        }
        if (typeof v !== "object" && typeof v !== "function") {
          throw new TemplateError(`template: can't evaluate field ${name} in type ${goType(v)}`);
        }
        const obj = v as Record<string, unknown>;
        let next: unknown = Object.prototype.hasOwnProperty.call(obj, name) || (name in obj && typeof obj[name] === "function") ? obj[name] : NO_VALUE;
        if (next === NO_VALUE) {
          if (header) next = "";
          else throw new TemplateError(`template: executing "" at <.${path.slice(0, k + 1).join(".")}>: map has no entry for key "${name}"`);
        }
        const last = k === path.length - 1;
        if (typeof next === "function") {
          if (header) next = obj[`${name}Header`] ?? name.toUpperCase();
          else next = (next as TemplateFunc).call(obj, ...(last && args ? args : []));
        } else if (last && args && args.length > 0) {
          // docker's SubHeaderContext.Label: the last dotted part of the key, - and _ as spaces.
          if (header) return name === "Label" ? String(args[0] ?? "").split(".").at(-1)?.replace(/[-_]/g, " ") ?? "" : next;
          throw new TemplateError(`template: can't give argument to non-function .${path.join(".")}`);
        }
        v = next;
      }
      return v;
    };

    const evalOperand = (op: Operand, dot: unknown, args?: unknown[]): unknown => {
      switch (op.kind) {
        case "literal":
          return op.value;
        case "field":
          return lookup(op.base === "dot" ? dot : scope.get(op.varName === "" ? "" : op.varName), op.path, args);
        case "sub":
          return lookup(evalPipe(op.pipe, dot), op.path, args);
        case "ident": {
          const fn = funcs[op.name];
          if (!fn) throw new TemplateError(`template: function "${op.name}" not defined`);
          return fn(...(args ?? []));
        }
      }
    };

    const evalCommand = (cmd: Command, dot: unknown, piped: unknown, hasPiped: boolean): unknown => {
      const [first, ...rest] = cmd.args;
      if (!first) throw new TemplateError("template: empty command");
      const callable = first.kind === "ident" || first.kind === "field" || first.kind === "sub";
      if (!callable && (rest.length > 0 || hasPiped)) throw new TemplateError("template: can't give argument to non-function");
      if (first.kind === "ident" || rest.length > 0 || hasPiped) {
        const args = rest.map((a) => evalOperand(a, dot));
        if (hasPiped) args.push(piped);
        return evalOperand(first, dot, args.map((a) => (a === NO_VALUE ? undefined : a)));
      }
      return evalOperand(first, dot);
    };

    const evalPipe = (pipe: Pipeline, dot: unknown): unknown => {
      let v: unknown = undefined;
      let has = false;
      for (const cmd of pipe.cmds) {
        v = evalCommand(cmd, dot, v, has);
        has = true;
      }
      return v;
    };

    const declare = (pipe: Pipeline, v: unknown): void => {
      for (const name of pipe.decl) scope.assign(name, v);
    };

    const run = (nodes: Node[], dot: unknown): void => {
      for (const n of nodes) {
        switch (n.kind) {
          case "text":
            out += n.text;
            break;
          case "action": {
            const v = evalPipe(n.pipe, dot);
            if (n.pipe.decl.length > 0) declare(n.pipe, v);
            else out += printValue(v);
            break;
          }
          case "if": {
            const v = evalPipe(n.pipe, dot);
            scope.push();
            declare(n.pipe, v);
            run(truthy(v) ? n.body : n.elseBody, dot);
            scope.pop();
            break;
          }
          case "with": {
            const v = evalPipe(n.pipe, dot);
            scope.push();
            declare(n.pipe, v);
            if (truthy(v)) run(n.body, v);
            else run(n.elseBody, dot);
            scope.pop();
            break;
          }
          case "range": {
            const v = evalPipe(n.pipe, dot);
            const entries: [unknown, unknown][] = Array.isArray(v)
              ? v.map((x, i) => [i, x])
              : v !== null && typeof v === "object"
                ? Object.keys(v as object)
                    .sort()
                    .map((k) => [k, (v as Record<string, unknown>)[k]])
                : typeof v === "number"
                  ? Array.from({ length: v }, (_, i) => [i, i])
                  : [];
            if (entries.length === 0) {
              run(n.elseBody, dot);
              break;
            }
            for (const [k, x] of entries) {
              scope.push();
              if (n.pipe.decl.length === 1) scope.set(n.pipe.decl[0] as string, x);
              else if (n.pipe.decl.length >= 2) {
                scope.set(n.pipe.decl[0] as string, k);
                scope.set(n.pipe.decl[1] as string, x);
              }
              run(n.body, x);
              scope.pop();
            }
            break;
          }
        }
      }
    };

    run(this.nodes, data);
    return out;
  }
}

/** Parse a Go template (the subset described above). Throws TemplateError. */
export function parseTemplate(src: string): Template {
  return new Template(parseNodes(splitTemplate(src)));
}

// --- values --------------------------------------------------------------------

function goType(v: unknown): string {
  if (typeof v === "string") return "string";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  return "interface {}";
}

function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

/** Go's `%v` for values decoded from JSON. */
export function printValue(v: unknown): string {
  if (v === NO_VALUE || v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isInteger(v) ? v.toFixed(0) : String(v);
  if (typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "function") return "<func>";
  if (Array.isArray(v)) return `[${v.map((x) => printValue(x)).join(" ")}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return `map[${keys.map((k) => `${k}:${printValue(obj[k])}`).join(" ")}]`;
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  throw new TemplateError("template: incompatible types for comparison");
}

function goSprintf(format: string, args: unknown[]): string {
  let i = 0;
  return format.replace(/%([-+ #0]*)(\d*)(?:\.(\d+))?([vsdqfxXt%])/g, (_m, flags: string, width: string, prec: string | undefined, verb: string) => {
    if (verb === "%") return "%";
    const a = args[i++];
    let s: string;
    switch (verb) {
      case "d":
        s = typeof a === "number" ? Math.trunc(a).toFixed(0) : printValue(a);
        break;
      case "f":
        s = typeof a === "number" ? a.toFixed(prec !== undefined ? Number(prec) : 6) : printValue(a);
        break;
      case "q":
        s = JSON.stringify(typeof a === "string" ? a : printValue(a));
        break;
      case "x":
      case "X":
        s = typeof a === "number" ? a.toString(16) : Buffer.from(printValue(a)).toString("hex");
        if (verb === "X") s = s.toUpperCase();
        break;
      default:
        s = printValue(a);
        if (verb === "s" && prec !== undefined) s = s.slice(0, Number(prec));
    }
    const w = width ? Number(width) : 0;
    if (s.length < w) s = flags.includes("-") ? s.padEnd(w) : s.padStart(w, flags.includes("0") && verb !== "s" ? "0" : " ");
    return s;
  });
}

function goLen(v: unknown): number {
  if (typeof v === "string") return Buffer.byteLength(v);
  if (Array.isArray(v)) return v.length;
  if (v !== null && typeof v === "object") return Object.keys(v).length;
  throw new TemplateError(`template: len of type ${goType(v)}`);
}

const BUILTINS: TemplateFuncs = {
  // docker's template functions (github.com/docker/cli/templates)
  json: (v) => (v === undefined ? "null" : JSON.stringify(v)),
  join: (arr, sep) => (Array.isArray(arr) ? arr.map((x) => printValue(x)).join(String(sep ?? "")) : printValue(arr)),
  split: (s, sep) => String(s).split(String(sep)),
  upper: (s) => printValue(s).toUpperCase(),
  lower: (s) => printValue(s).toLowerCase(),
  title: (s) => printValue(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase()),
  pad: (s, l, r) => `${" ".repeat(Number(l) || 0)}${printValue(s)}${" ".repeat(Number(r) || 0)}`,
  truncate: (s, n) => [...printValue(s)].slice(0, Number(n)).join(""),
  println: (...a) => `${a.map((x) => printValue(x)).join(" ")}\n`,
  // Go builtins
  print: (...a) => a.map((x) => printValue(x)).join(""),
  printf: (f, ...a) => goSprintf(String(f), a),
  len: (v) => goLen(v),
  index: (coll, ...keys) => {
    let v = coll;
    for (const k of keys) {
      if (v === null || v === undefined) throw new TemplateError("template: index of untyped nil");
      if (Array.isArray(v)) {
        const n = Number(k);
        if (!Number.isInteger(n) || n < 0 || n >= v.length) throw new TemplateError(`template: index out of range: ${String(k)}`);
        v = v[n];
      } else if (typeof v === "object") {
        const o = v as Record<string, unknown>;
        const vals = Object.values(o);
        // A missing key of a string map (labels, options) is "", Go's zero value.
        v = Object.prototype.hasOwnProperty.call(o, String(k)) ? o[String(k)] : vals.every((x) => typeof x === "string") ? "" : NO_VALUE;
      } else throw new TemplateError(`template: can't index item of type ${goType(v)}`);
    }
    return v;
  },
  eq: (a, ...b) => b.some((x) => x === a),
  ne: (a, b) => a !== b,
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  not: (a) => !truthy(a),
  and: (...a) => {
    for (const x of a) if (!truthy(x)) return x;
    return a[a.length - 1];
  },
  or: (...a) => {
    for (const x of a) if (truthy(x)) return x;
    return a[a.length - 1];
  },
};
