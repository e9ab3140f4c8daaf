/**
 * Clean-up whose failure must not stop the caller (the thing may be gone already, or the
 * caller is itself failing): `await x.unmount(id).catch(bestEffort("unmount rootfs"))`.
 * The failure is never thrown; it is reported to the daemon's debug log (ENOENT, the
 * usual "already gone", is not reported). Without a reporter (unit tests, the CLI) it is dropped.
 */
import { errnoCode, messageOf } from "./errors.js";

let report: ((msg: string) => void) | undefined;

/** berthd points this at its logger's debug level at start-up. */
export function reportBestEffortTo(fn: ((msg: string) => void) | undefined): void {
  report = fn;
}

export function bestEffort(what: string): (e: unknown) => undefined {
  return (e: unknown) => {
    if (errnoCode(e) !== "ENOENT") report?.(`${what} (ignored): ${messageOf(e)}`);
    return undefined;
  };
}
