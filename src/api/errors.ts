import { type ErrorKind, EngineError, messageOf } from "../util/errors.js";

/** The one place where error kinds become HTTP status codes. */
export const STATUS_OF: Record<ErrorKind, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  notModified: 304,
  unavailable: 503,
  notImplemented: 501,
  internal: 500,
};

export function statusOf(e: unknown): number {
  if (e instanceof EngineError) return STATUS_OF[e.kind];
  if (e instanceof SyntaxError) return 400;
  return 500;
}

export function errorBody(e: unknown): { message: string } {
  return { message: messageOf(e) };
}
