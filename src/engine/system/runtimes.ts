/**
 * The OCI runtimes the engine offers (runc, crun, daemon.json's "runtimes"), by name: built at
 * construction, probed at start-up (a missing default is fatal, a missing extra is dropped) and
 * changed by a SIGHUP reload. The map itself is shared with the services that run containers.
 */
import path from "node:path";
import { Runtime } from "../../runtime/index.js";

export interface RuntimeSetOptions {
  /** The default runtime as given (name on PATH or absolute path). */
  runtime: string;
  /** daemon.json "runtimes": name → binary path. */
  runtimes?: Record<string, string>;
  execRoot: string;
}

/** What a reload asks for: the default runtime and the named extras. */
export interface RuntimeChoice {
  runtime: string;
  runtimes?: Record<string, string>;
}

export class RuntimeSet {
  /** name → runtime; handed to the container, stats and check services, which read it at each use. */
  readonly map = new Map<string, Runtime>();
  private readonly versions = new Map<string, string>();

  /** `o` is the engine's own options object: a reload changes its runtime and runtimes in place. */
  constructor(private readonly o: RuntimeSetOptions) {
    // Every known runtime is offered; the default one must exist (checked in probe).
    for (const name of new Set([this.defaultName, "runc", "crun", ...Object.keys(o.runtimes ?? {})])) {
      this.map.set(name, this.make(name, this.path(name)));
    }
  }

  /** The default runtime's name (HostConfig.Runtime of containers naming none). */
  get defaultName(): string {
    return path.basename(this.o.runtime);
  }

  /** The default runtime as configured (name or path). */
  get defaultBinary(): string {
    return this.o.runtime;
  }

  /** The runtime the builder's RUN steps use: the default one. */
  get default(): Runtime {
    return this.map.get(this.defaultName) as Runtime;
  }

  /** A runtime's `--version` as probed ("" when unknown). */
  version(name: string): string | undefined {
    return this.versions.get(name);
  }

  /** A runtime's binary: daemon.json's "runtimes" path, the default runtime as given, or the name itself (on PATH). */
  path(name: string): string {
    return this.o.runtimes?.[name] ?? (name === this.defaultName ? this.o.runtime : name);
  }

  /** Start-up: each runtime's version is read and its state root made; a missing extra runtime is dropped. */
  async probe(): Promise<void> {
    await Promise.all(
      [...this.map].map(async ([name, rt]) => {
        // A runtime that does not answer --version is not installed: expected for crun on most hosts.
        const version = await rt.version().catch(() => undefined);
        if (version === undefined) {
          if (name === this.defaultName) throw new Error(`OCI runtime ${this.o.runtime} not found: install Debian's runc (or crun)`);
          this.map.delete(name);
          return;
        }
        this.versions.set(name, version);
        await rt.init();
      }),
    );
  }

  /**
   * SIGHUP: new or changed runtimes are probed first, and nothing changes when one is missing;
   * running containers are not touched (a runtime keeps its state root, so containers started
   * with it are still found).
   */
  async reconfigure(r: RuntimeChoice): Promise<void> {
    const wanted = new Map<string, string>(Object.entries(r.runtimes ?? {}));
    const defName = path.basename(r.runtime);
    if (!wanted.has(defName)) wanted.set(defName, r.runtime);
    const added = new Map<string, { rt: Runtime; version: string }>();
    for (const [name, binary] of wanted) {
      if (this.map.has(name) && this.path(name) === binary) continue;
      const rt = this.make(name, binary);
      // Here a missing binary is the operator's error: reported below, nothing changed.
      const version = await rt.version().catch(() => undefined);
      if (version === undefined) throw new Error(`OCI runtime ${binary} (${name}) not found`);
      await rt.init();
      added.set(name, { rt, version });
    }
    // Committed from here on: nothing below can fail.
    for (const name of Object.keys(this.o.runtimes ?? {})) if (!wanted.has(name) && name !== "runc" && name !== "crun") this.map.delete(name);
    for (const [name, { rt, version }] of added) {
      this.map.set(name, rt);
      this.versions.set(name, version);
    }
    this.o.runtimes = r.runtimes ?? {};
    this.o.runtime = r.runtime;
  }

  private make(name: string, binary: string): Runtime {
    return new Runtime({ runtime: binary, runtimeRoot: path.join(this.o.execRoot, "runtime", name), stateRoot: path.join(this.o.execRoot, "c") });
  }
}
