import { test } from "node:test";
import assert from "node:assert/strict";
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import type { Header } from "tar-stream";
import { isEngineError } from "../util/errors.js";
import { suiteDirs } from "../util/testfixtures.js";
import { buildTar as buildTestTar, readTar } from "../util/testtar.js";
import { encodeTarHeader, extractLayer, packDirectory } from "./tar.js";

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : "needs root";

/** A new empty directory for each call. */
const tmpDir = suiteDirs("berth-tar-test-");

type E = Partial<Header> & { name: string; body?: string | Buffer };

/** Build a tar with tar-stream's packer (used to craft hostile archives), at a fixed mtime. */
const buildTar = (entries: E[]): Promise<Buffer> => buildTestTar(entries, { mtime: new Date(1_600_000_000_000) });

function src(buf: Buffer, chunk = 7919): Readable {
  // Odd chunk size to exercise header/data splits across chunks.
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts, { objectMode: false });
}

async function extractBuf(buf: Buffer, dir: string, opts = {}): Promise<Awaited<ReturnType<typeof extractLayer>>> {
  return extractLayer(src(buf), dir, opts);
}

async function expectInvalid(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isEngineError(e, "invalid"), `expected invalid EngineError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    return true;
  });
}

function sha256hex(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function listTar(buf: Buffer): Promise<Header[]> {
  return (await readTar(Readable.from([buf]))).map((e) => e.header);
}

test("extracts files, dirs, symlinks, hard links, modes, owners and mtimes", { skip }, async () => {
  const dir = await tmpDir();
  const mtime = new Date(1_500_000_000_000);
  const tar = await buildTar([
    { name: "./", type: "directory", mode: 0o750 },
    { name: "etc/", type: "directory", mode: 0o755, mtime },
    { name: "etc/hostname", body: "box\n", mode: 0o644, uid: 1000, gid: 1001, mtime },
    { name: "etc/localtime", type: "symlink", linkname: "/usr/share/zoneinfo/UTC", uid: 7, gid: 8 },
    { name: "bin/su", body: "#!/bin/sh\n", mode: 0o4755, uid: 1234, gid: 1234 },
    { name: "bin/su-link", type: "link", linkname: "bin/su" },
    { name: "tmp/", type: "directory", mode: 0o1777, mtime },
    { name: "srv/g/", type: "directory", mode: 0o2775, uid: 33, gid: 33, mtime },
    { name: "srv/g/f", body: "x", mode: 0o600 },
    { name: "empty", body: "", mode: 0o400 },
    { name: "rel", type: "symlink", linkname: "../../../../etc/passwd" },
  ]);
  const oldUmask = process.umask(0o077);
  let res;
  try {
    res = await extractBuf(tar, dir);
  } finally {
    process.umask(oldUmask);
  }
  assert.equal(res.entries, 11);
  assert.equal(res.size, tar.length);
  assert.equal(res.diffId, `sha256:${sha256hex(tar)}`);

  const st = (p: string): fss.Stats => fss.lstatSync(path.join(dir, p));
  assert.equal(st("").mode & 0o7777, 0o750);
  assert.equal(fss.readFileSync(path.join(dir, "etc/hostname"), "utf8"), "box\n");
  assert.equal(st("etc/hostname").uid, 1000);
  assert.equal(st("etc/hostname").gid, 1001);
  assert.equal(st("etc/hostname").mode & 0o7777, 0o644);
  assert.equal(st("etc/hostname").mtimeMs, mtime.getTime());
  assert.equal(st("etc").mtimeMs, mtime.getTime(), "dir mtime set after its contents");
  assert.ok(st("etc/localtime").isSymbolicLink());
  assert.equal(fss.readlinkSync(path.join(dir, "etc/localtime")), "/usr/share/zoneinfo/UTC");
  assert.equal(st("etc/localtime").uid, 7);
  assert.equal(fss.readlinkSync(path.join(dir, "rel")), "../../../../etc/passwd");
  assert.equal(st("bin/su").mode & 0o7777, 0o4755, "setuid survives chown");
  assert.equal(st("bin/su").uid, 1234);
  assert.equal(st("bin/su-link").ino, st("bin/su").ino);
  assert.equal(st("bin").mode & 0o7777, 0o755, "implicit parent is 0755 despite umask");
  assert.equal(st("tmp").mode & 0o7777, 0o1777);
  assert.equal(st("tmp").mtimeMs, mtime.getTime());
  assert.equal(st("srv/g").mode & 0o7777, 0o2775);
  assert.equal(st("srv/g").uid, 33);
  assert.equal(st("srv/g").mtimeMs, mtime.getTime());
  assert.equal(st("srv/g/f").mode & 0o7777, 0o600);
  assert.equal(st("empty").size, 0);
  assert.equal(st("empty").mode & 0o7777, 0o400);
});

test("preserveOwners=false leaves files owned by the extracting user", { skip }, async () => {
  const dir = await tmpDir();
  const tar = await buildTar([{ name: "f", body: "x", uid: 1000, gid: 1000, mode: 0o4755 }]);
  await extractBuf(tar, dir, { preserveOwners: false });
  const s = fss.lstatSync(path.join(dir, "f"));
  assert.equal(s.uid, process.getuid?.());
  assert.equal(s.mode & 0o7777, 0o4755);
});

test("later entries replace earlier ones without writing through symlinks", { skip }, async () => {
  const outside = await tmpDir();
  fss.writeFileSync(path.join(outside, "victim"), "original");
  fss.mkdirSync(path.join(outside, "vdir"));
  const dir = await tmpDir();
  const tar = await buildTar([
    { name: "link", type: "symlink", linkname: path.join(outside, "victim") },
    { name: "link", body: "replaced" },
    { name: "dlink", type: "symlink", linkname: path.join(outside, "vdir") },
    { name: "dlink/", type: "directory", mode: 0o700 },
    { name: "d/", type: "directory" },
    { name: "d/x", body: "x" },
    { name: "d", body: "now a file" },
    { name: "same/", type: "directory", mode: 0o755 },
    { name: "same/keep", body: "k" },
    { name: "same/", type: "directory", mode: 0o711 },
  ]);
  await extractBuf(tar, dir);
  assert.equal(fss.readFileSync(path.join(outside, "victim"), "utf8"), "original");
  assert.equal(fss.readFileSync(path.join(dir, "link"), "utf8"), "replaced");
  assert.ok(fss.lstatSync(path.join(dir, "dlink")).isDirectory());
  assert.equal(fss.lstatSync(path.join(outside, "vdir")).mode & 0o7777, 0o755);
  assert.equal(fss.readFileSync(path.join(dir, "d"), "utf8"), "now a file");
  assert.equal(fss.readFileSync(path.join(dir, "same/keep"), "utf8"), "k");
  assert.equal(fss.lstatSync(path.join(dir, "same")).mode & 0o7777, 0o711);
});

test("refuses path traversal, absolute names, symlink escapes, device nodes", { skip }, async () => {
  const cases: Array<[E[], RegExp]> = [
    [[{ name: "../x", body: "x" }], /"\.\.\/x".*\.\./],
    [[{ name: "a/../../x", body: "x" }], /a\/\.\.\/\.\.\/x/],
    [[{ name: "a/b/..", type: "directory" }], /\.\./],
    [[{ name: "/etc/passwd", body: "x" }], /invalid tar entry "\/etc\/passwd": absolute path/],
    [
      [
        { name: "evil", type: "symlink", linkname: "/" },
        { name: "evil/pwned", body: "gotcha" },
      ],
      /path evil\/pwned escapes through symlink evil/,
    ],
    [
      [
        { name: "evil", type: "symlink", linkname: "/" },
        { name: "evil/pwned-dir/", type: "directory" },
      ],
      /escapes through symlink evil/,
    ],
    [
      [
        { name: "a/", type: "directory" },
        { name: "a/evil", type: "symlink", linkname: "/" },
        { name: "a/evil/x/y", body: "gotcha" },
      ],
      /escapes through symlink a\/evil/,
    ],
    [[{ name: "pw", type: "link", linkname: "../../etc/passwd" }], /\.\./],
    [[{ name: "pw", type: "link", linkname: "/etc/passwd" }], /absolute path/],
    [
      [
        { name: "evil", type: "symlink", linkname: "/" },
        { name: "pw", type: "link", linkname: "evil/etc/passwd" },
      ],
      /escapes through symlink evil/,
    ],
    [[{ name: "pw", type: "link", linkname: "nope" }], /does not exist/],
    [[{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }], /device files are not allowed: null/],
    [[{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }], /device files are not allowed: sda/],
    [[{ name: "f", body: "x" }, { name: "f/g", body: "y" }], /not a directory/],
  ];
  for (const [entries, re] of cases) {
    const dir = await tmpDir();
    const tar = await buildTar(entries);
    await expectInvalid(extractBuf(tar, dir), re);
    assert.ok(!fss.existsSync("/pwned"), "nothing written outside the target");
    assert.ok(!fss.existsSync("/pwned-dir"));
    assert.ok(!fss.existsSync("/x"));
  }
});

test("a directory replaced by a symlink is never written through afterwards", { skip }, async () => {
  const outside = await tmpDir();
  fss.chmodSync(outside, 0o755);
  const mtimeBefore = fss.statSync(outside).mtimeMs;
  const dir = await tmpDir();
  const tar = await buildTar([
    { name: "a/", type: "directory", mode: 0o700, mtime: new Date(0) },
    { name: "a/b", body: "b" },
    { name: "a", type: "symlink", linkname: outside },
    { name: "a/c", body: "gotcha" },
  ]);
  await expectInvalid(extractBuf(tar, dir), /path a\/c escapes through symlink a/);
  assert.deepEqual(fss.readdirSync(outside), []);

  // Without a later entry, the deferred directory metadata must not land on the symlink's target.
  const dir2 = await tmpDir();
  const tar2 = await buildTar([
    { name: "a/", type: "directory", mode: 0o700, mtime: new Date(0) },
    { name: "a/b", body: "b" },
    { name: "a", type: "symlink", linkname: outside },
  ]);
  await extractBuf(tar2, dir2);
  assert.equal(fss.statSync(outside).mode & 0o7777, 0o755);
  assert.equal(fss.statSync(outside).mtimeMs, mtimeBefore);
  assert.equal(fss.readlinkSync(path.join(dir2, "a")), outside);
});

test("a directory someone else swaps for a symlink mid-extraction keeps its entries; nothing reaches the symlink's target", { skip }, async () => {
  const outside = await tmpDir();
  fss.chmodSync(outside, 0o755);
  fss.mkdirSync(path.join(outside, "sub"));
  const outsideBefore = { mode: fss.statSync(outside).mode, mtime: fss.statSync(outside).mtimeMs };
  const dir = await tmpDir();
  fss.mkdirSync(path.join(dir, "pre"));
  const tar = await buildTar([
    { name: "a/", type: "directory", mode: 0o700, mtime: new Date(0) },
    { name: "a/sub/", type: "directory", mode: 0o750 },
    { name: "a/sub/x", body: "x" },
    { name: "a/sub/y", body: "y" },
    { name: "a/new/z", body: "z" },
    { name: "a/fifo", type: "fifo", mode: 0o644 },
    { name: "a/link", type: "symlink", linkname: "sub/x" },
    { name: "a/hard", type: "link", linkname: "a/sub/x" },
  ]);
  // Another process (a container sharing the directory) moves a away and puts a symlink
  // to a host directory in its place, between two entries.
  const swap = (rel: string): void => {
    if (rel !== "a/sub/y") return;
    fss.renameSync(path.join(dir, "a"), path.join(dir, "a.moved"));
    fss.symlinkSync(outside, path.join(dir, "a"));
  };
  await extractLayer(src(tar), dir, { onEntry: swap });
  assert.deepEqual(fss.readdirSync(outside), ["sub"]);
  assert.deepEqual(fss.readdirSync(path.join(outside, "sub")), []);
  assert.equal(fss.statSync(outside).mode, outsideBefore.mode);
  assert.equal(fss.statSync(outside).mtimeMs, outsideBefore.mtime);
  // Everything went into the directory the extraction made, wherever it is now.
  assert.deepEqual(fss.readdirSync(path.join(dir, "a.moved")).sort(), ["fifo", "hard", "link", "new", "sub"]);
  assert.equal(fss.readFileSync(path.join(dir, "a.moved", "sub", "y"), "utf8"), "y");
  assert.equal(fss.readFileSync(path.join(dir, "a.moved", "new", "z"), "utf8"), "z");
  assert.equal(fss.statSync(path.join(dir, "a.moved")).mode & 0o7777, 0o700);
  assert.equal(fss.statSync(path.join(dir, "a.moved", "sub")).mode & 0o7777, 0o750);

  // A directory of the target the extraction has not opened yet is refused once it is a symlink.
  const tar2 = await buildTar([
    { name: "f", body: "f" },
    { name: "pre/pwned", body: "pwn" },
  ]);
  const swap2 = (rel: string): void => {
    if (rel !== "pre/pwned") return;
    fss.renameSync(path.join(dir, "pre"), path.join(dir, "pre.moved"));
    fss.symlinkSync(outside, path.join(dir, "pre"));
  };
  await expectInvalid(extractLayer(src(tar2), dir, { onEntry: swap2 }), /path pre\/pwned escapes through symlink pre/);
  assert.deepEqual(fss.readdirSync(outside), ["sub"]);
});

test("extracts into an open directory descriptor, which stays the caller's", { skip }, async () => {
  const dir = await tmpDir();
  const fd = fss.openSync(dir, fss.constants.O_RDONLY | fss.constants.O_DIRECTORY);
  try {
    await extractLayer(src(await buildTar([{ name: "d/f", body: "f" }])), fd);
    assert.equal(fss.readFileSync(path.join(dir, "d", "f"), "utf8"), "f");
    assert.ok(fss.fstatSync(fd).isDirectory());
  } finally {
    fss.closeSync(fd);
  }
});

test("flatten-mode whiteouts never delete through symlinks", { skip }, async () => {
  const outside = await tmpDir();
  fss.writeFileSync(path.join(outside, "victim"), "original");
  const dir = await tmpDir();
  fss.symlinkSync(outside, path.join(dir, "evil"));
  const tar = await buildTar([{ name: "evil/.wh.victim", body: "" }]);
  await expectInvalid(extractBuf(tar, dir, { overlayWhiteouts: false }), /escapes through symlink evil/);
  const tar2 = await buildTar([{ name: "evil/.wh..wh..opq", body: "" }]);
  await expectInvalid(extractBuf(tar2, dir, { overlayWhiteouts: false }), /escapes through symlink evil/);
  assert.equal(fss.readFileSync(path.join(outside, "victim"), "utf8"), "original");
  // Whiting out the symlink itself removes the link, not its target.
  const tar3 = await buildTar([{ name: ".wh.evil", body: "" }]);
  await extractBuf(tar3, dir, { overlayWhiteouts: false });
  assert.ok(!fss.existsSync(path.join(dir, "evil")));
  assert.equal(fss.readFileSync(path.join(outside, "victim"), "utf8"), "original");
});

test("gzip input gives the same diffId as plain input; corrupt zstd is refused clearly", { skip }, async () => {
  const tar = await buildTar([
    { name: "a/", type: "directory" },
    { name: "a/big", body: Buffer.alloc(300_000, 7) },
    { name: "a/small", body: "hi" },
  ]);
  const plain = await extractBuf(tar, await tmpDir());
  const gz = await extractBuf(gzipSync(tar), await tmpDir());
  assert.equal(gz.diffId, plain.diffId);
  assert.equal(gz.size, plain.size);
  assert.equal(gz.entries, 3);
  assert.equal(plain.diffId, `sha256:${sha256hex(tar)}`);

  // Trailing zero padding (e.g. a 10 KiB record) is part of the diffId.
  const padded = Buffer.concat([tar, Buffer.alloc(10240 - (tar.length % 10240))]);
  const p = await extractBuf(padded, await tmpDir());
  assert.equal(p.diffId, `sha256:${sha256hex(padded)}`);
  assert.equal(p.size, padded.length);

  const zstd = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]);
  await expectInvalid(extractBuf(zstd, await tmpDir()), /^invalid zstd layer/);
});

test("zstd layers are decompressed while extracted; the diffId is the uncompressed tar's", { skip }, async () => {
  // `tar --format=ustar -cf - a` (a/f = "hello zstd\n") compressed with `zstd -19`.
  const zst = Buffer.from("KLUv/WQAJyUDACLEDRGw6z/JE5LywyItkbTCGgYdpgfnuZhsLaQ0r9y83SQF88dYU30zz8F/5AkRu9tFFN7rxyj6YAIQIDAvbbEY8QOfwKoFgt0eYkDpkCgF4J1haIDD/3yiPfhDkCCmAOaTcwNnD9wE", "base64");
  const dir = await tmpDir();
  const r = await extractBuf(zst, dir);
  assert.equal(r.diffId, "sha256:2662e7e948f2c6a402f0129ff28170f1f3c6a1dd6d3eedecd5560231db3ee9a2");
  assert.equal(r.size, 10240);
  assert.equal(fss.readFileSync(path.join(dir, "a/f"), "utf8"), "hello zstd\n");
});

test("empty input is an empty layer", { skip }, async () => {
  const r = await extractBuf(Buffer.alloc(0), await tmpDir());
  assert.equal(r.entries, 0);
  assert.equal(r.size, 0);
  assert.equal(r.diffId, `sha256:${sha256hex(Buffer.alloc(0))}`);
});

test("overlay-mode whiteouts: 0:0 char device and opaque xattr", { skip }, async () => {
  const dir = await tmpDir();
  const tar = await buildTar([
    { name: "etc/", type: "directory" },
    { name: "etc/.wh.motd", body: "", uid: 5, gid: 6 },
    { name: "var/", type: "directory" },
    { name: "var/cache/", type: "directory" },
    { name: "var/cache/.wh..wh..opq", body: "" },
    { name: "var/cache/new", body: "n" },
    { name: ".wh..wh.plnk/", type: "directory" },
    { name: ".wh..wh.plnk/123.456", body: "aufs" },
    { name: "raw-whiteout", type: "character-device", devmajor: 0, devminor: 0 },
  ]);
  const r = await extractBuf(tar, dir);
  assert.equal(r.entries, 9);
  const wh = fss.lstatSync(path.join(dir, "etc/motd"));
  assert.ok(wh.isCharacterDevice());
  assert.equal(wh.rdev, 0);
  assert.equal(wh.uid, 5);
  assert.ok(!fss.existsSync(path.join(dir, "etc/.wh.motd")));
  assert.ok(fss.lstatSync(path.join(dir, "raw-whiteout")).isCharacterDevice());
  assert.ok(!fss.existsSync(path.join(dir, ".wh..wh.plnk")));
  const xattr = execFileSync("getfattr", ["-h", "--absolute-names", "-n", "trusted.overlay.opaque", "--only-values", path.join(dir, "var/cache")]);
  assert.equal(xattr.toString(), "y");
  assert.equal(fss.readFileSync(path.join(dir, "var/cache/new"), "utf8"), "n");
  assert.ok(!fss.existsSync(path.join(dir, "var/cache/.wh..wh..opq")));
});

test("flatten-mode whiteouts delete lower content", { skip }, async () => {
  const dir = await tmpDir();
  const lower = await buildTar([
    { name: "etc/", type: "directory" },
    { name: "etc/motd", body: "hello" },
    { name: "etc/keep", body: "keep" },
    { name: "var/cache/", type: "directory" },
    { name: "var/cache/old", body: "o" },
    { name: "var/cache/olddir/", type: "directory" },
    { name: "var/cache/olddir/x", body: "x" },
    { name: "var/cache/sub/", type: "directory" },
    { name: "var/cache/sub/lower", body: "l" },
    { name: "gone/", type: "directory" },
    { name: "gone/deep/file", body: "f" },
  ]);
  await extractBuf(lower, dir, { overlayWhiteouts: false });
  const upper = await buildTar([
    { name: "etc/.wh.motd", body: "" },
    { name: "var/cache/", type: "directory" },
    { name: "var/cache/new", body: "n" },
    { name: "var/cache/sub/", type: "directory" },
    { name: "var/cache/sub/upper", body: "u" },
    { name: "var/cache/.wh..wh..opq", body: "" },
    { name: ".wh.gone", body: "" },
    { name: ".wh.never-existed", body: "" },
  ]);
  await extractBuf(upper, dir, { overlayWhiteouts: false });
  const ex = (p: string): boolean => fss.existsSync(path.join(dir, p));
  assert.ok(!ex("etc/motd"));
  assert.ok(!ex("etc/.wh.motd"));
  assert.ok(ex("etc/keep"));
  assert.ok(!ex("var/cache/old"));
  assert.ok(!ex("var/cache/olddir"));
  assert.ok(!ex("var/cache/sub/lower"), "opaque hides lower content even under dirs this layer re-creates");
  assert.ok(ex("var/cache/sub/upper"));
  assert.ok(ex("var/cache/new"));
  assert.ok(!ex("var/cache/.wh..wh..opq"));
  assert.ok(!ex("gone"));
});

test("truncated, corrupt and absurd archives are rejected without hanging", { skip }, async () => {
  const tar = await buildTar([{ name: "f", body: Buffer.alloc(5000, 1) }, { name: "g", body: "g" }]);
  // Cut in the middle of f's data.
  await expectInvalid(extractBuf(tar.subarray(0, 512 + 1000), await tmpDir()), /invalid layer tar/);
  // Cut in the middle of a header.
  await expectInvalid(extractBuf(tar.subarray(0, 100), await tmpDir()), /invalid layer tar/);
  // Truncated gzip.
  const gz = gzipSync(tar);
  await expectInvalid(extractBuf(gz.subarray(0, gz.length - 30), await tmpDir()), /invalid layer tar/);
  // Corrupt header checksum.
  const bad = Buffer.from(tar);
  bad[10] = 0x41;
  await expectInvalid(extractBuf(bad, await tmpDir()), /invalid layer tar/);
  // A header claiming ~8 GiB of data, followed by nothing.
  const huge = encodeTarHeader({ name: "huge", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 8 * 1024 ** 3 - 1 });
  await expectInvalid(extractBuf(Buffer.concat([huge, Buffer.alloc(4096)]), await tmpDir()), /invalid layer tar/);
  // Base-256 size beyond any sane value.
  const absurd = Buffer.from(encodeTarHeader({ name: "absurd", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 1 }));
  absurd.fill(0, 124, 136);
  absurd[124] = 0x80;
  absurd.fill(0xff, 125, 136);
  absurd.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of absurd) sum += b;
  absurd.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8, "latin1");
  await expectInvalid(extractBuf(Buffer.concat([absurd, Buffer.alloc(1024)]), await tmpDir()), /absurd size/);
});

test("abort via signal rejects promptly on a stalled stream", { skip }, async () => {
  const input = new PassThrough();
  const tar = await buildTar([{ name: "f", body: Buffer.alloc(100_000) }]);
  input.write(tar.subarray(0, 2048)); // header + part of the data, then stall
  const ac = new AbortController();
  const p = extractLayer(input, await tmpDir(), { signal: ac.signal });
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (e: unknown) => (e as Error).name === "AbortError");
  assert.ok(input.destroyed);
  // Already-aborted signal.
  await assert.rejects(extractLayer(src(tar), await tmpDir(), { signal: AbortSignal.abort() }), { name: "AbortError" });
});

test("input stream errors are passed through", { skip }, async () => {
  const input = new PassThrough();
  const p = extractLayer(input, await tmpDir());
  input.write(Buffer.alloc(512, 0));
  const boom = new Error("connection reset");
  setTimeout(() => input.destroy(boom), 10);
  await assert.rejects(p, (e: unknown) => e === boom);
});

/** Build a tree exercising everything packDirectory supports. */
async function makeTree(root: string): Promise<void> {
  const w = (p: string, data: string | Buffer, mode = 0o644): void => {
    fss.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fss.writeFileSync(path.join(root, p), data);
    fss.chmodSync(path.join(root, p), mode);
  };
  w("bin/tool", "#!/bin/sh\necho hi\n", 0o755);
  w("bin/suid", "suid", 0o4711);
  fss.chownSync(path.join(root, "bin/suid"), 0, 0);
  w("home/user/.profile", "export A=1\n", 0o600);
  fss.chownSync(path.join(root, "home/user/.profile"), 1000, 1000);
  fss.chownSync(path.join(root, "home/user"), 1000, 1000);
  fss.chmodSync(path.join(root, "home/user"), 0o2750);
  w("big.bin", Buffer.alloc(700_001, 0xab));
  w("empty", "");
  const long = `${"d".repeat(90)}/${"e".repeat(90)}/${"f".repeat(150)}`;
  w(`${long}/file-with-a-very-long-name-${"x".repeat(120)}`, "long");
  w("unicodé/ファイル.txt", "utf8");
  fss.mkdirSync(path.join(root, "tmp"), { mode: 0o1777 });
  fss.chmodSync(path.join(root, "tmp"), 0o1777);
  fss.symlinkSync("/etc/localtime", path.join(root, "localtime"));
  fss.symlinkSync(`../${"t".repeat(150)}`, path.join(root, "bin/long-target"));
  fss.lchownSync(path.join(root, "localtime"), 12, 34);
  fss.linkSync(path.join(root, "bin/tool"), path.join(root, "bin/tool-hardlink"));
  fss.linkSync(path.join(root, "bin/tool"), path.join(root, "zzz-hardlink"));
  execFileSync("mkfifo", ["-m", "0640", path.join(root, "fifo")]);
  w("bigid", "big ids");
  fss.chownSync(path.join(root, "bigid"), 3_000_000, 4_000_000);
  const t = new Date(1_234_567_890_000);
  for (const p of ["bin/tool", "empty", "home/user", "home", "bin", "tmp", "fifo", "bigid"]) fss.utimesSync(path.join(root, p), t, t);
  fss.lutimesSync(path.join(root, "localtime"), t, t);
}

interface Snap {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  content?: string;
  link?: string;
  nlink: number;
}

/** Snapshot a tree (never following symlinks); dir mtimes included. */
function snapshot(root: string): Map<string, Snap> {
  const out = new Map<string, Snap>();
  const walk = (rel: string): void => {
    for (const name of fss.readdirSync(path.join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const s = fss.lstatSync(abs);
      const type = s.isDirectory() ? "dir" : s.isSymbolicLink() ? "symlink" : s.isFile() ? "file" : s.isFIFO() ? "fifo" : s.isCharacterDevice() ? "chr" : "other";
      const snap: Snap = {
        type,
        mode: s.mode & 0o7777,
        uid: s.uid,
        gid: s.gid,
        mtime: Math.floor(s.mtimeMs / 1000),
        size: type === "file" ? s.size : 0,
        nlink: type === "dir" ? 0 : s.nlink,
      };
      if (type === "file") snap.content = sha256hex(fss.readFileSync(abs));
      if (type === "symlink") {
        snap.link = fss.readlinkSync(abs);
        snap.mode = 0;
      }
      out.set(r, snap);
      if (type === "dir") walk(r);
    }
  };
  walk("");
  return out;
}

test("packDirectory → extractLayer round-trip preserves everything, deterministically", { skip }, async () => {
  const a = await tmpDir();
  await makeTree(a);
  const before = snapshot(a);
  const tar1 = await collect(packDirectory(a));
  const tar2 = await collect(packDirectory(a));
  assert.equal(sha256hex(tar1), sha256hex(tar2), "same tree → same bytes");
  assert.equal(tar1.length % 512, 0);

  const b = await tmpDir();
  const r = await extractBuf(tar1, b);
  assert.equal(r.diffId, `sha256:${sha256hex(tar1)}`);
  assert.deepEqual(snapshot(b), before);
  assert.equal(fss.lstatSync(path.join(b, "zzz-hardlink")).ino, fss.lstatSync(path.join(b, "bin/tool")).ino);

  // Entries come in sorted order, parents first, the second hard link as a link entry.
  const names = (await listTar(tar1)).map((h) => `${h.type}:${h.name}`);
  assert.ok(names.indexOf("directory:bin/") < names.indexOf("file:bin/tool"));
  assert.ok(names.includes("link:bin/tool-hardlink") || names.includes("link:zzz-hardlink"));
  assert.ok(names.includes("fifo:fifo"));

  // GNU tar reads our archives identically (ustar + PAX encoding).
  const c = await tmpDir();
  const gnuTar = path.join(await tmpDir(), "gnu.tar");
  fss.writeFileSync(gnuTar, tar1);
  execFileSync("tar", ["-x", "--numeric-owner", "-p", "-f", gnuTar, "-C", c]);
  const gnu = snapshot(c);
  const ours = snapshot(b);
  for (const [k, v] of ours) {
    const g = gnu.get(k);
    assert.ok(g, `GNU tar missing ${k}`);
    if (v.type === "dir") continue; // GNU tar sets dir mtimes too, but compare files only
    assert.deepEqual(g, v, k);
  }
  assert.equal(gnu.size, ours.size);

  // Re-packing the extracted tree gives the same bytes.
  const tar3 = await collect(packDirectory(b));
  assert.equal(sha256hex(tar3), sha256hex(tar1));
});

test("packDirectory converts overlay whiteouts to OCI form and back", { skip }, async () => {
  const upper = await tmpDir();
  fss.mkdirSync(path.join(upper, "etc"));
  execFileSync("mknod", [path.join(upper, "etc/motd"), "c", "0", "0"]);
  execFileSync("mknod", [path.join(upper, "etc/issue"), "c", "0", "0"]);
  fss.unlinkSync(path.join(upper, "etc/issue"));
  // Overlayfs shares one whiteout inode via hard links: both must become .wh. entries.
  fss.linkSync(path.join(upper, "etc/motd"), path.join(upper, "etc/issue"));
  fss.mkdirSync(path.join(upper, "var/cache"), { recursive: true });
  fss.writeFileSync(path.join(upper, "var/cache/new"), "n");
  execFileSync("setfattr", ["-n", "trusted.overlay.opaque", "-v", "y", path.join(upper, "var/cache")]);

  const oci = await collect(packDirectory(upper, { ociWhiteouts: true }));
  const entries = await listTar(oci);
  const names = entries.map((h) => `${h.type}:${h.name}`);
  assert.deepEqual(names, [
    "directory:etc/",
    "file:etc/.wh.issue",
    "file:etc/.wh.motd",
    "directory:var/",
    "directory:var/cache/",
    "file:var/cache/.wh..wh..opq",
    "file:var/cache/new",
  ]);

  const raw = await listTar(await collect(packDirectory(upper)));
  // The writer is docker commit's too: a second name of a device inode is a link entry, as in Docker's tar writer.
  assert.ok(raw.some((h) => h.type === "character-device" && h.name === "etc/issue"));
  assert.ok(raw.some((h) => h.type === "link" && h.name === "etc/motd" && h.linkname === "etc/issue"));
  assert.ok(!raw.some((h) => h.name.includes(".wh.")));

  // Back into overlay form.
  const back = await tmpDir();
  await extractBuf(oci, back);
  assert.ok(fss.lstatSync(path.join(back, "etc/motd")).isCharacterDevice());
  assert.ok(fss.lstatSync(path.join(back, "etc/issue")).isCharacterDevice());
  assert.equal(
    execFileSync("getfattr", ["-h", "--absolute-names", "-n", "trusted.overlay.opaque", "--only-values", path.join(back, "var/cache")]).toString(),
    "y",
  );
  // The overlay-form tar extracts to the same thing.
  const back2 = await tmpDir();
  await extractBuf(await collect(packDirectory(upper)), back2);
  assert.ok(fss.lstatSync(path.join(back2, "etc/motd")).isCharacterDevice());
});

test("encodeTarHeader uses PAX only when needed", () => {
  const plain = encodeTarHeader({ name: "a/b", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3 });
  assert.equal(plain.length, 512);
  const long = encodeTarHeader({ name: "x".repeat(300), type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3 });
  assert.ok(long.length > 512);
  assert.equal(long[156], "x".charCodeAt(0));
  const split = encodeTarHeader({ name: `${"p".repeat(120)}/${"n".repeat(90)}`, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0 });
  assert.equal(split.length, 512, "ustar prefix split");
});

test("with an id map, extraction writes host ids and packing writes the container ids back", { skip }, async () => {
  const { IdMap } = await import("../util/idmap.js");
  const map = new IdMap([{ containerId: 0, hostId: 200000, size: 65536 }], [{ containerId: 0, hostId: 300000, size: 65536 }]);
  const buf = await buildTar([
    { name: "d/", type: "directory", mode: 0o755, uid: 0, gid: 0 },
    { name: "d/f", body: "x", mode: 0o640, uid: 1000, gid: 50 },
    { name: "implied/g", body: "y", mode: 0o644, uid: 0, gid: 0 },
  ]);
  const dir = await tmpDir();
  const res = await extractBuf(buf, dir, { idMap: map });
  assert.equal(res.diffId, `sha256:${sha256hex(buf)}`, "the diffId is the archive's, not the shifted tree's");
  const own = (p: string): string => {
    const st = fss.lstatSync(path.join(dir, p));
    return `${st.uid}:${st.gid}`;
  };
  assert.equal(own("d"), "200000:300000");
  assert.equal(own("d/f"), "201000:300050");
  assert.equal(own("implied"), "200000:300000", "a directory the archive implies belongs to the container root");
  // A file the kernel would show as unmapped inside (host root) is packed as the overflow id.
  await fs.writeFile(path.join(dir, "hostroot"), "z");
  const hdrs = await listTar(await collect(packDirectory(dir, { idMap: map })));
  const byName = new Map(hdrs.map((h) => [h.name.replace(/\/$/, ""), `${h.uid}:${h.gid}`]));
  assert.equal(byName.get("d"), "0:0");
  assert.equal(byName.get("d/f"), "1000:50");
  assert.equal(byName.get("implied/g"), "0:0");
  assert.equal(byName.get("hostroot"), "65534:65534");
});

test("with an id map, an archive id outside the mapping is refused", { skip }, async () => {
  const { IdMap } = await import("../util/idmap.js");
  const map = new IdMap([{ containerId: 0, hostId: 200000, size: 1000 }], [{ containerId: 0, hostId: 200000, size: 1000 }]);
  const buf = await buildTar([{ name: "f", body: "x", uid: 5000, gid: 0 }]);
  await expectInvalid(extractBuf(buf, await tmpDir(), { idMap: map }), /Container ID 5000 cannot be mapped to a host ID/);
});

test("packDirectory refuses a file name that is not UTF-8 rather than leaving it out of the layer", async () => {
  const dir = await tmpDir();
  fss.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), Buffer.from([0x66, 0xff])]), "x");
  await assert.rejects(collect(packDirectory(dir)), (e: unknown) => e instanceof Error && /cannot archive non-UTF-8 file name "f\uFFFD"/.test(e.message));
});
