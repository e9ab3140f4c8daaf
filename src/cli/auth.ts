/**
 * Registry credentials for the CLI: the config file and credential helpers of
 * src/client (docker's config.json, credsStore, credHelpers), and the
 * X-Registry-Auth header built from them.
 */
import { encodeAuthHeader, lookupAuth, readConfig, registryHostOf, type ConfigFile } from "../client/index.js";

export {
  DEFAULT_INDEX_SERVER,
  allAuths,
  authFromEntry,
  authKeyFor,
  configDir,
  configPath,
  convertToHostname,
  encodeAuthHeader,
  helperFor,
  lookupAuth,
  readConfig,
  registryHostOf,
  removeAuth,
  storeAuth,
  writeConfig,
} from "../client/index.js";
export type { AuthConfig, ConfigFile } from "../client/index.js";

/** The X-Registry-Auth header value for pulling/pushing `ref` (from the file or a credential helper). */
export function registryAuthHeader(ref: string, cfg?: ConfigFile): string {
  let c = cfg;
  if (!c) {
    try {
      c = readConfig();
    } catch {
      c = {};
    }
  }
  return encodeAuthHeader(lookupAuth(c, registryHostOf(ref)));
}
