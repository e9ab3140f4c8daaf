/**
 * The image config of docker commit (Docker's daemon/commit.go): the request's
 * config with the `--change` Dockerfile instructions applied, merged with the
 * container's, and the repo/tag the image gets.
 */
import path from "node:path";
import { invalid } from "../util/errors.js";
import { type ImageRunConfig, type Reference, parseReference, withDefaultTag } from "../image/index.js";
import { parseChanges } from "./images.js";
import type { ContainerConfig } from "./types.js";

/**
 * Docker's httputils.RepoTagReference: no repo → no tag; no tag → "latest"; dockerd 20.10's
 * messages (it answers a malformed name or tag with 500, Berth with 400: docs/security.md).
 */
export function repoTagReference(repo: string, tag: string): Reference | undefined {
  if (repo === "") return undefined;
  const ref = parseReference(repo);
  if (tag !== "" && !/^[\w][\w.-]{0,127}$/.test(tag)) throw invalid("invalid tag format");
  if (ref.digest) throw invalid("refusing to create a tag with a digest reference");
  return withDefaultTag(tag !== "" ? { repo: ref.repo, tag } : ref);
}


/** The image config of a commit: Docker's BuildFromConfig (the --change instructions, in order) then merge. */
export function buildCommitConfig(base: Partial<ContainerConfig>, changes: string[], container: ContainerConfig): ImageRunConfig {
  const cfg: ImageRunConfig = runConfigOf(base);
  let cmdSet = false;
  for (const line of changes.flatMap((c) => c.split("\n"))) {
    if (line.trim() === "") continue;
    const c = parseChanges([line]);
    if (c.Cmd !== undefined) {
      cfg.Cmd = c.Cmd;
      cmdSet = true;
    }
    if (c.Entrypoint !== undefined) {
      cfg.Entrypoint = c.Entrypoint;
      // A Dockerfile's ENTRYPOINT resets the CMD unless a CMD came before it.
      if (!cmdSet) cfg.Cmd = null;
    }
    for (const e of c.Env ?? []) {
      const k = e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("="));
      const env = cfg.Env ?? [];
      const i = env.findIndex((x) => (x.indexOf("=") < 0 ? x : x.slice(0, x.indexOf("="))) === k);
      if (i >= 0) env[i] = e;
      else env.push(e);
      cfg.Env = env;
    }
    if (c.Labels) cfg.Labels = { ...(cfg.Labels ?? {}), ...c.Labels };
    if (c.ExposedPorts) cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}), ...c.ExposedPorts };
    if (c.Volumes) cfg.Volumes = { ...(cfg.Volumes ?? {}), ...c.Volumes };
    if (c.User !== undefined) cfg.User = c.User;
    if (c.WorkingDir !== undefined) {
      cfg.WorkingDir = c.WorkingDir.startsWith("/") ? path.posix.normalize(c.WorkingDir) : path.posix.join("/", cfg.WorkingDir ?? "", c.WorkingDir);
    }
    if (c.StopSignal !== undefined) cfg.StopSignal = c.StopSignal;
  }
  mergeConfig(cfg, container);
  return cfg;
}

export function runConfigOf(c: Partial<ContainerConfig>): ImageRunConfig {
  const out: ImageRunConfig = {};
  // The container-only fields stay too: dockerd commits the container's whole Config.
  if (c.Hostname) out.Hostname = c.Hostname;
  if (c.Domainname) out.Domainname = c.Domainname;
  for (const k of ["AttachStdin", "AttachStdout", "AttachStderr", "Tty", "OpenStdin", "StdinOnce", "NetworkDisabled"] as const) if (c[k]) out[k] = true;
  if (c.Image) out.Image = c.Image;
  if (c.MacAddress) out.MacAddress = c.MacAddress;
  if (c.StopTimeout !== undefined && c.StopTimeout !== null) out.StopTimeout = c.StopTimeout;
  if (c.ArgsEscaped) out.ArgsEscaped = true;
  if (c.User !== undefined && c.User !== null) out.User = c.User;
  if (c.ExposedPorts) out.ExposedPorts = { ...c.ExposedPorts };
  if (c.Env) out.Env = [...c.Env];
  if (c.Entrypoint !== undefined) out.Entrypoint = c.Entrypoint === null ? null : typeof c.Entrypoint === "string" ? [c.Entrypoint] : [...c.Entrypoint];
  if (c.Cmd !== undefined) out.Cmd = c.Cmd === null ? null : typeof c.Cmd === "string" ? [c.Cmd] : [...c.Cmd];
  if (c.Volumes !== undefined) out.Volumes = c.Volumes === null ? null : { ...c.Volumes };
  if (c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (c.Labels) out.Labels = { ...c.Labels };
  if (c.StopSignal) out.StopSignal = c.StopSignal;
  if (c.OnBuild) out.OnBuild = [...c.OnBuild];
  if (c.Shell) out.Shell = [...c.Shell];
  if (c.Healthcheck) out.Healthcheck = { ...(c.Healthcheck as NonNullable<ImageRunConfig["Healthcheck"]>) };
  return out;
}

/** Docker's merge(userConf, containerConf) of daemon/commit.go: fill what the user left out. */
function mergeConfig(user: ImageRunConfig, img: ContainerConfig): void {
  if (!user.User) user.User = img.User;
  if (!user.ExposedPorts || Object.keys(user.ExposedPorts).length === 0) {
    if (img.ExposedPorts) user.ExposedPorts = { ...img.ExposedPorts };
    else delete user.ExposedPorts;
  } else for (const p of Object.keys(img.ExposedPorts ?? {})) if (!(p in user.ExposedPorts)) user.ExposedPorts[p] = {};
  if (!user.Env || user.Env.length === 0) user.Env = [...img.Env];
  else {
    const keys = new Set(user.Env.map((e) => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e)));
    for (const e of img.Env) if (!keys.has(e.includes("=") ? e.slice(0, e.indexOf("=")) : e)) user.Env.push(e);
  }
  user.Labels = { ...(user.Labels ?? {}) };
  for (const [k, v] of Object.entries(img.Labels ?? {})) if (!(k in user.Labels)) user.Labels[k] = v;
  if (!user.Entrypoint || user.Entrypoint.length === 0) {
    if (!user.Cmd || user.Cmd.length === 0) user.Cmd = img.Cmd;
    if (user.Entrypoint === undefined || user.Entrypoint === null) user.Entrypoint = img.Entrypoint;
  }
  if (img.Healthcheck) {
    const ih = img.Healthcheck as NonNullable<ImageRunConfig["Healthcheck"]>;
    if (!user.Healthcheck) user.Healthcheck = { ...ih };
    else {
      const uh = user.Healthcheck;
      if (!uh.Test || uh.Test.length === 0) uh.Test = ih.Test ?? [];
      if (!uh.Interval) uh.Interval = ih.Interval ?? 0;
      if (!uh.Timeout) uh.Timeout = ih.Timeout ?? 0;
      if (!uh.StartPeriod) uh.StartPeriod = ih.StartPeriod ?? 0;
      if (!uh.Retries) uh.Retries = ih.Retries ?? 0;
    }
  }
  if (!user.WorkingDir) user.WorkingDir = img.WorkingDir;
  if (!user.Volumes || Object.keys(user.Volumes).length === 0) user.Volumes = img.Volumes;
  else for (const [k, v] of Object.entries(img.Volumes ?? {})) user.Volumes[k] = v;
  if (!user.StopSignal) {
    if (img.StopSignal) user.StopSignal = img.StopSignal;
    else delete user.StopSignal;
  }
}
