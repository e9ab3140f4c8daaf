/**
 * The registry subsystem's public face: the `berth registry` server (OCI
 * distribution spec over node:http, filesystem storage, gc) and the client the
 * engine uses for pull and push.
 */
export {
  startRegistry,
  registryGc,
  parseAddr,
  DEFAULT_MAX_BLOB_BYTES,
  DEFAULT_MAX_UPLOADS,
  DEFAULT_SESSION_TTL_MS,
  type RegistryServerOptions,
  type RegistryHandle,
} from "./server.js";
export { FsRegistryStorage, type RegistryStorage, type UploadInfo, type ManifestLink, type ByteRange } from "./storage.js";
export { collectGarbage, type GcOptions, type GcResult } from "./gc.js";
export { RegistryError, type RegistryErrorCode } from "./errors.js";
export {
  RegistryClient,
  RegistryHttpError,
  isInsecureRegistry,
  parseRegistryAuth,
  type RegistryClientOptions,
  type RegistryCredentials,
  type FetchedManifest,
} from "./client.js";
export { selectPlatform, normalizePlatform, hostPlatform, type PlatformSpec } from "./platform.js";
export {
  MT,
  PULL_ACCEPT,
  isIndexType,
  isImageManifestType,
  detectMediaType,
  type Descriptor,
  type Platform,
  type ImageManifest,
  type ImageIndex,
} from "./mediatypes.js";
export { parseHtpasswd, verifyHtpasswdHash } from "./htpasswd.js";
export { type ProxyConfig, ProxySelector, proxyConfigFromEnv, maskProxyCredentials } from "./proxy.js";
export { DEFAULT_CERTS_DIRS, type HostTls } from "./certsd.js";
export { type RegistryEndpoint, type RegistryHostsOptions, type HostsToml, parseHostsToml, pullEndpoints, originEndpoint, registryEndpointHost } from "./hosts.js";
export { DIRECT, Transport, type TransportOptions } from "./transport.js";
/** Test fixture: a counting forward proxy on 127.0.0.1 (used by tests of the engine too). */
export { startTestProxy, type TestProxy } from "./testproxy.js";
