/** The json-file reader gives the whole log however far the client is behind (it used to stop at ~32 KiB). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { readLogs } from "./logs.js";

void test("json-file: docker logs without -f returns every line of a log far larger than the stream buffer", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-jsonlog-"));
  try {
    const file = path.join(dir, "c-json.log");
    const lines = Array.from({ length: 20000 }, (_, i) => JSON.stringify({ log: `line-${i}\n`, stream: "stdout", time: "2026-12-07T21:00:00.000000000Z" }));
    writeFileSync(file, `${lines.join("\n")}\n`);
    const s = readLogs(file, { stdout: true, stderr: true, follow: false, tail: "all", since: 0, until: 0, timestamps: false, mux: false });
    const parts: Buffer[] = [];
    for await (const c of s) parts.push(c as Buffer);
    const got = Buffer.concat(parts).toString().split("\n");
    assert.equal(got.length, 20001);
    assert.equal(got[19999], "line-19999");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
