/** GET /distribution/{name}/json: what a registry serves under a name, without pulling it. */
import type { Readable } from "node:stream";
import { type Digest, isDigest } from "../../util/digest.js";
import { EngineError, invalid } from "../../util/errors.js";
import { type ImageConfig, parseReference, registryOf, withDefaultTag } from "../../image/index.js";
import { type Descriptor, type ImageIndex as OciIndex, type ImageManifest, type RegistryClient, RegistryHttpError, detectMediaType, isIndexType, parseRegistryAuth } from "../../registry/index.js";
import { pullError } from "./errors.js";
import type { Remote } from "./remote.js";

/**
 * The manifest's descriptor and the platforms it serves, as dockerd answers them
 * (`docker buildx imagetools`, `docker service create`).
 */
export async function inspectRemote(remote: Remote, name: string, auth: string | undefined, signal?: AbortSignal): Promise<{ Descriptor: Descriptor; Platforms: Record<string, unknown>[] }> {
  const ref = withDefaultTag(parseReference(name));
  const { host, path: repoPath } = registryOf(ref);
  await remote.reach(host, auth, signal);
  const client = remote.client(host, auth, signal);
  let fetched: Awaited<ReturnType<RegistryClient["getManifest"]>>;
  try {
    fetched = await client.getManifest(repoPath, ref.digest ?? ref.tag ?? "latest");
  } catch (e) {
    if (e instanceof RegistryHttpError && (e.code === "MANIFEST_UNKNOWN" || (e.status === 404 && e.code === undefined))) {
      throw new EngineError("notFound", e.code ? e.registryMessage : "manifest unknown: manifest unknown");
    }
    throw pullError(e, ref, remote.pingUrl(client.host), repoPath, parseRegistryAuth(auth) !== undefined);
  }
  const doc = JSON.parse(fetched.bytes.toString("utf8")) as OciIndex & ImageManifest;
  const mediaType = fetched.mediaType || detectMediaType(doc) || "";
  const Descriptor = { mediaType, digest: fetched.digest, size: fetched.bytes.length } as Descriptor;
  if (isIndexType(mediaType)) return { Descriptor, Platforms: (doc.manifests ?? []).map((m) => ({ ...(m.platform ?? {}) })) };
  if (!doc.config || !isDigest(doc.config.digest)) throw invalid("invalid manifest: no config");
  const cfg = JSON.parse((await readStream(await client.getBlob(repoPath, doc.config.digest as Digest, { size: doc.config.size }))).toString("utf8")) as ImageConfig & {
    "os.version"?: string;
    "os.features"?: string[];
  };
  const platform: Record<string, unknown> = { architecture: cfg.architecture, os: cfg.os };
  if (cfg["os.version"]) platform["os.version"] = cfg["os.version"];
  if (cfg["os.features"]?.length) platform["os.features"] = cfg["os.features"];
  if (cfg.variant) platform["variant"] = cfg.variant;
  return { Descriptor, Platforms: [platform] };
}

async function readStream(r: Readable, limit = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of r as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) throw invalid("image config too large");
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}
