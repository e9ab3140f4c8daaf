import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import path from "node:path";
import { readInRoot, resolveUser } from "./user.js";

describe("reading a container's /etc files", () => {
  let base: string;
  let root: string;
  before(async () => {
    base = mkdtempSync("/tmp/user-test-");
    root = path.join(base, "root");
    await fs.mkdir(path.join(root, "real-etc"), { recursive: true });
    await fs.writeFile(path.join(base, "host-passwd"), "root:x:0:0:host:/host:/bin/sh\n");
    await fs.writeFile(path.join(root, "real-etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n");
    await fs.writeFile(path.join(root, "real-etc", "group"), "app:x:1001:\nextra:x:2000:app\n");
    // /etc is an absolute symlink: followed inside the root, as the container sees it.
    await fs.symlink("/real-etc", path.join(root, "etc"));
  });
  after(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it("follows symlinks inside the root and resolves users and groups from them", async () => {
    assert.match((await readInRoot(root, "/etc/passwd")) ?? "", /^root:x:0:0:root:/);
    const u = await resolveUser(root, "app");
    assert.equal(u.uid, 1000);
    assert.equal(u.gid, 1001);
    assert.equal(u.home, "/home/app");
  });

  it("never reads a host file through a symlink, nor anything but a regular file", async () => {
    await fs.symlink(path.join(base, "host-passwd"), path.join(root, "real-etc", "hostlink"));
    await fs.symlink("../../../../host-passwd", path.join(root, "real-etc", "uplink"));
    assert.equal(await readInRoot(root, "/etc/hostlink"), undefined);
    assert.equal(await readInRoot(root, "/etc/uplink"), undefined);
    execFileSync("mkfifo", [path.join(root, "real-etc", "fifo")]);
    assert.equal(await readInRoot(root, "/etc/fifo"), undefined);
    assert.equal(await readInRoot(root, "/etc/missing/passwd"), undefined);
  });
});
