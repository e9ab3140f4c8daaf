/**
 * Typed Dockerfile instructions from parsed nodes: flags, argument counts,
 * stages (FROM … AS name) and global ARGs before the first FROM. Variable
 * substitution (which fields of which instruction, with which lexer) is here
 * too, as a pure function of an environment. Errors are DockerfileErrors with
 * the file, line and column, and say what was expected.
 */
import { DockerfileError, type Location } from "./errors.js";
import { type EnvGetter, LexError, ShellLex } from "./lex.js";
import { INSTRUCTIONS, type Node, type ParseResult, chompHeredocContent, parseDockerfile, parseHeredoc } from "./parser.js";

export interface KeyValue {
  key: string;
  value: string;
  /** The old `ENV key value` form. */
  noDelim: boolean;
}

export interface ArgDef {
  key: string;
  /** Undefined for `ARG name` without a default. */
  value?: string;
}

/** A heredoc used as a file (RUN's script, or a COPY/ADD source). */
export interface InlineFile {
  name: string;
  data: string;
  chomp: boolean;
  expand: boolean;
}

export interface SourcesAndDest {
  dest: string;
  sources: string[];
  /** Heredoc sources: a file named `path` with `data`. */
  contents: { path: string; data: string; expand: boolean }[];
}

export interface CommandLine {
  /** Shell form: one element, the command string; exec form: the argv. Null for an empty ENTRYPOINT. */
  cmdLine: string[] | null;
  files: InlineFile[];
  /** Shell form: the SHELL is prepended. */
  prependShell: boolean;
}

export interface HealthConfig {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

interface Base {
  /** The instruction's source (logical line, trimmed), as Docker prints it in "Step i/n : …". */
  code: string;
  loc: Location;
}

export type EnvCommand = Base & { kind: "env"; env: KeyValue[] };
export type LabelCommand = Base & { kind: "label"; labels: KeyValue[]; noExpand: boolean };
export type MaintainerCommand = Base & { kind: "maintainer"; maintainer: string };
export type AddCommand = Base & {
  kind: "add";
  sd: SourcesAndDest;
  chown: string;
  chmod: string;
  link: boolean;
  checksum: string;
  keepGitDir: boolean | undefined;
  unpack: boolean | undefined;
  exclude: string[];
};
export type CopyCommand = Base & {
  kind: "copy";
  sd: SourcesAndDest;
  from: string;
  chown: string;
  chmod: string;
  link: boolean;
  parents: boolean;
  exclude: string[];
};
export type OnbuildCommand = Base & { kind: "onbuild"; expression: string };
export type WorkdirCommand = Base & { kind: "workdir"; path: string };
export type RunCommand = Base & { kind: "run"; cmd: CommandLine; flagsUsed: string[]; network: string };
export type CmdCommand = Base & { kind: "cmd"; cmd: CommandLine };
export type EntrypointCommand = Base & { kind: "entrypoint"; cmd: CommandLine };
export type HealthcheckCommand = Base & { kind: "healthcheck"; health: HealthConfig };
export type ExposeCommand = Base & { kind: "expose"; ports: string[] };
export type UserCommand = Base & { kind: "user"; user: string };
export type VolumeCommand = Base & { kind: "volume"; volumes: string[] };
export type StopSignalCommand = Base & { kind: "stopsignal"; signal: string };
export type ArgCommand = Base & { kind: "arg"; args: ArgDef[] };
export type ShellCommand = Base & { kind: "shell"; shell: string[] };

export type Command =
  | EnvCommand
  | LabelCommand
  | MaintainerCommand
  | AddCommand
  | CopyCommand
  | OnbuildCommand
  | WorkdirCommand
  | RunCommand
  | CmdCommand
  | EntrypointCommand
  | HealthcheckCommand
  | ExposeCommand
  | UserCommand
  | VolumeCommand
  | StopSignalCommand
  | ArgCommand
  | ShellCommand;

export interface Stage {
  /** Lower-cased `AS` name, "" when unnamed. */
  name: string;
  baseName: string;
  platform: string;
  /** The FROM line, as printed in "Step i/n : FROM …". */
  code: string;
  loc: Location;
  commands: Command[];
}

export interface Dockerfile {
  /** ARGs before the first FROM (usable in FROM lines, and by `ARG name` inside stages). */
  metaArgs: ArgCommand[];
  stages: Stage[];
  escapeToken: string;
  syntax?: string;
  warnings: string[];
}

const STAGE_NAME_RE = /^[a-z][a-z0-9-_.]*$/;

/** Parse a whole Dockerfile into global ARGs and stages. */
export function parseInstructions(text: string, file = "Dockerfile"): Dockerfile {
  const parsed = parseDockerfile(text, file);
  return fromParseResult(parsed, file);
}

export function fromParseResult(parsed: ParseResult, file: string): Dockerfile {
  const metaArgs: ArgCommand[] = [];
  const stages: Stage[] = [];
  for (const node of parsed.nodes) {
    const ins = parseNode(node, file);
    if ("commands" in ins) {
      stages.push(ins);
      continue;
    }
    if (stages.length === 0) {
      if (ins.kind === "arg") {
        metaArgs.push(ins);
        continue;
      }
      throw new DockerfileError(
        `no build stage in current context: expected FROM before ${node.cmd.toUpperCase()} (only ARG may come before the first FROM)`,
        { file, line: node.startLine, column: node.column },
      );
    }
    (stages[stages.length - 1] as Stage).commands.push(ins);
  }
  const res: Dockerfile = { metaArgs, stages, escapeToken: parsed.escapeToken, warnings: parsed.warnings };
  if (parsed.syntax !== undefined) res.syntax = parsed.syntax;
  return res;
}

/** Parse one instruction (an ONBUILD trigger; like Docker, always with the default escape token). */
export function parseCommandLine(line: string, file: string): Command {
  const parsed = parseDockerfile(line, file);
  if (parsed.nodes.length !== 1) throw new DockerfileError("onbuild trigger should be a single expression", { file, line: 1 });
  const ins = parseNode(parsed.nodes[0] as Node, file);
  if ("commands" in ins) throw new DockerfileError("FROM isn't allowed as an ONBUILD trigger", { file, line: 1 });
  return ins;
}

// --- flags -----------------------------------------------------------------

type FlagType = "bool" | "string" | "strings";

class Flags {
  private readonly defs = new Map<string, FlagType>();
  readonly values = new Map<string, string>();
  readonly lists = new Map<string, string[]>();
  readonly used = new Set<string>();

  constructor(
    private readonly node: Node,
    private readonly fail: (msg: string, needle?: string) => never,
  ) {}

  bool(name: string): this {
    this.defs.set(name, "bool");
    return this;
  }
  string(name: string): this {
    this.defs.set(name, "string");
    return this;
  }
  strings(name: string): this {
    this.defs.set(name, "strings");
    return this;
  }

  parse(): this {
    for (const a of this.node.flags) {
      if (a === "--") return this;
      if (!a.startsWith("--")) this.fail(`arg should start with -- : ${a}`, a);
      const eq = a.indexOf("=");
      const flagName = eq < 0 ? a : a.slice(0, eq);
      const hasValue = eq >= 0;
      const value = hasValue ? a.slice(eq + 1) : "";
      const name = flagName.slice(2);
      const type = this.defs.get(name);
      if (type === undefined) {
        const known = [...this.defs.keys()].map((k) => `--${k}`);
        this.fail(`unknown flag: ${flagName} (${known.length > 0 ? `expected one of ${known.join(", ")}` : `${this.node.cmd.toUpperCase()} takes no flags`})`, flagName);
      }
      if (this.used.has(name) && type !== "strings") this.fail(`duplicate flag specified: ${flagName}`, flagName);
      this.used.add(name);
      if (type === "bool") {
        if (hasValue && value === "") this.fail(`missing a value on flag: ${flagName} (expected true or false)`, flagName);
        const v = value.toLowerCase();
        if (v === "true" || v === "") this.values.set(name, "true");
        else if (v === "false") this.values.set(name, "false");
        else this.fail(`expecting boolean value for flag ${flagName}, not: ${value}`, flagName);
      } else if (type === "string") {
        if (!hasValue) this.fail(`missing a value on flag: ${flagName} (expected ${flagName}=<value>)`, flagName);
        this.values.set(name, value);
      } else {
        if (!hasValue) this.fail(`missing a value on flag: ${flagName} (expected ${flagName}=<value>)`, flagName);
        this.lists.set(name, [...(this.lists.get(name) ?? []), value]);
      }
    }
    return this;
  }

  str(name: string): string {
    return this.values.get(name) ?? "";
  }
  isTrue(name: string): boolean {
    return this.values.get(name) === "true";
  }
  optBool(name: string): boolean | undefined {
    return this.used.has(name) ? this.values.get(name) === "true" : undefined;
  }
  list(name: string): string[] {
    return this.lists.get(name) ?? [];
  }
}

// --- instructions ------------------------------------------------------------

function suggest(word: string, options: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const o of options) {
    const d = levenshtein(w, o);
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(w.length / 3)) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j] as number;
      prev[j] = Math.min((prev[j] as number) + 1, (prev[j - 1] as number) + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length] as number;
}

function parseNode(node: Node, file: string): Command | Stage {
  const loc: Location = { file, line: node.startLine, endLine: node.endLine, column: node.column };
  const fail = (msg: string, needle?: string): never => {
    let column = node.column;
    if (needle !== undefined) {
      const firstLine = node.original;
      const i = firstLine.indexOf(needle);
      if (i >= 0) column = node.column + (i - (firstLine.length - firstLine.trimStart().length));
    }
    throw new DockerfileError(msg, { file, line: node.startLine, column });
  };
  const code = node.original.trim();
  const base = { code, loc };
  const args = node.args;
  const flags = (): Flags => new Flags(node, fail);
  const cmd = node.cmd.toLowerCase();
  const upper = node.cmd.toUpperCase();
  const exactlyOne = (): void => {
    if (args.length !== 1) fail(`${upper} requires exactly one argument`);
  };
  const atLeastOne = (): void => {
    if (args.length === 0) fail(`${upper} requires at least one argument`);
  };
  const kvps = (what: string): KeyValue[] => {
    if (args.length === 0) fail(`${what} requires at least one argument (expected ${what} key=value …)`);
    if (args.length % 3 !== 0) fail(`Bad input to ${what}, too many arguments`);
    const out: KeyValue[] = [];
    for (let i = 0; i < args.length; i += 3) {
      const key = args[i] as string;
      if (key.length === 0) fail(`${what} names can not be blank`);
      out.push({ key, value: args[i + 1] as string, noDelim: args[i + 2] === "" });
    }
    return out;
  };
  const cmdLine = (emptyAsNil: boolean): CommandLine => {
    const files: InlineFile[] = node.heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp, expand: h.expand }));
    let line: string[] | null = args.length === 0 ? [] : node.json ? [...args] : [args.join(" ")];
    if (emptyAsNil && line.length === 0) line = null;
    return { cmdLine: line, files, prependShell: !node.json };
  };
  const sourcesAndDest = (what: string): SourcesAndDest => {
    if (args.length < 2) fail(`${what} requires at least two arguments, but only one was provided. Destination could not be determined`);
    const srcs = args.slice(0, -1);
    const dest = args[args.length - 1] as string;
    if (parseHeredoc(dest)) fail(`${what} cannot accept a heredoc as a destination`, dest);
    const byName = new Map(node.heredocs.map((h) => [h.name, h]));
    const sd: SourcesAndDest = { dest, sources: [], contents: [] };
    for (const s of srcs) {
      const h = parseHeredoc(s);
      if (h) {
        const doc = byName.get(h.name);
        let data = doc?.content ?? "";
        if (h.chomp) data = chompHeredocContent(data);
        sd.contents.push({ path: h.name, data, expand: h.expand });
      } else sd.sources.push(s);
    }
    return sd;
  };

  switch (cmd) {
    case "from": {
      const f = flags().string("platform").parse();
      let name = "";
      if (args.length === 3 && args[1]?.toLowerCase() === "as") {
        name = (args[2] as string).toLowerCase();
        if (!STAGE_NAME_RE.test(name)) fail(`invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`, args[2]);
      } else if (args.length !== 1) fail("FROM requires either one or three arguments (expected FROM <image> [AS <name>])");
      return { name, baseName: args[0] as string, platform: f.str("platform"), code, loc, commands: [] };
    }
    case "env":
      flags().parse();
      return { ...base, kind: "env", env: kvps("ENV") };
    case "label":
      flags().parse();
      return { ...base, kind: "label", labels: kvps("LABEL"), noExpand: false };
    case "maintainer":
      exactlyOne();
      flags().parse();
      return { ...base, kind: "maintainer", maintainer: args[0] as string };
    case "add": {
      if (args.length < 2) fail("ADD requires at least two arguments, but only one was provided. Destination could not be determined");
      const f = flags().string("chown").string("chmod").bool("link").bool("keep-git-dir").string("checksum").bool("unpack").strings("exclude").parse();
      return {
        ...base,
        kind: "add",
        sd: sourcesAndDest("ADD"),
        chown: f.str("chown"),
        chmod: f.str("chmod"),
        link: f.isTrue("link"),
        checksum: f.str("checksum"),
        keepGitDir: f.optBool("keep-git-dir"),
        unpack: f.optBool("unpack"),
        exclude: f.list("exclude"),
      };
    }
    case "copy": {
      if (args.length < 2) fail("COPY requires at least two arguments, but only one was provided. Destination could not be determined");
      const f = flags().string("chown").string("from").string("chmod").bool("link").strings("exclude").bool("parents").parse();
      return {
        ...base,
        kind: "copy",
        sd: sourcesAndDest("COPY"),
        from: f.str("from"),
        chown: f.str("chown"),
        chmod: f.str("chmod"),
        link: f.isTrue("link"),
        parents: f.isTrue("parents"),
        exclude: f.list("exclude"),
      };
    }
    case "onbuild": {
      if (args.length === 0 || !node.sub) fail("ONBUILD requires at least one argument (expected ONBUILD <instruction>)");
      flags().parse();
      const trigger = (args[0] as string).trim().toUpperCase();
      if (trigger === "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === "MAINTAINER" || trigger === "FROM") fail(`${trigger} isn't allowed as an ONBUILD trigger`);
      let expression = node.original.replace(/^\s*ONBUILD\s*/i, "");
      for (const h of node.heredocs) expression += `\n${h.content}${h.name}`;
      return { ...base, kind: "onbuild", expression };
    }
    case "workdir":
      exactlyOne();
      flags().parse();
      return { ...base, kind: "workdir", path: args[0] as string };
    case "run": {
      const f = flags().strings("mount").string("network").string("security").strings("device").parse();
      return { ...base, kind: "run", cmd: cmdLine(false), flagsUsed: [...f.used], network: f.str("network") };
    }
    case "cmd":
      flags().parse();
      return { ...base, kind: "cmd", cmd: cmdLine(false) };
    case "entrypoint":
      flags().parse();
      return { ...base, kind: "entrypoint", cmd: cmdLine(true) };
    case "healthcheck":
      return { ...base, kind: "healthcheck", health: parseHealthcheck(node, args, flags, fail) };
    case "expose":
      atLeastOne();
      flags().parse();
      return { ...base, kind: "expose", ports: [...args].sort() };
    case "user":
      exactlyOne();
      flags().parse();
      return { ...base, kind: "user", user: args[0] as string };
    case "volume": {
      atLeastOne();
      flags().parse();
      const volumes = args.map((v) => v.trim());
      if (volumes.some((v) => v === "")) fail("VOLUME specified can not be an empty string");
      return { ...base, kind: "volume", volumes };
    }
    case "stopsignal":
      exactlyOne();
      return { ...base, kind: "stopsignal", signal: args[0] as string };
    case "arg": {
      atLeastOne();
      const out: ArgDef[] = [];
      for (const a of args) {
        const i = a.indexOf("=");
        if (i < 0) out.push({ key: a });
        else {
          if (i === 0) fail("ARG names can not be blank");
          out.push({ key: a.slice(0, i), value: a.slice(i + 1) });
        }
      }
      return { ...base, kind: "arg", args: out };
    }
    case "shell": {
      flags().parse();
      const c = cmdLine(false);
      if (!c.cmdLine || c.cmdLine.length === 0) fail("SHELL requires at least one argument");
      if (!node.json) fail(`SHELL requires the arguments to be in JSON form (expected SHELL ["executable", "param1", …])`);
      return { ...base, kind: "shell", shell: c.cmdLine as string[] };
    }
    default: {
      const hint = suggest(cmd, INSTRUCTIONS);
      return fail(
        `unknown instruction: ${node.cmd}${hint ? ` (did you mean ${hint.toUpperCase()}?)` : ""}; expected one of ${INSTRUCTIONS.map((i) => i.toUpperCase()).join(", ")}`,
      );
    }
  }
}

function parseHealthcheck(node: Node, args: string[], flags: () => Flags, fail: (m: string, n?: string) => never): HealthConfig {
  if (args.length === 0) fail("HEALTHCHECK requires at least one argument (expected HEALTHCHECK [options] CMD <command> or HEALTHCHECK NONE)");
  const typ = (args[0] as string).toUpperCase();
  const rest = args.slice(1);
  if (typ === "NONE") {
    if (rest.length !== 0) fail("HEALTHCHECK NONE takes no arguments");
    return { Test: ["NONE"] };
  }
  const f = flags().string("interval").string("timeout").string("start-period").string("start-interval").string("retries").parse();
  if (typ !== "CMD") fail(`Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
  const cmdSlice = rest.length === 0 ? [] : node.json ? rest : [rest.join(" ")];
  if (cmdSlice.length === 0) fail("Missing command after HEALTHCHECK CMD");
  const hc: HealthConfig = { Test: [node.json ? "CMD" : "CMD-SHELL", ...cmdSlice] };
  const interval = (name: string): number => {
    const v = f.str(name);
    if (v === "") return 0;
    let d: number;
    try {
      d = parseDuration(v);
    } catch (e) {
      return fail(`${(e as Error).message} (flag --${name})`, `--${name}`);
    }
    if (d === 0) return 0;
    if (d < 1_000_000) fail(`Interval "${name}" cannot be less than 1ms`, `--${name}`);
    return d;
  };
  hc.Interval = interval("interval");
  hc.Timeout = interval("timeout");
  hc.StartPeriod = interval("start-period");
  hc.StartInterval = interval("start-interval");
  const r = f.str("retries");
  if (r !== "") {
    if (!/^[+-]?\d+$/.test(r)) fail(`invalid --retries value ${JSON.stringify(r)}: expected an integer`, "--retries");
    const n = Number(r);
    if (n < 0) fail(`--retries cannot be negative (${n})`, "--retries");
    hc.Retries = n;
  } else hc.Retries = 0;
  return hc;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, "μs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds ("1m30s", "500ms", "1.5h"). */
export function parseDuration(s: string): number {
  const orig = s;
  let neg = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new Error(`time: invalid duration ${JSON.stringify(orig)}`);
  let total = 0;
  while (s !== "") {
    const m = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/.exec(s);
    if (!m || ((m[1] ?? "") === "" && (m[2] ?? "") === "")) {
      if (/^[\d.]+$/.test(s)) throw new Error(`time: missing unit in duration ${JSON.stringify(orig)}`);
      throw new Error(`time: invalid duration ${JSON.stringify(orig)}`);
    }
    const unit = DURATION_UNITS[m[3] as string] as number;
    total += Number(m[1] || "0") * unit + (m[2] ? Number(`0.${m[2]}`) * unit : 0);
    s = s.slice(m[0].length);
  }
  return Math.round(neg ? -total : total);
}

// --- variable substitution --------------------------------------------------------------

/** A word expander: substitutes variables and removes quotes (Docker's ProcessWord). */
export type Expander = (word: string) => string;

/** The default expander over an environment (escape token from the Dockerfile). */
export function makeExpander(env: EnvGetter, escapeToken = "\\"): Expander {
  const lex = new ShellLex(escapeToken);
  return (w) => lex.processWord(w, env);
}

/** Heredoc contents are expanded with quotes left alone (`COPY <<EOF` with an unquoted terminator). */
export function expandHeredocContent(data: string, env: EnvGetter): string {
  return new ShellLex("\\", { skipProcessQuotes: true }).processWord(data, env);
}

/**
 * Substitute variables in the fields Docker expands for this instruction
 * (ENV, LABEL, ADD, COPY, WORKDIR, USER, VOLUME, STOPSIGNAL, ARG). RUN, CMD,
 * ENTRYPOINT, SHELL and HEALTHCHECK are left to the shell; EXPOSE splits words
 * and is handled by expandExposePorts. Returns a new command; throws
 * DockerfileError (with the instruction's location) on bad substitutions.
 */
export function expandCommand<T extends Command>(c: T, expand: Expander): T {
  try {
    return expandUnchecked(c, expand);
  } catch (e) {
    if (e instanceof LexError) throw new DockerfileError(e.message, c.loc);
    throw e;
  }
}

function expandUnchecked<T extends Command>(c: T, x: Expander): T {
  const kv = (l: KeyValue[]): KeyValue[] => l.map((p) => ({ key: x(p.key), value: x(p.value), noDelim: p.noDelim }));
  const sd = (s: SourcesAndDest): SourcesAndDest => ({ dest: x(s.dest), sources: s.sources.map(x), contents: s.contents.map((cc) => ({ ...cc })) });
  switch (c.kind) {
    case "env":
      return { ...c, env: kv(c.env) };
    case "label":
      return c.noExpand ? c : { ...c, labels: kv(c.labels) };
    case "add":
      return { ...c, chown: x(c.chown), chmod: x(c.chmod), checksum: x(c.checksum), sd: sd(c.sd) };
    case "copy":
      return { ...c, chown: x(c.chown), chmod: x(c.chmod), from: x(c.from), sd: sd(c.sd) };
    case "workdir":
      return { ...c, path: x(c.path) };
    case "user":
      return { ...c, user: x(c.user) };
    case "volume":
      return { ...c, volumes: c.volumes.map(x) };
    case "stopsignal":
      return { ...c, signal: x(c.signal) };
    case "arg":
      return { ...c, args: c.args.map((a) => ({ key: x(a.key), ...(a.value !== undefined ? { value: x(a.value) } : {}) })) };
    default:
      return c;
  }
}

/** EXPOSE `$PORTS` with PORTS="80 443" gives two ports: the one instruction whose words are split after substitution. */
export function expandExposePorts(c: ExposeCommand, env: EnvGetter, escapeToken = "\\"): string[] {
  const lex = new ShellLex(escapeToken);
  try {
    return c.ports.flatMap((p) => lex.processWords(p, env));
  } catch (e) {
    if (e instanceof LexError) throw new DockerfileError(e.message, c.loc);
    throw e;
  }
}

/** A LABEL instruction from `--label k=v` (added to the target stage; values are not expanded). */
export function labelCommand(key: string, value: string, loc: Location): LabelCommand {
  return { kind: "label", code: `LABEL ${key}=${value}`, loc, labels: [{ key, value, noDelim: false }], noExpand: true };
}
