/**
 * What the image cases need besides the daemons: registries on 127.0.0.1
 * (berth's own and Debian's docker-registry), started with an empty root,
 * and fresh random images, so that every push and pull moves bytes that no
 * daemon has seen (and compressed) before: `docker load`ed for a push,
 * uploaded by the bench over the registry API for a pull.
 *
 * The image tarballs and the registry upload are made here by hand (with
 * tar-stream, zlib and node's http) because the point is that no daemon is
 * involved in making them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, createWriteStream, promises as fs } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { pack as tarPack } from "tar-stream";
import type { CaseCtx } from "./cases.js";
import { Apt } from "./host.js";
import { errMsg, pidAlive, signal, waitExit, waitFor } from "./lib.js";


/** A free TCP port on 127.0.0.1 (bound and released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
    });
  });
}

/** GET http://127.0.0.1:port/v2/ answers (any HTTP status). */
function httpUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("error", () => done(false));
    s.once("connect", () => s.write("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
    s.once("data", (d: Buffer) => done(d.toString("latin1").startsWith("HTTP/")));
  });
}

export type RegistryKind = "berth" | "distribution";

interface Service {
  child: ChildProcess;
  port: number;
  root: string;
}

/** Registries started by cases, by key; stopped by the case's teardown or by stopCaseServices(). */
export const services = new Map<string, Service>();
/** One port per key for the whole run, so image references stay the same across restarts. */
export const ports = new Map<string, number>();

function berthRegistryEntry(): string {
  return fileURLToPath(new URL("../src/registry/main.js", import.meta.url));
}

async function distributionBinary(c: CaseCtx): Promise<string> {
  const bin = "/usr/bin/docker-registry";
  if (existsSync(bin)) return bin;
  c.log("installing Debian's docker-registry");
  try {
    await new Apt((m) => c.log(m)).install(["docker-registry"], 300_000);
  } catch (e) {
    throw new Error(`docker-registry is not installed and could not be installed: ${errMsg(e)}`);
  }
  if (!existsSync(bin)) throw new Error("docker-registry is not installed (apt-get install docker-registry)");
  return bin;
}

export async function stopService(key: string): Promise<void> {
  const s = services.get(key);
  if (!s) return;
  services.delete(key);
  const pid = s.child.pid;
  if (pid !== undefined && s.child.exitCode === null && s.child.signalCode === null) {
    signal(pid, "SIGTERM");
    if (!(await waitExit(pid, 5000, 50))) {
      signal(pid, "SIGKILL");
      await waitExit(pid, 2000, 50);
    }
  }
}

/** Stop every registry a case left running (called by the runner's clean-up). */
export async function stopCaseServices(log: (m: string) => void): Promise<void> {
  for (const key of [...services.keys()]) {
    log(`stopping registry ${key}`);
    await stopService(key);
  }
}

/**
 * (Re)start a registry of `kind` under `key` with an empty storage root, on
 * 127.0.0.1 only; returns "127.0.0.1:PORT" (the same port for a key all run long).
 */
export async function startRegistry(c: CaseCtx, kind: RegistryKind, key: string): Promise<string> {
  await stopService(key);
  let port = ports.get(key);
  if (port === undefined) {
    port = await freePort();
    ports.set(key, port);
  }
  const dir = path.join(c.workDir, "registries", key);
  await fs.rm(dir, { recursive: true, force: true });
  const root = path.join(dir, "storage");
  await fs.mkdir(root, { recursive: true });
  const addr = `127.0.0.1:${port}`;
  let cmd: string;
  let args: string[];
  if (kind === "berth") {
    cmd = process.execPath;
    args = [berthRegistryEntry(), "serve", "--addr", addr, "--root", root];
  } else {
    cmd = await distributionBinary(c);
    const cfg = path.join(dir, "config.yml");
    await fs.writeFile(
      cfg,
      ["version: 0.1", "log:", "  level: error", "storage:", "  filesystem:", `    rootdirectory: ${root}`, "http:", `  addr: ${addr}`, ""].join("\n"),
    );
    args = ["serve", cfg];
  }
  const logFd = await fs.open(path.join(dir, "registry.log"), "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { detached: true, stdio: ["ignore", logFd.fd, logFd.fd] });
  } finally {
    await logFd.close();
  }
  child.on("error", () => undefined);
  services.set(key, { child, port, root });
  const up = await waitFor(async () => child.exitCode !== null || (await httpUp(port)), { timeoutMs: 15_000, intervalMs: 100 });
  if (!up || child.exitCode !== null || child.pid === undefined || !pidAlive(child.pid)) {
    const tail = await fs.readFile(path.join(dir, "registry.log"), "utf8").catch(() => "");
    await stopService(key);
    throw new Error(`${kind} registry on ${addr} did not start: ${tail.slice(-500)}`);
  }
  return addr;
}

/** Total size of the regular files below `dir`. */
export async function duBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += (await fs.stat(path.join(e.parentPath, e.name))).size;
  }
  return total;
}

const gzipAsync = promisify(gzip);

/** Size of one random layer of a fresh image: 3 of them make the "60 MB 3-layer image". */
export const FRESH_LAYER_BYTES = 20 * 1024 * 1024;

/** One layer tarball holding a single file of random bytes. */
async function randomLayer(name: string, bytes: number): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  p.on("data", (d: unknown) => {
    chunks.push(d as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on("end", resolve);
    p.on("error", reject);
  });
  p.entry({ name, size: bytes, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 }, randomBytes(bytes));
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/**
 * `docker load` a new image of `layers` layers of random bytes, tagged `ref`
 * (not timed by the callers). Every call makes new content: no daemon has a
 * layer of it, compressed or not.
 */
export async function loadFreshImage(c: CaseCtx, ref: string, layers = 3, layerBytes = FRESH_LAYER_BYTES): Promise<void> {
  const file = path.join(c.workDir, `fresh-${c.engine.name}.tar`);
  const layerTars: Buffer[] = [];
  for (let i = 0; i < layers; i++) layerTars.push(await randomLayer(`random-${i}.bin`, layerBytes));
  const diffIds = layerTars.map((b) => `sha256:${createHash("sha256").update(b).digest("hex")}`);
  const arch = process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : process.arch;
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: "linux",
      created: new Date().toISOString(),
      config: { Cmd: ["/random-0.bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: diffIds.map(() => ({ created: new Date().toISOString(), created_by: "berth bench: random layer" })),
    }),
  );
  const configName = `${createHash("sha256").update(config).digest("hex")}.json`;
  const manifest = Buffer.from(
    JSON.stringify([{ Config: configName, RepoTags: [ref], Layers: layerTars.map((_b, i) => `layer${i}/layer.tar`) }]),
  );
  const outer = tarPack();
  const written = pipeline(outer, createWriteStream(file));
  layerTars.forEach((b, i) => outer.entry({ name: `layer${i}/layer.tar`, mode: 0o644, mtime: new Date(0) }, b));
  outer.entry({ name: configName, mode: 0o644, mtime: new Date(0) }, config);
  outer.entry({ name: "manifest.json", mode: 0o644, mtime: new Date(0) }, manifest);
  outer.finalize();
  await written;
  try {
    await c.docker(["load", "-q", "-i", file], 300_000);
  } finally {
    await fs.rm(file, { force: true });
  }
}

/** One HTTP request to a registry on 127.0.0.1; resolves with status, headers and body. */
function registryRequest(
  url: URL,
  method: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: { ...headers, ...(body ? { "Content-Length": String(body.length) } : {}) }, timeout: 120_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

async function uploadBlob(addr: string, repo: string, blob: Buffer): Promise<string> {
  const digest = `sha256:${createHash("sha256").update(blob).digest("hex")}`;
  const start = await registryRequest(new URL(`http://${addr}/v2/${repo}/blobs/uploads/`), "POST", Buffer.alloc(0), {});
  if (start.status !== 202 || start.location === undefined) throw new Error(`blob upload start: HTTP ${start.status} ${start.body.slice(0, 200)}`);
  const put = new URL(start.location, `http://${addr}`);
  put.searchParams.set("digest", digest);
  const done = await registryRequest(put, "PUT", blob, { "Content-Type": "application/octet-stream" });
  if (done.status !== 201) throw new Error(`blob upload: HTTP ${done.status} ${done.body.slice(0, 200)}`);
  return digest;
}

/**
 * Put a new image of `layers` gzip-compressed layers of random bytes into the
 * registry at `addr` as `repo:tag`, straight over the registry API, so that
 * no daemon has seen any of it before its pull (no blob, no diffID mapping,
 * nothing to reuse); both engines pull the same kind of bytes.
 */
export async function uploadFreshImage(addr: string, repo: string, tag: string, layers = 3, layerBytes = FRESH_LAYER_BYTES): Promise<void> {
  const diffIds: string[] = [];
  const descs: { mediaType: string; size: number; digest: string }[] = [];
  for (let i = 0; i < layers; i++) {
    const tar = await randomLayer(`random-${i}.bin`, layerBytes);
    diffIds.push(`sha256:${createHash("sha256").update(tar).digest("hex")}`);
    const gz = await gzipAsync(tar, { level: 1 });
    descs.push({ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: gz.length, digest: await uploadBlob(addr, repo, gz) });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: process.arch === "x64" ? "amd64" : process.arch,
      os: "linux",
      created: new Date().toISOString(),
      config: { Cmd: ["/random-0.bin"] },
      rootfs: { type: "layers", diff_ids: diffIds },
      history: diffIds.map(() => ({ created: new Date().toISOString(), created_by: "berth bench: random layer" })),
    }),
  );
  const configDigest = await uploadBlob(addr, repo, config);
  const mediaType = "application/vnd.docker.distribution.manifest.v2+json";
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: configDigest },
      layers: descs,
    }),
  );
  const r = await registryRequest(new URL(`http://${addr}/v2/${repo}/manifests/${tag}`), "PUT", manifest, { "Content-Type": mediaType });
  if (r.status !== 201) throw new Error(`manifest upload: HTTP ${r.status} ${r.body.slice(0, 200)}`);
}
