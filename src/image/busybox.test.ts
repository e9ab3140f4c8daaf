import { test } from "node:test";
import assert from "node:assert/strict";
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Header } from "tar-stream";
import { isEngineError } from "../util/errors.js";
import { busyboxRootfsTar, elfLinking } from "./busybox.js";
import { extractLayer } from "./tar.js";
import { suiteTempDir } from "../util/testfixtures.js";
import { readTar } from "../util/testtar.js";

const haveBusybox = fss.existsSync("/bin/busybox");
const isRoot = process.getuid?.() === 0;
const skip = !haveBusybox ? "busybox-static not installed" : !isRoot ? "needs root" : false;

const tmpRoot = suiteTempDir("berth-busybox-test-");

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function entries(buf: Buffer): Promise<Map<string, { header: Header; data: Buffer }>> {
  return new Map((await readTar(Readable.from([buf]))).map((e) => [e.header.name, { header: e.header, data: e.body }]));
}

test("busybox rootfs tar is deterministic and complete", { skip }, async () => {
  const a = await collect(await busyboxRootfsTar());
  const b = await collect(await busyboxRootfsTar());
  const digest = (x: Buffer): string => createHash("sha256").update(x).digest("hex");
  assert.equal(digest(a), digest(b));
  assert.equal(a.length % 512, 0);

  const ents = await entries(a);
  const sh = ents.get("bin/sh");
  assert.ok(sh);
  assert.equal(sh.header.type, "symlink");
  assert.equal(sh.header.linkname, "/bin/busybox");
  assert.equal(ents.get("usr/bin/env")?.header.linkname, "/bin/busybox");
  const bb = ents.get("bin/busybox");
  assert.ok(bb);
  assert.equal(bb.header.type, "file");
  assert.equal(bb.header.mode & 0o7777, 0o755);
  assert.ok(bb.data.equals(fss.readFileSync("/bin/busybox")));
  const passwd = ents.get("etc/passwd")?.data.toString() ?? "";
  assert.match(passwd, /^root:x:0:0:root:\/root:\/bin\/sh$/m);
  assert.match(passwd, /^nobody:x:65534:65534:nobody:\/home:\/bin\/false$/m);
  const group = ents.get("etc/group")?.data.toString() ?? "";
  assert.match(group, /^root:x:0:$/m);
  assert.match(group, /^nogroup:x:65534:$/m);
  assert.equal(ents.get("tmp/")?.header.mode, 0o1777);
  assert.equal(ents.get("root/")?.header.mode, 0o700);
  for (const [, e] of ents) {
    assert.equal(e.header.uid, 0);
    assert.equal(e.header.gid, 0);
    assert.equal(e.header.mtime.getTime(), 0);
  }
  // Parents precede children.
  const names = [...ents.keys()];
  assert.ok(names.indexOf("usr/") < names.indexOf("usr/bin/"));
  assert.ok(names.indexOf("usr/bin/") < names.indexOf("usr/bin/env"));
});

test("extracted busybox rootfs runs under chroot", { skip }, async (t) => {
  const dir = path.join(tmpRoot, "rootfs");
  await fs.mkdir(dir);
  const t0 = performance.now();
  const res = await extractLayer(await busyboxRootfsTar(), dir);
  const ms = performance.now() - t0;
  t.diagnostic(`busybox rootfs: ${res.entries} entries, ${res.size} bytes, built+extracted in ${ms.toFixed(1)} ms`);
  const out = execFileSync("chroot", [dir, "/bin/sh", "-c", "echo ok"]).toString();
  assert.equal(out, "ok\n");
  const id = execFileSync("chroot", [dir, "/usr/bin/id", "-un"]).toString();
  assert.equal(id, "root\n");
  assert.equal(fss.lstatSync(path.join(dir, "tmp")).mode & 0o7777, 0o1777);
});

test("a missing or dynamic busybox gives a clear notFound error", { skip: haveBusybox ? false : "busybox-static not installed" }, async () => {
  await assert.rejects(busyboxRootfsTar({ busyboxPath: "/nonexistent/busybox" }), (e: unknown) => {
    assert.ok(isEngineError(e, "notFound"));
    assert.match((e as Error).message, /busybox-static/);
    return true;
  });
  await assert.rejects(busyboxRootfsTar({ busyboxPath: process.execPath }), (e: unknown) => {
    assert.ok(isEngineError(e, "notFound"));
    assert.match((e as Error).message, /dynamically linked.*busybox-static/);
    return true;
  });
  await assert.rejects(busyboxRootfsTar({ busyboxPath: "/etc/passwd" }), (e: unknown) => isEngineError(e, "notFound"));
});

test("elfLinking", { skip: haveBusybox ? false : "busybox-static not installed" }, () => {
  assert.equal(elfLinking(fss.readFileSync("/bin/busybox")), "static");
  assert.equal(elfLinking(fss.readFileSync(process.execPath).subarray(0, 1 << 16)), "dynamic");
  assert.equal(elfLinking(Buffer.from("#!/bin/sh\n")), "notElf");
});
