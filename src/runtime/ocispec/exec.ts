/**
 * The OCI process of a `docker exec` (and so of a health check probe) in a running container,
 * from the container's own spec (the bundle it runs with): the container's confinement
 * (execConfinement) and rlimits, with the exec's args, env, cwd, user and terminal. Pure.
 */
import type { OciProcess, OciSpec, OciUser } from "../spec.js";
import { execConfinement } from "./confinement.js";
import type { SpecHost } from "./host.js";

export interface ExecProcessInput {
  args: string[];
  env: string[];
  cwd: string;
  tty: boolean;
  consoleSize?: [number, number] | undefined;
  /** The exec's own user, resolved in the container's root; absent: the container's. */
  user?: OciUser;
  privileged: boolean;
}

export function execProcess(container: OciSpec, ex: ExecProcessInput, host: Pick<SpecHost, "capabilities" | "nofile">): OciProcess {
  const base = container.process;
  const cs = ex.consoleSize;
  return {
    terminal: ex.tty,
    ...(ex.tty && cs && cs[0] > 0 && cs[1] > 0 ? { consoleSize: { height: cs[0], width: cs[1] } } : {}),
    user: ex.user ?? base.user,
    args: ex.args,
    env: ex.env,
    cwd: ex.cwd || "/",
    ...execConfinement(base, ex.privileged, host),
    rlimits: base.rlimits ?? [host.nofile],
    ...(base.oomScoreAdj !== undefined ? { oomScoreAdj: base.oomScoreAdj } : {}),
  };
}
