import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { ScopeError, ScopedRoot, cleanParts } from "./scopedroot.js";
import { suiteRootAndOutside } from "./testfixtures.js";

describe("ScopedRoot: paths resolved inside a root", () => {
  const { base, root, outside } = suiteRootAndOutside("/tmp/scoped-");
  before(async () => {
    await fs.writeFile(path.join(root, "etc", "passwd"), "x");
    await fs.symlink("/etc", path.join(root, "abs")); // absolute: the root's /etc
    await fs.symlink("../../../..", path.join(root, "climb")); // climbs past the root
    await fs.symlink(outside, path.join(root, "host")); // a host path: means <root><outside>
    await fs.symlink("/loop", path.join(root, "loop"));
  });

  it("follows absolute and climbing symlinks against the root, keeping missing components as written", () => {
    const r = ScopedRoot.open(root);
    try {
      assert.deepEqual(r.followInScope("/abs/passwd"), ["etc", "passwd"]);
      assert.deepEqual(r.followInScope("/climb/etc"), ["etc"]);
      assert.deepEqual(r.followInScope("/host/x"), [...base.slice(1).split("/"), "outside", "x"]);
      assert.deepEqual(r.followInScope("/missing/a/../b"), ["missing", "b"]);
      assert.equal(r.evalSymlinks("/abs"), "/etc");
    } finally {
      r.close();
    }
  });

  it("bounds the symlinks it follows: ELOOP, or the path so far for evalSymlinks", () => {
    const r = ScopedRoot.open(root);
    try {
      assert.throws(() => r.followInScope("/loop/x"), (e: unknown) => e instanceof ScopeError && e.code === "ELOOP");
      assert.throws(() => r.followInScope("/loop", { maxLinks: 3 }), (e: unknown) => e instanceof ScopeError && e.code === "ELOOP");
      assert.throws(() => r.resolve("/loop/x", true), (e: unknown) => e instanceof ScopeError && e.code === "ELOOP");
      assert.equal(r.evalSymlinks("/loop/x"), "/");
    } finally {
      r.close();
    }
  });

  it("creates directories through symlinks without leaving the root, and names the non-directory in its way", async () => {
    const r = ScopedRoot.open(root);
    try {
      const parts = r.followInScope("/host/made/sub", { create: { mode: 0o750, exactMode: true, owner: { uid: 1, gid: 2 } } });
      const made = r.hostPathOf(parts);
      assert.ok(made.startsWith(`${root}/`) && existsSync(made));
      assert.deepEqual(await fs.readdir(outside), [], "nothing was created outside the root");
      const st = await fs.stat(made);
      assert.equal(st.mode & 0o777, 0o750);
      assert.deepEqual([st.uid, st.gid], [1, 2]);
      assert.throws(
        () => r.followInScope("/abs/passwd/x", { create: { mode: 0o755 } }),
        (e: unknown) => e instanceof ScopeError && e.code === "ENOTDIR" && e.parts.join("/") === "etc/passwd",
      );
      assert.throws(() => r.followInScope("/abs/x", { create: { mode: 0o755 }, noFollow: true }), (e: unknown) => e instanceof ScopeError && e.code === "ENOTDIR");
    } finally {
      r.close();
    }
  });

  it("cleans a path lexically, clamped at the root", () => {
    assert.deepEqual(cleanParts("/../a/./b/../../../c"), ["c"]);
  });
});
