/** The HostConfig checks docker create makes before anything is prepared (dockerd's rules and wording, 20.10). */
import { invalid } from "../../util/errors.js";
import { parseSecurityOpts } from "../runspec.js";
import type { HostConfig } from "../types.js";
import { validateRestartPolicy } from "./update.js";

export function validateHostConfig(hc: HostConfig): void {
  if (hc.RestartPolicy) validateRestartPolicy(hc.RestartPolicy);
  parseSecurityOpts(hc.SecurityOpt ?? []);
  const rp = hc.RestartPolicy;
  if (rp?.Name && !["no", "always", "unless-stopped", "on-failure"].includes(rp.Name)) {
    throw invalid(`invalid restart policy: unknown policy '${rp.Name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'`);
  }
  if (rp?.Name && rp.Name !== "on-failure" && (rp.MaximumRetryCount ?? 0) > 0) {
    throw invalid(`invalid restart policy: maximum retry count can only be used with 'on-failure'`);
  }
  if (hc.AutoRemove && rp?.Name && rp.Name !== "no") {
    throw invalid(`can't create 'AutoRemove' container with restart policy`);
  }
  if (hc.UsernsMode && hc.UsernsMode !== "host") throw invalid(`invalid UsernsMode: ${hc.UsernsMode}`);
  if (hc.CgroupnsMode && hc.CgroupnsMode !== "host" && hc.CgroupnsMode !== "private") throw invalid(`invalid cgroup namespace mode: ${hc.CgroupnsMode}`);
  const oom = hc.OomScoreAdj ?? 0;
  if (oom < -1000 || oom > 1000) throw invalid(`Invalid value ${oom}, range for oom score adj is [-1000, 1000]`);
  for (const k of Object.keys(hc.Sysctls ?? {})) {
    if (!NAMESPACED_SYSCTLS.has(k) && !k.startsWith("fs.mqueue.") && !k.startsWith("net.")) throw invalid(`sysctl '${k}' is not allowed`);
    if (k.startsWith("net.") && hc.NetworkMode === "host") throw invalid(`sysctl '${k}' is not allowed in the host's network namespace (--network host)`);
  }
}

/** Kernel parameters that belong to a container's own IPC namespace (besides fs.mqueue.* and net.*), as Docker allows them. */
const NAMESPACED_SYSCTLS = new Set(["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]);

/** With `--userns-remap`, what a private user namespace cannot do (dockerd's rules and messages). */
export function validateRemapped(hc: HostConfig): void {
  if (hc.UsernsMode === "host") return;
  if (hc.Privileged) throw invalid("privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode");
  if (hc.NetworkMode === "host") throw invalid("cannot share the host's network namespace when user namespaces are enabled");
  if (hc.PidMode === "host") throw invalid("cannot share the host PID namespace when user namespaces are enabled");
}
