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
import { DOCKER, leftovers, until, withDaemon } from "./harness.js";

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
  const d = withDaemon();
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

  after(async () => {
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
    assert.equal(r.stderr.trim(), "Error response from daemon: Could not find the file /no/such/file in container f1"); // reference: dockerd 20.10
    // The CLI extracts into the parent of a destination that does not exist.
    const r2 = await d.docker(["cp", path.join(local, "in.txt"), "f1:/no/such/file"]);
    assert.equal(r2.code, 1);
    assert.equal(r2.stderr.trim(), "Error response from daemon: Could not find the file /no/such in container f1"); // reference: dockerd 20.10
    const h = await head(d.sock, "/v1.47/containers/f1/archive?path=/nope");
    assert.equal(h.status, 404); // reference: dockerd 20.10
    const r3 = await d.docker(["cp", "nosuch:/etc/passwd", "-"]);
    assert.match(r3.stderr, /No such container: nosuch/); // reference: dockerd 20.10
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
    assert.equal(ls["linkTarget"], "/bin/busybox"); // reference: dockerd 20.10 (name, mode and linkTarget above too)
  });

  it("refuses hostile archives and writes nothing outside the container", async () => {
    const hostDir = mkdtempSync("/tmp/berth-hostile-");
    try {
      await cpIn("f1:/", [{ name: "drop", type: "directory", mode: 0o755 }]);
      const cases = [
        [{ name: `../../../../../../../../../..${hostDir}/dotdot`, body: "pwn" }],
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
      // An absolute name is read from the destination, as dockerd's Untar does (reference: dockerd 20.10 writes it there).
      await cpIn("f1:/drop", [{ name: `${hostDir}/absolute`, body: "in" }]);
      assert.equal(await cat(`f1:/drop${hostDir}/absolute`), "in");
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
    // reference: dockerd 20.10 gives these same lines, in an order that changes from call to call (Go map order); Berth sorts by path.
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
    assert.equal(await ok(["image", "inspect", "-f", "{{json .Config.Cmd}} {{.Comment}} {{.Author}} {{len .RootFS.Layers}}", "cmimg:v1"]), '["sh","-c","echo committed > /newfile; rm /bin/ls"] msg me 2\n'); // reference: dockerd 20.10
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
    assert.deepEqual(ev.trim().split("\n").filter((a) => ["pause", "unpause", "commit"].includes(a)), ["pause", "commit", "unpause"]); // reference: dockerd 20.10
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

describe("docker cp through volumes and bind mounts, as the container sees them", () => {
  const d = withDaemon({
    prepare: async () => {
      await fs.mkdir(hostBind);
      await fs.mkdir(hostMount);
      await fs.writeFile(path.join(hostBind, "from-host"), "host side\n");
    },
  });
  const local = mkdtempSync("/tmp/berth-cpvol-");
  const hostBind = path.join(local, "bind");
  const hostMount = path.join(local, "mount");
  const ok = async (args: string[], input?: Buffer | string) => {
    const r = await d.docker(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `docker ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const fails = async (args: string[], input?: Buffer | string) => {
    const r = await d.docker(args, input === undefined ? {} : { input });
    assert.notEqual(r.code, 0, `docker ${args.join(" ")} succeeded: ${r.stdout}`);
    return r.stderr.trim();
  };
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
  const cat = async (src: string): Promise<string> => (await cpOut(src))[0]?.body ?? "";
  const cpIn = async (dest: string, entries: (Partial<Header> & { name: string; body?: string })[]) => ok(["cp", "-", dest], await buildTar(entries));
  const upper = async (ctr: string) => path.join(d.dataRoot, "image", "snapshots", (await ok(["inspect", "-f", "{{.Id}}", ctr])).trim(), "upper");
  const volData = (name: string) => path.join(d.dataRoot, "volumes", name, "_data");
  /** Mount points under the daemon's directories (overlays of running containers, volume tmpfs…). */
  const mountsNow = async () => (await leftovers(d)).mounts.sort();
  /** The mount table comes back to baseline (the CLI may exit before the daemon has released a stopped container's mounts). */
  const backTo = async (baseline: string[]) => {
    await until(async () => JSON.stringify(await mountsNow()) === JSON.stringify(baseline), 5000);
    assert.deepEqual(await mountsNow(), baseline, "mounts left behind");
  };

  before(async () => {
    await ok(["volume", "create", "named"]);
  });
  after(async () => {
    await fs.rm(local, { recursive: true, force: true });
  });

  it("reads and writes a named volume, a -v bind and a --mount bind of a running container", async () => {
    await ok([
      "run", "-d", "--name", "live", "-v", "named:/data", "-v", `${hostBind}:/hb`, "--mount", `type=bind,source=${hostMount},target=/srv/m`,
      "busybox", "sh", "-c", "echo from-container > /data/inside; echo m > /srv/m/inside; sleep 300",
    ]);
    const baseline = await mountsNow();
    assert.equal(await cat("live:/data/inside"), "from-container\n");
    assert.equal(await cat("live:/hb/from-host"), "host side\n");
    assert.equal(await cat("live:/srv/m/inside"), "m\n");
    // A directory of the volume, as the container has it.
    assert.deepEqual((await cpOut("live:/data")).map((e) => e.name), ["data/", "data/inside"]);

    await cpIn("live:/data", [{ name: "copied", body: "into the volume\n" }]);
    await cpIn("live:/hb", [{ name: "copied", body: "into the bind\n" }]);
    await cpIn("live:/srv/m/", [{ name: "copied", body: "into the mount\n" }]);
    // The container sees it, the volume and the host directories hold it, the overlay does not.
    assert.equal(await ok(["exec", "live", "cat", "/data/copied", "/hb/copied", "/srv/m/copied"]), "into the volume\ninto the bind\ninto the mount\n");
    assert.equal(await fs.readFile(path.join(volData("named"), "copied"), "utf8"), "into the volume\n");
    assert.equal(await fs.readFile(path.join(hostBind, "copied"), "utf8"), "into the bind\n");
    assert.equal(await fs.readFile(path.join(hostMount, "copied"), "utf8"), "into the mount\n");
    const up = await upper("live");
    for (const p of ["data/copied", "hb/copied", "srv/m/copied"]) assert.equal(existsSync(path.join(up, p)), false, `${p} went into the overlay`);

    // A tar copied into / reaches into the volume, as it would for the container.
    await cpIn("live:/", [{ name: "data/via-root", body: "v\n" }]);
    assert.equal(await fs.readFile(path.join(volData("named"), "via-root"), "utf8"), "v\n");

    // The path stat (HEAD) is the volume's own directory.
    const h = await head(d.sock, "/v1.47/containers/live/archive?path=/data");
    assert.equal(h.status, 200);
    const st = JSON.parse(Buffer.from(String(h.headers["x-docker-container-path-stat"]), "base64").toString()) as Record<string, unknown>;
    assert.equal(st["name"], "data");
    assert.equal(Number(st["mode"]) & 0o777, (await fs.stat(volData("named"))).mode & 0o777);
    await backTo(baseline);
  });

  it("reads and writes the volumes and binds of a stopped container", async () => {
    await ok(["stop", "-t", "0", "live"]);
    const baseline = await mountsNow();
    assert.equal(await cat("live:/data/copied"), "into the volume\n");
    assert.equal(await cat("live:/hb/from-host"), "host side\n");
    await cpIn("live:/data", [{ name: "while-stopped", body: "s\n" }]);
    await cpIn("live:/srv/m", [{ name: "while-stopped", body: "s\n" }]);
    assert.equal(await fs.readFile(path.join(volData("named"), "while-stopped"), "utf8"), "s\n");
    assert.equal(await fs.readFile(path.join(hostMount, "while-stopped"), "utf8"), "s\n");
    assert.equal(existsSync(path.join(await upper("live"), "data", "while-stopped")), false);
    await backTo(baseline);
    await ok(["start", "live"]);
    assert.equal(await ok(["exec", "live", "cat", "/data/while-stopped", "/srv/m/while-stopped"]), "s\ns\n");
  });

  it("sees an image VOLUME's anonymous volume, populated from the image, before the first start too", async () => {
    await ok(["run", "--name", "seeder", "busybox", "sh", "-c", "mkdir /vol && echo seeded > /vol/seed"]);
    await ok(["commit", "-c", "VOLUME /vol", "seeder", "withvol:1"]);
    await ok(["create", "--name", "anon", "withvol:1", "sh", "-c", "cat /vol/seed /vol/added; sleep 300"]);
    const vol = (await ok(["inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon"])).trim();
    assert.match(vol, /^[0-9a-f]{64}$/);
    assert.equal(await cat("anon:/vol/seed"), "seeded\n");
    await cpIn("anon:/vol", [{ name: "added", body: "added before start\n" }]);
    assert.equal(await fs.readFile(path.join(volData(vol), "added"), "utf8"), "added before start\n");
    await ok(["start", "anon"]);
    assert.equal(await ok(["exec", "anon", "cat", "/vol/seed", "/vol/added"]), "seeded\nadded before start\n");
    await cpIn("anon:/vol", [{ name: "added-live", body: "l\n" }]);
    assert.equal(await ok(["exec", "anon", "cat", "/vol/added-live"]), "l\n");
  });

  it("refuses to copy into a read-only volume or bind (Docker's message) and still reads them", async () => {
    await ok(["run", "-d", "--name", "ro", "-v", "named:/ro:ro", "-v", `${hostBind}:/robind:ro`, "-v", "named:/rw", "busybox", "sleep", "300"]);
    for (const dest of ["ro:/ro", "ro:/ro/", "ro:/robind"]) {
      const err = await fails(["cp", "-", dest], await buildTar([{ name: "nope", body: "x" }]));
      assert.equal(err, "Error response from daemon: mounted volume is marked read-only"); // reference: dockerd 20.10
    }
    assert.equal(existsSync(path.join(volData("named"), "nope")), false);
    assert.equal(existsSync(path.join(hostBind, "nope")), false);
    assert.equal(await cat("ro:/ro/copied"), "into the volume\n");
    assert.equal(await cat("ro:/robind/from-host"), "host side\n");
    // The same volume mounted read-write elsewhere in the container takes writes.
    await cpIn("ro:/rw", [{ name: "rw-ok", body: "w" }]);
    assert.equal(await cat("ro:/ro/rw-ok"), "w");

    // A read-only root filesystem still takes copies into its writable volumes (Docker's checkWritablePath).
    await ok(["run", "-d", "--name", "rofs", "--read-only", "-v", "named:/w", "busybox", "sleep", "300"]);
    await cpIn("rofs:/w", [{ name: "into-rofs-volume", body: "w" }]);
    assert.equal(await fs.readFile(path.join(volData("named"), "into-rofs-volume"), "utf8"), "w");
    assert.equal(await fails(["cp", "-", "rofs:/tmp"], await buildTar([{ name: "nope", body: "x" }])), "Error response from daemon: container rootfs is marked read-only"); // reference: dockerd 20.10

    // A read-only mount inside a writable one stays read-only for a tar that reaches into it.
    await ok(["run", "-d", "--name", "nested", "-v", "named:/top", "-v", `${hostBind}:/top/inner:ro`, "busybox", "sleep", "300"]);
    const err = await fails(["cp", "-", "nested:/top"], await buildTar([{ name: "inner/sneaky", body: "x" }]));
    // reference: dockerd 20.10 (the path in the container, never the host's).
    assert.equal(err, "Error response from daemon: Error processing tar file(exit status 1): open /top/inner/sneaky: read-only file system");
    assert.equal(existsSync(path.join(hostBind, "sneaky")), false);
    assert.equal(await cat("nested:/top/inner/from-host"), "host side\n");
  });

  it("resolves symlinks inside a volume as the container does, never to the host", async () => {
    const hostDir = mkdtempSync("/tmp/berth-volesc-");
    try {
      const setup = [
        "ln -s /etc/passwd /data/pw",
        "ln -s ../../../../../.. /data/up",
        "ln -s /etc /data/etc-link",
        `ln -s ../../../../../../..${hostDir} /data/esc`,
        `mkdir -p ${hostDir}`,
        "echo container-marker >> /etc/passwd",
      ].join("; ");
      await ok(["exec", "live", "sh", "-c", setup]);
      // Out: the container's files, not the host's.
      const out = path.join(local, "pw-out");
      await ok(["cp", "-L", "live:/data/pw", out]);
      assert.match(await fs.readFile(out, "utf8"), /container-marker/);
      assert.equal((await cat("live:/data/up/etc/hostname")).trim(), (await ok(["inspect", "-f", "{{.Config.Hostname}}", "live"])).trim());
      const [link] = await cpOut("live:/data/pw");
      assert.equal(link?.type, "symlink");
      assert.equal(link?.linkname, "/etc/passwd");
      // In: through the volume's symlinks into the container's own directories.
      const marker = `berth-${randomBytes(4).toString("hex")}`;
      await cpIn("live:/data/etc-link/", [{ name: marker, body: "m" }]);
      await cpIn("live:/data/esc", [{ name: marker, body: "m" }]);
      await cpIn("live:/data/up/tmp", [{ name: marker, body: "m" }]);
      assert.equal(existsSync(`/etc/${marker}`), false);
      assert.equal(existsSync(`/tmp/${marker}`), false);
      assert.deepEqual(await fs.readdir(hostDir), []);
      assert.equal(await ok(["exec", "live", "cat", `/etc/${marker}`, `${hostDir}/${marker}`, `/tmp/${marker}`]), "mmm");
      // A hostile archive cannot write through a symlink it brings into a volume.
      const r = await d.docker(["cp", "-", "live:/data"], {
        input: await buildTar([
          { name: "lnk", type: "symlink", linkname: hostDir },
          { name: "lnk/through", body: "pwn" },
        ]),
      });
      assert.notEqual(r.code, 0);
      assert.deepEqual(await fs.readdir(hostDir), []);
    } finally {
      await fs.rm(hostDir, { recursive: true, force: true });
    }
  });

  it("does not show tmpfs mounts, as Docker does not (cp sees what is under them)", async () => {
    await ok(["run", "-d", "--name", "tm", "--tmpfs", "/t", "--mount", "type=tmpfs,target=/m", "busybox", "sh", "-c", "echo x > /t/f; echo y > /m/f; sleep 300"]);
    await until(async () => (await d.docker(["exec", "tm", "cat", "/m/f"])).code === 0, 5000);
    for (const p of ["/t/f", "/m/f"]) {
      const err = await fails(["cp", `tm:${p}`, "-"]);
      assert.equal(err, `Error response from daemon: Could not find the file ${p} in container tm`); // reference: dockerd 20.10
    }
  });

  it("mounts a tmpfs volume of a stopped container only for the copy", async () => {
    await ok(["volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", "tv"]);
    await ok(["create", "--name", "tvc", "-v", "tv:/t", "busybox", "true"]);
    const baseline = await mountsNow();
    await cpIn("tvc:/t", [{ name: "f", body: "x" }]);
    // Unmounted after the copy (Docker's local driver does the same): nobody uses it, it starts empty again.
    assert.deepEqual((await cpOut("tvc:/t")).map((e) => e.name), ["t/"]);
    await backTo(baseline);
  });

  it("exports the root filesystem without the volumes and binds, as Docker does", async () => {
    const tar = path.join(local, "live.tar");
    await ok(["export", "-o", tar, "live"]);
    const { execFileSync } = await import("node:child_process");
    const names = execFileSync("tar", ["tf", tar]).toString().split("\n");
    assert.ok(names.includes("bin/busybox"));
    assert.ok(names.includes("data/"), "the mount point itself is part of the root filesystem");
    for (const n of ["data/copied", "data/inside", "hb/from-host", "srv/m/inside"]) assert.ok(!names.includes(n), `${n} exported`);
  });

  it("sends volume mount and unmount events for the copy, and leaves nothing mounted", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    await cat("live:/data/inside");
    const ev = await ok(["events", "--since", String(since), "--until", "0s", "--filter", "type=volume", "--filter", "volume=named", "--format", "{{.Action}}"]);
    const actions = ev.trim().split("\n");
    assert.ok(actions.includes("mount") && actions.includes("unmount"), ev);
    await ok(["rm", "-f", "live", "anon", "ro", "rofs", "nested", "tm", "tvc", "seeder"]);
    await backTo([]);
    assert.deepEqual(await fs.readdir(path.join(d.execRoot, "archive")), []);
  });
});
