/**
 * `berth context create/ls/use/rm/inspect/show`: docker's context store
 * (src/client/contexts.ts) and its wording, byte for byte against docker 28.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import {
  ContextError,
  ContextStore,
  DEFAULT_CONTEXT,
  configDir,
  configPath,
  defaultContextHost,
  readConfig,
  resolveContextName,
  writeConfig,
  type ContextMeta,
  type TlsMaterial,
} from "../../client/index.js";
import { FlagValueError, MultiError, connectOptions, errln, outln } from "../context.js";
import { ellipsis, renderFormatted } from "../format.js";
import { inspectOutput } from "./system.js";

const DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration";
const DOCKER_KEYS = new Set(["from", "host", "ca", "cert", "key", "skip-tls-verify"]);

const store = (): ContextStore => new ContextStore(configDir(process.env, connectOptions().configDir));

/** The default context as `context inspect` shows it (not stored: built from -H / DOCKER_HOST). */
function defaultMeta(): ContextMeta {
  return { Name: DEFAULT_CONTEXT, Metadata: {}, Endpoints: { docker: { Host: defaultContextHost(connectOptions()), SkipTLSVerify: false } } };
}

/** pflag's stringToString: "k=v,k=v" (repeatable). */
function collectKeyValues(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const out = { ...(previous ?? {}) };
  for (const part of value.split(",")) {
    const i = part.indexOf("=");
    if (i < 0) throw new FlagValueError(value, "--docker", `${part} must be formatted as key=value`);
    out[part.slice(0, i)] = part.slice(i + 1);
  }
  return out;
}

function expandHome(p: string): string {
  return p.startsWith("~/") ? path.join(process.env["HOME"] ?? "", p.slice(2)) : p;
}

function createContext(name: string, flags: { description?: string; docker?: Record<string, string>; from?: string }): void {
  const s = store();
  const d = flags.docker ?? {};
  for (const k of Object.keys(d)) if (!DOCKER_KEYS.has(k)) throw new ContextError(`unable to create docker endpoint config: unrecognized config key: ${k}`);
  let meta: ContextMeta;
  let tls: TlsMaterial = {};
  const from = d["from"] ?? (Object.keys(d).length === 0 ? (flags.from ?? resolveContextName(connectOptions())) : undefined);
  if (from !== undefined) {
    // Copy the endpoint of another context (the current one by default).
    const src = from === DEFAULT_CONTEXT ? defaultMeta() : s.get(from);
    if (from !== DEFAULT_CONTEXT) tls = s.tls(from);
    meta = { Name: name, Metadata: { ...src.Metadata }, Endpoints: src.Endpoints.docker ? { docker: src.Endpoints.docker } : {} };
  } else {
    const read = (k: string): Buffer | undefined => (d[k] ? readFileSync(expandHome(d[k])) : undefined);
    tls = { ca: read("ca"), cert: read("cert"), key: read("key") };
    meta = { Name: name, Metadata: {}, Endpoints: { docker: { Host: d["host"] ?? "", SkipTLSVerify: d["skip-tls-verify"] === "true" } } };
  }
  if (flags.description) meta.Metadata = { Description: flags.description };
  s.create(meta, tls);
  outln(name);
  errln(`Successfully created context "${name}"`);
}

function listContexts(flags: { format?: string; quiet?: boolean }): void {
  const s = store();
  const current = resolveContextName(connectOptions());
  const rows: (ContextMeta & { error?: string })[] = [defaultMeta(), ...s.list()];
  // A current context that cannot be read is listed with its error, as docker does.
  if (!rows.some((r) => r.Name === current)) {
    let error = "";
    try {
      s.get(current);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    rows.push({ Name: current, Metadata: {}, Endpoints: {}, error });
  }
  rows.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
  if (flags.quiet) for (const r of rows) outln(r.Name);
  else printList(rows, current, flags.format ?? "table");
  // docker prints this after the list.
  if (process.env["DOCKER_HOST"]) {
    errln("Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.");
  }
}

function printList(rows: (ContextMeta & { error?: string })[], current: string, format: string): void {
  const items = rows.map((m) => ({
    Current: m.Name === current,
    Description: m.Name === DEFAULT_CONTEXT ? DEFAULT_DESCRIPTION : (m.Metadata.Description ?? ""),
    DockerEndpoint: m.Endpoints.docker?.Host ?? "",
    Error: ellipsis(m.error ?? "", 45),
    Name: m.Name,
  }));
  const table = "{{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}";
  // The default table marks the current context with " *" after its name.
  const shown = format === "table" ? items.map((i) => ({ ...i, Name: i.Current ? `${i.Name} *` : i.Name })) : items;
  process.stdout.write(renderFormatted(shown, format, HEADERS, table));
}

const HEADERS: Record<string, string> = { Name: "NAME", Description: "DESCRIPTION", DockerEndpoint: "DOCKER ENDPOINT", Error: "ERROR" };

function inspectOne(name: string): unknown {
  const s = store();
  if (name === DEFAULT_CONTEXT) {
    return { ...defaultMeta(), TLSMaterial: {}, Storage: { MetadataPath: "<IN MEMORY>", TLSPath: "<IN MEMORY>" } };
  }
  const m = s.get(name);
  const files = s.tlsFiles(name);
  return { ...m, TLSMaterial: files.length > 0 ? { docker: files } : {}, Storage: { MetadataPath: s.metaDir(name), TLSPath: s.tlsDir(name) } };
}

function useContext(name: string): void {
  if (name !== DEFAULT_CONTEXT) store().get(name);
  const file = configPath(process.env, connectOptions().configDir);
  const cfg = readConfig(file);
  if (name === DEFAULT_CONTEXT) delete cfg.currentContext;
  else cfg.currentContext = name;
  writeConfig(cfg, file);
  outln(name);
  errln(`Current context is now "${name}"`);
  if (process.env["DOCKER_HOST"]) {
    errln(`Warning: DOCKER_HOST environment variable overrides the active context. To use "${name}", either set the global --context flag, or unset DOCKER_HOST environment variable.`);
  }
}

function removeContexts(names: string[], force: boolean): void {
  const s = store();
  const file = configPath(process.env, connectOptions().configDir);
  const cfg = readConfig(file);
  const errors: Error[] = [];
  for (const name of names) {
    try {
      if (name === DEFAULT_CONTEXT) throw new ContextError(`default: context "default" cannot be removed`);
      if (cfg.currentContext === name && !force) throw new ContextError(`context "${name}" is in use, set -f flag to force remove`);
      s.remove(name);
      if (cfg.currentContext === name) {
        delete cfg.currentContext;
        writeConfig(cfg, file);
      }
      outln(name);
    } catch (e) {
      errors.push(e instanceof Error ? e : new Error(String(e)));
    }
  }
  if (errors.length > 0) throw new MultiError(errors);
}

export function registerContextCommands(program: Command): void {
  const ctx = program.command("context").description("Manage contexts").usage("COMMAND");
  ctx
    .command("create")
    .description("Create a context")
    .usage("[OPTIONS] CONTEXT")
    .argument("<context>")
    .option("--description <string>", "Description of the context")
    .option("--docker <stringToString>", "set the docker endpoint (default [])", collectKeyValues)
    .option("--from <string>", "create context from a named context")
    .action((name: string, flags: { description?: string; docker?: Record<string, string>; from?: string }) => createContext(name, flags));
  ctx
    .command("inspect")
    .description("Display detailed information on one or more contexts")
    .usage("[OPTIONS] [CONTEXT] [CONTEXT...]")
    .argument("[context...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .action(async (names: string[], flags: { format?: string }) => {
      const list = names.length > 0 ? names : [resolveContextName(connectOptions())];
      await inspectOutput(list, flags.format, (n) => Promise.resolve(inspectOne(n)));
    });
  ctx
    .command("ls")
    .alias("list")
    .description("List contexts")
    .usage("[OPTIONS]")
    .option("--format <string>", "Format output using a custom template")
    .option("-q, --quiet", "Only show context names")
    .action((flags: { format?: string; quiet?: boolean }) => listContexts(flags));
  ctx
    .command("rm")
    .alias("remove")
    .description("Remove one or more contexts")
    .usage("CONTEXT [CONTEXT...]")
    .argument("<context...>")
    .option("-f, --force", "Force the removal of a context in use")
    .action((names: string[], flags: { force?: boolean }) => removeContexts(names, !!flags.force));
  ctx
    .command("show")
    .description("Print the name of the current context")
    .usage("")
    .action(() => outln(resolveContextName(connectOptions())));
  ctx
    .command("use")
    .description("Set the current berth context")
    .usage("CONTEXT")
    .argument("<context>")
    .action((name: string) => useContext(name));
}
