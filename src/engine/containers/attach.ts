/**
 * The container's streams: attach (held until the start when it is not running yet;
 * detach keys; websocket attach without stdcopy frames), docker logs, and the TTY size.
 */
import type { Duplex, Readable } from "node:stream";
import { conflict, invalid, messageOf } from "../../util/errors.js";
import { type LogReadOptions, openContainerLogs, unreadable } from "../logs/index.js";
import { DEFAULT_DETACH_KEYS, pipeStdin } from "../stdio.js";
import type { ContainerRecord } from "../types.js";
import { StdcopyDemux } from "./stdcopy.js";
import type { ContainerStore } from "./store.js";
import type { AttachOptions } from "./types.js";

/** docker logs' options: what the reader takes, but the framing and the end of a follow, which the container decides. */
export type LogsOptions = Omit<LogReadOptions, "mux" | "stopWhen">;

export class ContainerStreams {
  constructor(private readonly store: ContainerStore) {}

  /**
   * Attach a hijacked client connection. Before start, the client is held and
   * connected when the container starts; after the process ended, it is closed.
   */
  async attach(idOrName: string, client: Duplex, opts: AttachOptions): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    if (opts.logs) {
      await new Promise<void>((resolve, reject) => {
        const logs = openContainerLogs(rec, store.dir(rec.Id), { stdout: opts.stdout, stderr: opts.stderr, follow: false, tail: "all", since: 0, until: 0, timestamps: false, mux: !rec.Config.Tty && !opts.unmuxed });
        logs.on("data", (b: Buffer) => client.write(b));
        logs.on("end", resolve);
        logs.on("error", reject);
      });
    }
    store.emit(rec, "attach"); // as dockerd: every attach, streamed or not
    if (!opts.stream) {
      client.end();
      return;
    }
    await store.lock.run(rec.Id, async () => {
      if (rec.State.Running) await this.connectAttach(rec, client, opts);
      else if (rec.State.Status !== "removing" && !rec.State.Dead) {
        // Held until the next start (docker start -a attaches first); dropped if the client goes away.
        const l = store.liveOf(rec.Id);
        const entry = { client, opts };
        l.pendingAttach.push(entry);
        client.once("close", () => {
          const i = l.pendingAttach.indexOf(entry);
          if (i >= 0) l.pendingAttach.splice(i, 1);
        });
      } else client.end();
    });
  }

  /** Connect a client to the running container's monitor. */
  async connectAttach(rec: ContainerRecord, client: Duplex, opts: AttachOptions): Promise<void> {
    const { store } = this;
    const stdinOnce = opts.stdin && rec.Config.StdinOnce;
    let mon;
    try {
      mon = await store.proc(rec).attach({ stdin: opts.stdin && rec.Config.OpenStdin, stdout: opts.stdout, stderr: opts.stderr, stdinOnce });
    } catch (e) {
      store.o.log.warn(`attach to ${rec.Id.slice(0, 12)}: ${messageOf(e)}`);
      client.end();
      return;
    }
    if (opts.unmuxed && !rec.Config.Tty) mon.pipe(new StdcopyDemux()).pipe(client);
    else mon.pipe(client);
    if (opts.stdin && rec.Config.OpenStdin) {
      pipeStdin(client, mon, rec.Config.Tty, opts.detachKeys ?? DEFAULT_DETACH_KEYS, () => {
        // The detach sequence ends this attach only; the container keeps running.
        mon.unpipe(client);
        mon.destroy();
        client.end(() => client.destroy());
        store.emit(rec, "detach");
      });
      // dockerd ends a terminal attach when the client half-closes its stdin (the container goes on).
      if (rec.Config.Tty) {
        client.once("end", () => {
          mon.unpipe(client);
          mon.destroy();
          client.end(() => client.destroy());
        });
      }
    } else client.resume();
    const done = () => {
      mon.destroy();
      client.destroy();
    };
    client.on("error", done);
    mon.on("error", done);
    client.on("close", () => mon.destroy());
  }

  logs(idOrName: string, opts: LogsOptions): { stream: Readable; tty: boolean } {
    const { store } = this;
    const rec = store.get(idOrName);
    const type = rec.HostConfig.LogConfig?.Type || "json-file";
    if (unreadable(type, rec.HostConfig.LogConfig?.Config ?? {})) throw invalid(`configured logging driver does not support reading`);
    const l = store.liveOf(rec.Id);
    const stopWhen = rec.State.Running && l.exited ? l.exited : Promise.resolve();
    return { stream: openContainerLogs(rec, store.dir(rec.Id), { ...opts, mux: !rec.Config.Tty, stopWhen }), tty: rec.Config.Tty };
  }

  async resize(idOrName: string, height: number, width: number): Promise<void> {
    const { store } = this;
    const rec = store.get(idOrName);
    if (!rec.State.Running) throw conflict(`Container ${rec.Id} is not running`);
    if (!rec.Config.Tty) return;
    await store.proc(rec).resize(height, width);
  }
}
