/**
 * The docker CLI's configuration directory and config.json ($DOCKER_CONFIG or
 * ~/.docker): read leniently, written atomically with mode 0600.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  email?: string;
}

export interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
  currentContext?: string;
  [k: string]: unknown;
}

/** The configuration directory: `--config`, then $DOCKER_CONFIG, then ~/.docker. */
export function configDir(env: NodeJS.ProcessEnv = process.env, flag?: string): string {
  return flag || env["DOCKER_CONFIG"] || path.join(env["HOME"] || os.homedir(), ".docker");
}

export function configPath(env: NodeJS.ProcessEnv = process.env, flag?: string): string {
  return path.join(configDir(env, flag), "config.json");
}

export function readConfig(file = configPath()): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return {};
  }
  if (text.trim() === "") return {};
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as ConfigFile) : {};
  } catch (e) {
    throw new Error(`loading config file: ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Write a file atomically (temp file, then rename) with `mode`. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** Write the config file atomically with mode 0600 (its directory 0700). */
export function writeConfig(cfg: ConfigFile, file = configPath()): void {
  writeFileAtomic(file, `${JSON.stringify(cfg, null, "\t")}\n`);
}
