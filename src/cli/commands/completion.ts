/**
 * `berth completion bash|zsh`: a completion script generated from the command
 * tree (commands, subcommands and flags), with container and image names
 * asked from the daemon for the arguments that take them. zsh runs the bash
 * function through bashcompinit.
 */
import type { Command } from "commander";
import { out } from "../context.js";

interface Node {
  path: string;
  subs: string[];
  flags: string[];
  arg: "container" | "image" | "";
}

function nodes(root: Command): Node[] {
  const list: Node[] = [];
  const visit = (c: Command, path: string): void => {
    const subs = c.commands.filter((s) => s.name() !== "help");
    const flags = c.options.flatMap((o) => [o.short, o.long]).filter((f): f is string => !!f);
    const first = c.registeredArguments[0]?.name() ?? "";
    list.push({ path, subs: subs.flatMap((s) => [s.name(), ...s.aliases()]), flags: [...flags, "--help"], arg: /container/.test(first) ? "container" : /image|name/.test(first) && /image|pull|push|rmi|tag|history|save|run|create/.test(path) ? "image" : "" });
    for (const s of subs) for (const n of [s.name(), ...s.aliases()]) visit(s, path === "" ? n : `${path} ${n}`);
  };
  visit(root, "");
  return list;
}

const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

export function bashCompletion(root: Command): string {
  const cases = nodes(root)
    .map((n) => `    ${quote(n.path)}) subs=${quote(n.subs.join(" "))}; flags=${quote(n.flags.join(" "))}; arg=${n.arg} ;;`)
    .join("\n");
  return `# bash completion for berth (berth completion bash)
_berth_path_known() {
  case "$1" in
${nodes(root)
  .map((n) => `    ${quote(n.path)}) return 0 ;;`)
  .join("\n")}
  esac
  return 1
}

_berth() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w i subs flags arg
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    if _berth_path_known "\${path:+$path }$w"; then path="\${path:+$path }$w"; fi
  done
  case "$path" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -n "$subs" ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  elif [[ "$arg" == container ]]; then
    COMPREPLY=($(compgen -W "$(berth ps -a --format '{{.Names}}' 2>/dev/null)" -- "$cur"))
  elif [[ "$arg" == image ]]; then
    COMPREPLY=($(compgen -W "$(berth images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>')" -- "$cur"))
  fi
}
complete -F _berth berth
`;
}

export function zshCompletion(root: Command): string {
  return `#compdef berth
# zsh completion for berth (berth completion zsh): the bash completion through bashcompinit.
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(root)}`;
}

export function registerCompletion(program: Command): void {
  const c = program.command("completion").description("Generate the autocompletion script for the specified shell").usage("COMMAND");
  c.command("bash")
    .description("Generate the autocompletion script for bash")
    .usage("")
    .action(() => out(bashCompletion(program)));
  c.command("zsh")
    .description("Generate the autocompletion script for zsh")
    .usage("")
    .action(() => out(zshCompletion(program)));
}
