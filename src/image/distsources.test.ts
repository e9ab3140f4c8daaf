import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Digest } from "../util/digest.js";
import { DistributionSources } from "./distsources.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "berth-distsources-"));
after(() => fs.rm(tmp, { recursive: true, force: true }));
let n = 0;
const root = (): string => path.join(tmp, `r${n++}`);
const hex = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;
const blob = (c: string, diff = "d") => ({ digest: hex(c), mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 10, diffId: hex(diff) });

test("sources are kept per blob, most recent repository first, and survive a restart", async () => {
  const dir = root();
  await fs.mkdir(dir);
  const a = new DistributionSources(dir);
  await a.init();
  await a.record(blob("a"), "reg:5000/one");
  await a.record(blob("b"), "reg:5000/two");
  await a.record(blob("a"), "reg:5000/three");
  await a.record(blob("a"), "reg:5000/one");
  const b = new DistributionSources(dir);
  await b.init();
  assert.deepEqual(
    b.forDiffId(hex("d")).map((x) => [x.digest, x.repos]),
    [
      [hex("a"), ["reg:5000/one", "reg:5000/three"]],
      [hex("b"), ["reg:5000/two"]],
    ],
  );
  assert.deepEqual(b.forDiffId(hex("e")), []);
});

test("at most `blobs` blobs (the least recently recorded go) and `repos` repositories per blob", async () => {
  const dir = root();
  await fs.mkdir(dir);
  const s = new DistributionSources(dir, { blobs: 3, repos: 2 });
  await s.init();
  for (const c of ["1", "2", "3", "4", "5"]) await s.record(blob(c), "reg/x");
  await s.record(blob("3"), "reg/y");
  await s.record(blob("3"), "reg/z");
  const left = s.forDiffId(hex("d"));
  assert.deepEqual(left.map((x) => x.digest), [hex("3"), hex("5"), hex("4")]);
  assert.deepEqual(left[0]?.repos, ["reg/z", "reg/y"]);
  const onDisk = JSON.parse(await fs.readFile(path.join(dir, "distribution-sources.json"), "utf8")) as { blobs: Record<string, unknown> };
  assert.equal(Object.keys(onDisk.blobs).length, 3);
});

test("forget drops one repository, and the blob with its last one", async () => {
  const dir = root();
  await fs.mkdir(dir);
  const s = new DistributionSources(dir);
  await s.init();
  await s.record(blob("a"), "reg/x");
  await s.record(blob("a"), "reg/y");
  await s.forget(hex("a"), "reg/y");
  assert.deepEqual(s.forDiffId(hex("d"))[0]?.repos, ["reg/x"]);
  await s.forget(hex("a"), "reg/x");
  assert.deepEqual(s.forDiffId(hex("d")), []);
});

test("a file left by another version (or not an index) is ignored, not fatal", async () => {
  const dir = root();
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, "distribution-sources.json"), JSON.stringify({ version: 7, blobs: [] }));
  const s = new DistributionSources(dir);
  await s.init();
  assert.deepEqual(s.forDiffId(hex("d")), []);
  await s.record(blob("a"), "reg/x");
  assert.equal(s.forDiffId(hex("d")).length, 1);
});
