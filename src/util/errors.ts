/**
 * Typed errors for the whole engine. Every failure that can reach a user is an
 * EngineError with a kind; the API maps kinds to HTTP status codes in one place
 * (src/api/errors.ts), the CLI prints the message.
 */
export type ErrorKind =
  | "invalid" // 400 bad parameter
  | "unauthorized" // 401
  | "forbidden" // 403
  | "notFound" // 404
  | "conflict" // 409
  | "notModified" // 304
  | "unavailable" // 503
  | "notImplemented" // 501
  | "internal"; // 500

export class EngineError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
    this.name = "EngineError";
  }
}

export const invalid = (msg: string): EngineError => new EngineError("invalid", msg);
export const notFound = (msg: string): EngineError => new EngineError("notFound", msg);
export const conflict = (msg: string): EngineError => new EngineError("conflict", msg);
export const internal = (msg: string, cause?: unknown): EngineError =>
  new EngineError("internal", msg, { cause });

export function isEngineError(e: unknown, kind?: ErrorKind): e is EngineError {
  return e instanceof EngineError && (kind === undefined || e.kind === kind);
}

/** The errno code of a Node system error, if any. */
export function errnoCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e) {
    const c = (e as { code: unknown }).code;
    return typeof c === "string" ? c : undefined;
  }
  return undefined;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
