/**
 * The data-root lock: one berthd per data root, held with flock(2) on
 * <data-root>/berthd.lock for as long as the daemon lives.
 *
 * Hand-written because Node has no flock. The lock is taken by util-linux's
 * flock(1) (essential in Debian) on an open file description berthd shares with
 * it: berthd opens the file, passes the descriptor to `flock -n 3` as fd 3, and
 * flock(1) locks it and exits. A flock belongs to the open file description, not
 * to a process, so the lock stays held through berthd's own descriptor (opened
 * O_CLOEXEC by Node: the monitors and runtimes berthd starts never inherit it)
 * and the kernel releases it when berthd exits, however it dies — kill -9
 * included, so there is no stale lock to recognise and take over. The file is
 * never removed: removing it would let a second daemon lock a new file while
 * the first holds the old one (the race of a pid-file lock). The owner's pid is
 * written into it for the error message; the pidfile (--pidfile) is separate.
 */
import { spawnSync } from "node:child_process";
import { closeSync, constants as fsc, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import path from "node:path";

/** flock(1)'s exit status when the lock is held elsewhere (-E), apart from its own errors (1). */
const BUSY = 75;

export class DataRootBusyError extends Error {}

/** Take the lock or throw (DataRootBusyError when another daemon holds it); returns the release function. */
export function lockDataRoot(dataRoot: string): () => void {
  const file = path.join(dataRoot, "berthd.lock");
  const fd = openSync(file, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600);
  try {
    const r = spawnSync("flock", ["--nonblock", "--exclusive", "--conflict-exit-code", String(BUSY), "3"], { stdio: ["ignore", "ignore", "pipe", fd], encoding: "utf8" });
    if (r.error) throw new Error(`cannot run flock(1) (util-linux) to lock ${file}: ${r.error.message}`);
    if (r.status === BUSY) {
      const pid = Number(readFileSync(file, "utf8").trim());
      throw new DataRootBusyError(`another berthd ${pid > 0 ? `(pid ${pid}) ` : ""}is using data-root ${dataRoot}`);
    }
    if (r.status !== 0) throw new Error(`cannot lock ${file}: ${r.stderr.trim() || `flock exited with ${r.status ?? r.signal}`}`);
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    ftruncateSync(fd, 0); // no pid of a daemon that is gone
    closeSync(fd);
  };
}
