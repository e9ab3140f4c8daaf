/**
 * `docker logs` for the journald driver: the entries come back through
 * `journalctl -o json CONTAINER_ID_FULL=<id>` (Debian's systemd tool), as dockerd
 * reads them through sd-journal: PRIORITY 3 is stderr, CONTAINER_PARTIAL_MESSAGE
 * marks a line without its newline. BERTH_JOURNAL_DIRECTORY (journalctl
 * --directory) reads another journal than the system's (the tests' private journald).
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { PassThrough, type Readable } from "node:stream";
import type { LogReadOptions } from "./jsonfile.js";
import { entryBytes } from "./local.js";

interface JournalJson {
  MESSAGE?: string | number[];
  PRIORITY?: string;
  __REALTIME_TIMESTAMP?: string;
  CONTAINER_PARTIAL_MESSAGE?: string;
  [field: string]: string | number[] | undefined;
}

/** Fields dockerd's journald reader does not give as attrs (moby journald/read.go is_attribute_field), besides "_"-prefixed ones. */
const NOT_ATTRS = new Set(["MESSAGE", "MESSAGE_ID", "PRIORITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC", "ERRNO", "SYSLOG_FACILITY", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "CONTAINER_NAME", "CONTAINER_ID", "CONTAINER_ID_FULL", "CONTAINER_TAG"]);

/** The attrs of a journal entry as `docker logs --details` shows them (IMAGE_NAME, labels, env, …). */
export function journalAttrs(j: JournalJson): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(j)) {
    if (k.startsWith("_") || NOT_ATTRS.has(k) || v === undefined) continue;
    out[k] = Array.isArray(v) ? Buffer.from(v).toString("utf8") : v;
  }
  return out;
}

/** journalctl's arguments for a container's entries under the given options. */
export function journalctlArgs(id: string, opts: Pick<LogReadOptions, "follow" | "tail" | "since" | "until">, directory?: string): string[] {
  const args = ["--no-pager", "--output=json", "--all"];
  if (directory) args.push(`--directory=${directory}`);
  if (opts.since > 0) args.push(`--since=@${opts.since.toFixed(6)}`);
  if (opts.until > 0) args.push(`--until=@${opts.until.toFixed(6)}`);
  if (opts.tail !== "all") args.push(`--lines=${Math.max(0, opts.tail)}`);
  if (opts.follow) args.push("--follow");
  args.push(`CONTAINER_ID_FULL=${id}`);
  return args;
}

export function readJournalLogs(id: string, opts: LogReadOptions): Readable {
  const out = new PassThrough();
  if (opts.tail === 0 && !opts.follow) {
    out.end();
    return out;
  }
  const child = spawn("journalctl", journalctlArgs(id, { ...opts, follow: opts.follow && !!opts.stopWhen }, process.env.BERTH_JOURNAL_DIRECTORY), { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.on("error", (e) => out.destroy(e));
  const rl = createInterface({ input: child.stdout });
  rl.on("line", (l) => {
    let j: JournalJson;
    try {
      j = JSON.parse(l) as JournalJson;
    } catch {
      return;
    }
    const msg = Array.isArray(j.MESSAGE) ? Buffer.from(j.MESSAGE) : Buffer.from(j.MESSAGE ?? "", "utf8");
    const isErr = j.PRIORITY === "3";
    if (isErr ? !opts.stderr : !opts.stdout) return;
    const ts = BigInt(j.__REALTIME_TIMESTAMP ?? "0") * 1000n;
    const attrs = opts.details ? journalAttrs(j) : undefined;
    if (!out.write(entryBytes(opts, isErr, ts, attrs, msg, j.CONTAINER_PARTIAL_MESSAGE === "true"))) {
      child.stdout.pause(); // the client is behind: let journalctl wait
      out.once("drain", () => child.stdout.resume());
    }
  });
  rl.on("close", () => {
    if (child.exitCode && stderr) out.destroy(new Error(stderr.trim()));
    else out.end();
  });
  out.on("close", () => child.kill());
  // Follow ends with the container: journalctl then gets the time to pass on what journald already has.
  void opts.stopWhen?.then(() => setTimeout(() => child.kill(), 500).unref());
  return out;
}
