/**
 * The one source of the confinement every process Berth starts for a user gets:
 * `docker run` and build RUN steps through buildSpec, `docker exec` and health
 * checks through execConfinement (which copies the container's own, so an exec is
 * never freer than its container; runc applies the container's seccomp filter to
 * every process it starts in it). Defaults are Docker's: its 14 capabilities, its
 * seccomp allowlist relaxed per capability, its masked and read-only /proc paths,
 * AppArmor where the host has it; `--privileged` lifts all of them.
 * Pure: what the host offers comes in as a SpecHost (host.ts probes it).
 */
import type { OciProcess } from "../spec.js";
import { type OciSeccomp, defaultSeccompProfile } from "../seccomp.js";
import { DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS } from "./constants.js";
import type { SpecHost } from "./host.js";

/** What confinement reads of the host. */
export type ConfinementHost = Pick<SpecHost, "capabilities" | "apparmor" | "apparmorDefault" | "seccomp">;

export interface ConfinementInput {
  /** The capability set; Docker's default when absent. Ignored for privileged. */
  capabilities?: readonly string[];
  privileged?: boolean;
  /** A filter, or "unconfined"; absent: the default profile for these capabilities. */
  seccomp?: OciSeccomp | "unconfined";
  noNewPrivileges?: boolean;
  /** Paths masked / made read-only instead of Docker's defaults. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** An AppArmor profile, or "unconfined"; absent: the host's default (applied only where AppArmor is enabled). */
  apparmorProfile?: string;
}

export interface Confinement {
  process: Required<Pick<OciProcess, "capabilities" | "noNewPrivileges">> & Pick<OciProcess, "apparmorProfile">;
  linux: { seccomp?: OciSeccomp; maskedPaths?: string[]; readonlyPaths?: string[] };
}

/** The confinement of a container's processes (the parts of its OCI spec that confine it). */
export function confinement(input: ConfinementInput, host: ConfinementHost): Confinement {
  const privileged = input.privileged ?? false;
  const caps = privileged ? [...host.capabilities] : [...(input.capabilities ?? DEFAULT_CAPABILITIES)];
  const seccomp = privileged || input.seccomp === "unconfined" ? undefined : (input.seccomp ?? defaultSeccompProfile(caps, host.seccomp));
  const apparmor = !host.apparmor || privileged || input.apparmorProfile === "unconfined" ? undefined : (input.apparmorProfile ?? host.apparmorDefault);
  return {
    process: {
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      noNewPrivileges: input.noNewPrivileges ?? false,
      ...(apparmor ? { apparmorProfile: apparmor } : {}),
    },
    linux: {
      ...(seccomp ? { seccomp } : {}),
      ...(privileged ? {} : { maskedPaths: input.maskedPaths ?? MASKED_PATHS, readonlyPaths: input.readonlyPaths ?? READONLY_PATHS }),
    },
  };
}

/**
 * An exec's confinement: its container's (capabilities, no-new-privileges, AppArmor;
 * the seccomp filter and /proc paths are the container's by construction), with every
 * capability the host grants for `exec --privileged`, as Docker does.
 */
export function execConfinement(container: OciProcess, privileged: boolean, host: Pick<SpecHost, "capabilities">): Pick<OciProcess, "capabilities" | "noNewPrivileges" | "apparmorProfile"> {
  const all = privileged ? [...host.capabilities] : undefined;
  return {
    ...(all ? { capabilities: { bounding: all, effective: all, permitted: all } } : container.capabilities ? { capabilities: container.capabilities } : {}),
    ...(container.noNewPrivileges !== undefined ? { noNewPrivileges: container.noNewPrivileges } : {}),
    ...(container.apparmorProfile ? { apparmorProfile: container.apparmorProfile } : {}),
  };
}
