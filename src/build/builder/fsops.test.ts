import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import fss from "node:fs";
import os from "node:os";
import path from "node:path";
import { componentMatcher, copyEntry, globInRoot, mkdirAllInRoot, resolveInRoot, sourceHash } from "./fsops.js";

const tmp = fss.mkdtempSync(path.join(os.tmpdir(), "fsops-"));
after(() => fss.rmSync(tmp, { recursive: true, force: true }));

function tree(name: string): string {
  const root = path.join(tmp, name);
  fss.mkdirSync(root, { recursive: true });
  return root;
}

describe("resolving paths inside a root", () => {
  it("follows symlinks as if the root were /, never leaving it", () => {
    const root = tree("scope");
    fss.mkdirSync(path.join(root, "real/sub"), { recursive: true });
    fss.symlinkSync("/real", path.join(root, "abs"));
    fss.symlinkSync("../../../../../../../etc", path.join(root, "up"));
    fss.symlinkSync("real/sub", path.join(root, "rel"));
    fss.symlinkSync("loop2", path.join(root, "loop1"));
    fss.symlinkSync("loop1", path.join(root, "loop2"));
    assert.equal(resolveInRoot(root, "abs/sub/x").host, path.join(root, "real/sub/x"));
    assert.equal(resolveInRoot(root, "up/passwd").host, path.join(root, "etc/passwd"));
    assert.equal(resolveInRoot(root, "/../../rel/../..").host, root);
    assert.equal(resolveInRoot(root, "rel").rel, "/real/sub");
    assert.throws(() => resolveInRoot(root, "loop1/x"), /too many levels of symbolic links/);
  });

  it("creates missing directories through in-root symlinks and refuses files in the way", () => {
    const root = tree("mkdir");
    fss.mkdirSync(path.join(root, "target"));
    fss.symlinkSync("/target", path.join(root, "link"));
    fss.writeFileSync(path.join(root, "file"), "x");
    const made = mkdirAllInRoot(root, "/link/a/b", { uid: 1, gid: 2 });
    assert.equal(made, path.join(root, "target/a/b"));
    const st = fss.statSync(made);
    assert.equal(st.uid, 1);
    assert.equal(st.mode & 0o777, 0o755);
    assert.throws(() => mkdirAllInRoot(root, "/file/x"), /Cannot mkdir: \/file\/x is not a directory/);
  });
});

describe("copying trees", () => {
  it("copies files, symlinks (not followed) and hard links, with owner and mode overrides", async () => {
    const src = tree("csrc");
    fss.mkdirSync(path.join(src, "d"));
    fss.writeFileSync(path.join(src, "d/f"), "data");
    fss.chmodSync(path.join(src, "d/f"), 0o4755);
    fss.symlinkSync("/etc/shadow", path.join(src, "d/l"));
    fss.linkSync(path.join(src, "d/f"), path.join(src, "d/h"));
    const dst = path.join(tree("cdst"), "out");
    await copyEntry(src, dst, { owner: { uid: 7, gid: 8 } });
    assert.equal(fss.readFileSync(path.join(dst, "d/f"), "utf8"), "data");
    assert.equal(fss.statSync(path.join(dst, "d/f")).mode & 0o7777, 0o4755);
    assert.equal(fss.statSync(path.join(dst, "d/f")).uid, 7);
    assert.equal(fss.readlinkSync(path.join(dst, "d/l")), "/etc/shadow");
    assert.equal(fss.lstatSync(path.join(dst, "d/l")).uid, 7);
    assert.equal(fss.statSync(path.join(dst, "d/h")).ino, fss.statSync(path.join(dst, "d/f")).ino);
    const dst2 = path.join(tree("cdst2"), "f");
    await copyEntry(path.join(src, "d/f"), dst2, { mode: 0o600 });
    assert.equal(fss.statSync(dst2).mode & 0o7777, 0o600);
  });

  it("replaces a symlink in the way instead of writing through it", async () => {
    const src = tree("rsrc");
    fss.writeFileSync(path.join(src, "f"), "new");
    const victim = path.join(tree("victim"), "v");
    fss.writeFileSync(victim, "untouched");
    const dstDir = tree("rdst");
    fss.symlinkSync(victim, path.join(dstDir, "f"));
    await copyEntry(path.join(src, "f"), path.join(dstDir, "f"), {});
    assert.equal(fss.readFileSync(victim, "utf8"), "untouched");
    assert.equal(fss.lstatSync(path.join(dstDir, "f")).isFile(), true);
  });

  it("skips excluded paths", async () => {
    const src = tree("xsrc");
    fss.writeFileSync(path.join(src, "a.md"), "a");
    fss.writeFileSync(path.join(src, "b.txt"), "b");
    const dst = path.join(tree("xdst"), "o");
    await copyEntry(src, dst, { skip: (rel) => rel.endsWith(".md") });
    assert.deepEqual(fss.readdirSync(dst), ["b.txt"]);
  });
});

describe("source hashes", () => {
  it("change with content and mode, not with mtime", async () => {
    const d = tree("hash");
    const f = path.join(d, "f");
    fss.writeFileSync(f, "one");
    const h1 = await sourceHash(f, { withOwner: false });
    assert.match(h1, /^file:[0-9a-f]{64}$/);
    fss.utimesSync(f, new Date(0), new Date(0));
    assert.equal(await sourceHash(f, { withOwner: false }), h1);
    fss.chmodSync(f, 0o755);
    const h2 = await sourceHash(f, { withOwner: false });
    assert.notEqual(h2, h1);
    fss.writeFileSync(f, "two");
    assert.notEqual(await sourceHash(f, { withOwner: false }), h2);
    assert.match(await sourceHash(d, { withOwner: false }), /^dir:[0-9a-f]{64}$/);
  });
});

describe("wildcards", () => {
  it("match Go's filepath.Match per component, without crossing directories", () => {
    assert.equal(componentMatcher("*.txt").test("a.txt"), true);
    assert.equal(componentMatcher("[!a]*").test("abc"), false);
    assert.equal(componentMatcher("[a-c]?").test("bz"), true);
    assert.equal(componentMatcher("my-file.*").test("my-file.tar.gz"), true);
    assert.equal(componentMatcher("[-x]y").test("-y"), true);
    assert.equal(componentMatcher("a\\-b").test("a-b"), true);
    const root = tree("glob");
    fss.mkdirSync(path.join(root, "dir"));
    fss.writeFileSync(path.join(root, "a.txt"), "");
    fss.writeFileSync(path.join(root, "b.txt"), "");
    fss.writeFileSync(path.join(root, "dir/c.txt"), "");
    fss.symlinkSync("/etc", path.join(root, "link"));
    assert.deepEqual(globInRoot(root, "*.txt"), ["a.txt", "b.txt"]);
    assert.deepEqual(globInRoot(root, "*/*.txt"), ["dir/c.txt"]);
    assert.deepEqual(globInRoot(root, "link/*"), []);
  });
});
