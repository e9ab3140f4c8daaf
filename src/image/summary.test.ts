/** ImageStore.summary: what `docker images` lists, remembered per image id instead of read from disk each time. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { ImageStore } from "./index.js";
import { encodeTarHeader, tarEnd, tarPadding } from "./tar.js";

const skip = process.getuid?.() === 0 ? false : "needs root (layers keep owners)";

function rootfsTar(files: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, body] of Object.entries(files)) {
    const data = Buffer.from(body);
    parts.push(encodeTarHeader({ name, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 1_600_000_000, size: data.length }), data, tarPadding(data.length));
  }
  parts.push(tarEnd());
  return Buffer.concat(parts);
}

test("an image's summary has its config's created time and labels and its size, and is remembered, not re-read", { skip }, async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "berth-summary-"));
  try {
    const s = new ImageStore(tmp);
    await s.init();
    const id = await s.importRootfs(Readable.from([rootfsTar({ "etc/x": "x".repeat(5000) })]), { config: { Labels: { a: "1" } } });
    const cfg = await s.config(id);
    const first = await s.summary(id);
    assert.deepEqual(first, { created: cfg.created, labels: { a: "1" }, size: await s.size(id) });
    assert.ok(first.size >= 5000);
    assert.ok(Object.isFrozen(first), "shared between callers: frozen");
    // Remembered: the listing no longer reads the config blob or the layers' records.
    await fs.rm(path.join(tmp, "content", "blobs", "sha256", id.slice(7)));
    assert.deepEqual(await s.summary(id), first);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
