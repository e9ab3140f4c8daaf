/**
 * The CLI's view of the Engine API client: src/client (berth/client), which the
 * CLI is built on. `Client` is the typed Berth class.
 */
export {
  Berth as Client,
  CLIENT_API_VERSION,
  ConnectionError,
  DaemonError,
  DEFAULT_HOST,
  Demuxer,
  STREAM_STDERR,
  STREAM_STDOUT,
  STREAM_SYSTEMERR,
  buildQuery,
  copyOutput,
  errorMessageOf,
  jsonLines,
  muxFrame,
  negotiateVersion,
  parseHost,
  readBody,
  textLines,
} from "../client/index.js";
export type { Frame, Hijacked, Query, QueryValue, RequestOptions, Sink } from "../client/index.js";
