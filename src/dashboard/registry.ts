/**
 * The dashboard's registry view: a read-only client of one loopback registry (`berth registry serve`
 * or any Distribution v2 registry), set by berthd --dashboard-registry / `berth dashboard --registry`.
 * Only GETs: /v2/_catalog, /v2/<name>/tags/list and manifests (an index is followed to its first
 * manifest) to sum layer sizes. Credentials for an htpasswd registry come from the docker CLI's
 * config.json auths entry for its host (Basic). Hand-written: two GETs and a sum need no client
 * library, and the dashboard may not import the registry layer (scripts/check-layers.mjs).
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { isLoopback } from "./server.js";

const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
].join(", ");

/** At most this many repositories and tags per answer (the view is a summary, not a crawler). */
export const MAX_REPOS = 500;
export const MAX_TAGS = 200;

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface TagInfo {
  tag: string;
  digest?: string;
  /** Sum of the layer sizes in the manifest (compressed, as pushed). */
  size?: number;
  error?: string;
}

export interface RegistryView {
  url: string;
  catalog(): Promise<string[]>;
  tags(repo: string): Promise<TagInfo[]>;
}

/** The Basic credentials the docker CLI's config.json keeps for `host` (HOST:PORT), if any. */
export function credentialsFor(host: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = env["DOCKER_CONFIG"] || path.join(env["HOME"] || os.homedir(), ".docker");
  let auths: Record<string, { auth?: string }> = {};
  try {
    auths = (JSON.parse(readFileSync(path.join(dir, "config.json"), "utf8")) as { auths?: typeof auths }).auths ?? {};
  } catch {
    return undefined;
  }
  for (const [k, v] of Object.entries(auths)) {
    if (k.replace(/^https?:\/\//, "").replace(/\/.*$/, "") === host && v.auth) return v.auth;
  }
  return undefined;
}

/** Check a --dashboard-registry URL: http(s)://LOOPBACK:PORT, nothing else. */
export function parseRegistryUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`invalid dashboard registry "${raw}": use http://127.0.0.1:PORT`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, "");
  if ((u.protocol !== "http:" && u.protocol !== "https:") || !isLoopback(host) || u.username || u.password || (u.pathname !== "/" && u.pathname !== "")) {
    throw new Error(`invalid dashboard registry "${raw}": only a loopback http(s)://HOST:PORT is accepted (credentials come from config.json)`);
  }
  return u;
}

/** `auth` (base64 user:pass) overrides config.json, which is read on each request (a later docker login counts). */
export function makeRegistryView(raw: string, auth?: string): RegistryView {
  const base = parseRegistryUrl(raw);
  const get = (p: string, accept = "application/json"): Promise<{ body: unknown; digest?: string }> =>
    new Promise((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = { Accept: accept, "User-Agent": "berth-dashboard" };
      const basic = auth ?? credentialsFor(base.host);
      if (basic) headers["Authorization"] = `Basic ${basic}`;
      // A loopback registry's certificate is not verified (as dockerd does for loopback registries).
      const opts = { method: "GET", headers, timeout: 10_000, rejectUnauthorized: false };
      const req = (base.protocol === "https:" ? https : http).request(new URL(p, base), opts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > 4 << 20) req.destroy(new Error("answer larger than 4 MiB"));
          else chunks.push(c);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 502;
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          if (status >= 400) {
            const first = (body as { errors?: { message?: string }[] } | undefined)?.errors?.[0]?.message;
            return reject(new RegistryError(status === 401 ? 401 : status === 404 ? 404 : 502, `registry ${base.host}: ${first ?? `HTTP ${status}`}${status === 401 ? " (docker login to it first)" : ""}`));
          }
          if (body === undefined) return reject(new RegistryError(502, `registry ${base.host}: the answer is not JSON`));
          const d = res.headers["docker-content-digest"];
          resolve({ body, digest: typeof d === "string" ? d : undefined });
        });
      });
      req.on("timeout", () => req.destroy(new Error("no answer in 10 s")));
      req.on("error", (e) => reject(e instanceof RegistryError ? e : new RegistryError(502, `registry ${base.host}: ${e.message}`)));
      req.end();
    });

  const sizeOf = async (repo: string, ref: string, follow = true): Promise<{ size: number; digest?: string }> => {
    const m = await get(`/v2/${repo}/manifests/${encodeURIComponent(ref)}`, MANIFEST_TYPES);
    const body = m.body as { layers?: { size?: number }[]; manifests?: { digest?: string }[] };
    if (Array.isArray(body.layers)) return { size: body.layers.reduce((s, l) => s + (typeof l.size === "number" ? l.size : 0), 0), digest: m.digest };
    const first = body.manifests?.[0]?.digest;
    if (!first || !follow) throw new RegistryError(502, "unrecognised manifest");
    return { size: (await sizeOf(repo, first, false)).size, digest: m.digest };
  };

  return {
    url: base.origin,
    async catalog() {
      const r = await get(`/v2/_catalog?n=${MAX_REPOS}`);
      const repos = (r.body as { repositories?: unknown }).repositories;
      return Array.isArray(repos) ? repos.filter((x): x is string => typeof x === "string").slice(0, MAX_REPOS) : [];
    },
    async tags(repo) {
      const r = await get(`/v2/${repo}/tags/list`);
      const tags = (r.body as { tags?: unknown }).tags;
      const list = Array.isArray(tags) ? tags.filter((x): x is string => typeof x === "string").sort().slice(0, MAX_TAGS) : [];
      const out: TagInfo[] = [];
      // A few at a time: a registry with many tags is not flooded.
      for (let i = 0; i < list.length; i += 8) {
        out.push(
          ...(await Promise.all(
            list.slice(i, i + 8).map(async (tag): Promise<TagInfo> => {
              try {
                return { tag, ...(await sizeOf(repo, tag)) };
              } catch (e) {
                return { tag, error: e instanceof Error ? e.message : String(e) };
              }
            }),
          )),
        );
      }
      return out;
    },
  };
}

/** A repository name as the distribution spec allows it (path components, lower case). */
export const REPO_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
