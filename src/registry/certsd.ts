/**
 * Per-registry TLS from certs.d folders, as dockerd reads /etc/docker/certs.d:
 * `<dir>/<host[:port]>/*.crt` are extra CA certificates (trusted on top of the
 * default roots), `X.cert` + `X.key` a client certificate (a `.cert` without
 * its `.key`, or the reverse, is an error, in dockerd's words). Berth looks in
 * /etc/berth/certs.d, then /etc/docker/certs.d: the first of them that has a
 * folder for the host is used, alone (`berthd --certs-dir DIR` replaces both).
 * The same folder may hold a containerd-style hosts.toml (hosts.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { EngineError } from "../util/errors.js";

export const DEFAULT_CERTS_DIRS = ["/etc/berth/certs.d", "/etc/docker/certs.d"];

/** TLS material for one registry host; empty when it has no certs.d folder. */
export interface HostTls {
  /** Extra CA certificates (PEM). */
  ca: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  /** The folder they came from. */
  dir?: string;
}

/** Folder names are host[:port] as written in image names; dockerd maps ':' the same way on Linux (no change). */
export function hostFolder(certsDirs: string[], hostport: string): string | undefined {
  if (hostport === "" || hostport.includes("/") || hostport === "." || hostport === "..") return undefined;
  for (const d of certsDirs) {
    const p = path.join(d, hostport);
    try {
      if (statSync(p).isDirectory()) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** dockerd's ReadCertsDirectory over one folder. */
export function readCertsFolder(dir: string): HostTls {
  const out: HostTls = { ca: [], dir };
  const names = readdirSync(dir).sort();
  for (const name of names) {
    const full = path.join(dir, name);
    if (name.endsWith(".crt")) {
      out.ca.push(readFileSync(full));
    } else if (name.endsWith(".cert")) {
      const keyName = `${name.slice(0, -5)}.key`;
      if (!existsSync(path.join(dir, keyName))) throw new EngineError("invalid", `missing key ${keyName} for client certificate ${name}. CA certificates must use the extension .crt`);
      // Node presents one client certificate per connection: the first pair by name.
      if (out.cert === undefined) {
        out.cert = readFileSync(full);
        out.key = readFileSync(path.join(dir, keyName));
      }
    } else if (name.endsWith(".key")) {
      const certName = `${name.slice(0, -4)}.cert`;
      if (!existsSync(path.join(dir, certName))) throw new EngineError("invalid", `missing client certificate ${certName} for key ${name}`);
    }
  }
  return out;
}

/** The TLS material for a registry host (host[:port]). */
export function hostTls(certsDirs: string[], hostport: string): HostTls {
  const dir = hostFolder(certsDirs, hostport);
  return dir === undefined ? { ca: [] } : readCertsFolder(dir);
}
