/**
 * A container's security choices in its HostConfig: capabilities (`--cap-add`/`--cap-drop`,
 * `--privileged`) and `--security-opt` (seccomp, AppArmor, no-new-privileges, systempaths, label),
 * with dockerd's messages. Pure: a seccomp profile file is read before (seccompProfileFile says which).
 */
import { invalid } from "../../util/errors.js";
import { type OciSeccomp, profileFromDockerJson } from "../seccomp.js";
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from "./constants.js";
import type { SpecHost } from "./host.js";
import type { SpecHostConfig } from "./hostconfig.js";

export interface SecurityOpts {
  seccomp?: string;
  apparmor?: string;
  noNewPrivileges: boolean;
  systemPathsUnconfined: boolean;
}

/** The capability set: Docker's default with CapAdd/CapDrop applied ("ALL" allowed), every host capability when privileged. */
export function capabilitiesFor(hc: SpecHostConfig, hostCaps: readonly string[]): string[] {
  const norm = (c: string) => {
    const u = c.toUpperCase();
    return u === "ALL" ? "ALL" : u.startsWith("CAP_") ? u : `CAP_${u}`;
  };
  if (hc.Privileged) return [...hostCaps];
  let caps = [...DEFAULT_CAPABILITIES];
  const add = (hc.CapAdd ?? []).map(norm);
  const drop = (hc.CapDrop ?? []).map(norm);
  for (const c of [...add, ...drop]) if (c !== "ALL" && !ALL_CAPABILITIES.includes(c)) throw invalid(`unknown capability: "${c}"`);
  if (drop.includes("ALL")) caps = [];
  else caps = caps.filter((c) => !drop.includes(c));
  if (add.includes("ALL")) caps = [...hostCaps];
  else for (const c of add) if (!caps.includes(c)) caps.push(c);
  return caps;
}

/**
 * `--security-opt`: seccomp=unconfined|builtin|<profile>, apparmor=<profile>|unconfined, no-new-privileges[=true|false],
 * systempaths=unconfined (no masked or read-only /proc paths), label=… (accepted: SELinux labels have no effect
 * here, as under dockerd on a host without SELinux).
 */
export function parseSecurityOpts(opts: readonly string[]): SecurityOpts {
  let seccomp: string | undefined;
  let apparmor: string | undefined;
  let noNewPrivileges = false;
  let systemPathsUnconfined = false;
  for (const o of opts) {
    const m = o.match(/^([a-z-]+)(?:[=:](.*))?$/);
    const key = m?.[1];
    const val = m?.[2];
    if (key === "seccomp" && val) seccomp = val;
    else if (key === "no-new-privileges") {
      if (val !== undefined && val !== "true" && val !== "false") throw invalid(`invalid --security-opt 2: "${o}"`);
      noNewPrivileges = val !== "false";
    } else if (key === "systempaths") {
      if (val !== "unconfined") throw invalid(`invalid --security-opt 2: "${o}"`);
      systemPathsUnconfined = true;
    } else if (key === "apparmor" && val !== undefined) apparmor = val || undefined;
    else if (key === "label" && val !== undefined) continue;
    else throw invalid(`invalid --security-opt 1: "${o}"`);
  }
  return { ...(seccomp !== undefined ? { seccomp } : {}), ...(apparmor !== undefined ? { apparmor } : {}), noNewPrivileges, systemPathsUnconfined };
}

/** A profile of the container's own that the daemon reads from a file (the CLI sends the content, as docker does; an API client may send a path). */
export function seccompProfileFile(hc: SpecHostConfig): string | undefined {
  const o = parseSecurityOpts(hc.SecurityOpt ?? []);
  return ownProfile(hc, o) && !(o.seccomp as string).trimStart().startsWith("{") ? o.seccomp : undefined;
}

function ownProfile(hc: SpecHostConfig, o: SecurityOpts): boolean {
  return !hc.Privileged && o.seccomp !== undefined && o.seccomp !== "unconfined" && o.seccomp !== "builtin";
}

/**
 * The container's choices on top of the runtime's default confinement: a seccomp profile of its own
 * (or "unconfined"; absent: the default), an AppArmor profile (applied only where the host has AppArmor,
 * as dockerd), no-new-privileges, systempaths=unconfined. `profileText`: the file seccompProfileFile named, read.
 */
export function securityOptions(hc: SpecHostConfig, caps: string[], host: Pick<SpecHost, "seccomp">, profileText?: string): Omit<SecurityOpts, "seccomp"> & { seccomp?: OciSeccomp | "unconfined" } {
  const o = parseSecurityOpts(hc.SecurityOpt ?? []);
  const base = { noNewPrivileges: o.noNewPrivileges, systemPathsUnconfined: o.systemPathsUnconfined, ...(o.apparmor ? { apparmor: o.apparmor } : {}) };
  if (o.seccomp === "unconfined") return { ...base, seccomp: "unconfined" };
  if (ownProfile(hc, o)) {
    const given = o.seccomp as string;
    const text = given.trimStart().startsWith("{") ? given : profileText;
    if (text === undefined) throw invalid(`opening seccomp profile (${given}) failed`);
    return { ...base, seccomp: profileFromDockerJson(text, caps, host.seccomp) };
  }
  return base;
}

/** Masked and read-only /proc paths other than Docker's defaults: none with systempaths=unconfined, else the HostConfig's. */
export function systemPaths(hc: SpecHostConfig, unconfined: boolean): { maskedPaths?: string[]; readonlyPaths?: string[] } {
  if (unconfined) return { maskedPaths: [], readonlyPaths: [] };
  return { ...(hc.MaskedPaths ? { maskedPaths: hc.MaskedPaths } : {}), ...(hc.ReadonlyPaths ? { readonlyPaths: hc.ReadonlyPaths } : {}) };
}
