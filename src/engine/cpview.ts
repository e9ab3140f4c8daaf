/**
 * `docker cp` on a container with volumes or bind mounts, the way Docker's
 * openContainerFS does it: in a private mount namespace where they are mounted
 * into the container's root filesystem. Node cannot enter a mount namespace, so
 * a helper process does (cpview-helper.ts, started under `unshare --mount
 * --propagation private`): it mounts the view (volume/view.ts), runs the one
 * operation (cpcore.ts) and exits, taking the namespace and every mount in it
 * along — nothing is mounted in the daemon's namespace, nothing survives a crash
 * of either process.
 *
 * Protocol: the request is the helper's argument (JSON); replies are JSON lines
 * on fd 3 ({"stat"}, {"error"}, {"done"}); the archive comes on its stdout, the
 * archive to extract goes to its stdin.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PassThrough, type Readable } from "node:stream";
import { EngineError, type ErrorKind, internal } from "../util/errors.js";
import type { IdRange } from "../util/idmap.js";
import type { ViewMount } from "../volume/index.js";
import type { EtcFile, ExtractSpec, PathStat } from "./cpcore.js";

/** What the storage backend provides for a view: its mounts, released (volume mounts dropped, events) after use. */
export interface ContainerView {
  mounts: ViewMount[];
  /** Owner of mount points created in the root (the container's root under --userns-remap). */
  owner?: { uid: number; gid: number };
  release(): Promise<void>;
}

export interface ViewRequest {
  op: "stat" | "archive" | "extract";
  rootfs: string;
  /** An existing directory the helper covers with a staging tmpfs of its own namespace. */
  stageDir: string;
  mounts: ViewMount[];
  owner?: { uid: number; gid: number };
  etc: EtcFile[];
  path: string;
  idOrName: string;
  idMap?: { uids: IdRange[]; gids: IdRange[] };
  extract?: Omit<ExtractSpec, "idMap">;
}

export type ViewReply = { stat: PathStat } | { error: { kind: ErrorKind; message: string } } | { done: true };

const HELPER = fileURLToPath(new URL("./cpview-helper.js", import.meta.url));
const MAX_STDERR = 64 * 1024;

export interface ViewRun {
  /** The path stat (stat and archive); rejects with the operation's error. */
  stat: Promise<PathStat>;
  /** The archive (archive): ends when the helper succeeded, fails when it did not. */
  tar: Readable;
  /** Resolves when the helper succeeded; rejects with its error (an EngineError). */
  done: Promise<void>;
  /** Stop the helper now (the consumer went away). */
  kill(): void;
}

/** Start the helper for one operation; input is the archive to extract. */
export function runInView(req: ViewRequest, input?: Readable): ViewRun {
  const child = spawn("unshare", ["--mount", "--propagation", "private", "--", process.execPath, HELPER, JSON.stringify(req)], {
    stdio: [input ? "pipe" : "ignore", "pipe", "pipe", "pipe"],
  });
  const tar = new PassThrough();
  // The consumer of an archive listens itself; for the other operations the failure is in `done`.
  tar.on("error", () => undefined);
  let stderr = "";
  let failure: EngineError | undefined;
  let succeeded = false;
  let resolveStat!: (s: PathStat) => void;
  let rejectStat!: (e: unknown) => void;
  const stat = new Promise<PathStat>((res, rej) => {
    resolveStat = res;
    rejectStat = rej;
  });
  // Marked handled: the caller awaits it (or done, which carries the same failure).
  stat.catch(() => undefined);

  const ctl = child.stdio[3] as Readable;
  let buf = "";
  ctl.setEncoding("utf8");
  ctl.on("data", (s: string) => {
    buf += s;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      let m: ViewReply;
      try {
        m = JSON.parse(line) as ViewReply;
      } catch {
        continue;
      }
      if ("stat" in m) resolveStat(m.stat);
      else if ("error" in m) failure ??= new EngineError(m.error.kind, m.error.message);
      else if ("done" in m) succeeded = true;
    }
  });
  ctl.on("error", () => undefined);
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (s: string) => {
    if (stderr.length < MAX_STDERR) stderr += s;
  });
  child.stdout?.on("error", () => undefined); // the helper's exit says what went wrong
  child.stderr?.on("error", () => undefined);
  if (child.stdout) child.stdout.pipe(tar, { end: false });
  if (input && child.stdin) {
    child.stdin.on("error", () => undefined); // the helper stopped reading: its reply says why
    input.pipe(child.stdin);
  }

  const done = new Promise<void>((resolve, reject) => {
    let finished = false;
    const finish = (err: EngineError | undefined): void => {
      if (finished) return;
      finished = true;
      if (err) {
        rejectStat(err);
        tar.destroy(err);
        reject(err);
      } else {
        rejectStat(internal("container filesystem view: no path stat"));
        tar.end();
        resolve();
      }
    };
    child.on("error", (e) => finish(internal(`container filesystem view: ${e.message}`, e)));
    child.on("close", (code, signal) => {
      if (failure) return finish(failure);
      if (code === 0 && succeeded) return finish(undefined);
      finish(internal(`container filesystem view: ${stderr.trim() || `helper ended with ${code ?? signal}`}`));
    });
  });
  // Marked handled: a caller that never awaits done must not crash the daemon.
  done.catch(() => undefined);

  return {
    stat,
    tar,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
