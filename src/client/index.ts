/**
 * berth/client: a typed Docker Engine API client for Node (berthd and dockerd).
 *
 *   import { Berth } from "berth/client";
 *   const b = new Berth();                    // DOCKER_HOST / context / TLS like the CLI
 *   for await (const m of b.pull("busybox")) console.log(m.status);
 */
export { Berth } from "./berth.js";
export type { AttachOptions, EventsOptions, LogsOptions, PullOptions } from "./berth.js";
export { EngineClient, CLIENT_API_VERSION, buildQuery, compareVersions, errorMessageOf, negotiateVersion } from "./http.js";
export type { CallOptions, ClientOptions, Hijacked, Query, QueryValue, RequestOptions } from "./http.js";
export { ConnectionError, DaemonError, StreamError, isAbortError } from "./errors.js";
export { ConfigError, DEFAULT_HOST, defaultContextHost, parseHost, resolveContextName, resolveEndpoint } from "./connection.js";
export type { ConnectOptions, Endpoint, TlsOptions } from "./connection.js";
export { ContextError, ContextStore, DEFAULT_CONTEXT, contextDigest, validateContextName } from "./contexts.js";
export type { ContextMeta, DockerEndpointMeta, TlsMaterial } from "./contexts.js";
export { configDir, configPath, readConfig, writeConfig, writeFileAtomic } from "./config.js";
export type { AuthEntry, ConfigFile } from "./config.js";
export {
  CredentialHelperError,
  DEFAULT_INDEX_SERVER,
  allAuths,
  authFromEntry,
  authKeyFor,
  convertToHostname,
  encodeAuthHeader,
  helperFor,
  lookupAuth,
  registryHostOf,
  removeAuth,
  storeAuth,
} from "./credentials.js";
export { HijackedSession } from "./session.js";
export type { OutputChunk } from "./session.js";
export { Demuxer, STREAM_STDERR, STREAM_STDIN, STREAM_STDOUT, STREAM_SYSTEMERR, copyOutput, demux, muxFrame } from "./stdcopy.js";
export type { Frame, Sink } from "./stdcopy.js";
export { jsonLines, readBody, textLines } from "./lines.js";
export type * from "./types.js";
