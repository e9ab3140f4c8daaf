/**
 * `berth dashboard`: serves the web dashboard on a loopback port in front of the CLI's own connection
 * to the daemon (-H, BERTH_HOST, DOCKER_HOST), prints its URL (with a fresh token) and runs until
 * interrupted, as `kubectl proxy` does. The same dashboard as `berthd --dashboard-addr`.
 */
import type { Command } from "commander";
import { startDashboard } from "../../dashboard/index.js";
import { parseHost } from "../client.js";
import { getClient, outln } from "../context.js";

export function registerDashboard(program: Command): void {
  program
    .command("dashboard")
    .description("Serve the web dashboard on a local port (through this CLI's connection to the daemon)")
    .option("--addr <host:port>", "address to serve on (a loopback one; port 0 picks a free port)", "127.0.0.1:0")
    .option("--read-only", "show, but change nothing")
    .option("--registry <url>", "show this loopback registry in the Registry view (http://127.0.0.1:PORT; credentials from config.json)")
    .action(async (flags: { addr: string; readOnly?: boolean; registry?: string }) => {
      const ep = parseHost(getClient().host);
      const dash = await startDashboard({
        addr: flags.addr,
        readOnly: flags.readOnly ?? false,
        registry: flags.registry,
        upstream: ep.socketPath ? { socketPath: ep.socketPath } : { host: ep.hostname, port: ep.port },
      });
      outln(`dashboard: ${dash.url}${flags.readOnly ? " (read-only)" : ""}`);
      outln("Press Ctrl-C to stop.");
      await new Promise<void>((resolve) => {
        for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => resolve());
      });
      dash.close();
    });
}
