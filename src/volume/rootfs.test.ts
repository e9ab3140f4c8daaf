import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { suiteRootAndOutside } from "../util/testfixtures.js";
import { createFileInRoot, mkdirInRoot, resolveInRoot } from "./rootfs.js";

describe("paths inside a container root", () => {
  const { base, root, outside } = suiteRootAndOutside("/tmp/vroot-");
  before(async () => {
    await fs.symlink("/etc", path.join(root, "abs-etc")); // absolute link: means <root>/etc
    await fs.symlink("../../../../outside", path.join(root, "climb")); // climbs past the root
    await fs.symlink(outside, path.join(root, "host-outside")); // a host path, which the container would resolve in itself
    await fs.writeFile(path.join(root, "etc", "file"), "x");
  });

  it("resolves absolute and climbing symlinks against the root, not the host", async () => {
    assert.equal(await resolveInRoot(root, "/abs-etc/file"), path.join(root, "etc", "file"));
    assert.equal(await resolveInRoot(root, "/climb/x"), path.join(root, "outside", "x"));
    assert.equal(await resolveInRoot(root, "/../../etc"), path.join(root, "etc"));
    assert.equal(await resolveInRoot(root, "/missing/../etc"), path.join(root, "etc"));
  });

  it("creates directories through symlinks without leaving the root", async () => {
    const made = await mkdirInRoot(root, "/host-outside/data/sub");
    assert.equal(made, path.join(root, base.slice(1), "outside", "data", "sub"));
    assert.ok(existsSync(made));
    assert.deepEqual(await fs.readdir(outside), [], "nothing was created on the host outside the root");
    assert.equal(await mkdirInRoot(root, "/climb/new"), path.join(root, "outside", "new"));
    assert.deepEqual(await fs.readdir(outside), []);
  });

  it("refuses to create a directory below a file", async () => {
    await assert.rejects(mkdirInRoot(root, "/etc/file/sub"), /is not a directory/);
  });

  it("creates an empty file as a mount point for a file, and keeps an existing one", async () => {
    const f = await createFileInRoot(root, "/abs-etc/newdir/mounted.conf");
    assert.equal(f, path.join(root, "etc", "newdir", "mounted.conf"));
    assert.equal((await fs.stat(f)).size, 0);
    assert.equal(await createFileInRoot(root, "/etc/file"), path.join(root, "etc", "file"));
    assert.equal(await fs.readFile(path.join(root, "etc", "file"), "utf8"), "x");
  });

  it("gives up on symlink loops", async () => {
    await fs.symlink("/loop", path.join(root, "loop"));
    await assert.rejects(mkdirInRoot(root, "/loop/x"), /too many levels of symbolic links/);
  });
});
