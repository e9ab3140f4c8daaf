/**
 * The client's typed errors: what the daemon refused (with its HTTP status and
 * Docker's message) and what never reached it.
 */

/** The daemon answered with an error status; docker prints "Error response from daemon: <message>". */
export class DaemonError extends Error {
  constructor(
    readonly status: number,
    readonly daemonMessage: string,
  ) {
    super(`Error response from daemon: ${daemonMessage}`);
    this.name = "DaemonError";
  }

  /** 404: no such container, image, network, volume or exec. */
  get isNotFound(): boolean {
    return this.status === 404;
  }

  /** 409: a name in use, a container running where it must not, … */
  get isConflict(): boolean {
    return this.status === 409;
  }
}

/** The daemon could not be reached at all (or the connection broke). */
export class ConnectionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** A stream carried an error message (a pull's `errorDetail`, an `error from daemon in stream`). */
export class StreamError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = "StreamError";
  }
}

/** Whether `e` is the rejection of an aborted call (AbortSignal). */
export function isAbortError(e: unknown): boolean {
  return typeof e === "object" && e !== null && "name" in e && (e as { name: unknown }).name === "AbortError";
}
