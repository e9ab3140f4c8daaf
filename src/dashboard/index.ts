/**
 * The web dashboard (docs/dashboard.md): `startDashboard` serves it on an address, in front of an
 * Engine API endpoint. berthd starts it for --dashboard-addr, `berth dashboard` for the CLI's connection.
 */
import path from "node:path";
import { existsSync, promises as fs } from "node:fs";
import { loadToken } from "./auth.js";
import { ASSETS, type DashboardServer, isLoopback, makeDashboardServer, parseAddr } from "./server.js";
import { type UpstreamTarget, makeUpstream } from "./upstream.js";
import type { FeedOptions } from "./feed.js";
import { makeRegistryView, parseRegistryUrl } from "./registry.js";

export type { UpstreamTarget } from "./upstream.js";
export { parseAddr, isLoopback } from "./server.js";
export { parseRegistryUrl } from "./registry.js";

export interface DashboardOptions {
  /** HOST:PORT to listen on; port 0 picks a free one. */
  addr: string;
  readOnly: boolean;
  upstream: UpstreamTarget;
  /** Server certificate and key files (berthd's --tlscert, --tlskey): required for, and used only on, a non-loopback address. */
  tlsFiles?: { cert?: string; key?: string };
  /** Keep the token here (0600) across restarts; without it a new token per start. */
  tokenFile?: string;
  feed?: FeedOptions;
  /** A loopback registry (http://127.0.0.1:PORT) for the registry view; credentials from config.json. */
  registry?: string;
}

export interface Dashboard {
  /** The URL to open, with the token in its fragment (never sent to a server by the browser). */
  url: string;
  port: number;
  close(): void;
  server: DashboardServer;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { host, port } = parseAddr(opts.addr);
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (!isLoopback(host)) {
    const { cert, key } = opts.tlsFiles ?? {};
    if (!cert || !key) throw new Error(`refusing to serve the dashboard on ${opts.addr} without TLS: a non-loopback address needs --tlscert and --tlskey (or use 127.0.0.1)`);
    tls = { cert: await fs.readFile(cert), key: await fs.readFile(key) };
  }
  if (!existsSync(path.join(ASSETS, "index.html"))) throw new Error(`the dashboard's files are missing (${ASSETS}): run npm run build`);
  if (opts.registry) parseRegistryUrl(opts.registry);
  const token = await loadToken(opts.tokenFile);
  const scheme = tls ? "https" : "http";
  const hosts = tls ? undefined : new Set<string>();
  const srv = makeDashboardServer({ gate: { token, readOnly: opts.readOnly, hosts, scheme }, upstream: makeUpstream(opts.upstream), tls, feed: opts.feed, registry: opts.registry ? makeRegistryView(opts.registry) : undefined });
  await new Promise<void>((resolve, reject) => {
    srv.server.once("error", reject);
    srv.server.listen({ host, port }, () => {
      srv.server.off("error", reject);
      resolve();
    });
  });
  const bound = (srv.server.address() as { port: number }).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  hosts?.add(`${shown}:${bound}`.toLowerCase());
  for (const h of ["127.0.0.1", "localhost", "[::1]"]) hosts?.add(`${h}:${bound}`);
  return { url: `${scheme}://${shown}:${bound}/#token=${token}`, port: bound, close: () => srv.close(), server: srv };
}
