/** The local log format: entries written by the reference dockerd 20.10 decode, a torn tail waits, docker logs options apply. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { decodeEntries, nanoTime, readLocalLogs } from "./local.js";

// `docker run --log-driver local busybox sh -c 'echo hello; echo err >&2; printf partial'` on dockerd 20.10:
// its local-logs/container.log, byte for byte.
const DOCKERD = Buffer.from(
  "000000190a067374646f757410c9a7e086f1aec5f7181a0568656c6c6f00000019000000170a0673746465727210c98be286f1aec5f7181a0365727200000017" +
    "000000630a067374646f757410c0ac9290f1aec5f7181a077061727469616c20012a44124061626461386461363037643835363339613939613562393266383239" +
    "613431653032633832366661333834633636373363303966393063333331633832616166180100000063",
  "hex",
);

async function collect(file: string, opts: Partial<Parameters<typeof readLocalLogs>[1]> = {}): Promise<string> {
  const s = readLocalLogs(file, { stdout: true, stderr: true, follow: false, tail: "all", since: 0, until: 0, timestamps: false, mux: false, ...opts });
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts).toString();
}

void describe("local log format", () => {
  void test("decodes dockerd's entries: source, nanosecond time, line and the partial flag of a line without newline", () => {
    const { entries, used } = decodeEntries(DOCKERD);
    assert.equal(used, DOCKERD.length);
    assert.deepEqual(entries.map((e) => [e.source, e.line.toString(), e.partial, nanoTime(e.timeNano)]), [
      ["stdout", "hello", false, "2026-12-07T21:19:37.472005065Z"], // as `docker logs -t` printed them on dockerd
      ["stderr", "err", false, "2026-12-07T21:19:37.472034249Z"],
      ["stdout", "partial", true, "2026-12-07T21:19:37.491699264Z"],
    ]);
  });

  void test("leaves a torn last entry for later and refuses a size mismatch", () => {
    assert.equal(decodeEntries(DOCKERD.subarray(0, DOCKERD.length - 3)).entries.length, 2);
    assert.equal(decodeEntries(DOCKERD.subarray(0, DOCKERD.length - 3)).used, 0x21 + 0x1f);
    const bad = Buffer.from(DOCKERD);
    bad.writeUInt32BE(0x18, 4 + 0x19);
    assert.throws(() => decodeEntries(bad), /size mismatch/);
  });

  void test("reads rotated files oldest first (.N.gz and plain .N), then the current one, as docker logs prints them", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "berth-local-"));
    try {
      const f = path.join(dir, "container.log");
      const [hello, err] = [DOCKERD.subarray(0, 0x21), DOCKERD.subarray(0x21, 0x21 + 0x1f)];
      writeFileSync(`${f}.2.gz`, gzipSync(hello));
      writeFileSync(`${f}.1`, err);
      writeFileSync(f, DOCKERD.subarray(0x21 + 0x1f));
      assert.equal(await collect(f), "hello\nerr\npartial");
      assert.equal(await collect(f, { stderr: false }), "hello\npartial");
      assert.equal(await collect(f, { tail: 1, timestamps: true }), "2026-12-07T21:19:37.491699264Z partial");
      const t = Date.parse("2026-12-07T21:19:37.48Z") / 1000;
      assert.equal(await collect(f, { since: t }), "partial");
      assert.equal(await collect(f, { until: t }), "hello\nerr\n");
      const muxed = Buffer.from(await collect(f, { mux: true, stdout: false }), "latin1");
      assert.deepEqual([...muxed.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 4]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
