import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { isEngineError } from "../util/errors.js";
import { buildTar, readTar } from "../util/testtar.js";
import { checkWritable } from "./cpcore.js";
import { type ViewRequest, runInView } from "./cpview.js";

/** The archive's bodies by entry name. */
async function tarNames(stream: Readable): Promise<Map<string, string>> {
  return new Map((await readTar(stream)).map((e) => [e.header.name, e.body.toString()]));
}

/** The daemon's (here: this process's) mounts under dir. */
const mountsUnder = async (dir: string): Promise<string[]> =>
  (await fs.readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir));

describe("Docker's checkWritablePath", () => {
  const mps = [
    { destination: "/data", rw: true },
    { destination: "/data/ro", rw: false },
    { destination: "/cfg", rw: false },
  ];
  const verdict = (dest: string, readonlyRootfs = false): string => {
    try {
      checkWritable(mps, readonlyRootfs, dest);
      return "ok";
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
  };

  it("lets the deepest mount point holding the destination decide", () => {
    assert.equal(verdict("/data"), "ok");
    assert.equal(verdict("/data/x"), "ok");
    assert.equal(verdict("/data/ro"), "mounted volume is marked read-only");
    assert.equal(verdict("/data/ro/sub"), "mounted volume is marked read-only");
    assert.equal(verdict("/data/rox"), "ok");
    assert.equal(verdict("/cfg"), "mounted volume is marked read-only");
    assert.equal(verdict("/cfgx"), "ok");
  });

  it("checks the read-only root filesystem only outside every mount point", () => {
    assert.equal(verdict("/etc", true), "container rootfs is marked read-only");
    assert.equal(verdict("/data/x", true), "ok");
    assert.equal(verdict("/", true), "container rootfs is marked read-only");
  });
});

describe("the container filesystem view (helper process in a private mount namespace)", () => {
  let base: string;
  let rootfs: string;
  let vol: string;
  let roSrc: string;
  let stage: string;
  const mountinfo = async (): Promise<string[]> => mountsUnder(base);
  const req = (op: ViewRequest["op"], p: string, extra: Partial<ViewRequest> = {}): ViewRequest => ({
    op,
    rootfs,
    stageDir: stage,
    mounts: [
      { destination: "/data", source: vol, rw: true, recursive: true },
      { destination: "/data/ro", source: roSrc, rw: false, recursive: true },
    ],
    etc: [],
    path: p,
    idOrName: "ctr",
    ...extra,
  });

  before(async () => {
    base = mkdtempSync("/tmp/cpview-");
    rootfs = path.join(base, "rootfs");
    vol = path.join(base, "vol");
    roSrc = path.join(base, "ro");
    stage = path.join(base, "stage");
    for (const d of [rootfs, vol, roSrc, stage, path.join(rootfs, "etc")]) await fs.mkdir(d, { recursive: true });
    await fs.mkdir(path.join(rootfs, "data"));
    await fs.writeFile(path.join(rootfs, "data", "hidden"), "under the volume");
    await fs.writeFile(path.join(rootfs, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await fs.writeFile(path.join(vol, "v"), "in the volume");
    await fs.writeFile(path.join(roSrc, "r"), "read-only");
    await fs.symlink("../../../../../../../etc", path.join(vol, "up"));
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it("shows the mounts, not what is under them, and resolves a volume's symlinks in the root", async () => {
    const v = runInView(req("archive", "/data"));
    const stat = await v.stat;
    assert.equal(stat.name, "data");
    const names = await tarNames(v.tar);
    await v.done;
    assert.deepEqual([...names.keys()].sort(), ["data/", "data/ro/", "data/ro/r", "data/up", "data/v"]);
    assert.equal(names.get("data/v"), "in the volume");
    const w = runInView(req("archive", "/data/up/passwd"));
    assert.equal((await tarNames(w.tar)).get("passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    await w.done;
    assert.deepEqual(await mountinfo(), [], "the daemon's mount table changed");
  });

  it("extracts into the volume and never into a read-only mount", async () => {
    const ok = runInView({ ...req("extract", "/data"), extract: { noOverwriteDirNonDir: true, readonlyRootfs: false, mountPoints: [] } }, Readable.from(await buildTar([{ name: "new", body: "n" }])));
    await ok.done;
    assert.equal(await fs.readFile(path.join(vol, "new"), "utf8"), "n");
    assert.equal(existsSync(path.join(rootfs, "data", "new")), false);

    const mps = [
      { destination: "/data", rw: true },
      { destination: "/data/ro", rw: false },
    ];
    const refused = runInView({ ...req("extract", "/data/ro"), extract: { noOverwriteDirNonDir: true, readonlyRootfs: false, mountPoints: mps } }, Readable.from(await buildTar([{ name: "x", body: "x" }])));
    await assert.rejects(refused.done, (e: unknown) => isEngineError(e, "invalid") && e.message === "mounted volume is marked read-only");
    const erofs = runInView({ ...req("extract", "/data"), extract: { noOverwriteDirNonDir: true, readonlyRootfs: false, mountPoints: mps } }, Readable.from(await buildTar([{ name: "ro/sneaky", body: "x" }])));
    await assert.rejects(erofs.done, /read-only file system/);
    assert.deepEqual((await fs.readdir(roSrc)).sort(), ["r"]);
    assert.deepEqual(await mountinfo(), []);
  });

  it("reports Docker's errors with their kinds", async () => {
    const v = runInView(req("stat", "/data/nope"));
    await assert.rejects(v.done, (e: unknown) => isEngineError(e, "notFound") && e.message === "Could not find the file /data/nope in container ctr");
    const bad = runInView({ ...req("stat", "/data"), mounts: [{ destination: "/x", source: path.join(base, "missing"), rw: true, recursive: true }] });
    await assert.rejects(bad.done, (e: unknown) => isEngineError(e, "invalid") && /no such file or directory/.test(e.message));
    assert.deepEqual(await mountinfo(), []);
  });
});
