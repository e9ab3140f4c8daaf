/**
 * SIGHUP: re-read the configuration file and apply its reloadable keys (debug,
 * log-level, labels, insecure-registries, registry-mirrors, max-concurrent-*,
 * default-runtime, runtimes), as dockerd does. An invalid file changes nothing
 * (the error is logged); changes to other keys are reported as needing a
 * restart. Running containers are never touched. Reloads run one at a time.
 */
import type { Engine } from "../engine/index.js";
import { messageOf } from "../util/errors.js";
import type { Logger } from "../util/log.js";
import { type FlagValues, type Settings, KEYS, changedKeys, loadSettings, reloadableView } from "./config.js";

export interface ReloadContext {
  flags: FlagValues;
  file: string;
  required: boolean;
  /** The running settings; its reloadable fields are updated in place. */
  current: Settings;
  engine: Pick<Engine, "reconfigure">;
  log: Logger;
  notify(lines: string[]): Promise<void>;
}

export function makeReloader(ctx: ReloadContext): () => Promise<void> {
  let chain = Promise.resolve();
  const once = async (): Promise<void> => {
    const { log } = ctx;
    log.info(`Got signal to reload configuration, reloading from: ${ctx.file}`);
    await ctx.notify(["RELOADING=1", `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]).catch((e: unknown) => log.warn(messageOf(e)));
    try {
      const { settings: next } = await loadSettings(ctx.flags, ctx.file, ctx.required);
      const restart = changedKeys(ctx.current, next, false);
      const changed = changedKeys(ctx.current, next, true);
      await ctx.engine.reconfigure({
        debug: next.debug,
        labels: next.label,
        insecureRegistries: next.insecureRegistry,
        registryMirrors: next.registryMirror,
        maxConcurrentDownloads: next.maxConcurrentDownloads,
        maxConcurrentUploads: next.maxConcurrentUploads,
        runtime: next.defaultRuntime,
        runtimes: Object.fromEntries(Object.entries(next.runtimes).map(([n, r]) => [n, r.path])),
      });
      // Logged at the level in force when the signal came, then the new debug/log-level take over.
      log.info(`Reloaded configuration: ${JSON.stringify(reloadableView(next))}`);
      log.info(changed.length > 0 ? `configuration changes applied: ${changed.join(", ")}` : "configuration unchanged");
      if (restart.length > 0) log.warn(`not reloadable, applied at the next start: ${restart.join(", ")}`);
      for (const d of KEYS) if (d.reloadable) (ctx.current as unknown as Record<string, unknown>)[d.field] = next[d.field];
    } catch (e) {
      log.error(messageOf(e));
    } finally {
      await ctx.notify(["READY=1"]).catch((e: unknown) => log.warn(messageOf(e)));
    }
  };
  return () => {
    chain = chain.then(once);
    return chain;
  };
}
