/**
 * `berthd --userns-remap`, proven with the real docker CLI: containers run in a user
 * namespace whose root is an unprivileged host id from /etc/subuid (dockerd's
 * "default" user dockremap), image layers are unpacked with the mapped ids while
 * images, pushed layers, `docker cp` and commits keep the container's own ids, the
 * options a user namespace cannot honour are refused with dockerd's messages, and
 * networking (bridge, published port, names on a user network, container: mode)
 * works in namespaces owned by the container's user namespace.
 * Traffic goes only to 127.0.0.1 and to the containers the test creates.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { promises as fs, statSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { startRegistry } from "../../src/registry/index.js";
import { Daemon, busyboxTarFile, leftovers, run, until } from "./harness.js";

const PORT = 18096;

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/index.html", timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** The subordinate range start of dockremap in /etc/subuid or /etc/subgid. */
async function subStart(file: string): Promise<number> {
  const line = (await fs.readFile(file, "utf8")).split("\n").find((l) => l.startsWith("dockremap:"));
  assert.ok(line, `${file} has a range for dockremap`);
  return Number(line.split(":")[1]);
}

/** Owner uid/gid of each entry of a tar (verbose listing with numeric ids). */
async function tarOwners(tar: Buffer): Promise<Map<string, string>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-userns-tar-"));
  try {
    const f = path.join(dir, "t.tar");
    await fs.writeFile(f, tar);
    const r = await run("tar", ["--numeric-owner", "-tvf", f]);
    assert.equal(r.code, 0, r.stderr);
    const out = new Map<string, string>();
    for (const line of r.stdout.split("\n").filter(Boolean)) {
      const f2 = line.split(/\s+/);
      out.set((f2[5] ?? "").replace(/\/$/, ""), f2[1] ?? "");
    }
    return out;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function dockerBytes(d: Daemon, args: string[]): Promise<Buffer> {
  const { spawn } = await import("node:child_process");
  const { DOCKER } = await import("./harness.js");
  return new Promise((resolve, reject) => {
    const p = spawn(DOCKER, args, { env: d.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (b: Buffer) => out.push(b));
    p.stderr.on("data", (b: Buffer) => (err += b.toString()));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`docker ${args.join(" ")}: ${err}`))));
  });
}

describe("berthd --userns-remap", () => {
  const d = new Daemon();
  let uidStart = 0;
  let gidStart = 0;
  let store = "";

  before(async () => {
    // The remapped root must be able to walk down to the data root (dockerd's check, below).
    await fs.chmod(d.dir, 0o711);
    await d.start(["--userns-remap", "default"]);
    uidStart = await subStart("/etc/subuid");
    gidStart = await subStart("/etc/subgid");
    store = path.join(d.dataRoot, `${uidStart}.${gidStart}`);
    await d.loadBusybox();
  });

  after(async () => {
    await d.docker(["rm", "-f", "web", "peer", "keep"]);
    await d.docker(["network", "rm", "usernet"]);
    await d.stop();
    const left = await leftovers(d);
    await fs.rm(d.dir, { recursive: true, force: true });
    assert.deepEqual(left, { mounts: [], runtime: [], monitors: [] });
  });

  it("creates dockremap with a subordinate range, keeps its data in <data-root>/<uid>.<gid> and says so in docker info", async () => {
    const u = await run("id", ["-u", "dockremap"]);
    assert.equal(u.code, 0, "the user dockremap exists");
    assert.ok(uidStart >= 100000 && gidStart >= 100000);
    const st = statSync(store);
    assert.equal(st.mode & 0o777, 0o710);
    assert.equal(st.gid, gidStart);
    const info = await d.docker(["info", "-f", "{{.DockerRootDir}}|{{json .SecurityOptions}}"]);
    assert.equal(info.code, 0, info.stderr);
    const [root, opts] = info.stdout.trim().split("|");
    assert.equal(root, store);
    assert.ok((JSON.parse(opts ?? "[]") as string[]).includes("name=userns"), opts);
  });

  it("unpacks layers with host ids while the image keeps the archive's diffId", async () => {
    const tar = await fs.readFile(await busyboxTarFile());
    const layers = await d.docker(["image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox"]);
    assert.deepEqual(JSON.parse(layers.stdout), [`sha256:${createHash("sha256").update(tar).digest("hex")}`]);
    const layerDirs = await fs.readdir(path.join(store, "image", "layers"));
    const owners = await Promise.all(layerDirs.map(async (l) => fs.stat(path.join(store, "image", "layers", l, "diff", "bin", "busybox")).catch(() => undefined)));
    const found = owners.find((s) => s !== undefined);
    assert.ok(found, "an unpacked busybox layer");
    assert.equal(`${found.uid}:${found.gid}`, `${uidStart}:${gidStart}`);
  });

  it("runs the container's root as the subordinate id: root inside, unprivileged outside", async () => {
    const r = await d.docker(["run", "--rm", "busybox", "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map; ls -ldn / | cut -c1-30; echo ok > /root-owned && echo wrote"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
    assert.equal(lines[0], "0");
    assert.equal(lines[1], `0 ${uidStart} 65536`);
    assert.equal(lines[2], `0 ${gidStart} 65536`);
    assert.match(lines[3] ?? "", /^drwxr-xr-x\s+\d+ 0 0/, "the root directory belongs to the container's root");
    assert.equal(lines[4], "wrote");

    assert.equal((await d.docker(["run", "-d", "--name", "keep", "busybox", "sleep", "300"])).code, 0);
    const pid = Number((await d.docker(["inspect", "-f", "{{.State.Pid}}", "keep"])).stdout.trim());
    const status = await fs.readFile(`/proc/${pid}/status`, "utf8");
    assert.match(status, new RegExp(`^Uid:\\s+${uidStart}\\s+${uidStart}\\s+${uidStart}\\s+${uidStart}$`, "m"), "on the host the process is the subordinate uid");
    const ex = await d.docker(["exec", "keep", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert.equal(ex.code, 0, ex.stderr);
    assert.equal(ex.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" ")).join("|"), `0|0 ${uidStart} 65536`);
  });

  it("refuses what a user namespace cannot honour, with dockerd's messages, and --userns=host opts out", async () => {
    const priv = await d.docker(["run", "--rm", "--privileged", "busybox", "true"]);
    assert.notEqual(priv.code, 0);
    assert.match(priv.stderr, /privileged mode is incompatible with user namespaces\.\s+You must run the container in the host namespace when running privileged mode/);
    const hostNet = await d.docker(["run", "--rm", "--network", "host", "busybox", "true"]);
    assert.notEqual(hostNet.code, 0);
    assert.match(hostNet.stderr, /cannot share the host's network namespace when user namespaces are enabled/);
    const create = await d.docker(["create", "--pid", "host", "busybox", "true"]);
    assert.notEqual(create.code, 0);
    assert.match(create.stderr, /cannot share the host PID namespace when user namespaces are enabled/);

    const opt = await d.docker(["run", "--rm", "--userns", "host", "--privileged", "busybox", "sh", "-c", "cat /proc/self/uid_map; ls -ldn /bin | cut -c1-40"]);
    assert.equal(opt.code, 0, opt.stderr);
    const l = opt.stdout.trim().split("\n").map((x) => x.trim().split(/\s+/).join(" "));
    assert.equal(l[0], "0 0 4294967295", "no user namespace with --userns=host");
    assert.match(l[1] ?? "", new RegExp(`^drwxr-xr-x \\d+ ${uidStart} ${gidStart}`), "the host-side owners show through");
    const viaBerth = await d.berth(["run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map"]);
    assert.equal(viaBerth.stdout.trim().split(/\s+/).join(" "), "0 0 4294967295", viaBerth.stderr);
    const insp = await d.docker(["inspect", "-f", "{{.HostConfig.UsernsMode}}", "keep"]);
    assert.equal(insp.stdout.trim(), "");
  });

  it("networks: a published port, names on a user network and container: mode work in user-namespaced network namespaces", async () => {
    assert.equal((await d.docker(["network", "create", "usernet"])).code, 0);
    const web = await d.docker(["run", "-d", "--name", "web", "--network", "usernet", "-p", `127.0.0.1:${PORT}:80`, "busybox", "sh", "-c", "echo hello-userns > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]);
    assert.equal(web.code, 0, web.stderr);
    let body = "";
    assert.ok(
      await until(async () => {
        body = await httpGet(PORT).catch(() => "");
        return body !== "";
      }, 5000),
      "the published port answers",
    );
    assert.equal(body.trim(), "hello-userns");
    const byName = await d.docker(["run", "--rm", "--network", "usernet", "busybox", "wget", "-qO-", "http://web/index.html"]);
    assert.equal(byName.code, 0, byName.stderr);
    assert.equal(byName.stdout.trim(), "hello-userns");
    // Sharing web's network namespace means sharing its user namespace too.
    const peer = await d.docker(["run", "-d", "--name", "peer", "--network", "container:web", "busybox", "sleep", "300"]);
    assert.equal(peer.code, 0, peer.stderr);
    const local = await d.docker(["exec", "peer", "wget", "-qO-", "http://127.0.0.1/index.html"]);
    assert.equal(local.stdout.trim(), "hello-userns", local.stderr);
    const [a, b] = await Promise.all(["web", "peer"].map(async (c) => {
      const pid = (await d.docker(["inspect", "-f", "{{.State.Pid}}", c])).stdout.trim();
      return fs.readlink(`/proc/${pid}/ns/user`);
    }));
    assert.equal(a, b);
    assert.notEqual(a, await fs.readlink("/proc/self/ns/user"));
  });

  it("docker cp and commit see container ids; the host sees mapped ones", async () => {
    const prep = await d.docker(["exec", "keep", "sh", "-c", "mkdir -p /data && echo x > /data/f && chown 1000:50 /data/f"]);
    assert.equal(prep.code, 0, prep.stderr);
    const id = (await d.docker(["inspect", "-f", "{{.Id}}", "keep"])).stdout.trim();
    const upper = path.join(store, "image", "snapshots", id, "upper");
    const st = await fs.stat(path.join(upper, "data", "f"));
    assert.equal(`${st.uid}:${st.gid}`, `${uidStart + 1000}:${gidStart + 50}`);

    const out = await tarOwners(await dockerBytes(d, ["cp", "keep:/data", "-"]));
    assert.equal(out.get("data/f"), "1000/50");
    assert.equal(out.get("data"), "0/0");

    const src = path.join(d.dir, "in.txt");
    await fs.writeFile(src, "in\n");
    await fs.chown(src, 0, 0);
    assert.equal((await d.docker(["cp", src, "keep:/in.txt"])).code, 0);
    const inSt = await fs.stat(path.join(upper, "in.txt"));
    assert.equal(`${inSt.uid}:${inSt.gid}`, `${uidStart}:${gidStart}`);
    const seen = await d.docker(["exec", "keep", "stat", "-c", "%u:%g", "/in.txt"]);
    assert.equal(seen.stdout.trim(), "0:0");

    const commit = await d.docker(["commit", "keep", "userns-commit"]);
    assert.equal(commit.code, 0, commit.stderr);
    const saved = path.join(d.dir, "saved");
    await fs.mkdir(saved);
    await fs.writeFile(path.join(saved, "img.tar"), await dockerBytes(d, ["save", "userns-commit"]));
    assert.equal((await run("tar", ["-xf", path.join(saved, "img.tar"), "-C", saved])).code, 0);
    const manifest = JSON.parse(await fs.readFile(path.join(saved, "manifest.json"), "utf8")) as { Layers: string[] }[];
    const top = manifest[0]?.Layers.at(-1) as string;
    const owners = await tarOwners(await fs.readFile(path.join(saved, top)));
    assert.equal(owners.get("data/f"), "1000/50", "the committed layer carries container ids");
    assert.equal(owners.get("in.txt"), "0/0");
    for (const [name, owner] of owners) assert.ok(!owner.startsWith(String(uidStart)), `${name} leaked a host id (${owner})`);
  });

  it("pushes a remapped daemon's image with container ids; a plain daemon pulls the same image and sees the same owners", async () => {
    const reg = await startRegistry({ addr: "127.0.0.1:0", root: path.join(d.dir, "registry") });
    const plain = new Daemon();
    try {
      const ref = `${reg.addr}/userns/commit:1`;
      assert.equal((await d.docker(["tag", "userns-commit", ref])).code, 0);
      const push = await d.docker(["push", ref]);
      assert.equal(push.code, 0, push.stderr);
      await plain.start();
      const pull = await plain.docker(["pull", ref]);
      assert.equal(pull.code, 0, pull.stderr);
      const id = async (x: Daemon): Promise<string> => (await x.docker(["image", "inspect", "-f", "{{.Id}}", ref])).stdout.trim();
      assert.equal(await id(plain), await id(d));
      const owners = await plain.docker(["run", "--rm", ref, "stat", "-c", "%u:%g", "/data/f", "/in.txt"]);
      assert.deepEqual(owners.stdout.trim().split("\n"), ["1000:50", "0:0"], owners.stderr);
    } finally {
      await plain.destroy();
      await new Promise<void>((r) => reg.server.close(() => r()));
    }
  });

  it("volumes belong to the container's root; docker build runs RUN in the user namespace and keeps container ids in its layers", async () => {
    const vol = await d.docker(["run", "--rm", "-v", "uvol:/v", "busybox", "sh", "-c", "touch /v/a && stat -c %u:%g /v /v/a"]);
    assert.equal(vol.code, 0, vol.stderr);
    assert.deepEqual(vol.stdout.trim().split("\n"), ["0:0", "0:0"]);
    const data = path.join(store, "volumes", "uvol", "_data");
    const vs = await fs.stat(path.join(data, "a"));
    assert.equal(`${vs.uid}:${vs.gid}`, `${uidStart}:${gidStart}`);
    assert.equal((await d.docker(["volume", "rm", "uvol"])).code, 0);
    // A bind source that does not exist yet is created for the container's root, as dockerd does.
    const src = path.join(d.dir, "new-bind-source");
    const bind = await d.docker(["run", "--rm", "-v", `${src}:/b`, "busybox", "touch", "/b/x"]);
    assert.equal(bind.code, 0, bind.stderr);
    const bs = await fs.stat(path.join(src, "x"));
    assert.equal(`${bs.uid}:${bs.gid}`, `${uidStart}:${gidStart}`);

    const ctx = path.join(d.dir, "ctx");
    await fs.mkdir(ctx);
    await fs.writeFile(path.join(ctx, "f.txt"), "from context\n");
    await fs.writeFile(
      path.join(ctx, "Dockerfile"),
      "FROM busybox\nRUN mkdir /app && cat /proc/self/uid_map > /app/map && echo x > /app/x && chown 123:456 /app/x\nCOPY f.txt /app/\n",
    );
    const b = await d.docker(["build", "-q", "-t", "userns-built", ctx]);
    assert.equal(b.code, 0, b.stderr);
    const map = await d.docker(["run", "--rm", "userns-built", "sh", "-c", "cat /app/map; stat -c %u:%g /app/x /app/f.txt"]);
    const lines = map.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/).join(" "));
    assert.deepEqual(lines, [`0 ${uidStart} 65536`, "123:456", "0:0"]);
    const saved = path.join(d.dir, "saved-build");
    await fs.mkdir(saved);
    await fs.writeFile(path.join(saved, "img.tar"), await dockerBytes(d, ["save", "userns-built"]));
    assert.equal((await run("tar", ["-xf", path.join(saved, "img.tar"), "-C", saved])).code, 0);
    const manifest = JSON.parse(await fs.readFile(path.join(saved, "manifest.json"), "utf8")) as { Layers: string[] }[];
    const all = new Map<string, string>();
    for (const l of manifest[0]?.Layers.slice(1) ?? []) for (const [k, v] of await tarOwners(await fs.readFile(path.join(saved, l)))) all.set(k, v);
    assert.equal(all.get("app/x"), "123/456");
    assert.equal(all.get("app/f.txt"), "0/0");
  });

  it("a remapped data root below a directory the remapped root cannot pass is refused at start", async () => {
    const bad = new Daemon();
    try {
      await fs.chmod(bad.dir, 0o700);
      await assert.rejects(bad.start(["--userns-remap", "default"]), /restricts access to the remapped root uid\/gid/);
    } finally {
      await bad.stop();
      await fs.rm(bad.dir, { recursive: true, force: true });
    }
  });
});
