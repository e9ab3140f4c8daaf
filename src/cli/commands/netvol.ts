/** `berth network ...` and `berth volume ...`. */
import type { Command } from "commander";
import { StatusError, collect, confirm, filtersJson, forEachArg, getClient, out, outln, filterCollector } from "../context.js";
import { formatGoTime, humanSize, renderFormatted, shortId } from "../format.js";
import { parseKeyValues } from "../buildctx.js";
import { inspectOutput } from "./system.js";

const enc = encodeURIComponent;

interface NetworkSummary {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Created?: string;
  EnableIPv6?: boolean;
  Internal?: boolean;
  Labels?: Record<string, string> | null;
}

const labelsString = (l: Record<string, string> | null | undefined): string =>
  Object.entries(l ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

const NETWORK_HEADERS: Record<string, string> = { ID: "NETWORK ID", Name: "NAME", Driver: "DRIVER", Scope: "SCOPE", IPv4: "IPV4", IPv6: "IPV6", Internal: "INTERNAL", Labels: "LABELS", CreatedAt: "CREATED AT" };

/** Go's time.Time.String() of an RFC 3339 timestamp (local zone, fraction kept). */
export function goTimeString(rfc3339: string | undefined): string {
  const ms = rfc3339 ? Date.parse(rfc3339) : NaN;
  if (Number.isNaN(ms)) return "";
  const base = formatGoTime(Math.floor(ms / 1000));
  const frac = (rfc3339?.match(/T\d\d:\d\d:\d\d\.(\d+)/)?.[1] ?? "").replace(/0+$/, "");
  return frac === "" ? base : base.replace(/^(\S+ \S+)/, `$1.${frac}`);
}

/** Docker's network formatter context (fields in Go's JSON key order: sorted). */
export function networkContext(n: NetworkSummary & { EnableIPv4?: boolean }, trunc: boolean): Record<string, unknown> {
  return {
    CreatedAt: goTimeString(n.Created),
    Driver: n.Driver,
    ID: trunc ? shortId(n.Id) : n.Id,
    IPv4: String(n.EnableIPv4 !== false),
    IPv6: String(!!n.EnableIPv6),
    Internal: String(!!n.Internal),
    Labels: labelsString(n.Labels),
    Name: n.Name,
    Scope: n.Scope,
  };
}

function registerNetwork(program: Command): void {
  const net = program.command("network").description("Manage networks");
  net
    .command("ls")
    .alias("list")
    .description("List networks")
    .usage("[OPTIONS]")
    .option("-f, --filter <filter>", "Provide filter values (e.g. 'driver=bridge')", filterCollector("-f, --filter"))
    .option("--format <string>", "Format output using a custom template")
    .option("--no-trunc", "Do not truncate the output")
    .option("-q, --quiet", "Only display network IDs")
    .action(async (flags: { filter?: string[]; format?: string; trunc: boolean; quiet?: boolean }) => {
      const list = await getClient().get<NetworkSummary[]>("/networks", { filters: filtersJson(flags.filter) });
      list.sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      const format = flags.quiet ? "{{.ID}}" : (flags.format ?? "table");
      out(renderNet(list, format, flags.trunc !== false));
    });
  net
    .command("create")
    .description("Create a network")
    .usage("[OPTIONS] NETWORK")
    .option("-d, --driver <string>", "Driver to manage the Network", "bridge")
    .option("--subnet <strings>", "Subnet in CIDR format that represents a network segment", collect)
    .option("--gateway <strings>", "IPv4 or IPv6 Gateway for the master subnet", collect)
    .option("--ip-range <strings>", "Allocate container ip from a sub-range", collect)
    .option("--internal", "Restrict external access to the network")
    .option("--attachable", "Enable manual container attachment")
    .option("--ipv6", "Enable or disable IPv6 networking")
    .option("-l, --label <list>", "Set metadata on a network", collect)
    .option("-o, --opt <map>", "Set driver specific options", collect)
    .argument("<name>")
    .action(
      async (
        name: string,
        flags: { driver: string; subnet?: string[]; gateway?: string[]; ipRange?: string[]; internal?: boolean; attachable?: boolean; ipv6?: boolean; label?: string[]; opt?: string[] },
      ) => {
        const subnets = flags.subnet ?? [];
        const gateways = flags.gateway ?? [];
        const ranges = flags.ipRange ?? [];
        if (gateways.length > subnets.length) throw new Error("every ip-range or gateway must have a corresponding subnet");
        if (ranges.length > subnets.length) throw new Error("every ip-range or gateway must have a corresponding subnet");
        const config = subnets.map((s, i) => ({ Subnet: s, ...(gateways[i] ? { Gateway: gateways[i] } : {}), ...(ranges[i] ? { IPRange: ranges[i] } : {}) }));
        const r = await getClient().post<{ Id: string }>("/networks/create", undefined, {
          Name: name,
          Driver: flags.driver,
          Internal: !!flags.internal,
          Attachable: !!flags.attachable,
          ...(flags.ipv6 ? { EnableIPv6: true } : {}),
          IPAM: { Driver: "default", Config: config, Options: {} },
          Options: parseKeyValues(flags.opt),
          Labels: parseKeyValues(flags.label),
        });
        outln(r.Id);
      },
    );
  net
    .command("rm")
    .alias("remove")
    .description("Remove one or more networks")
    .usage("NETWORK [NETWORK...]")
    .option("-f, --force", "Do not error if the network does not exist")
    .argument("<network...>")
    .action(async (names: string[], flags: { force?: boolean }) => {
      const client = getClient();
      const errors: Error[] = [];
      for (const n of names) {
        try {
          await client.delete(`/networks/${enc(n)}`);
          outln(n);
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          if (flags.force && "status" in err && (err as { status: number }).status === 404) continue;
          errors.push(err);
        }
      }
      // docker 28 prints each failure, then its own status line.
      if (errors.length > 0) throw new StatusError(1, `${errors.map((e) => e.message).join("\n")}\nexit status 1`);
    });
  net
    .command("inspect")
    .description("Display detailed information on one or more networks")
    .usage("[OPTIONS] NETWORK [NETWORK...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .option("-v, --verbose", "Verbose output for diagnostics")
    .argument("<network...>")
    .action(async (names: string[], flags: { format?: string; verbose?: boolean }) => {
      const client = getClient();
      await inspectOutput(names, flags.format, (n) => client.get(`/networks/${enc(n)}`, { verbose: flags.verbose || undefined }));
    });
  net
    .command("connect")
    .description("Connect a container to a network")
    .usage("[OPTIONS] NETWORK CONTAINER")
    .option("--alias <strings>", "Add network-scoped alias for the container", collect)
    .option("--ip <string>", "IPv4 address (e.g., \"172.30.100.104\")")
    .option("--ip6 <string>", "IPv6 address (e.g., \"2001:db8::33\")")
    .option("--link <list>", "Add link to another container", collect)
    .option("--driver-opt <strings>", "driver options for the network", collect)
    .argument("<network>")
    .argument("<container>")
    .action(async (network: string, container: string, flags: { alias?: string[]; ip?: string; ip6?: string; link?: string[]; driverOpt?: string[] }) => {
      const ipam = flags.ip || flags.ip6 ? { IPAMConfig: { ...(flags.ip ? { IPv4Address: flags.ip } : {}), ...(flags.ip6 ? { IPv6Address: flags.ip6 } : {}) } } : {};
      await getClient().post(`/networks/${enc(network)}/connect`, undefined, {
        Container: container,
        EndpointConfig: {
          ...ipam,
          ...(flags.alias ? { Aliases: flags.alias } : {}),
          ...(flags.link ? { Links: flags.link } : {}),
          ...(flags.driverOpt ? { DriverOpts: parseKeyValues(flags.driverOpt) } : {}),
        },
      });
    });
  net
    .command("disconnect")
    .description("Disconnect a container from a network")
    .usage("[OPTIONS] NETWORK CONTAINER")
    .option("-f, --force", "Force the container to disconnect from a network")
    .argument("<network>")
    .argument("<container>")
    .action(async (network: string, container: string, flags: { force?: boolean }) => {
      await getClient().post(`/networks/${enc(network)}/disconnect`, undefined, { Container: container, Force: !!flags.force });
    });
  net
    .command("prune")
    .description("Remove all unused networks")
    .usage("[OPTIONS]")
    .option("--filter <filter>", 'Provide filter values (e.g. "until=<timestamp>")', filterCollector("--filter"))
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { filter?: string[]; force?: boolean }) => {
      if (!flags.force && !(await confirm("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?"))) return;
      const r = await getClient().post<{ NetworksDeleted?: string[] | null }>("/networks/prune", { filters: filtersJson(flags.filter) });
      const deleted = r?.NetworksDeleted ?? [];
      if (deleted.length > 0) outln(`Deleted Networks:\n${deleted.join("\n")}\n`);
    });
}

function renderNet(list: NetworkSummary[], format: string, trunc: boolean): string {
  return renderFormatted(
    list.map((n) => networkContext(n, trunc)),
    format,
    NETWORK_HEADERS,
    "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
  );
}

// --- volumes ------------------------------------------------------------------------------------

interface Volume {
  Name: string;
  Driver: string;
  Mountpoint?: string;
  Scope?: string;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  CreatedAt?: string;
  UsageData?: { Size: number; RefCount: number } | null;
}

const VOLUME_HEADERS: Record<string, string> = { Name: "VOLUME NAME", Driver: "DRIVER", Scope: "SCOPE", Mountpoint: "MOUNTPOINT", Labels: "LABELS", Links: "LINKS", Size: "SIZE", Availability: "AVAILABILITY", Group: "GROUP", Status: "STATUS" };

export function volumeContext(v: Volume): Record<string, unknown> {
  return {
    Availability: "N/A",
    Driver: v.Driver,
    Group: "N/A",
    Labels: labelsString(v.Labels),
    Links: v.UsageData && v.UsageData.RefCount >= 0 ? String(v.UsageData.RefCount) : "N/A",
    Mountpoint: v.Mountpoint ?? "",
    Name: v.Name,
    Scope: v.Scope ?? "local",
    Size: v.UsageData && v.UsageData.Size >= 0 ? humanSize(v.UsageData.Size) : "N/A",
    Status: "N/A",
  };
}

function registerVolume(program: Command): void {
  const vol = program.command("volume").description("Manage volumes");
  vol
    .command("ls")
    .alias("list")
    .description("List volumes")
    .usage("[OPTIONS]")
    .option("-f, --filter <filter>", "Provide filter values (e.g. 'dangling=true')", filterCollector("-f, --filter"))
    .option("--format <string>", "Format output using a custom template")
    .option("-q, --quiet", "Only display volume names")
    .action(async (flags: { filter?: string[]; format?: string; quiet?: boolean }) => {
      const r = await getClient().get<{ Volumes?: Volume[] | null }>("/volumes", { filters: filtersJson(flags.filter) });
      const list = [...(r?.Volumes ?? [])].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      const format = flags.quiet ? "{{.Name}}" : (flags.format ?? "table");
      out(renderFormatted(list.map(volumeContext), format, VOLUME_HEADERS, "{{.Driver}}\t{{.Name}}"));
    });
  vol
    .command("create")
    .description("Create a volume")
    .usage("[OPTIONS] [VOLUME]")
    .option("-d, --driver <string>", "Specify volume driver name", "local")
    .option("-l, --label <list>", "Set metadata for a volume", collect)
    .option("-o, --opt <map>", "Set driver specific options", collect)
    .option("--name <string>", "Specify volume name")
    .argument("[volume]")
    .action(async (name: string | undefined, flags: { driver: string; label?: string[]; opt?: string[]; name?: string }) => {
      if (name && flags.name && name !== flags.name) throw new Error(`conflicting options: cannot specify a volume-name through both --name and as a positional arg`);
      const v = await getClient().post<Volume>("/volumes/create", undefined, {
        Name: name ?? flags.name ?? "",
        Driver: flags.driver,
        DriverOpts: parseKeyValues(flags.opt),
        Labels: parseKeyValues(flags.label),
      });
      outln(v.Name);
    });
  vol
    .command("rm")
    .alias("remove")
    .description("Remove one or more volumes")
    .usage("[OPTIONS] VOLUME [VOLUME...]")
    .option("-f, --force", "Force the removal of one or more volumes")
    .argument("<volume...>")
    .action(async (names: string[], flags: { force?: boolean }) => {
      const client = getClient();
      await forEachArg(names, async (n) => {
        await client.delete(`/volumes/${enc(n)}`, { force: flags.force || undefined });
      });
    });
  vol
    .command("inspect")
    .description("Display detailed information on one or more volumes")
    .usage("[OPTIONS] VOLUME [VOLUME...]")
    .option("-f, --format <string>", "Format output using a custom template")
    .argument("<volume...>")
    .action(async (names: string[], flags: { format?: string }) => {
      const client = getClient();
      await inspectOutput(names, flags.format, (n) => client.get(`/volumes/${enc(n)}`));
    });
  vol
    .command("prune")
    .description("Remove unused local volumes")
    .usage("[OPTIONS]")
    .option("-a, --all", "Remove all unused volumes, not just anonymous ones")
    .option("--filter <filter>", 'Provide filter values (e.g. "label=<label>")', filterCollector("--filter"))
    .option("-f, --force", "Do not prompt for confirmation")
    .action(async (flags: { all?: boolean; filter?: string[]; force?: boolean }) => {
      const warning = flags.all
        ? "WARNING! This will remove all local volumes not used by at least one container."
        : "WARNING! This will remove anonymous local volumes not used by at least one container.";
      if (!flags.force && !(await confirm(`${warning}\nAre you sure you want to continue?`))) return;
      const filters = [...(flags.filter ?? []), ...(flags.all ? ["all=true"] : [])];
      const r = await getClient().post<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>("/volumes/prune", { filters: filtersJson(filters) });
      const deleted = r?.VolumesDeleted ?? [];
      if (deleted.length > 0) outln(`Deleted Volumes:\n${deleted.join("\n")}\n`);
      outln(`Total reclaimed space: ${humanSize(r?.SpaceReclaimed ?? 0, 4)}`);
    });
}

export function registerNetworkVolumeCommands(program: Command): void {
  registerNetwork(program);
  registerVolume(program);
}
