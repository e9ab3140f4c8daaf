/**
 * The `berth` command tree (commander) and the top-level error handling: docker's
 * wording of usage errors and its exit statuses (125 for flag errors, the
 * container's status for run/start -a, 1 otherwise).
 */
import { Command, CommanderError } from "commander";
import { ConnectionError, DaemonError } from "./client.js";
import { registerContainerCommands } from "./commands/containers.js";
import { registerImageCommands } from "./commands/images.js";
import { registerDistributionCommands } from "./commands/distribution.js";
import { registerBuild } from "./commands/build.js";
import { registerNetworkVolumeCommands } from "./commands/netvol.js";
import { registerCp } from "./commands/cp.js";
import { registerUpdate } from "./commands/update.js";
import { cliVersion, registerSystemCommands } from "./commands/system.js";
import { registerRegistry } from "./commands/registry.js";
import { registerDashboard } from "./commands/dashboard.js";
import { registerContextCommands } from "./commands/contextcmd.js";
import { useDockerHelp } from "./help.js";
import { registerCompletion } from "./commands/completion.js";
import { registerObserveCommands } from "./commands/observe.js";
import { registerCommit, registerExport } from "./commands/commit.js";
import { registerHistory } from "./commands/history.js";
import { registerSystemDf, registerSystemPrune } from "./commands/diskusage.js";
import { FlagValueError, MultiError, StatusError, setConnectOptions } from "./context.js";
import { normalizeBoolArgs } from "./runopts.js";
import { StreamError } from "./progress.js";
import { TemplateError } from "./template.js";

interface GlobalOptions {
  config?: string;
  context?: string;
  host?: string;
  tls?: boolean;
  tlsverify?: boolean;
  tlscacert?: string;
  tlscert?: string;
  tlskey?: string;
}

/** Commander's error text, kept to be reworded in docker's style. */
let commanderMessage = "";

export function buildProgram(): Command {
  const program = new Command("berth");
  program
    .description("A self-sufficient runtime for containers (client of berthd)")
    .usage("[OPTIONS] COMMAND")
    .option("--config <string>", 'Location of client config files (default "~/.docker")')
    .option("-c, --context <string>", 'Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and default context set with "berth context use")')
    .option("-D, --debug", "Enable debug mode")
    .option("-H, --host <host>", "Daemon socket to connect to (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock)")
    .option("-l, --log-level <string>", 'Set the logging level ("debug", "info", "warn", "error", "fatal")', "info")
    .option("--tls", "Use TLS; implied by --tlsverify")
    .option("--tlscacert <string>", 'Trust certs signed only by this CA (default "~/.docker/ca.pem")')
    .option("--tlscert <string>", 'Path to TLS certificate file (default "~/.docker/cert.pem")')
    .option("--tlskey <string>", 'Path to TLS key file (default "~/.docker/key.pem")')
    .option("--tlsverify", "Use TLS and verify the remote")
    .version(`Berth version ${cliVersion()}`, "-v, --version", "Print version information and quit")
    .enablePositionalOptions()
    .showSuggestionAfterError(false)
    .exitOverride()
    .configureOutput({
      outputError: (str) => {
        commanderMessage = str;
      },
    })
    .hook("preAction", (thisCommand) => {
      const o = thisCommand.opts<GlobalOptions>();
      // --config applies to everything that reads the configuration directory, as docker's config.SetDir.
      if (o.config) process.env["DOCKER_CONFIG"] = o.config;
      setConnectOptions({
        host: o.host,
        context: o.context,
        configDir: o.config,
        tls: o.tls,
        tlsVerify: o.tlsverify,
        tlsCaCert: o.tlscacert,
        tlsCert: o.tlscert,
        tlsKey: o.tlskey,
      });
    });
  registerContainerCommands(program);
  registerImageCommands(program);
  const imageGroup = program.commands.find((c) => c.name() === "image");
  registerDistributionCommands(program, imageGroup);
  registerBuild(program);
  registerNetworkVolumeCommands(program);
  registerCp(program);
  const containerGroup = program.commands.find((c) => c.name() === "container");
  if (containerGroup) registerCp(containerGroup);
  registerUpdate(program);
  if (containerGroup) registerUpdate(containerGroup);
  if (imageGroup) registerBuild(imageGroup);
  if (containerGroup) {
    registerObserveCommands(program, containerGroup);
    for (const p of [program, containerGroup]) {
      registerCommit(p);
      registerExport(p);
    }
  }
  registerHistory(program);
  if (imageGroup) registerHistory(imageGroup);
  registerSystemCommands(program);
  const systemGroup = program.commands.find((c) => c.name() === "system");
  if (systemGroup) {
    registerSystemDf(systemGroup);
    registerSystemPrune(systemGroup);
  }
  registerRegistry(program);
  registerContextCommands(program);
  registerCompletion(program);
  registerDashboard(program);
  useDockerHelp(program);
  return program;
}

const GROUPS = new Set(["container", "image", "system", "network", "volume", "context", "completion"]);
const GLOBAL_VALUE_FLAGS = new Set(["-H", "--host", "-l", "--log-level", "-c", "--context", "--config", "--tlscacert", "--tlscert", "--tlskey"]);

/** Find the command the arguments address and where its own arguments start. */
export function locateCommand(program: Command, args: string[]): { cmd: Command | undefined; path: string[]; start: number } {
  let i = 0;
  while (i < args.length) {
    const a = args[i] as string;
    if (!a.startsWith("-")) break;
    i += GLOBAL_VALUE_FLAGS.has(a) ? 2 : 1;
  }
  const find = (parent: Command, name: string | undefined): Command | undefined =>
    name === undefined ? undefined : parent.commands.find((c) => c.name() === name || c.aliases().includes(name));
  let cmd = find(program, args[i]);
  const path: string[] = cmd ? [cmd.name()] : [];
  if (cmd && GROUPS.has(cmd.name())) {
    const sub = find(cmd, args[i + 1]);
    if (sub) {
      path.push(sub.name());
      cmd = sub;
      return { cmd, path, start: i + 2 };
    }
  }
  return { cmd, path, start: i + 1 };
}

/** Docker-style wording of commander's parse errors (docker 28's layout). */
function usageError(err: CommanderError, cmd: Command | undefined, path: string[]): StatusError {
  const name = `berth${path.length > 0 ? ` ${path.join(" ")}` : ""}`;
  const msg = commanderMessage.replace(/^error: /, "").trim() || err.message;
  const usage = cmd ? `\n\nUsage:  ${name} ${cmd.usage()}` : "";
  const flagError = (text: string): StatusError => new StatusError(125, `${text}${usage}\n\nRun '${name} --help' for more information`);
  let m: RegExpMatchArray | null;
  if ((m = msg.match(/^unknown option '([^']+)'/))) {
    const flag = m[1] ?? "";
    return flagError(flag.startsWith("--") ? `unknown flag: ${flag}` : `unknown shorthand flag: '${flag.slice(1, 2)}' in ${flag}`);
  }
  if ((m = msg.match(/^option '([^']+)' argument missing/))) {
    const flag = (m[1] ?? "").split(/[ ,]+/).find((s) => s.startsWith("--")) ?? m[1];
    return flagError(`flag needs an argument: ${flag}`);
  }
  if ((m = msg.match(/^unknown command '([^']+)'/))) return new StatusError(1, `berth: unknown command: berth ${m[1]}\n\nRun 'berth --help' for more information`);
  if (/^missing required argument/.test(msg) || /^too many arguments/.test(msg)) {
    const args = cmd ? cmd.registeredArguments : [];
    const required = args.filter((a) => a.required).length;
    const exact = !args.some((a) => a.variadic || !a.required);
    // cli.RequiresRangeArgs: optional arguments but no variadic one.
    const range = !exact && !args.some((a) => a.variadic);
    const most = args.length;
    const plural = (n: number) => (n === 1 ? "" : "s");
    const what = exact
      ? `requires ${required} argument${plural(required)}`
      : range
        ? `requires at least ${required} and at most ${most} argument${plural(most)}`
        : `requires at least ${required} argument${plural(required)}`;
    // docker 28: ExactArgs and RequiresRangeArgs say "Run", RequiresMinArgs still "See".
    return new StatusError(1, `berth: '${name}' ${what}${usage}\n\n${exact || range ? "Run" : "See"} '${name} --help' for more information`);
  }
  return flagError(msg);
}

async function flushAndExit(code: number): Promise<never> {
  await new Promise<void>((r) => process.stdout.write("", () => r()));
  await new Promise<void>((r) => process.stderr.write("", () => r()));
  process.exit(code);
}

export async function main(argv: string[]): Promise<never> {
  // A closed stdout/stderr (`berth logs x | head -1`) ends the CLI quietly, as SIGPIPE ends docker.
  for (const s of [process.stdout, process.stderr]) {
    s.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(141);
      throw e;
    });
  }
  const program = buildProgram();
  const userArgs = argv.slice(2);
  const { cmd, path, start } = locateCommand(program, userArgs);
  let args = userArgs;
  try {
    if (cmd && cmd.commands.length === 0) args = [...userArgs.slice(0, start), ...normalizeBoolArgs(cmd, userArgs.slice(start))];
    await program.parseAsync(args, { from: "user" });
    return await flushAndExit(typeof process.exitCode === "number" ? process.exitCode : 0);
  } catch (e) {
    return await flushAndExit(report(e, cmd, path));
  }
}

/** Print an error the way docker does and return the exit status. */
function report(e: unknown, cmd: Command | undefined, path: string[]): number {
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return 0;
    if (e.code === "commander.executeSubCommandAsync") return 1;
    const u = usageError(e, cmd, path);
    process.stderr.write(`${u.message}\n`);
    return u.status;
  }
  if (e instanceof FlagValueError) {
    const name = `berth${path.length > 0 ? ` ${path.join(" ")}` : ""}`;
    const usage = cmd ? `\n\nUsage:  ${name} ${cmd.usage()}` : "";
    process.stderr.write(`${e.message}${usage}\n\nRun '${name} --help' for more information\n`);
    return 125;
  }
  if (e instanceof StatusError) {
    if (e.message) process.stderr.write(`${e.message}\n`);
    return e.status;
  }
  if (e instanceof MultiError || e instanceof DaemonError || e instanceof ConnectionError || e instanceof StreamError || e instanceof TemplateError) {
    process.stderr.write(`${e.message}\n`);
    return 1;
  }
  if (e instanceof Error) {
    process.stderr.write(`${e.message}\n`);
    if (process.env["BERTH_DEBUG"] && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
  process.stderr.write(`${String(e)}\n`);
  return 1;
}
