/**
 * Commands that look at or hold a running container: top, pause, unpause, port,
 * diff, attach and stats (one sample with --no-stream, a redrawn table otherwise).
 */
import type { Command } from "commander";
import { attachContainer, checkTty, forwardSignals, monitorTtySize } from "../attach.js";
import { jsonLines, textLines } from "../client.js";
import { StatusError, errln, forEachArg, getClient, out, outln } from "../context.js";
import { tabwrite } from "../format.js";
import { requestWait } from "./containers.js";
import { type StatsEntry, renderStats, statsEntry, type StatsJSON } from "./statsfmt.js";

const enc = encodeURIComponent;

export function registerTop(parent: Command): void {
  parent
    .command("top")
    .description("Display the running processes of a container")
    .usage("CONTAINER [ps OPTIONS]")
    .argument("<container>")
    .argument("[psOptions...]")
    .passThroughOptions()
    .action(async (container: string, psArgs: string[]) => {
      const r = await getClient().get<{ Titles: string[]; Processes: string[][] | null }>(`/containers/${enc(container)}/top`, {
        ps_args: psArgs.length > 0 ? psArgs.join(" ") : undefined,
      });
      let text = `${r.Titles.join("\t")}\n`;
      for (const p of r.Processes ?? []) text += `${p.join("\t")}\n`;
      out(tabwrite(text, 20, 3));
    });
}

export function registerPauseUnpause(parent: Command): void {
  for (const [verb, description] of [
    ["pause", "Pause all processes within one or more containers"],
    ["unpause", "Unpause all processes within one or more containers"],
  ] as const) {
    parent
      .command(verb)
      .description(description)
      .usage("CONTAINER [CONTAINER...]")
      .argument("<container...>")
      .action(async (containers: string[]) => {
        const client = getClient();
        await forEachArg(containers, async (c) => {
          await client.post(`/containers/${enc(c)}/${verb}`);
        });
      });
  }
}

/** sortorder.NaturalLess: digit runs compare as numbers. */
export function naturalLess(a: string, b: string): number {
  const re = /(\d+|\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

const joinHostPort = (ip: string, port: string): string => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);

export function registerPort(parent: Command): void {
  parent
    .command("port")
    .description("List port mappings or a specific mapping for the container")
    .usage("CONTAINER [PRIVATE_PORT[/PROTO]]")
    .argument("<container>")
    .argument("[privatePort]")
    .action(async (container: string, privatePort: string | undefined) => {
      type Binding = { HostIp: string; HostPort: string };
      const info = await getClient().get<{ NetworkSettings?: { Ports?: Record<string, Binding[] | null> | null } }>(`/containers/${enc(container)}/json`);
      const ports = info.NetworkSettings?.Ports ?? {};
      const lines: string[] = [];
      if (privatePort !== undefined) {
        const [port = "", proto = "tcp"] = privatePort.split("/");
        if (!/^\d+$/.test(port) || Number(port) > 65535) {
          const why = /^\d+$/.test(port) ? "value out of range" : "invalid syntax";
          throw new Error(`Error: invalid port (${port}): strconv.ParseUint: parsing "${port}": ${why}`);
        }
        const frontends = ports[`${port}/${proto || "tcp"}`];
        if (!frontends || frontends.length === 0) throw new Error(`Error: No public port '${privatePort}' published for ${container}`);
        for (const f of frontends) lines.push(joinHostPort(f.HostIp, f.HostPort));
      } else {
        for (const [from, frontends] of Object.entries(ports)) for (const f of frontends ?? []) lines.push(`${from} -> ${joinHostPort(f.HostIp, f.HostPort)}`);
      }
      if (lines.length > 0) outln(lines.sort(naturalLess).join("\n"));
    });
}

const CHANGE_KINDS = ["C", "A", "D"];

export function registerDiff(parent: Command): void {
  parent
    .command("diff")
    .description("Inspect changes to files or directories on a container's filesystem")
    .usage("CONTAINER")
    .argument("<container>")
    .action(async (container: string) => {
      const changes = await getClient().get<{ Kind: number; Path: string }[] | null>(`/containers/${enc(container)}/changes`);
      for (const c of changes ?? []) outln(`${CHANGE_KINDS[c.Kind] ?? "?"} ${c.Path}`);
    });
}

interface AttachTarget {
  Id: string;
  Config: { Tty: boolean; OpenStdin: boolean };
  State: { Running: boolean; Paused: boolean; Restarting: boolean };
}

export function registerAttach(parent: Command): void {
  parent
    .command("attach")
    .description("Attach local standard input, output, and error streams to a running container")
    .usage("[OPTIONS] CONTAINER")
    .option("--detach-keys <string>", "Override the key sequence for detaching a container")
    .option("--no-stdin", "Do not attach STDIN")
    .option("--sig-proxy", "Proxy all received signals to the process (default true)")
    .option("--no-sig-proxy", "Do not proxy received signals to the process")
    .argument("<container>")
    .action(async (container: string, flags: { detachKeys?: string; stdin: boolean; sigProxy: boolean }) => {
      const client = getClient();
      const c = await client.get<AttachTarget>(`/containers/${enc(container)}/json`);
      if (!c.State.Running) throw new Error("You cannot attach to a stopped container, start it first");
      if (c.State.Paused) throw new Error("You cannot attach to a paused container, unpause it first");
      if (c.State.Restarting) throw new Error("You cannot attach to a restarting container, wait until it is running");
      const streams = { stdin: flags.stdin !== false && c.Config.OpenStdin, stdout: true, stderr: true, tty: c.Config.Tty };
      if (streams.stdin) checkTty(streams);
      const wait = (await requestWait(client, c.Id, "not-running")).result;
      const attachment = await attachContainer(client, c.Id, streams, flags.detachKeys);
      const stopResize = streams.tty ? monitorTtySize(client, c.Id) : () => undefined;
      const stopSignals = !streams.tty && flags.sigProxy !== false ? forwardSignals(client, c.Id) : () => undefined;
      try {
        await attachment.done;
      } finally {
        stopResize();
        stopSignals();
        attachment.close();
      }
      // Detached with the key sequence: the container still runs; docker says so and ends with 1.
      const still = await client.get<AttachTarget>(`/containers/${enc(c.Id)}/json`).catch(() => undefined);
      if (still?.State.Running) throw new Error("read escape sequence");
      const r = await wait;
      if (r.Error?.Message) throw new Error(r.Error.Message);
      if (r.StatusCode !== 0) throw new StatusError(r.StatusCode);
    });
}

// --- stats ------------------------------------------------------------------------------------

interface StatsFlags {
  all?: boolean;
  format?: string;
  stream: boolean;
  trunc: boolean;
}

export function registerStats(parent: Command): void {
  parent
    .command("stats")
    .description("Display a live stream of container(s) resource usage statistics")
    .usage("[OPTIONS] [CONTAINER...]")
    .option("-a, --all", "Show all containers (default shows just running)")
    .option("--format <string>", "Format output using a custom template")
    .option("--no-stream", "Disable streaming stats and only pull the first result")
    .option("--no-trunc", "Do not truncate output")
    .argument("[containers...]")
    .action(async (containers: string[], flags: StatsFlags) => {
      const client = getClient();
      const named = containers.length > 0;
      const format = flags.format ?? "";
      const trunc = flags.trunc !== false;
      if (flags.stream !== false && !named) {
        await streamStats([], format, trunc, { all: !!flags.all });
        return;
      }
      let targets: { id: string; label: string }[];
      if (named) targets = containers.map((c) => ({ id: c, label: c }));
      else {
        const list = await client.get<{ Id: string }[]>("/containers/json", { all: flags.all || undefined });
        targets = list.map((c) => ({ id: c.Id, label: c.Id.slice(0, 12) }));
      }
      if (flags.stream === false) {
        const entries: StatsEntry[] = [];
        const errors: string[] = [];
        await Promise.all(
          targets.map(async (t, i) => {
            try {
              const s = await client.get<StatsJSON>(`/containers/${enc(t.id)}/stats`, { stream: false });
              entries[i] = statsEntry(t.label, s);
            } catch (e) {
              if (named) errors[i] = e instanceof Error ? e.message : String(e);
            }
          }),
        );
        const failed = errors.filter((e) => e !== undefined);
        if (failed.length > 0) throw new Error(failed.join("\n"));
        out(renderStats(entries.filter((e) => e !== undefined), format, trunc));
        return;
      }
      await streamStats(targets, format, trunc, undefined);
    });
}

/**
 * Stream every target's stats and redraw the table twice a second (cleared first
 * on a terminal). Without named containers (`watch`), containers that start later
 * join the table and, unless --all, those that stop leave it, as docker's do.
 */
async function streamStats(initial: { id: string; label: string }[], format: string, trunc: boolean, watch: { all: boolean } | undefined): Promise<void> {
  const client = getClient();
  const labels = new Map<string, string>();
  const latest = new Map<string, StatsEntry>();
  const streams: Promise<void>[] = [];
  const drop = (id: string) => {
    labels.delete(id);
    latest.delete(id);
  };
  const follow = (id: string, label: string) => {
    if (labels.has(id)) return;
    labels.set(id, label);
    streams.push(
      (async () => {
        try {
          const res = await client.request("GET", `/containers/${enc(id)}/stats`, { query: { stream: true } });
          for await (const s of jsonLines<StatsJSON>(res)) if (labels.has(id)) latest.set(id, statsEntry(label, s));
        } catch (e) {
          if (!watch) errln(e instanceof Error ? e.message : String(e));
        }
      })(),
    );
  };
  if (watch) {
    // Subscribed before the list is read, so that no start falls between the two.
    const events = await client.request("GET", "/events", { query: { filters: JSON.stringify({ type: { container: true } }) } });
    void (async () => {
      for await (const line of textLines(events)) {
        const e = JSON.parse(line) as { Action?: string; Actor?: { ID?: string } };
        const id = e.Actor?.ID ?? "";
        if (e.Action === "start") follow(id, id.slice(0, 12));
        else if (e.Action === "destroy" || (e.Action === "die" && !watch.all)) drop(id);
      }
    })().catch(() => undefined);
    const list = await client.get<{ Id: string }[]>("/containers/json", { all: watch.all || undefined });
    for (const c of list) follow(c.Id, c.Id.slice(0, 12));
  } else for (const t of initial) follow(t.id, t.label);
  const tty = process.stdout.isTTY === true;
  const draw = () => {
    const rows = [...labels.keys()].map((id) => latest.get(id)).filter((e): e is StatsEntry => e !== undefined);
    out(`${tty ? "\x1b[2J\x1b[H" : ""}${renderStats(rows, format, trunc)}`);
  };
  const timer = setInterval(draw, 500);
  process.once("SIGINT", () => process.exit(0));
  if (watch) await new Promise<never>(() => undefined);
  await Promise.all(streams);
  clearInterval(timer);
  draw();
}

export function registerObserveCommands(program: Command, group: Command): void {
  for (const p of [program, group]) {
    registerTop(p);
    registerPauseUnpause(p);
    registerPort(p);
    registerDiff(p);
    registerAttach(p);
    registerStats(p);
  }
}
