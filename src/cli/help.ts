/**
 * `berth --help` and `berth CMD --help` in docker's (cobra/pflag) layout:
 * usage, description, aliases, commands in columns, flags sorted by name with
 * their value type and default, descriptions wrapped at 80 columns.
 */
import type { Command, Option } from "commander";

/** docker wraps flag usages at the terminal width - 1, 80 - 1 when not on a terminal. */
const WIDTH = 79;
/** docker's "Common Commands" at the top of `docker --help`, in its order. */
const COMMON = ["run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version", "info"];

function pathOf(cmd: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names;
}

/** pflag's wrapN: cut at the last blank within `i` columns unless the rest fits in i+slop. */
function wrapN(i: number, slop: number, s: string): [string, string] {
  if (i + slop > s.length) return [s, ""];
  const w = s.slice(0, i).lastIndexOf(" ");
  if (w <= 0) return [s, ""];
  return [s.slice(0, w), s.slice(w + 1)];
}

/** pflag's wrap of a flag's usage starting at column `i` of a `w`-column line (docker: terminal width - 1). */
function wrap(i: number, w: number, text: string): string {
  let indent = i;
  let width = w - indent;
  let out = "";
  if (width < 24) {
    indent = 16;
    width = w - indent;
    out += `\n${" ".repeat(indent)}`;
  }
  if (width < 24) return out + text;
  const slop = 5;
  width -= slop;
  let [line, rest] = wrapN(width, slop, text);
  out += line;
  while (rest !== "") {
    [line, rest] = wrapN(width, slop, rest);
    out += `\n${" ".repeat(indent)}${line}`;
  }
  return out;
}

/** pflag's type name for a value placeholder (`<string>` → "string"). */
function typeName(o: Option): string {
  const m = o.flags.match(/<([^>]+)>|\[([^\]]+)\]/);
  return m ? (m[1] ?? m[2] ?? "") : "";
}

function defaultText(o: Option): string {
  const v: unknown = o.defaultValue;
  if (v === undefined || v === false || (Array.isArray(v) && v.length === 0)) return "";
  if (typeof v === "string") return v === "" ? "" : ` (default "${v}")`;
  if (typeof v === "number" || typeof v === "boolean") return ` (default ${String(v)})`;
  return "";
}

function flagLines(options: readonly Option[]): string {
  // commander's --no-x beside --x is one pflag boolean: only --x is listed.
  const positive = new Set(options.filter((o) => !o.negate).map((o) => o.attributeName()));
  const shown = options.filter((o) => !o.hidden && o.long !== "--help" && !(o.negate && positive.has(o.attributeName())));
  const rows = shown
    .map((o) => {
      const t = typeName(o);
      const left = `${o.short ? `  ${o.short}, ` : "      "}${o.long ?? ""}${t ? ` ${t}` : ""}`;
      const desc = o.description.includes("(default") ? o.description : `${o.description}${defaultText(o)}`;
      return { key: (o.long ?? "").replace(/^--/, ""), left, desc };
    })
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const col = Math.max(0, ...rows.map((r) => r.left.length)) + 3;
  return rows.map((r) => r.left.padEnd(col) + wrap(col, WIDTH, r.desc)).join("\n");
}

function commandLines(cmds: Command[]): string {
  const pad = Math.max(11, ...cmds.map((c) => c.name().length)) + 1;
  return cmds.map((c) => `  ${c.name().padEnd(pad)}${c.description()}`).join("\n");
}

const byName = (a: Command, b: Command): number => (a.name() < b.name() ? -1 : a.name() > b.name() ? 1 : 0);

/**
 * Every path that runs `cmd`, as docker lists them: the management command's
 * name and aliases first, then the top-level shortcut (`berth container logs, berth logs`).
 */
function aliasPaths(cmd: Command): string[] {
  const parent = cmd.parent;
  if (!parent) return [];
  const root = parent.parent === null ? parent : parent.parent;
  const names = (c: Command): string[] => [c.name(), ...c.aliases()];
  let group: Command | undefined;
  let top: Command | undefined;
  if (parent === root) {
    top = cmd;
    for (const g of root.commands) {
      const twin = g.commands.find((c) => c.commands.length === 0 && names(c).includes(cmd.name()) && c.description() === cmd.description());
      if (twin) {
        group = twin;
        break;
      }
    }
  } else {
    group = cmd;
    top = root.commands.find((c) => c.commands.length === 0 && names(cmd).includes(c.name()) && c.description() === cmd.description());
  }
  const out: string[] = [];
  if (group?.parent) for (const n of names(group)) out.push(`${pathOf(group.parent).join(" ")} ${n}`);
  if (top) for (const n of names(top)) out.push(`${root.name()} ${n}`);
  return out;
}

/** The help text of `cmd`, docker's layout. */
export function dockerHelp(cmd: Command): string {
  const path = pathOf(cmd);
  const isRoot = cmd.parent === null;
  // commander's default usage ("[options]") is docker's "[OPTIONS]", or nothing for a command without flags.
  const usage = cmd.usage() === "[options]" ? (cmd.options.some((o) => o.long !== "--help") ? "[OPTIONS]" : "") : cmd.usage();
  const parts: string[] = [`Usage:  ${path.join(" ")} ${usage}`.trimEnd(), cmd.description()];
  const aliases = aliasPaths(cmd);
  if (aliases.length > 1) parts.push(`Aliases:\n  ${aliases.join(", ")}`);
  const subs = cmd.commands.filter((c) => c.name() !== "help" && !(c as Command & { _hidden?: boolean })._hidden);
  if (isRoot) {
    const common = COMMON.map((n) => subs.find((c) => c.name() === n)).filter((c): c is Command => c !== undefined);
    const groups = subs.filter((c) => c.commands.length > 0).sort(byName);
    const rest = subs.filter((c) => c.commands.length === 0 && !COMMON.includes(c.name())).sort(byName);
    if (common.length > 0) parts.push(`Common Commands:\n${commandLines(common)}`);
    if (groups.length > 0) parts.push(`Management Commands:\n${commandLines(groups)}`);
    if (rest.length > 0) parts.push(`Commands:\n${commandLines(rest)}`);
  } else if (subs.length > 0) {
    parts.push(`Commands:\n${commandLines([...subs].sort(byName))}`);
  }
  const flags = flagLines(cmd.options);
  if (flags !== "") parts.push(`${isRoot ? "Global Options" : "Options"}:\n${flags}`);
  if (subs.length > 0) parts.push(`Run '${path.join(" ")} COMMAND --help' for more information on a command.`);
  return `${parts.filter((p) => p !== "").join("\n\n")}\n`;
}

/** Give every command of the tree docker's help layout. */
export function useDockerHelp(root: Command): void {
  const visit = (c: Command): void => {
    c.helpInformation = () => dockerHelp(c);
    for (const s of c.commands) visit(s);
  };
  visit(root);
}
