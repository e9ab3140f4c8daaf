import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import fss, { existsSync, promises as fs } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { ScopedRoot } from "../image/index.js";
import { isEngineError } from "../util/errors.js";
import { suiteRootAndOutside } from "../util/testfixtures.js";
import { openMountTarget } from "./view.js";

describe("mount targets of a container filesystem view", () => {
  const { root: rootDir, outside } = suiteRootAndOutside("/tmp/vview-");
  let root: ScopedRoot;
  /** Open the target, check which inode it is, close it. */
  const target = (dest: string, dir: boolean, owner?: { uid: number; gid: number }): fss.Stats => {
    const fd = openMountTarget(root, dest, dir, owner);
    try {
      return fss.fstatSync(fd);
    } finally {
      fss.closeSync(fd);
    }
  };
  const same = (a: fss.Stats, hostPath: string): boolean => {
    const b = fss.lstatSync(hostPath);
    return a.ino === b.ino && a.dev === b.dev;
  };

  before(async () => {
    await fs.writeFile(path.join(rootDir, "etc", "conf"), "x");
    await fs.symlink("/var/lib", path.join(rootDir, "abs")); // absolute: the container's /var/lib, missing
    await fs.symlink("../../../../../outside", path.join(rootDir, "climb")); // climbs past the root
    await fs.symlink(outside, path.join(rootDir, "host")); // a host path, which the container resolves in itself
    await fs.symlink("/etc/conf", path.join(rootDir, "conf-link"));
    await fs.writeFile(path.join(rootDir, "file"), "");
    execFileSync("mkfifo", [path.join(rootDir, "fifo")]);
    root = ScopedRoot.open(rootDir);
  });
  after(() => root.close());

  it("opens an existing directory or file", () => {
    assert.ok(same(target("/etc", true), path.join(rootDir, "etc")));
    assert.ok(same(target("/etc/conf", false), path.join(rootDir, "etc", "conf")));
  });

  it("creates missing directories through symlinks, inside the root only", () => {
    assert.ok(same(target("/abs/data", true), path.join(rootDir, "var", "lib", "data")));
    assert.ok(same(target("/climb/x/y", true), path.join(rootDir, "outside", "x", "y")));
    assert.ok(same(target(`/host/sub`, true), path.join(rootDir, outside.slice(1), "sub")));
    assert.deepEqual(fss.readdirSync(outside), [], "nothing was created on the host outside the root");
  });

  it("creates a missing file mount point as an empty regular file, owned as asked", () => {
    const st = target("/run/secret.txt", false, { uid: 4242, gid: 4343 });
    assert.ok(st.isFile());
    assert.equal(st.size, 0);
    assert.ok(same(st, path.join(rootDir, "run", "secret.txt")));
    assert.equal(`${st.uid}:${st.gid}`, "4242:4343");
    assert.equal(fss.statSync(path.join(rootDir, "run")).uid, 4242);
  });

  it("follows a final symlink inside the root, as the container would", () => {
    assert.ok(same(target("/conf-link", false), path.join(rootDir, "etc", "conf")));
  });

  it("refuses what cannot be a mount point: a file for a directory, a directory or a fifo for a file, the root", () => {
    const kinds = (fn: () => void): string => {
      try {
        fn();
      } catch (e) {
        return isEngineError(e) ? e.kind : String(e);
      }
      return "none";
    };
    assert.equal(kinds(() => target("/file", true)), "invalid");
    assert.equal(kinds(() => target("/file/below", true)), "invalid");
    assert.equal(kinds(() => target("/etc", false)), "invalid");
    assert.equal(kinds(() => target("/fifo", false)), "invalid");
    assert.equal(kinds(() => target("/..", true)), "invalid");
    assert.equal(existsSync(path.join(rootDir, "file", "below")), false);
  });
});
