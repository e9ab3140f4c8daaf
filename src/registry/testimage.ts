/**
 * Test helpers (used by the registry tests only): a tiny image made with
 * tar-stream (one gzip'ed layer, a config, a Docker schema2 manifest), a
 * docker-archive of it for skopeo, and raw HTTP requests.
 */
import { promises as fs } from "node:fs";
import http from "node:http";
import https from "node:https";
import { gzipSync } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import { type Digest, sha256 } from "../util/digest.js";
import { MT } from "./mediatypes.js";

export interface TestImage {
  layer: Buffer;
  layerDigest: Digest;
  diffId: Digest;
  config: Buffer;
  configDigest: Digest;
  manifest: Buffer;
  manifestDigest: Digest;
  /** The uncompressed layer tar. */
  layerTar: Buffer;
}

export async function buildTar(files: Record<string, string | Buffer>): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const [name, body] of Object.entries(files)) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ name, mode: 0o644, mtime: new Date(1_600_000_000_000) }, body, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function makeTestImage(text = "hello from berth\n", arch = "amd64"): Promise<TestImage> {
  const layerTar = await buildTar({ "hello.txt": text });
  const layer = gzipSync(layerTar);
  const diffId = sha256(layerTar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: "linux",
      created: "2024-01-01T00:00:00Z",
      config: { Cmd: ["/hello"], Env: ["PATH=/usr/bin:/bin"] },
      rootfs: { type: "layers", diff_ids: [diffId] },
      history: [{ created: "2024-01-01T00:00:00Z", created_by: "test" }],
    }),
  );
  const layerDigest = sha256(layer);
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.dockerManifest,
      config: { mediaType: MT.dockerConfig, size: config.length, digest: configDigest },
      layers: [{ mediaType: MT.dockerLayer, size: layer.length, digest: layerDigest }],
    }),
  );
  return { layer, layerDigest, diffId, config, configDigest, manifest, manifestDigest: sha256(manifest), layerTar };
}

/** A `docker save` style archive (docker-archive: for skopeo) of the image. */
export async function writeDockerArchive(file: string, img: TestImage, repoTag: string): Promise<void> {
  const hex = (d: Digest) => d.slice(7);
  const tar = await buildTar({
    [`${hex(img.configDigest)}.json`]: img.config,
    [`${hex(img.diffId)}/layer.tar`]: img.layerTar,
    "manifest.json": JSON.stringify([{ Config: `${hex(img.configDigest)}.json`, RepoTags: [repoTag], Layers: [`${hex(img.diffId)}/layer.tar`] }]),
  });
  await fs.writeFile(file, tar);
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request (HTTPS when `base` says so, trusting `ca`); the body is read whole. */
export function raw(base: string, method: string, path: string, opts: { headers?: Record<string, string | number>; body?: Buffer | string; ca?: string | Buffer } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const mod = url.protocol === "https:" ? https : http;
    const req = mod.request(url, { method, headers: opts.headers ?? {}, agent: false, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

export function errorCodes(r: RawResponse): string[] {
  try {
    const v = JSON.parse(r.body.toString("utf8")) as { errors?: { code: string }[] };
    return (v.errors ?? []).map((e) => e.code);
  } catch {
    return [];
  }
}
