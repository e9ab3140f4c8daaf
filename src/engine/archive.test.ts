import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { Readable } from "node:stream";
import { ScopedRoot, extractCopy, goFileMode, overlayChanges, tarTree } from "../image/index.js";
import { isEngineError } from "../util/errors.js";
import { suiteDirs } from "../util/testfixtures.js";
import { buildTar, readTar as readTestTar } from "../util/testtar.js";
import { goBase, goClean, goTime, preserveTrailingDotOrSeparator } from "./archive.js";
import { buildCommitConfig } from "./commitconfig.js";
import type { ContainerConfig } from "./types.js";

const isRoot = process.getuid?.() === 0;
const rootOnly = isRoot ? false : "needs root (mknod, trusted.* xattrs, chown)";

/** A new empty directory for each call. */
const dir = suiteDirs("berth-archive-test-");

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  linkname: string | null;
  body: string;
}

/** The archive's entries, flattened to what these tests compare. */
async function readTar(stream: Readable): Promise<Entry[]> {
  return (await readTestTar(stream)).map(({ header: h, body }) => ({ name: h.name, type: h.type ?? "", mode: h.mode ?? 0, uid: h.uid ?? 0, linkname: h.linkname ?? null, body: body.toString() }));
}

/** A small container-like root: etc/passwd, and symlinks that try to climb out of it. */
async function makeRoot(): Promise<string> {
  const r = await dir();
  await fs.mkdir(path.join(r, "etc"));
  await fs.writeFile(path.join(r, "etc/passwd"), "container-passwd\n");
  await fs.mkdir(path.join(r, "d/e"), { recursive: true });
  await fs.symlink("/../../../../etc", path.join(r, "up"));
  await fs.symlink("../../../../../etc", path.join(r, "rel"));
  await fs.symlink("/", path.join(r, "slash"));
  await fs.symlink("/etc/passwd", path.join(r, "pw"));
  await fs.symlink("loop", path.join(r, "loop"));
  await fs.symlink("e/..", path.join(r, "d/back"));
  return r;
}

describe("Docker's path helpers", () => {
  it("takes base names like Go's filepath.Base", () => {
    assert.equal(goBase("/etc/passwd"), "passwd");
    assert.equal(goBase("/etc/"), "etc");
    assert.equal(goBase("/"), "/");
    assert.equal(goBase("///"), "/");
    assert.equal(goBase(""), ".");
    assert.equal(goBase("/d/."), ".");
    assert.equal(goBase("rel"), "rel");
  });

  it("cleans paths like Go's filepath.Clean, never above the root", () => {
    assert.equal(goClean("/a/./b/../c"), "/a/c");
    assert.equal(goClean("/../../x"), "/x");
    assert.equal(goClean("//"), "/");
  });

  it("keeps a trailing separator or /. as Docker's PreserveTrailingDotOrSeparator", () => {
    assert.equal(preserveTrailingDotOrSeparator("/d", "/d/."), "/d/.");
    assert.equal(preserveTrailingDotOrSeparator("/d", "d/"), "/d/");
    assert.equal(preserveTrailingDotOrSeparator("/", "/."), "/.");
    assert.equal(preserveTrailingDotOrSeparator("/", "/"), "/");
    assert.equal(preserveTrailingDotOrSeparator("/d", "/d"), "/d");
  });

  it("formats times like Go's time.Time JSON (RFC 3339, trimmed nanoseconds)", () => {
    const t = goTime(1_700_000_000_123_456_000n);
    assert.match(t, /^2023-11-1\dT\d\d:\d\d:20\.123456(Z|[+-]\d\d:\d\d)$/);
    assert.equal(Date.parse(t), 1_700_000_000_123);
    assert.match(goTime(1_700_000_000_000_000_000n), /:20(Z|[+-]\d\d:\d\d)$/);
  });
});

describe("ScopedRoot: container paths never leave the root", () => {
  it("follows a symlink to /../../../../etc to the container's own /etc", async () => {
    const r = await makeRoot();
    const root = ScopedRoot.open(r);
    try {
      for (const p of ["/up/passwd", "/rel/passwd", "/slash/etc/passwd", "/slash/../../etc/passwd", "/../../../etc/passwd"]) {
        const res = root.resolve(p, false);
        try {
          assert.deepEqual(res.parts, ["etc", "passwd"], p);
          assert.ok(res.stat?.isFile(), p);
          assert.equal(fss.readFileSync(`/proc/self/fd/${res.dirFd}/${res.name}`, "utf8"), "container-passwd\n");
        } finally {
          res.close();
        }
      }
    } finally {
      root.close();
    }
  });

  it("reports a final symlink unless asked to follow it, and resolves .. physically", async () => {
    const r = await makeRoot();
    const root = ScopedRoot.open(r);
    try {
      const a = root.resolve("/pw", false);
      assert.ok(a.stat?.isSymbolicLink());
      assert.deepEqual(a.parts, ["pw"]);
      a.close();
      const b = root.resolve("/pw", true);
      assert.deepEqual(b.parts, ["etc", "passwd"]);
      b.close();
      const c = root.resolve("/d/back/e", false);
      assert.deepEqual(c.parts, ["d", "e"]);
      c.close();
      const top = root.resolve("/slash", true);
      assert.deepEqual(top.parts, []);
      assert.equal(top.name, "");
      assert.ok(top.stat?.isDirectory());
      top.close();
    } finally {
      root.close();
    }
  });

  it("answers ENOENT, ENOTDIR and ELOOP like the kernel", async () => {
    const r = await makeRoot();
    const root = ScopedRoot.open(r);
    try {
      const missing = root.resolve("/etc/nope", false);
      assert.equal(missing.stat, undefined);
      assert.deepEqual(missing.parts, ["etc", "nope"]);
      missing.close();
      assert.throws(() => root.resolve("/nope/x", false), { code: "ENOENT" });
      assert.throws(() => root.resolve("/etc/passwd/x", false), { code: "ENOTDIR" });
      assert.throws(() => root.resolve("/loop/x", false), { code: "ELOOP" });
    } finally {
      root.close();
    }
  });

  it("evaluates link targets inside the root (Docker's FollowSymlinkInScope)", async () => {
    const r = await makeRoot();
    const root = ScopedRoot.open(r);
    try {
      assert.equal(root.evalSymlinks("/up"), "/etc");
      assert.equal(root.evalSymlinks("/pw"), "/etc/passwd");
      assert.equal(root.evalSymlinks("/slash/missing/../etc"), "/etc");
      assert.equal(root.evalSymlinks("/nothing/here"), "/nothing/here");
    } finally {
      root.close();
    }
  });

  it("gives Go's os.FileMode bits", async () => {
    const r = await makeRoot();
    await fs.chmod(path.join(r, "d"), 0o1755);
    await fs.chmod(path.join(r, "etc/passwd"), 0o4644);
    const st = (p: string) => fss.lstatSync(path.join(r, p), { bigint: true });
    assert.equal(goFileMode(st("d")), 2 ** 31 + 2 ** 20 + 0o755);
    assert.equal(goFileMode(st("pw")), 2 ** 27 + 0o777);
    assert.equal(goFileMode(st("etc/passwd")), 2 ** 23 + 0o644);
  });
});

describe("tarTree: archives of container paths", () => {
  it("names a directory's entries after the requested base name, with bind-mounted files substituted", async () => {
    const r = await makeRoot();
    await fs.writeFile(path.join(r, "d/e/f"), "f-data");
    await fs.link(path.join(r, "d/e/f"), path.join(r, "d/hard"));
    const hosts = path.join(await dir(), "hosts");
    await fs.writeFile(hosts, "127.0.0.1 localhost\n");
    const root = ScopedRoot.open(r);
    try {
      const entries = await readTar(tarTree(root.fd, "d", { includeTop: true, name: (rel) => (rel === "" ? "d" : `d/${rel}`), files: new Map([["hosts", hosts]]) }));
      assert.deepEqual(
        entries.map((e) => `${e.type} ${e.name}${e.linkname ? ` -> ${e.linkname}` : ""}`),
        ["directory d/", "symlink d/back -> e/..", "directory d/e/", "file d/e/f", "link d/hard -> d/e/f", "file d/hosts"],
      );
      assert.equal(entries.find((e) => e.name === "d/hosts")?.body, "127.0.0.1 localhost\n");
      assert.equal(entries.find((e) => e.name === "d/e/f")?.body, "f-data");
    } finally {
      root.close();
    }
  });

  it("keeps reading the directory it opened when a symlink to the outside is swapped in mid-archive", async () => {
    const r = await dir();
    const outside = await dir();
    await fs.mkdir(path.join(r, "z"));
    await fs.writeFile(path.join(r, "z/a"), Buffer.alloc(4 * 1024 * 1024, 1));
    await fs.writeFile(path.join(r, "z/b"), "inside");
    await fs.writeFile(path.join(outside, "b"), "OUTSIDE");
    const root = ScopedRoot.open(r);
    try {
      const stream = tarTree(root.fd, "", { name: (rel) => rel });
      const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      const chunks: Buffer[] = [];
      const first = await it.next();
      chunks.push(first.value as Buffer);
      // The archiver is inside z/a now: replace z with a symlink out of the root.
      await fs.rename(path.join(r, "z"), path.join(r, "z.old"));
      await fs.symlink(outside, path.join(r, "z"));
      for (;;) {
        const next = await it.next();
        if (next.done) break;
        chunks.push(next.value);
      }
      const entries = await readTar(Readable.from([Buffer.concat(chunks)]));
      assert.equal(entries.find((e) => e.name === "z/b")?.body, "inside");
      assert.ok(!entries.some((e) => e.body.includes("OUTSIDE")));
    } finally {
      root.close();
    }
  });

  it("archives a symlink as itself and a whole root with relative names", async () => {
    const r = await makeRoot();
    const root = ScopedRoot.open(r);
    try {
      const one = await readTar(tarTree(root.fd, "up", { includeTop: true, name: (rel) => (rel === "" ? "up" : `up/${rel}`) }));
      assert.deepEqual(one.map((e) => [e.type, e.name, e.linkname]), [["symlink", "up", "/../../../../etc"]]);
      const all = await readTar(tarTree(root.fd, "", { name: (rel) => rel }));
      assert.ok(all.some((e) => e.name === "etc/passwd" && e.body === "container-passwd\n"));
      assert.ok(!all.some((e) => e.name === "" || e.name === "/" || e.name === "./"));
    } finally {
      root.close();
    }
  });
});

describe("extractCopy: docker cp into a directory", () => {
  it("writes .wh. names as ordinary files and leaves the destination's own metadata alone", async () => {
    const d = await dir();
    await fs.writeFile(path.join(d, "keep"), "k");
    await fs.chmod(d, 0o1777);
    const tar = await buildTar([
      { name: "./", type: "directory", mode: 0o700 },
      { name: ".wh.keep", body: "" },
      { name: ".wh..wh..opq", body: "" },
      { name: "x", body: "xx", mode: 0o640 },
    ]);
    await extractCopy(Readable.from([tar]), d, { onEntry: (rel) => rel !== "" });
    assert.equal(await fs.readFile(path.join(d, "keep"), "utf8"), "k");
    assert.ok(fss.existsSync(path.join(d, ".wh.keep")));
    assert.ok(fss.existsSync(path.join(d, ".wh..wh..opq")));
    assert.equal((await fs.stat(path.join(d, "x"))).mode & 0o7777, 0o640);
    assert.equal((await fs.stat(d)).mode & 0o7777, 0o1777);
  });

  it("reads an absolute name from the destination, as Docker's Untar does, writing nothing outside", async () => {
    const outside = await dir();
    const d = await dir();
    await extractCopy(Readable.from([await buildTar([{ name: `${outside}/x`, body: "in" }])]), d);
    assert.deepEqual(await fs.readdir(outside), []);
    assert.equal(await fs.readFile(path.join(d, outside, "x"), "utf8"), "in");
  });

  it("takes a stream that ends after its last entry's data (no padding, no end blocks) as whole", async () => {
    const d = await dir();
    const whole = await buildTar([{ name: "cut", body: "hello" }]);
    await extractCopy(Readable.from([whole.subarray(0, 512 + 5)]), d);
    assert.equal(await fs.readFile(path.join(d, "cut"), "utf8"), "hello");
    // Less than a header is a cut header: the error Go's tar reader gives.
    await assert.rejects(extractCopy(Readable.from([whole.subarray(0, 100)]), await dir()), /Unexpected end of data/);
  });

  it("refuses .. names and writes through symlinks, writing nothing outside", async () => {
    const outside = await dir();
    for (const entries of [
      [{ name: "../../../../../../../x", body: "pwn" }],
      [{ name: "l", type: "symlink" as const, linkname: outside }, { name: "l/x", body: "pwn" }],
    ]) {
      const d = await dir();
      const tar = await buildTar(entries);
      await assert.rejects(extractCopy(Readable.from([tar]), d), (e: unknown) => isEngineError(e, "invalid"));
      assert.deepEqual(await fs.readdir(outside), []);
    }
  });

  it("does not write through a symlink that already exists in the destination", async () => {
    const outside = await dir();
    const d = await dir();
    await fs.symlink(outside, path.join(d, "evil"));
    const tar = await buildTar([{ name: "evil/x", body: "pwn" }]);
    await assert.rejects(extractCopy(Readable.from([tar]), d), (e: unknown) => isEngineError(e, "invalid"));
    assert.deepEqual(await fs.readdir(outside), []);
  });
});

describe("overlayChanges: docker diff from an upper dir", { skip: rootOnly }, () => {
  it("reports added, modified and deleted paths with their parents, like Docker", async () => {
    const lower = await dir();
    const upper = await dir();
    const t = new Date("2020-01-01T00:00:00Z");
    for (const p of ["bin", "etc", "var/log", "opq/sub"]) await fs.mkdir(path.join(lower, p), { recursive: true });
    for (const f of ["bin/ls", "bin/cat", "etc/passwd", "var/log/x", "opq/a"]) {
      await fs.writeFile(path.join(lower, f), "lower");
      await fs.utimes(path.join(lower, f), t, t);
    }
    // Upper: /bin/ls deleted, /etc/passwd edited, /new added (with a dir), /opq replaced (opaque), /var copied up untouched.
    for (const p of ["bin", "etc", "new/sub", "opq", "var/log", "etc"]) await fs.mkdir(path.join(upper, p), { recursive: true });
    execFileSync("mknod", [path.join(upper, "bin/ls"), "c", "0", "0"]);
    await fs.writeFile(path.join(upper, "etc/passwd"), "edited");
    await fs.writeFile(path.join(upper, "new/sub/f"), "n");
    await fs.writeFile(path.join(upper, "opq/b"), "b");
    execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", path.join(upper, "opq")]);
    await fs.writeFile(path.join(upper, "etc/hosts"), ""); // a runtime mount point, not a change
    for (const p of ["bin", "etc", "opq", "var", "var/log"]) {
      const st = await fs.stat(path.join(lower, p));
      await fs.chmod(path.join(upper, p), st.mode & 0o7777);
    }
    const ufd = fss.openSync(upper, "r");
    const lfd = fss.openSync(lower, "r");
    try {
      const changes = overlayChanges(ufd, lfd, { opaque: new Set(["opq"]), lowerWhiteouts: true, mountPoints: new Set(["etc", "etc/hosts"]) });
      assert.deepEqual(
        changes.map((c) => `${"CAD"[c.Kind]} ${c.Path}`),
        ["C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "A /new", "A /new/sub", "A /new/sub/f", "C /opq", "D /opq/a", "A /opq/b", "D /opq/sub"],
      );
    } finally {
      fss.closeSync(ufd);
      fss.closeSync(lfd);
    }
  });
});

describe("commit config", () => {
  const container: ContainerConfig = {
    Hostname: "h",
    Domainname: "",
    User: "",
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: ["PATH=/bin", "A=1"],
    Cmd: ["sh", "-c", "echo hi"],
    Image: "busybox",
    Volumes: null,
    WorkingDir: "/srv",
    Entrypoint: null,
    OnBuild: null,
    Labels: { l: "1" },
  };

  it("keeps the container's CMD, env, workdir and labels", () => {
    const c = buildCommitConfig(container, [], container);
    assert.deepEqual(c.Cmd, ["sh", "-c", "echo hi"]);
    assert.deepEqual(c.Env, ["PATH=/bin", "A=1"]);
    assert.equal(c.WorkingDir, "/srv");
    assert.deepEqual(c.Labels, { l: "1" });
  });

  it("applies --change instructions in order, like a Dockerfile", () => {
    const c = buildCommitConfig(container, ['CMD ["echo","x"]', "ENV A=2 B=3", "WORKDIR sub", "LABEL m=2", "EXPOSE 80", "USER nobody"], container);
    assert.deepEqual(c.Cmd, ["echo", "x"]);
    assert.deepEqual(c.Env, ["PATH=/bin", "A=2", "B=3"]);
    assert.equal(c.WorkingDir, "/srv/sub");
    assert.deepEqual(c.Labels, { l: "1", m: "2" });
    assert.deepEqual(c.ExposedPorts, { "80/tcp": {} });
    assert.equal(c.User, "nobody");
    const e = buildCommitConfig(container, ['ENTRYPOINT ["/bin/echo"]'], container);
    assert.deepEqual(e.Entrypoint, ["/bin/echo"]);
    assert.equal(e.Cmd, null);
    const both = buildCommitConfig(container, ['CMD ["a"]', 'ENTRYPOINT ["/bin/echo"]'], container);
    assert.deepEqual(both.Cmd, ["a"]);
    assert.throws(() => buildCommitConfig(container, ["RUN true"], container), /not a valid change command/);
  });

  it("keeps the container's own fields (hostname, image, terminal) as dockerd commits them, but not from a body without them", () => {
    const c = buildCommitConfig({ ...container, Tty: true, OpenStdin: true }, [], container);
    assert.equal(c.Hostname, "h");
    assert.equal(c.Image, "busybox");
    assert.equal(c.Tty, true);
    assert.equal(c.OpenStdin, true);
    const b = buildCommitConfig({ Env: ["B=2"] }, [], container);
    assert.equal(b.Hostname, undefined);
    assert.equal(b.Image, undefined);
  });

  it("fills what an API body leaves out from the container (Docker's merge)", () => {
    const c = buildCommitConfig({ Env: ["B=2"], Cmd: ["top"] }, [], container);
    assert.deepEqual(c.Env, ["B=2", "PATH=/bin", "A=1"]);
    assert.deepEqual(c.Cmd, ["top"]);
    assert.equal(c.WorkingDir, "/srv");
    assert.deepEqual(c.Labels, { l: "1" });
  });
});
