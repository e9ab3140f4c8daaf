/**
 * One OCI runtime (runc, crun) with its state root: containers are addressed through
 * `container(id)` (process.ts), their exec processes through `container(id).exec(execId)`.
 */
import { ensureDir } from "../util/fsutil.js";
import { run } from "../util/exec.js";
import { type RuntimeOptions, ContainerProcess } from "./process.js";

export class Runtime {
  constructor(readonly opts: RuntimeOptions) {}

  async init(): Promise<void> {
    // Root only (dockerd's runtime-runc is 0700); tightened if an older berthd made them wider.
    for (const d of [this.opts.runtimeRoot, this.opts.stateRoot]) await ensureDir(d, 0o700);
  }

  /** The runtime's version line, e.g. "1.1.5+ds1" (fails when the binary is missing). */
  async version(): Promise<string> {
    const { stdout } = await run(this.opts.runtime, ["--version"]);
    const m = stdout.match(/version\s+(\S+)/);
    return m?.[1] ?? stdout.split("\n")[0] ?? "";
  }

  /** The container `id` of this runtime (its exec processes through `.exec(execId)`). */
  container(id: string): ContainerProcess {
    return new ContainerProcess(this.opts, id);
  }

  /** Runtime ids the OCI runtime still knows (for leak checks and restart recovery). */
  async list(): Promise<{ id: string; status: string; pid: number }[]> {
    const { stdout } = await run(this.opts.runtime, ["--root", this.opts.runtimeRoot, "list", "--format", "json"]);
    const parsed = JSON.parse(stdout.trim() || "[]") as { id: string; status: string; pid: number }[] | null;
    return parsed ?? [];
  }
}
