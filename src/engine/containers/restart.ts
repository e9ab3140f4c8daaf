/**
 * Restart policies (Docker's rules): always / unless-stopped restart unless stopped by
 * the user, on-failure[:N] on a non-zero exit; after Docker's back-off, 100 ms doubling
 * per restart up to a minute, reset when the container had run for at least 10 s.
 * The pending timers live in the store (a container waiting for one is busy).
 */
import { bestEffort } from "../../util/besteffort.js";
import { messageOf } from "../../util/errors.js";
import type { ExitStatus } from "../../runtime/index.js";
import type { ContainerRecord } from "../types.js";
import type { ContainerStore } from "./store.js";

export class RestartPolicies {
  private readonly backoff = new Map<string, number>();

  constructor(
    private readonly store: ContainerStore,
    /** Start the container, its lock held (the run's startUnlocked). */
    private readonly start: (rec: ContainerRecord) => Promise<void>,
  ) {}

  private shouldRestart(rec: ContainerRecord, exitCode: number): boolean {
    if (this.store.shuttingDown || rec.ManuallyStopped) return false;
    const p = rec.HostConfig.RestartPolicy;
    switch (p?.Name) {
      case "always":
      case "unless-stopped":
        return true;
      case "on-failure": {
        const max = p.MaximumRetryCount ?? 0;
        return exitCode !== 0 && (max === 0 || rec.RestartCount < max);
      }
      default:
        return false;
    }
  }

  /** After an exit: schedule the policy's restart, if any. */
  maybeRestart(rec: ContainerRecord, st: ExitStatus): void {
    const { store } = this;
    if (!this.shouldRestart(rec, st.exitCode)) {
      this.backoff.delete(rec.Id);
      return;
    }
    const ranFor = Date.parse(st.finishedAt) - Date.parse(rec.State.StartedAt);
    let delay = this.backoff.get(rec.Id) ?? 0;
    delay = ranFor >= 10_000 || delay === 0 ? 100 : Math.min(delay * 2, 60_000);
    this.backoff.set(rec.Id, delay);
    rec.State = { ...rec.State, Status: "restarting", Restarting: true };
    const timer = setTimeout(() => {
      store.restartTimers.delete(rec.Id);
      void store.lock
        .run(rec.Id, async () => {
          if (!store.records.has(rec.Id) || rec.State.Running || !rec.State.Restarting || rec.ManuallyStopped || store.shuttingDown) return;
          rec.RestartCount++;
          await this.start(rec);
          store.emit(rec, "restart");
        })
        .catch((e: unknown) => {
          rec.State = { ...rec.State, Restarting: false, Status: "exited" };
          void store.save(rec).catch(bestEffort("failed restart: record"));
          store.o.log.error(`restart of ${rec.Id.slice(0, 12)} failed: ${messageOf(e)}`);
        });
    }, delay);
    timer.unref();
    store.restartTimers.set(rec.Id, timer);
  }

  /** Cancel a pending policy restart (stop, kill, rm while "restarting"). */
  cancel(rec: ContainerRecord): boolean {
    const t = this.store.restartTimers.get(rec.Id);
    if (!t) return false;
    clearTimeout(t);
    this.store.restartTimers.delete(rec.Id);
    rec.State = { ...rec.State, Restarting: false, Status: "exited" };
    return true;
  }

  /**
   * At daemon start: Docker restarts `always` containers (even stopped ones) and
   * `unless-stopped` ones not stopped by the user.
   */
  restartAtBoot(): void {
    const { store } = this;
    for (const rec of store.records.values()) {
      if (rec.State.Running || rec.State.Restarting || rec.State.Status === "created") continue;
      const p = rec.HostConfig.RestartPolicy?.Name;
      if (p === "always" || (p === "unless-stopped" && !rec.ManuallyStopped)) {
        rec.ManuallyStopped = false;
        void store.lock.run(rec.Id, () => this.start(rec)).catch((e: unknown) => store.o.log.error(`restart of ${rec.Id.slice(0, 12)} at start-up: ${messageOf(e)}`));
      }
    }
  }
}
