/**
 * Interoperability: our client against Debian's docker-registry (docker/distribution
 * 2.8), and skopeo (containers/image) against our server. Each part is skipped
 * when its tool is not installed (apt-get install docker-registry skopeo).
 */
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, promises as fs } from "node:fs";
import net from "node:net";
import path from "node:path";
import type { Readable } from "node:stream";
import bcrypt from "bcryptjs";
import { sha256 } from "../util/digest.js";
import { MT, RegistryClient, RegistryHttpError, startRegistry, type RegistryHandle } from "./index.js";
import { makeTestImage, writeDockerArchive, raw, type TestImage } from "./testimage.js";
import { suiteTempDir } from "../util/testfixtures.js";

function which(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    const p = path.join(dir, bin);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const DOCKER_REGISTRY = which("docker-registry") ?? which("registry");
const SKOPEO = which("skopeo");

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function readStream(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

const tmp = suiteTempDir("berth-reg-interop-");

describe("our client against docker/distribution", { skip: DOCKER_REGISTRY ? false : "docker-registry is not installed (apt-get install docker-registry)" }, () => {
  let child: ChildProcess | undefined;
  let addr = "";
  let img: TestImage;
  const creds = { username: "tester", password: "interop-pass" };

  before(async () => {
    img = await makeTestImage("interop\n");
    const port = await freePort();
    addr = `127.0.0.1:${port}`;
    const dir = path.join(tmp, "distribution");
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, "htpasswd"), `${creds.username}:${bcrypt.hashSync(creds.password, 5).replace(/^\$2b\$/, "$2y$")}\n`);
    await fs.writeFile(
      path.join(dir, "config.yml"),
      [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${path.join(dir, "data")}`,
        "  delete:",
        "    enabled: true",
        "http:",
        `  addr: ${addr}`,
        "auth:",
        "  htpasswd:",
        "    realm: interop",
        `    path: ${path.join(dir, "htpasswd")}`,
        "",
      ].join("\n"),
    );
    child = spawn(DOCKER_REGISTRY as string, ["serve", path.join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
    for (let i = 0; ; i++) {
      const ok = await raw(`http://${addr}`, "GET", "/v2/").then(
        (r) => r.status === 401,
        () => false,
      );
      if (ok) break;
      if (i > 100 || child.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    if (child && child.exitCode === null) {
      child.kill("SIGTERM");
      await new Promise((r) => child?.once("exit", r));
    }
  });

  test("push (monolithic and chunked), pull by tag and digest, tags, mount, delete", async () => {
    const c = new RegistryClient({ host: addr, credentials: creds, monolithicMaxBytes: 64 * 1024, chunkBytes: 32 * 1024 });
    assert.equal(await c.ensureBlob("interop/app", { digest: img.layerDigest, size: img.layer.length }, () => img.layer), "pushed");
    assert.equal(await c.ensureBlob("interop/app", { digest: img.configDigest, size: img.config.length }, () => img.config), "pushed");
    const big = randomBytes(150 * 1024);
    await c.pushBlob("interop/app", sha256(big), big.length, big);
    const md = await c.putManifest("interop/app", "v1", img.manifest, MT.dockerManifest);
    assert.equal(md, img.manifestDigest);
    for (const t of ["v2", "v3", "a"]) await c.putManifest("interop/app", t, img.manifest, MT.dockerManifest);

    const byTag = await c.getManifest("interop/app", "v1");
    assert.equal(byTag.digest, img.manifestDigest);
    assert.equal(byTag.mediaType, MT.dockerManifest);
    assert.equal((await c.getManifest("interop/app", img.manifestDigest)).digest, img.manifestDigest);
    assert.deepEqual(await readStream(await c.getBlob("interop/app", img.layerDigest, { size: img.layer.length })), img.layer);
    assert.ok((await readStream(await c.getBlob("interop/app", sha256(big)))).equals(big));
    // distribution 2.8 neither sorts the tags list nor paginates it (n is ignored).
    assert.deepEqual((await c.listTags("interop/app")).sort(), ["a", "v1", "v2", "v3"]);

    assert.equal(await c.mountBlob("interop/other", img.layerDigest, "interop/app"), true);
    assert.equal(await c.mountBlob("interop/other", sha256("absent"), "interop/app"), false);
    assert.deepEqual(await c.blobExists("interop/other", img.layerDigest), { size: img.layer.length });

    // An index: distribution serves it to us as pushed.
    const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: [{ mediaType: MT.dockerManifest, digest: img.manifestDigest, size: img.manifest.length, platform: { os: "linux", architecture: "amd64" } }] }));
    await c.putManifest("interop/app", "multi", index, MT.ociIndex);
    assert.equal((await c.getManifest("interop/app", "multi")).mediaType, MT.ociIndex);

    await c.deleteManifest("interop/app", img.manifestDigest);
    await assert.rejects(c.getManifest("interop/app", "v1"), (e: unknown) => e instanceof RegistryHttpError && e.status === 404);

    const anon = new RegistryClient({ host: addr });
    await assert.rejects(anon.getManifest("interop/app", "multi"), (e: unknown) => e instanceof RegistryHttpError && e.kind === "unauthorized");
  });
});

describe("skopeo against our server", { skip: SKOPEO ? false : "skopeo is not installed (apt-get install skopeo)" }, () => {
  let reg: RegistryHandle;
  let img: TestImage;
  let archive = "";

  // Asynchronous: the registry under test runs in this process.
  const skopeo = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      const ch = spawn(SKOPEO as string, ["--insecure-policy", ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      ch.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      ch.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const t = setTimeout(() => ch.kill("SIGKILL"), 60_000);
      ch.on("error", reject);
      ch.on("close", (code) => {
        clearTimeout(t);
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });

  before(async () => {
    const htpasswd = path.join(tmp, "skopeo-htpasswd");
    await fs.writeFile(htpasswd, `sk:${bcrypt.hashSync("opeo", 4)}\n`);
    reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(tmp, "skopeo-root"), htpasswd });
    img = await makeTestImage("for skopeo\n");
    archive = path.join(tmp, "image.tar");
    await writeDockerArchive(archive, img, "x:y");
  });
  after(async () => {
    await reg.close();
  });

  test("skopeo copies a docker-archive to our registry, inspects it, and pulls it back", { timeout: 120_000 }, async () => {
    const dest = `docker://${reg.addr}/x:y`;
    const cp = await skopeo(["copy", "--dest-tls-verify=false", "--dest-creds", "sk:opeo", `docker-archive:${archive}`, dest]);
    assert.equal(cp.code, 0, cp.stderr);
    const insp = await skopeo(["inspect", "--tls-verify=false", "--creds", "sk:opeo", dest]);
    assert.equal(insp.code, 0, insp.stderr);
    const info = JSON.parse(insp.stdout) as { Digest: string; Layers: string[]; Architecture: string; Os: string };
    assert.equal(info.Os, "linux");
    assert.equal(info.Architecture, "amd64");
    assert.equal(info.Layers.length, 1);
    const c = new RegistryClient({ host: reg.addr, credentials: { username: "sk", password: "opeo" } });
    const m = await c.getManifest("x", "y");
    assert.equal(m.digest, info.Digest);
    const man = JSON.parse(m.bytes.toString()) as { config: { digest: string } };
    assert.equal(man.config.digest, img.configDigest);

    const tags = await skopeo(["list-tags", "--tls-verify=false", "--creds", "sk:opeo", `docker://${reg.addr}/x`]);
    assert.equal(tags.code, 0, tags.stderr);
    assert.deepEqual((JSON.parse(tags.stdout) as { Tags: string[] }).Tags, ["y"]);

    // Copy within the registry (cross-repo mount) and pull into an OCI layout.
    const cp2 = await skopeo(["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--src-creds", "sk:opeo", "--dest-creds", "sk:opeo", dest, `docker://${reg.addr}/copied/x:z`]);
    assert.equal(cp2.code, 0, cp2.stderr);
    assert.equal((await c.getManifest("copied/x", "z")).digest, info.Digest);
    const oci = path.join(tmp, "oci-out");
    const pull = await skopeo(["copy", "--src-tls-verify=false", "--src-creds", "sk:opeo", dest, `oci:${oci}:y`]);
    assert.equal(pull.code, 0, pull.stderr);
    const layout = JSON.parse(await fs.readFile(path.join(oci, "index.json"), "utf8")) as { manifests: unknown[] };
    assert.equal(layout.manifests.length, 1);

    const noCreds = await skopeo(["inspect", "--tls-verify=false", "--no-creds", dest]);
    assert.notEqual(noCreds.code, 0);
    assert.match(noCreds.stderr, /unauthorized|authentication required/i);
  });
});
