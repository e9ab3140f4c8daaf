import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fss, { promises as fs } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { suiteTempDir } from "../util/testfixtures.js";
import { type TestTarEntry, buildTar } from "../util/testtar.js";
import { extractLayer } from "./tar.js";
import { TarSplitRecorder, replayTarSplit } from "./tarsplit.js";

const skip = process.getuid?.() === 0 ? false : "needs root";
const tmp = suiteTempDir("berth-tarsplit-");
const tarOf = (entries: TestTarEntry[]): Promise<Buffer> => buildTar(entries, { mtime: new Date(1_600_000_000_000) });

let n = 0;
/** Unpack `tar` recording its split (in odd-sized chunks), then replay it. */
async function roundTrip(tar: Buffer): Promise<Buffer> {
  const dir = path.join(tmp, `l${n++}`);
  await fs.mkdir(dir);
  const split = `${dir}.split`;
  const rec = new TarSplitRecorder(split);
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += 777) parts.push(tar.subarray(i, i + 777));
  const res = await extractLayer(Readable.from(parts), dir, { onData: (c) => rec.push(c) });
  assert.equal(res.diffId, `sha256:${createHash("sha256").update(tar).digest("hex")}`);
  await rec.finish();
  const splitSize = fss.statSync(split).size;
  assert.ok(splitSize < tar.length / 2 || tar.length < 8192, `split ${splitSize} bytes for a ${tar.length}-byte tar`);
  const out: Buffer[] = [];
  for await (const c of replayTarSplit(dir, split)) out.push(c as Buffer);
  return Buffer.concat(out);
}

test("a replayed tar-split gives back the exact layer tar (long names, links, whiteouts, padding)", { skip }, async () => {
  const long = `${"d".repeat(120)}/${"f".repeat(130)}`;
  const tar = await tarOf([
    { name: "etc", type: "directory", mode: 0o755 },
    { name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
    { name: "etc/empty", body: "" },
    { name: "etc/exact", body: Buffer.alloc(1024, 1) },
    { name: "bin/big", body: Buffer.alloc(300_001, 7) },
    { name: "bin/sh", type: "symlink", linkname: "/bin/busybox" },
    { name: "bin/ln", type: "link", linkname: "bin/big" },
    { name: "etc/.wh.gone", body: "" },
    { name: "etc/.wh..wh..opq", body: "" },
    { name: long, body: "deep\n" },
    { name: "./dot/file", body: "dot\n" },
  ]);
  const padded = Buffer.concat([tar, Buffer.alloc(10240 - (tar.length % 10240))]);
  assert.ok((await roundTrip(tar)).equals(tar));
  assert.ok((await roundTrip(padded)).equals(padded));
});

test("GNU tar's own archives (long-name records, ustar prefixes) replay exactly", { skip }, async () => {
  const src = path.join(tmp, "src");
  const deep = path.join(src, "a".repeat(90), "b".repeat(90));
  await fs.mkdir(deep, { recursive: true });
  await fs.writeFile(path.join(deep, "c".repeat(100)), "long\n");
  await fs.writeFile(path.join(src, "x"), Buffer.alloc(5000, 3));
  for (const format of ["gnu", "posix", "ustar"]) {
    let tar: Buffer;
    try {
      tar = execFileSync("tar", ["--format", format, "-C", src, "-cf", "-", "."], { maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      if (format === "ustar") continue; // names too long for plain ustar
      throw new Error(`tar --format ${format} failed`);
    }
    assert.ok((await roundTrip(tar)).equals(tar), `format ${format}`);
  }
});

test("a replay notices layer content that changed", { skip }, async () => {
  const tar = await tarOf([{ name: "f", body: "original\n" }]);
  const dir = path.join(tmp, "changed");
  await fs.mkdir(dir);
  const rec = new TarSplitRecorder(`${dir}.split`);
  await extractLayer(Readable.from([tar]), dir, { onData: (c) => rec.push(c) });
  await rec.finish();
  fss.rmSync(path.join(dir, "f"));
  fss.symlinkSync("/etc/passwd", path.join(dir, "f"));
  await assert.rejects(async () => {
    for await (const c of replayTarSplit(dir, `${dir}.split`)) void c;
  }, /not what the layer tar had/);
});

test("a layer of hundreds of MiB of zero blocks and PAX records is recorded and replayed in bounded memory", { skip }, async () => {
  const dir = path.join(tmp, "bomb");
  await fs.mkdir(dir);
  // 1,000 entries of the same file, each behind a 64 KiB PAX record, then 160 MiB of zero blocks.
  const pax = Buffer.from(`65549 comment=${"p".repeat(65549 - 15)}\n`);
  assert.equal(pax.length, 65549);
  const entry = await tarOf([{ name: "f", body: "x\n", pax: { comment: "p".repeat(65549 - 15) } }]);
  const one = entry.subarray(0, entry.length - 1024); // without the end-of-archive blocks
  const ZERO_MIB = 160;
  async function* src(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 1000; i++) yield one;
    const z = Buffer.alloc(1 << 20);
    for (let i = 0; i < ZERO_MIB; i++) yield z;
  }
  const rssBefore = process.memoryUsage().rss;
  const split = path.join(tmp, "bomb.split");
  const rec = new TarSplitRecorder(split);
  const res = await extractLayer(Readable.from(src()), dir, { onData: (c) => rec.push(c) });
  await rec.finish();
  const hash = createHash("sha256");
  let size = 0;
  for await (const c of replayTarSplit(dir, split)) {
    hash.update(c as Buffer);
    size += (c as Buffer).length;
  }
  const peakGrowth = process.resourceUsage().maxRSS * 1024 - rssBefore;
  assert.equal(size, res.size);
  assert.equal(`sha256:${hash.digest("hex")}`, res.diffId);
  assert.ok(res.size > ZERO_MIB << 20);
  assert.ok(fss.statSync(split).size < 4 << 20, `tar-split of ${fss.statSync(split).size} bytes`);
  assert.ok(peakGrowth < 96 << 20, `RSS grew by ${Math.round(peakGrowth / 1048576)} MiB for a ${Math.round(res.size / 1048576)} MiB layer`);
});
