/**
 * The loopback guard of a bridge. Berth takes a port published on 127.0.0.1 to
 * its container in the kernel, which needs `route_localnet=1` on the bridge (the
 * host's loopback traffic leaves through it with source 127.0.0.1). That sysctl
 * also lets the bridge *accept* packets addressed to 127.0.0.0/8 — a container
 * could reach any host service that listens on loopback only (CVE-2020-8558).
 * So a bridge gets route_localnet only together with a guard, a raw-table rule
 * that drops them as they arrive (before conntrack and NAT):
 *
 *   -A PREROUTING -i <bridge> -d 127.0.0.0/8 -m comment --comment "berth loopback guard" -j DROP
 *
 * The guard belongs to the bridge, not to a daemon: several berthd share berth0,
 * the bridge and its sysctl outlive them, and there is exactly one guard per
 * bridge. It is added (if missing) under a host-wide flock — check-then-insert
 * would otherwise race between two daemons — and removed with the bridge; guards
 * of bridges that vanished otherwise are collected at start-up. Written by hand
 * because it is a few iptables calls that must run under one lock; flock(1) and
 * sh are util-linux/dash, present wherever iptables is.
 */
import { run } from "../util/exec.js";
import { messageOf } from "../util/errors.js";
import { mkdirp } from "../util/fsutil.js";
import { deleteBridge as deleteLink, setSysctl } from "./links.js";

export const GUARD_COMMENT = "berth loopback guard";
const LOCK_DIR = "/run/berth-net";
const LOCK = `${LOCK_DIR}/loopguard.lock`;

/** $1 = add | del | collect, $2 = the bridge. `collect` removes the guard only if the bridge is gone. */
const SCRIPT = `
g() { iptables -w -t raw "$@" -i "$b" -d 127.0.0.0/8 -m comment --comment "${GUARD_COMMENT}" -j DROP; }
b=$2
case $1 in
  add) g -C PREROUTING 2>/dev/null || g -I PREROUTING 1 ;;
  del) while g -D PREROUTING 2>/dev/null; do :; done ;;
  collect) [ -e "/sys/class/net/$b" ] || while g -D PREROUTING 2>/dev/null; do :; done ;;
esac
`;

async function guard(action: "add" | "del" | "collect", bridge: string): Promise<void> {
  if (!/^[\w.-]{1,15}$/.test(bridge)) throw new Error(`invalid bridge name: ${bridge}`);
  await mkdirp(LOCK_DIR, 0o755);
  await run("flock", ["-w", "60", LOCK, "sh", "-ec", SCRIPT, "sh", action, bridge]);
}

/**
 * Guard a bridge, then let it route 127.0.0.1 (published loopback ports reach
 * containers from the host). When the guard cannot be set, route_localnet is
 * switched off (those ports then answer only from the host's other addresses)
 * and the reason is returned.
 */
export async function enableLocalnet(bridge: string): Promise<string | undefined> {
  const key = `net/ipv4/conf/${bridge}/route_localnet`;
  try {
    await guard("add", bridge);
  } catch (e) {
    await setSysctl(key, "0");
    return messageOf(e);
  }
  if (!(await setSysctl(key, "1"))) return `could not set ${key}`;
  return undefined;
}

/** Delete a bridge, then its guard (a bridge that could not be deleted keeps it). */
export async function deleteBridge(bridge: string): Promise<void> {
  await deleteLink(bridge);
  await guard("del", bridge);
}

/** Bridges named by guards in `iptables-save -t raw` output. */
export function guardedBridges(rawSave: string): string[] {
  const out = new Set<string>();
  for (const line of rawSave.split("\n")) {
    if (!line.startsWith("-A PREROUTING ") || !line.includes(`"${GUARD_COMMENT}"`)) continue;
    const m = line.match(/ -i (\S+) /);
    if (m) out.add(m[1] as string);
  }
  return [...out];
}

/** Remove the guards of bridges that no longer exist (each re-checked under the lock). */
export async function collectGuards(exists: (bridge: string) => boolean): Promise<string[]> {
  const { stdout } = await run("iptables-save", ["-t", "raw"]);
  const gone = guardedBridges(stdout).filter((b) => !exists(b));
  for (const b of gone) await guard("collect", b);
  return gone;
}
