/**
 * Container logs: the drivers' options and targets (drivers.ts), and reading a log back
 * for `docker logs` / attach --logs from the driver's file (json-file, local, the syslog
 * cache; rotated files and the follow loop in files.ts) or the journal (journald.ts).
 */
import path from "node:path";
import type { Readable } from "node:stream";
import type { ContainerRecord } from "../types.js";
import { type LogTarget, logTarget } from "./drivers.js";
import { readJournalLogs } from "./journald.js";
import { type LogReadOptions, readLogs } from "./jsonfile.js";
import { readLocalLogs } from "./local.js";

export { mergeLogConfig, unreadable, validateDaemonLogConfig } from "./drivers.js";
export type { LogReadOptions } from "./jsonfile.js";

/** Where the monitor sends this container's output (driver, files, sinks), checked as dockerd does at start. */
export function containerLogTarget(rec: ContainerRecord, dir: string): Promise<LogTarget> {
  const lc = rec.HostConfig.LogConfig;
  return logTarget(lc?.Type || "json-file", lc?.Config ?? {}, { Id: rec.Id, Name: rec.Name, image: rec.Config.Image ?? "", dir, labels: rec.Config.Labels ?? {}, env: rec.Config.Env ?? [] });
}

/** The container's log as `docker logs` reads it back: the driver's file, dockerd's cache (syslog) or the journal. */
export function openContainerLogs(rec: ContainerRecord, dir: string, opts: LogReadOptions): Readable {
  const type = rec.HostConfig.LogConfig?.Type || "json-file";
  if (type === "local") return readLocalLogs(path.join(dir, "local-logs", "container.log"), opts);
  if (type === "syslog") return readLocalLogs(path.join(dir, "container-cached.log"), opts);
  if (type === "journald") return readJournalLogs(rec.Id, opts);
  if (type === "none") return readLocalLogs(path.join(dir, "no-log"), { ...opts, follow: false });
  return readLogs(rec.LogPath || path.join(dir, `${rec.Id}-json.log`), opts);
}
