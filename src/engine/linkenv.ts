/**
 * The environment of legacy links (`docker run --link name:alias` on the default
 * bridge), as Docker documents it: for a linked container under ALIAS,
 *
 *   ALIAS_NAME=/<this container>/<alias>
 *   ALIAS_PORT=<proto>://<ip>:<port>               the lowest exposed port
 *   ALIAS_PORT_<port>_<PROTO>=<proto>://<ip>:<port> and its _ADDR, _PORT, _PROTO, for each exposed port
 *   ALIAS_ENV_<name>=<value>                        for each variable of the linked container
 *                                                   (but HOME and PATH)
 *
 * The alias is upper-cased with dashes as underscores. Variables the container sets
 * itself win over these (the caller merges them first).
 */

export interface LinkTarget {
  /** This container's name, e.g. "/web". */
  parentName: string;
  /** The alias the link gives the target (its name when none was given). */
  alias: string;
  ip: string;
  /** The target's exposed ports, "80/tcp" style. */
  exposedPorts: string[];
  /** The target's configured environment. */
  env: string[];
}

interface Port {
  port: number;
  proto: string;
}

function parsePorts(keys: string[]): Port[] {
  const out: Port[] = [];
  for (const k of keys) {
    const [p = "", proto = "tcp"] = k.split("/");
    const port = Number(p);
    if (Number.isInteger(port) && port > 0) out.push({ port, proto: proto.toLowerCase() });
  }
  // By number, tcp before udp and sctp at the same number.
  return out.sort((a, b) => a.port - b.port || (a.proto === "tcp" ? -1 : b.proto === "tcp" ? 1 : a.proto.localeCompare(b.proto)));
}

export function linkEnv(t: LinkTarget): string[] {
  const prefix = t.alias.replace(/^.*\//, "").toUpperCase().replace(/-/g, "_");
  const env: string[] = [];
  const ports = parsePorts(t.exposedPorts);
  const first = ports[0];
  if (first) env.push(`${prefix}_PORT=${first.proto}://${t.ip}:${first.port}`);
  for (const p of ports) {
    const key = `${prefix}_PORT_${p.port}_${p.proto.toUpperCase()}`;
    env.push(`${key}=${p.proto}://${t.ip}:${p.port}`, `${key}_ADDR=${t.ip}`, `${key}_PORT=${p.port}`, `${key}_PROTO=${p.proto}`);
  }
  env.push(`${prefix}_NAME=${t.parentName}/${t.alias.replace(/^.*\//, "")}`);
  for (const v of t.env) {
    const i = v.indexOf("=");
    if (i <= 0) continue;
    const name = v.slice(0, i);
    if (name === "HOME" || name === "PATH") continue;
    env.push(`${prefix}_ENV_${name}=${v.slice(i + 1)}`);
  }
  return env;
}
