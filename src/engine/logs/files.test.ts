/** Following a log across the monitor's rotations: rename (and gzip) of FILE, truncation in place. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { followLog } from "./files.js";

void test("followLog reads the rotated file to its end through the open descriptor, then the new file from its start", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-follow-"));
  try {
    const file = path.join(dir, "c.log");
    writeFileSync(file, "one\n");
    let got = "";
    let release!: () => void;
    const stop = new Promise<void>((r) => (release = r));
    const seen: ((s: string) => void)[] = [];
    const reached = (want: string) => new Promise<void>((r) => seen.push((s) => s.endsWith(want) && r()));
    const done = followLog(file, 0, new PassThrough(), stop, async (b) => {
      const used = b.lastIndexOf(10) + 1; // whole lines only
      got += b.subarray(0, used).toString();
      for (const f of seen) f(got);
      return used;
    });
    await reached("one\n");
    // the monitor: last line into FILE, FILE becomes FILE.1 and is unlinked (as gzip does), a new FILE
    appendFileSync(file, "two\npart");
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, "ial\n");
    writeFileSync(file, "three\n");
    rmSync(`${file}.1`);
    await reached("three\n");
    writeFileSync(file, "4\n"); // truncated in place (max-file=1) and written again
    await reached("three\n4\n");
    release();
    await done;
    assert.equal(got, "one\ntwo\npartial\nthree\n4\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
