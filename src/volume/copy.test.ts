import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import { copyTree, dirSize, isEmptyDir } from "./copy.js";

describe("copy-up of image content into a volume", () => {
  let base: string;
  let src: string;
  before(async () => {
    base = mkdtempSync("/tmp/vcopy-");
    src = path.join(base, "src");
    await fs.mkdir(path.join(src, "sub"), { recursive: true });
    await fs.writeFile(path.join(src, "sub", "file"), "hello");
    await fs.chown(path.join(src, "sub", "file"), 1234, 5678);
    await fs.chmod(path.join(src, "sub", "file"), 0o4750);
    await fs.utimes(path.join(src, "sub", "file"), 1_000_000, 1_000_000);
    await fs.link(path.join(src, "sub", "file"), path.join(src, "hardlink"));
    await fs.symlink("/etc/passwd", path.join(src, "abs-link"));
    await fs.symlink("sub", path.join(src, "dir-link"));
    await fs.lchown(path.join(src, "dir-link"), 42, 43);
    await fs.chmod(src, 0o710);
    await fs.chown(src, 1000, 1000);
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it("preserves owners, modes, times, symlinks and hard links, following no link", async () => {
    const dst = path.join(base, "vol1");
    await fs.mkdir(dst);
    const stats = await copyTree(src, dst);
    assert.equal(stats.bytes, 5, "the hard link is copied as a link, not twice");
    const f = await fs.lstat(path.join(dst, "sub", "file"));
    assert.equal(f.mode & 0o7777, 0o4750, "setuid survives the chown");
    assert.equal(f.uid, 1234);
    assert.equal(f.gid, 5678);
    assert.equal(Math.round(f.mtimeMs / 1000), 1_000_000);
    assert.equal((await fs.lstat(path.join(dst, "hardlink"))).ino, f.ino);
    assert.equal(await fs.readlink(path.join(dst, "abs-link")), "/etc/passwd");
    const dl = await fs.lstat(path.join(dst, "dir-link"));
    assert.ok(dl.isSymbolicLink());
    assert.equal(dl.uid, 42);
    const root = await fs.stat(dst);
    assert.equal(root.mode & 0o7777, 0o710, "the volume root takes the image directory's mode");
    assert.equal(root.uid, 1000);
  });

  it("aborts instead of writing through an entry that already exists", async () => {
    const dst = path.join(base, "vol2");
    const target = path.join(base, "elsewhere");
    await fs.mkdir(dst);
    await fs.mkdir(target);
    await fs.symlink(target, path.join(dst, "sub"));
    await assert.rejects(copyTree(src, dst), /EEXIST/);
    assert.deepEqual(await fs.readdir(target), []);
  });

  it("measures and recognises empty directories", async () => {
    const e = path.join(base, "empty");
    await fs.mkdir(e);
    assert.equal(await isEmptyDir(e), true);
    assert.equal(await isEmptyDir(src), false);
    assert.equal(await dirSize(src), 5 + "/etc/passwd".length + "sub".length, "symlinks count their own size, hard links once");
  });
});
