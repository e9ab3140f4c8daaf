/**
 * The builder's request, output and options types (builder.ts serves them, job.ts runs a build).
 */
import type { Digest } from "../../util/digest.js";
import { EngineError } from "../../util/errors.js";
import type { Logger } from "../../util/log.js";
import type { BuildStore } from "../../image/index.js";
import type { OciRlimit, Runtime } from "../../runtime/index.js";
import type { Download } from "./copysources.js";
import type { BuildNetwork } from "./run.js";

export interface BuildRequest {
  /** Path of the Dockerfile inside the context ("Dockerfile" when empty). */
  dockerfile: string;
  tags: string[];
  /** `--build-arg`; null: named without a value and unset in the client's environment. */
  buildArgs: Record<string, string | null>;
  noCache: boolean;
  pull: boolean;
  /** Remove intermediate containers after a successful step (default). */
  rm: boolean;
  /** Remove them even after a failure. */
  forceRm: boolean;
  target: string;
  labels: Record<string, string>;
  /** "", "default", "bridge": the default bridge; a user network's name; "none": loopback only; "host": the host's network. */
  networkMode: string;
  shmSize?: number;
  platform?: string;
  /** The client's X-Registry-Config header (credentials per registry), handed to pulls of base images. */
  registryConfig?: string;
}

/** Docker's build message stream: stdout/stderr text (one message per write) and aux values. */
export interface BuildOutput {
  stdout(text: string): void;
  stderr(text: string): void;
  aux(value: unknown): void;
  /** Any other JSON message (pull progress of a base image). */
  message?(m: Record<string, unknown>): void;
  /** A promise while the client is not keeping up (RUN output then pauses), else undefined. */
  backpressure?(): Promise<void> | undefined;
}

export interface BuildResult {
  imageId: Digest;
  tags: string[];
}

/** A failed step with an exit code (RUN), reported as errorDetail {code, message}. */
export class BuildStepError extends EngineError {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super("invalid", message);
    this.name = "BuildStepError";
  }
}

export interface BuilderOptions {
  store: BuildStore;
  runtime: Runtime;
  /** The builder's directory under the data-root (cache.json, temporary files). */
  root: string;
  log: Logger;
  /** Fetch an image that is not in the store (FROM, COPY --from); without it such references fail. */
  pull?: (ref: string, out: BuildOutput, opts: { signal?: AbortSignal; registryConfig?: string }) => Promise<Digest>;
  /** Puts RUN containers on a network (the default bridge unless --network says otherwise); without it they get loopback only. */
  network?: BuildNetwork;
  /** GET a URL for `ADD <url>` (through the daemon's proxies); without it such sources are refused. */
  download?: Download;
  /** Written into every step's image as docker_version (dockerd writes its own version there). */
  daemonVersion?: string;
  /** The RUN steps' rlimits (the daemon's default ulimits); the runtime's default without it. */
  rlimits?: () => OciRlimit[];
}
