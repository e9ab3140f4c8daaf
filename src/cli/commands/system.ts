/**
 * System commands: version, info, events, and the generic inspect (also the
 * output side of `container inspect` / `image inspect`).
 */
import type { Command } from "commander";
import { registerSystemCheck } from "./registry.js";
import { readFileSync } from "node:fs";
import { CLIENT_API_VERSION, DaemonError, textLines } from "../client.js";
import { StatusError, errln, filtersJson, getClient, out, outln, filterCollector } from "../context.js";
import { bytesSize, formatRfc3339NanoLocal, getTimestamp, indentJson, parseTemplate, tabwrite } from "../format.js";
import { TemplateError, printValue } from "../template.js";

/** The CLI's own version (package.json), "0.0.0" if it cannot be read. */
export function cliVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../../package.json", import.meta.url), "utf8")) as { version?: string };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

function goArch(): string {
  return process.arch === "x64" ? "amd64" : process.arch === "ia32" ? "386" : process.arch;
}

// --- inspect ----------------------------------------------------------------------------------

/**
 * docker's inspect output: the found objects as one indented JSON array (or one
 * template result per object), errors to stderr, exit 1 if any failed.
 */
export async function inspectOutput(refs: string[], format: string | undefined, get: (ref: string) => Promise<unknown>): Promise<void> {
  let tmpl;
  if (format) {
    try {
      tmpl = parseTemplate(format);
    } catch (e) {
      throw new StatusError(64, `template parsing error: ${(e as Error).message}`);
    }
  }
  const found: unknown[] = [];
  const errors: string[] = [];
  for (const r of refs) {
    let v: unknown;
    try {
      v = await get(r);
    } catch (e) {
      errors.push(e instanceof Error ? e.message : String(e));
      continue;
    }
    if (tmpl) {
      try {
        out(`${tmpl.execute(v)}\n`);
      } catch (e) {
        errors.push(`template parsing error: ${(e as Error).message}`);
      }
    } else found.push(v);
  }
  if (!tmpl) outln(found.length === 0 ? "[]" : indentJson(found));
  if (errors.length > 0) throw new StatusError(1, errors.join("\n"));
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("Return low-level information on Docker objects")
    .usage("[OPTIONS] NAME|ID [NAME|ID...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .option("-s, --size", "Display total file sizes if the type is container")
    .option("--type <string>", "Return JSON for specified type")
    .argument("<name...>")
    .action(async (names: string[], flags: { format?: string; size?: boolean; type?: string }) => {
      const client = getClient();
      const type = flags.type;
      const KINDS = ["container", "image", "network", "volume"] as const;
      type Kind = (typeof KINDS)[number];
      const ALL_TYPES = ["config", "container", "image", "network", "node", "plugin", "secret", "service", "task", "volume"];
      if (type !== undefined && !ALL_TYPES.includes(type)) throw new Error(`unknown type: "${type}": must be one of ${ALL_TYPES.map((t) => `"${t}"`).join(", ")}`);
      await inspectOutput(names, flags.format, async (name) => {
        const paths: Record<Kind, string> = {
          container: `/containers/${encodeURIComponent(name)}/json`,
          image: `/images/${name.split("/").map(encodeURIComponent).join("/")}/json`,
          network: `/networks/${encodeURIComponent(name)}`,
          volume: `/volumes/${encodeURIComponent(name)}`,
        };
        const tryGet = async (kind: Kind): Promise<unknown> => client.get(paths[kind], kind === "container" ? { size: flags.size || undefined } : undefined);
        const kinds: Kind[] = type ? KINDS.filter((k) => k === type) : [...KINDS];
        if (kinds.length === 0) throw new Error(`Error: No such ${type ?? "object"}: ${name}`);
        for (const k of kinds) {
          try {
            return await tryGet(k);
          } catch (e) {
            if (!(e instanceof DaemonError && e.status === 404)) throw e;
            if (type) throw e;
          }
        }
        throw new Error(`Error: No such object: ${name}`);
      });
    });
}

// --- version ------------------------------------------------------------------------------------

const VERSION_TEMPLATE = `{{with .Client -}}
Client:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from {{.DefaultAPIVersion}}){{end}}
 Node version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Node version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- $detailsOrder := getDetailsOrder $component}}
  {{- range $key := $detailsOrder}}
  {{$key}}:\t{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}`;

interface ServerVersion {
  Platform?: { Name?: string };
  Components?: { Name: string; Version: string; Details?: Record<string, string> }[];
  Version?: string;
  ApiVersion?: string;
  MinAPIVersion?: string;
  GitCommit?: string;
  GoVersion?: string;
  Os?: string;
  Arch?: string;
  KernelVersion?: string;
  BuildTime?: string;
  Experimental?: boolean;
}

export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("Show the Berth version information")
    .option("-f, --format <string>", "Format output using a custom template")
    .action(async (flags: { format?: string }) => {
      const client = getClient();
      let server: ServerVersion | undefined;
      let serverErr: unknown;
      let apiVersion = CLIENT_API_VERSION;
      try {
        apiVersion = await client.apiVersion();
        server = await client.get<ServerVersion>("/version");
      } catch (e) {
        serverErr = e;
      }
      const data = {
        Client: {
          Platform: { Name: "Berth" },
          Version: cliVersion(),
          APIVersion: apiVersion,
          DefaultAPIVersion: CLIENT_API_VERSION,
          GoVersion: `node${process.versions.node}`,
          GitCommit: "",
          BuildTime: "",
          Os: process.platform,
          Arch: goArch(),
          Context: "default",
        },
        Server: server
          ? Object.defineProperty(
              {
                ...server,
                Platform: { Name: server.Platform?.Name ?? "" },
                Components: server.Components ?? [{ Name: "Engine", Version: server.Version ?? "", Details: { ApiVersion: server.ApiVersion ?? "", MinAPIVersion: server.MinAPIVersion ?? "", GoVersion: server.GoVersion ?? "", GitCommit: server.GitCommit ?? "", BuildTime: server.BuildTime ?? "", Os: server.Os ?? "", Arch: server.Arch ?? "", Experimental: String(server.Experimental ?? false) } }],
              },
              // Go's field is APIVersion (JSON "ApiVersion"): templates use the Go name.
              "APIVersion",
              { value: server.ApiVersion ?? "", enumerable: false },
            )
          : null,
        ServerOK: server !== undefined,
      };
      if (flags.format) {
        const f = flags.format === "json" ? "{{json .}}" : flags.format;
        try {
          outln(parseTemplate(f).execute(data));
        } catch (e) {
          if (e instanceof TemplateError) throw new StatusError(64, `template parsing error: ${e.message}`);
          throw e;
        }
      } else {
        const funcs = {
          getDetailsOrder: (c: unknown) => Object.keys((c as { Details?: Record<string, string> }).Details ?? {}).sort(),
        };
        outln(tabwrite(parseTemplate(VERSION_TEMPLATE).execute(data, { funcs }), 20, 1));
      }
      if (serverErr) throw serverErr;
    });
}

// --- info ---------------------------------------------------------------------------------------

export function registerInfo(program: Command, name = "info"): void {
  program
    .command(name)
    .description("Display system-wide information")
    .option("-f, --format <string>", "Format output using a custom template")
    .action(async (flags: { format?: string }) => {
      const client = getClient();
      if (flags.format) {
        const info = await client.get<Record<string, unknown>>("/info");
        const f = flags.format === "json" ? "{{json .}}" : flags.format;
        outln(parseTemplate(f).execute(info));
        return;
      }
      const lines: string[] = ["Client:", ` Version:    ${cliVersion()}`, " Context:    default", " Debug Mode: false", ""];
      let info: Record<string, unknown>;
      try {
        info = await client.get<Record<string, unknown>>("/info");
      } catch (e) {
        out(`${lines.join("\n")}\nServer:\n`);
        throw e;
      }
      const v = (k: string): string => printValue(info[k] ?? "");
      const runtimes = Object.keys((info["Runtimes"] as Record<string, unknown> | undefined) ?? {}).sort();
      const server: string[] = [
        "Server:",
        ` Containers: ${v("Containers")}`,
        `  Running: ${v("ContainersRunning")}`,
        `  Paused: ${v("ContainersPaused")}`,
        `  Stopped: ${v("ContainersStopped")}`,
        ` Images: ${v("Images")}`,
        ` Server Version: ${v("ServerVersion")}`,
        ` Storage Driver: ${v("Driver")}`,
        ` Logging Driver: ${v("LoggingDriver")}`,
        ` Cgroup Driver: ${v("CgroupDriver")}`,
        ` Cgroup Version: ${v("CgroupVersion")}`,
        ` Runtimes: ${runtimes.join(" ")}`,
        ` Default Runtime: ${v("DefaultRuntime")}`,
        ` Kernel Version: ${v("KernelVersion")}`,
        ` Operating System: ${v("OperatingSystem")}`,
        ` OSType: ${v("OSType")}`,
        ` Architecture: ${v("Architecture")}`,
        ` CPUs: ${v("NCPU")}`,
        ` Total Memory: ${bytesSize(Number(info["MemTotal"] ?? 0))}`,
        ` Name: ${v("Name")}`,
        ` ID: ${v("ID")}`,
        ` Docker Root Dir: ${v("DockerRootDir")}`,
        ` Debug Mode: ${v("Debug")}`,
        ` Experimental: ${v("ExperimentalBuild")}`,
        ` Live Restore Enabled: ${v("LiveRestoreEnabled")}`,
      ];
      outln([...lines, ...server].join("\n"));
      const warnings = (info["Warnings"] as string[] | null | undefined) ?? [];
      for (const w of warnings) errln(w);
    });
}

// --- events ---------------------------------------------------------------------------------------

interface EventMessage {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  scope?: string;
  time?: number;
  timeNano?: number;
  status?: string;
  id?: string;
  from?: string;
}

/** docker's one-line event form: `<time> <type> <action> <id> (k=v, ...)`. */
export function formatEvent(e: EventMessage, timeNano?: bigint): string {
  let s = "";
  if (timeNano) s += `${formatRfc3339NanoLocal(timeNano)} `;
  else if (e.timeNano) s += `${formatRfc3339NanoLocal(BigInt(Math.round(e.timeNano)))} `;
  else if (e.time) s += `${formatRfc3339NanoLocal(BigInt(e.time) * 1_000_000_000n)} `;
  s += `${e.Type ?? ""} ${e.Action ?? ""} ${e.Actor?.ID ?? ""}`;
  const attrs = e.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length > 0) s += ` (${keys.map((k) => `${k}=${attrs[k] ?? ""}`).join(", ")})`;
  return s;
}

/** The template context of an event: the JSON fields plus Go's field names (.Time, .Scope, ...). */
function eventContext(e: EventMessage): object {
  const ctx: Record<string, unknown> = { ...e };
  const alias = (goName: string, v: unknown) => Object.defineProperty(ctx, goName, { value: v, enumerable: false });
  alias("Scope", e.scope ?? "");
  alias("Time", e.time ?? 0);
  alias("TimeNano", e.timeNano ?? 0);
  alias("Status", e.status ?? "");
  alias("ID", e.id ?? "");
  alias("From", e.from ?? "");
  return ctx;
}

export function registerEvents(program: Command, name = "events"): void {
  program
    .command(name)
    .description("Get real time events from the server")
    .option("-f, --filter <filter>", "Filter output based on conditions provided", filterCollector("-f, --filter"))
    .option("--format <string>", "Format output using a custom template")
    .option("--since <string>", "Show all events created since timestamp")
    .option("--until <string>", "Stream events until this timestamp")
    .action(async (flags: { filter?: string[]; format?: string; since?: string; until?: string }) => {
      const tmpl = flags.format ? parseTemplate(flags.format === "json" ? "{{json .}}" : flags.format) : undefined;
      const res = await getClient().request("GET", "/events", {
        query: {
          since: flags.since ? getTimestamp(flags.since) : undefined,
          until: flags.until ? getTimestamp(flags.until) : undefined,
          filters: filtersJson(flags.filter),
        },
      });
      process.once("SIGINT", () => {
        res.destroy();
        process.exit(0);
      });
      for await (const line of textLines(res)) {
        const e = JSON.parse(line) as EventMessage;
        // timeNano exceeds 2^53: keep the digits the daemon sent.
        const nano = line.match(/"timeNano"\s*:\s*(\d+)/);
        outln(tmpl ? tmpl.execute(eventContext(e)) : formatEvent(e, nano ? BigInt(nano[1] as string) : undefined));
      }
    });
}

/** `berth system ...` plus the top-level shortcuts. */
export function registerSystemCommands(program: Command): void {
  registerVersion(program);
  registerInfo(program);
  registerEvents(program);
  registerInspect(program);
  const group = program.command("system").description("Manage Berth");
  registerInfo(group);
  registerEvents(group);
  registerSystemCheck(group);
}
