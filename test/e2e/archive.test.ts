/**
 * Container filesystem operations with the real docker CLI against berthd:
 * `docker cp` both ways (files, directories, stopped and running containers,
 * errors), hostile archives and hostile symlinks that must never reach the host,
 * `docker export`, `docker diff` and `docker commit`.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, promises as fs } from "node:fs";
import http from "node:http";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { extract as tarExtract, pack as tarPack, type Header } from "tar-stream";
import { DOCKER, Daemon, leftovers } from "./harness.js";

async function buildTar(entries: (Partial<Header> & { name: string; body?: string })[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p as unknown as AsyncIterable<Buffer>) chunks.push(c);
  })();
  for (const e of entries) {
    const { body, ...h } = e;
    await new Promise<void>((resolve, reject) => p.entry(h as Header, body ?? "", (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

interface TarEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname: string;
  body: string;
}

async function parseTar(buf: Buffer): Promise<TarEntry[]> {
  const ex = tarExtract();
  const out: TarEntry[] = [];
  const done = (async () => {
    for await (const e of ex as unknown as AsyncIterable<AsyncIterable<Buffer> & { header: Header }>) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c);
      const h = e.header;
      out.push({ name: h.name, type: h.type ?? "", mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, linkname: h.linkname ?? "", body: Buffer.concat(chunks).toString() });
    }
  })();
  ex.end(buf);
  await done;
  return out;
}

function head(sock: string, urlPath: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: urlPath, method: "HEAD" }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("docker cp, export, diff and commit against berthd", () => {
  const d = new Daemon();
  const local = mkdtempSync("/tmp/berth-cp-");
  const ok = async (args: string[], input?: Buffer | string) => {
    const r = await d.docker(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  /** `docker cp CONTAINER:PATH -`: the archive's entries (the tests read the container this way, not with exec). */
  const cpOut = async (src: string): Promise<TarEntry[]> => {
    const child = spawn(DOCKER, ["cp", src, "-"], { env: d.env, stdio: ["ignore", "pipe", "pipe"] });
    const chunks: Buffer[] = [];
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => chunks.push(b));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 1)));
    assert.equal(code, 0, `docker cp ${src} -: ${stderr}`);
    return parseTar(Buffer.concat(chunks));
  };
  const cat = async (src: string): Promise<string> => {
    const [e] = await cpOut(src);
    return e?.body ?? "";
  };
  /** `docker cp - CONTAINER:DIR` with an archive built here. */
  const cpIn = async (dest: string, entries: (Partial<Header> & { name: string; body?: string })[]) => ok(["cp", "-", dest], await buildTar(entries));

  before(async () => {
    await d.start();
    await d.loadBusybox();
  });
  after(async () => {
    await d.destroy();
    await fs.rm(local, { recursive: true, force: true });
  });

  it("copies a file into a container and back, keeping content and mode", async () => {
    await ok(["run", "-d", "--name", "f1", "busybox", "sleep", "300"]);
    const src = path.join(local, "in.txt");
    await fs.writeFile(src, "hello from the host\n");
    await fs.chmod(src, 0o751);
    await ok(["cp", src, "f1:/tmp/"]);
    await ok(["cp", src, "f1:/renamed.txt"]);
    const [inTmp] = await cpOut("f1:/tmp/in.txt");
    assert.equal(inTmp?.body, "hello from the host\n");
    assert.equal(inTmp?.mode, 0o751);
    assert.equal(await cat("f1:/renamed.txt"), "hello from the host\n");
    const back = path.join(local, "back.txt");
    await ok(["cp", "f1:/renamed.txt", back]);
    assert.equal(await fs.readFile(back, "utf8"), "hello from the host\n");
    assert.equal((await fs.stat(back)).mode & 0o777, 0o751);
  });

  it("copies directories both ways, with dir/. copying the contents", async () => {
    const src = path.join(local, "tree");
    await fs.mkdir(path.join(src, "sub"), { recursive: true });
    await fs.writeFile(path.join(src, "a"), "A");
    await fs.writeFile(path.join(src, "sub", "b"), "B");
    await ok(["cp", src, "f1:/newtree"]);
    await ok(["cp", src, "f1:/tmp"]);
    await ok(["cp", `${src}/.`, "f1:/root"]);
    const got = await Promise.all(["f1:/newtree/a", "f1:/newtree/sub/b", "f1:/tmp/tree/sub/b", "f1:/root/a", "f1:/root/sub/b"].map(cat));
    assert.equal(got.join(""), "ABBAB");
    const out = path.join(local, "out");
    await fs.mkdir(out);
    await ok(["cp", "f1:/newtree", out]);
    await ok(["cp", "f1:/newtree/.", path.join(out, "contents")]);
    assert.equal(await fs.readFile(path.join(out, "newtree", "sub", "b"), "utf8"), "B");
    assert.equal(await fs.readFile(path.join(out, "contents", "a"), "utf8"), "A");
    assert.equal(existsSync(path.join(out, "contents", "newtree")), false);
  });

  it("copies with -a as the container's user", async () => {
    await ok(["run", "-d", "--name", "u1", "-u", "1000:1000", "busybox", "sleep", "300"]);
    await ok(["cp", "-a", path.join(local, "tree"), "u1:/tmp/"]);
    const owners = (await cpOut("u1:/tmp/tree")).map((e) => `${e.name} ${e.uid}:${e.gid}`);
    assert.deepEqual(owners, ["tree/ 1000:1000", "tree/a 1000:1000", "tree/sub/ 1000:1000", "tree/sub/b 1000:1000"]);
    await ok(["rm", "-f", "u1"]);
  });

  it("copies in and out of a stopped container", async () => {
    await ok(["run", "--name", "s1", "busybox", "sh", "-c", "echo stopped-data > /data.txt"]);
    const out = path.join(local, "stopped.txt");
    await ok(["cp", "s1:/data.txt", out]);
    assert.equal(await fs.readFile(out, "utf8"), "stopped-data\n");
    await ok(["cp", path.join(local, "in.txt"), "s1:/etc/"]);
    assert.equal(await cat("s1:/etc/in.txt"), "hello from the host\n");
    assert.deepEqual((await leftovers(d)).mounts.filter((m) => m.includes("/archive/")), []);
  });

  it("shows the container's own /etc/hosts, as bind-mounted", async () => {
    const [hosts] = await cpOut("f1:/etc/hosts");
    assert.equal(hosts?.name, "hosts");
    assert.match(hosts?.body ?? "", /127\.0\.0\.1\tlocalhost/);
  });

  it("answers Docker's errors for missing paths", async () => {
    const r = await d.docker(["cp", "f1:/no/such/file", path.join(local, "x")]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), "Error response from daemon: Could not find the file /no/such/file in container f1");
    // The CLI extracts into the parent of a destination that does not exist.
    const r2 = await d.docker(["cp", path.join(local, "in.txt"), "f1:/no/such/file"]);
    assert.equal(r2.code, 1);
    assert.equal(r2.stderr.trim(), "Error response from daemon: Could not find the file /no/such in container f1");
    const h = await head(d.sock, "/v1.47/containers/f1/archive?path=/nope");
    assert.equal(h.status, 404);
    const r3 = await d.docker(["cp", "nosuch:/etc/passwd", "-"]);
    assert.match(r3.stderr, /No such container: nosuch/);
  });

  it("reports Docker's path stat (Go file mode bits, resolved link target)", async () => {
    await cpIn("f1:/", [{ name: "bb", type: "symlink", linkname: "/../../bin/busybox" }]);
    const dir = await head(d.sock, "/v1.47/containers/f1/archive?path=/tmp");
    assert.equal(dir.status, 200);
    const st = JSON.parse(Buffer.from(String(dir.headers["x-docker-container-path-stat"]), "base64").toString()) as Record<string, unknown>;
    assert.equal(st["name"], "tmp");
    assert.equal(st["mode"], 2 ** 31 + 2 ** 20 + 0o777); // ModeDir | ModeSticky | 0777
    assert.match(String(st["mtime"]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/);
    const link = await head(d.sock, "/v1.47/containers/f1/archive?path=/bb");
    const ls = JSON.parse(Buffer.from(String(link.headers["x-docker-container-path-stat"]), "base64").toString()) as Record<string, unknown>;
    assert.equal(ls["mode"], 2 ** 27 + 0o777);
    assert.equal(ls["linkTarget"], "/bin/busybox");
  });

  it("refuses hostile archives and writes nothing outside the container", async () => {
    const hostDir = mkdtempSync("/tmp/berth-hostile-");
    try {
      await cpIn("f1:/", [{ name: "drop", type: "directory", mode: 0o755 }]);
      const cases = [
        [{ name: `../../../../../../../../../..${hostDir}/dotdot`, body: "pwn" }],
        [{ name: `${hostDir}/absolute`, body: "pwn" }],
        [
          { name: "lnk", type: "symlink" as const, linkname: hostDir },
          { name: "lnk/through", body: "pwn" },
        ],
      ];
      for (const entries of cases) {
        const r = await d.docker(["cp", "-", "f1:/drop"], { input: await buildTar(entries) });
        assert.notEqual(r.code, 0, `accepted ${entries.map((e) => e.name).join(", ")}`);
        assert.match(r.stderr, /Error response from daemon: /);
      }
      assert.deepEqual(await fs.readdir(hostDir), []);
      // A container symlink to /etc is the container's /etc, never the host's.
      await cpIn("f1:/", [{ name: "evil", type: "symlink", linkname: "/etc" }]);
      const marker = `berth-${randomBytes(4).toString("hex")}`;
      await fs.writeFile(path.join(local, marker), "x");
      await ok(["cp", path.join(local, marker), "f1:/evil/"]);
      assert.equal(existsSync(`/etc/${marker}`), false);
      assert.equal(await cat(`f1:/etc/${marker}`), "x");
    } finally {
      await fs.rm(hostDir, { recursive: true, force: true });
    }
  });

  it("reads through container symlinks to / and /.. inside the container only", async () => {
    const passwd = `${await cat("f1:/etc/passwd")}container-passwd-marker\n`;
    await cpIn("f1:/", [
      { name: "etc/passwd", body: passwd, mode: 0o644 },
      { name: "l", type: "symlink", linkname: "/../../../../etc" },
      { name: "r", type: "symlink", linkname: "/" },
    ]);
    for (const p of ["/l/passwd", "/r/../../etc/passwd", "/r/r/etc/passwd"]) {
      assert.equal(await cat(`f1:${p}`), passwd, `${p} did not give the container's /etc/passwd`);
    }
    const out = path.join(local, "passwd-out");
    await ok(["cp", "-L", "f1:/l/passwd", out]);
    assert.match(await fs.readFile(out, "utf8"), /container-passwd-marker/);
  });

  it("never follows a symlink a running container swaps in meanwhile", async () => {
    const hostDir = mkdtempSync("/tmp/berth-race-");
    const secret = `HOST-SECRET-${randomBytes(6).toString("hex")}`;
    await fs.writeFile(path.join(hostDir, "secret"), secret);
    const sink = path.join(hostDir, "sink");
    await fs.mkdir(sink);
    try {
      // /x/d flips between a real directory and a symlink to a host path as fast as the container can.
      const loop = `mkdir -p /x; while :; do rm -rf /x/d; mkdir /x/d; echo container > /x/d/secret; rm -rf /x/d; ln -s ${hostDir} /x/d; rm -f /x/d; ln -s ${sink} /x/d; done`;
      await ok(["run", "-d", "--name", "race", "busybox", "sh", "-c", loop]);
      for (let i = 0; i < 8; i++) {
        const r = await d.docker(["cp", "race:/x", "-"]);
        assert.ok(!r.stdout.includes(secret), "host file leaked through a swapped symlink");
        const r2 = await d.docker(["cp", "race:/x/d/secret", "-"]);
        assert.ok(!r2.stdout.includes(secret), "host file leaked through a swapped symlink");
        await d.docker(["cp", "-", "race:/x"], { input: await buildTar([{ name: "d/pwned", body: "pwn" }]) });
        await d.docker(["cp", "-", "race:/x/d"], { input: await buildTar([{ name: "pwned", body: "pwn" }]) });
      }
      assert.deepEqual(await fs.readdir(sink), []);
      assert.deepEqual((await fs.readdir(hostDir)).sort(), ["secret", "sink"]);
      assert.equal(await ok(["inspect", "-f", "{{.State.Status}}", "race"]), "running\n");
    } finally {
      await d.docker(["rm", "-f", "race"]);
      await fs.rm(hostDir, { recursive: true, force: true });
    }
  });

  it("freezes a running container while extracting into it, so a symlink it swaps in is never written through", async () => {
    const sink = mkdtempSync("/tmp/berth-sink-");
    try {
      // Whenever a real directory /x/d appears, the container replaces it with a symlink to a host path.
      const loop = `mkdir /x; while :; do if [ -d /x/d ] && [ ! -L /x/d ]; then mv /x/d /x/d.old && ln -s ${sink} /x/d; fi; done`;
      await ok(["run", "-d", "--name", "swapper", "busybox", "sh", "-c", loop]);
      // The archive arrives in two parts: the directory d, then (after the container had
      // plenty of time to swap it) a file inside it.
      const tar = await buildTar([
        { name: "d", type: "directory", mode: 0o755 },
        { name: "d/pwned", body: "pwn" },
      ]);
      const child = spawn(DOCKER, ["cp", "-", "swapper:/x"], { env: d.env, stdio: ["pipe", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
      child.stdin.write(tar.subarray(0, 512));
      await new Promise((r) => setTimeout(r, 800));
      child.stdin.end(tar.subarray(512));
      assert.equal(await exited, 0, stderr);
      assert.deepEqual(await fs.readdir(sink), []);
      assert.equal(await cat("swapper:/x/d.old/pwned"), "pwn");
    } finally {
      await d.docker(["rm", "-f", "swapper"]);
      await fs.rm(sink, { recursive: true, force: true });
    }
  });

  it("exports the whole filesystem as a flat tar", async () => {
    const tar = await d.docker(["export", "f1"]);
    assert.equal(tar.code, 0, tar.stderr);
    const r = await d.docker(["export", "-o", path.join(local, "f1.tar"), "f1"]);
    assert.equal(r.code, 0, r.stderr);
    const { execFileSync } = await import("node:child_process");
    const names = execFileSync("tar", ["tf", path.join(local, "f1.tar")]).toString().split("\n");
    assert.ok(names.includes("bin/busybox"));
    assert.ok(names.includes("renamed.txt"));
    assert.ok(!names.some((n) => n.startsWith("/") || n.startsWith("./") || n.includes(".wh.")));
  });

  it("shows added, changed and deleted files in docker diff", async () => {
    await ok(["run", "--name", "df", "busybox", "sh", "-c", "touch /added; echo more >> /etc/group; rm /bin/ls; mkdir -p /newdir/sub"]);
    const out = await ok(["diff", "df"]);
    assert.deepEqual(out.trim().split("\n"), ["A /added", "C /bin", "D /bin/ls", "C /etc", "C /etc/group", "A /newdir", "A /newdir/sub"]);
    await ok(["create", "--name", "fresh", "busybox", "true"]);
    assert.equal(await ok(["diff", "fresh"]), "");
  });

  it("commits a container into an image that runs, keeps CMD, and takes -c changes", async () => {
    await ok(["run", "--name", "cm", "busybox", "sh", "-c", "echo committed > /newfile; rm /bin/ls"]);
    const id = (await ok(["commit", "-m", "msg", "-a", "me", "cm", "cmimg:v1"])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await ok(["run", "--rm", "cmimg:v1", "cat", "/newfile"]), "committed\n");
    assert.equal((await d.docker(["run", "--rm", "cmimg:v1", "ls", "/bin/ls"])).code !== 0, true);
    // The original CMD is kept: running the image with no command repeats it.
    assert.equal(await ok(["image", "inspect", "-f", "{{json .Config.Cmd}} {{.Comment}} {{.Author}} {{len .RootFS.Layers}}", "cmimg:v1"]), '["sh","-c","echo committed > /newfile; rm /bin/ls"] msg me 2\n');
    await ok(["commit", "-c", 'CMD ["echo","x"]', "cm", "cmimg:cmd"]);
    assert.equal(await ok(["run", "--rm", "cmimg:cmd"]), "x\n");
    // A container of the committed image diffs against both layers.
    await ok(["run", "--name", "cm2", "cmimg:v1", "rm", "/newfile"]);
    assert.equal(await ok(["diff", "cm2"]), "D /newfile\n");
  });

  it("pauses a running container while committing it", async () => {
    await cpIn("f1:/", [{ name: "live", body: "" }]);
    const since = Math.floor(Date.now() / 1000) - 1;
    await ok(["commit", "f1", "live:1"]);
    const ev = await ok(["events", "--since", String(since), "--until", "0s", "--filter", "container=f1", "--format", "{{.Action}}"]);
    assert.deepEqual(ev.trim().split("\n").filter((a) => ["pause", "unpause", "commit"].includes(a)), ["pause", "unpause", "commit"]);
    assert.equal(await ok(["inspect", "-f", "{{.State.Status}}", "f1"]), "running\n");
    assert.equal(await ok(["run", "--rm", "live:1", "ls", "/live"]), "/live\n");
  });

  it("leaves no mounts behind", async () => {
    await ok(["rm", "-f", "f1"]);
    const left = await leftovers(d);
    assert.deepEqual(left.mounts, []);
    assert.deepEqual(await fs.readdir(path.join(d.execRoot, "archive")), []);
  });
});
