/**
 * docker create: the request checked as dockerd checks it, merged with the image's
 * config (Docker's entrypoint/cmd/env rules), the name reserved before any await,
 * then the writable layer, network and volume state and the /etc files prepared; the
 * record written last is the commit point (a failure undoes everything before it).
 */
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { bestEffort } from "../../util/besteffort.js";
import { conflict, invalid, notFound } from "../../util/errors.js";
import { ensureDir } from "../../util/fsutil.js";
import { DEFAULT_PATH_ENV, MASKED_PATHS, READONLY_PATHS, parseSignal } from "../../runtime/index.js";
import { mergeLogConfig } from "../logs/index.js";
import { adaptHostConfig, mergeUlimits } from "../hostconfig.js";
import { validateNamespaceModes } from "../nsmodes.js";
import { type ContainerConfig, type ContainerCreateBody, type ContainerRecord, type HostConfig, ZERO_TIME } from "../types.js";
import { writeEtcFiles } from "./hostfiles.js";
import { NAME_RE, newId, randomName } from "../names.js";
import type { ContainerStore } from "./store.js";
import { validateHostConfig, validateRemapped } from "./validate.js";

export async function createContainer(store: ContainerStore, body: ContainerCreateBody, name: string | undefined): Promise<{ Id: string; Warnings: string[] }> {
  const o = store.o;
  const imageName = body.Image ?? "";
  if (imageName === "") throw invalid("Config cannot be empty in order to create a container");
  const imageId = o.images.resolve(imageName);
  if (!imageId) throw notFound(`No such image: ${imageName.includes(":") || imageName.includes("@") ? imageName : `${imageName}:latest`}`);
  const hc: HostConfig = body.HostConfig ?? {};
  validateHostConfig(hc);
  const logConfig = mergeLogConfig(hc.LogConfig, o);
  validateNamespaceModes(hc, !!body.Hostname);
  if (o.images.idMap) validateRemapped(hc);
  const warnings = adaptHostConfig(hc);
  if (hc.Runtime && !o.runtimes.has(hc.Runtime)) throw invalid(`unknown or invalid runtime name: ${hc.Runtime}`);
  const fullName = chooseName(store, name);

  const imgCfg = (await o.images.config(imageId)).config ?? {};
  const asArray = (v: string | string[] | null | undefined): string[] | null | undefined => (typeof v === "string" ? [v] : v);
  const entrypoint = asArray(body.Entrypoint);
  const cmd = asArray(body.Cmd);
  const finalEntrypoint = entrypoint !== undefined && entrypoint !== null ? (entrypoint.length === 1 && entrypoint[0] === "" ? null : entrypoint) : (imgCfg.Entrypoint ?? null);
  // An explicit entrypoint resets the image's CMD (Docker's rule).
  const finalCmd = cmd !== undefined && cmd !== null && cmd.length > 0 ? cmd : entrypoint !== undefined && entrypoint !== null ? null : (imgCfg.Cmd ?? null);
  const argv = [...(finalEntrypoint ?? []), ...(finalCmd ?? [])];
  if (argv.length === 0) throw invalid("no command specified");

  const id = newId();
  const env = mergeEnv(imgCfg.Env ?? [], body.Env ?? []);
  if (!env.some((e) => e.startsWith("PATH="))) env.unshift(DEFAULT_PATH_ENV);
  const config: ContainerConfig = {
    Hostname: body.Hostname || (hc.UTSMode === "host" ? os.hostname() : id.slice(0, 12)),
    Domainname: body.Domainname ?? "",
    User: body.User || imgCfg.User || "",
    AttachStdin: body.AttachStdin ?? false,
    AttachStdout: body.AttachStdout ?? false,
    AttachStderr: body.AttachStderr ?? false,
    ...(body.ExposedPorts || imgCfg.ExposedPorts ? { ExposedPorts: { ...(imgCfg.ExposedPorts ?? {}), ...((body.ExposedPorts as Record<string, object>) ?? {}) } } : {}),
    Tty: body.Tty ?? false,
    OpenStdin: body.OpenStdin ?? false,
    StdinOnce: body.StdinOnce ?? false,
    Env: env,
    Cmd: finalCmd,
    ...(body.Healthcheck ?? imgCfg.Healthcheck ? { Healthcheck: (body.Healthcheck ?? imgCfg.Healthcheck) as ContainerConfig["Healthcheck"] } : {}),
    Image: imageName,
    Volumes: body.Volumes || imgCfg.Volumes ? { ...(imgCfg.Volumes ?? {}), ...((body.Volumes as Record<string, object>) ?? {}) } : null,
    WorkingDir: body.WorkingDir || imgCfg.WorkingDir || "",
    Entrypoint: finalEntrypoint,
    OnBuild: imgCfg.OnBuild ?? null,
    Labels: { ...(imgCfg.Labels ?? {}), ...(body.Labels ?? {}) },
    ...(body.StopSignal || imgCfg.StopSignal ? { StopSignal: (body.StopSignal || imgCfg.StopSignal) as string } : {}),
    ...(body.StopTimeout !== undefined && body.StopTimeout !== null ? { StopTimeout: body.StopTimeout } : {}),
    ...(body.Shell ? { Shell: body.Shell } : {}),
  };
  if (config.StopSignal) parseSignal(config.StopSignal);
  if (config.WorkingDir && !config.WorkingDir.startsWith("/")) throw invalid(`the working directory '${config.WorkingDir}' is invalid, it needs to be an absolute path`);

  const dir = store.dir(id);
  const hostConfig: HostConfig = {
    ...hc,
    NetworkMode: hc.NetworkMode || "default",
    IpcMode: hc.IpcMode || "private", // dockerd's default-ipc-mode
    // As given ("" when the client names none, as dockerd keeps it).
    RestartPolicy: { Name: hc.RestartPolicy?.Name ?? "", MaximumRetryCount: hc.RestartPolicy?.MaximumRetryCount ?? 0 },
    // Defaults recorded at create (what inspect then shows): a private cgroup namespace on every host —
    // stricter than dockerd, which keeps the host's on cgroup v1 (docs/security.md) — and the default
    // masked and read-only /proc paths unless privileged.
    CgroupnsMode: hc.CgroupnsMode || "private",
    ...(hc.MaskedPaths === undefined && !hc.Privileged ? { MaskedPaths: [...MASKED_PATHS] } : {}),
    ...(hc.ReadonlyPaths === undefined && !hc.Privileged ? { ReadonlyPaths: [...READONLY_PATHS] } : {}),
    LogConfig: logConfig,
    AutoRemove: hc.AutoRemove ?? false,
    Privileged: hc.Privileged ?? false,
    ReadonlyRootfs: hc.ReadonlyRootfs ?? false,
    ShmSize: hc.ShmSize || 64 * 1024 * 1024,
    Runtime: hc.Runtime || o.defaultRuntime,
    ...(o.defaultUlimits && o.defaultUlimits.length > 0 ? { Ulimits: mergeUlimits(hc.Ulimits, o.defaultUlimits) } : {}),
  };
  const rec: ContainerRecord = {
    Id: id,
    Created: new Date().toISOString(),
    Path: argv[0] as string,
    Args: argv.slice(1),
    State: { Status: "created", Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: "", StartedAt: ZERO_TIME, FinishedAt: ZERO_TIME },
    Image: imageId,
    Name: fullName,
    RestartCount: 0,
    Driver: "overlay2",
    Platform: "linux",
    // Only json-file has a path of its own in inspect (dockerd leaves it empty for the others).
    LogPath: logConfig.Type === "json-file" ? path.join(dir, `${id}-json.log`) : "",
    HostnamePath: path.join(dir, "hostname"),
    HostsPath: path.join(dir, "hosts"),
    ResolvConfPath: path.join(dir, "resolv.conf"),
    Config: config,
    HostConfig: hostConfig,
    ...(body.NetworkingConfig ? { NetworkingConfig: body.NetworkingConfig } : {}),
  };
  // Reserve the name before any await so concurrent creates cannot both take it.
  store.names.set(fullName, id);
  try {
    // The container's root (a remapped id) reaches the bind-mounted /etc files through the group.
    await ensureDir(dir, 0o710, o.images.idMap?.root.gid ?? 0);
    await o.images.gcLock.withShared(async () => {
      await o.images.snapshots.prepare(id, await o.images.topLayer(imageId));
    });
    await o.networking?.onCreate(rec);
    await o.storage?.onCreate(rec);
    await writeEtcFiles(store, rec, {});
    await store.save(rec); // the record is the commit point
  } catch (e) {
    store.names.delete(fullName);
    // Anonymous volumes and network state made for this create go with it.
    await o.storage?.onRemove(rec, true).catch(bestEffort("create undo: volumes"));
    await o.networking?.onRemove(rec).catch(bestEffort("create undo: network state"));
    await o.images.snapshots.removeSnapshot(id).catch(bestEffort("create undo: writable layer"));
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  store.records.set(id, rec);
  store.emit(rec, "create");
  return { Id: id, Warnings: warnings };
}

/** The name asked for (checked, with its "/"), or a free generated one; 409 when it is taken. */
function chooseName(store: ContainerStore, name: string | undefined): string {
  let fullName: string;
  if (name !== undefined && name !== "") {
    if (!NAME_RE.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    fullName = name.startsWith("/") ? name : `/${name}`;
  } else {
    let attempt = 0;
    do fullName = `/${randomName(attempt++)}`;
    while (store.names.has(fullName));
  }
  const holder = store.names.get(fullName);
  if (holder) {
    throw conflict(`Conflict. The container name "${fullName}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`);
  }
  return fullName;
}

/** dockerd's merge: the client's variables in their order, then the image's that the client did not set. */
function mergeEnv(base: string[], over: string[]): string[] {
  const keyOf = (e: string): string => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e);
  const out = new Map<string, string>();
  // `-e NAME` without a value: Docker's CLI resolves it; a bare name here means unset.
  for (const e of over) if (e.includes("=")) out.set(keyOf(e), e);
  const given = new Set(over.map(keyOf));
  for (const e of base) if (!given.has(keyOf(e))) out.set(keyOf(e), e);
  return [...out.values()];
}
