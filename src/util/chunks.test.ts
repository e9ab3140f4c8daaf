import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { coalesce } from "./chunks.js";

async function collect(src: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of src) out.push(c);
  return out;
}

async function* from(parts: Buffer[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield p;
}

test("coalesce regroups small chunks into chunks of at least min bytes, in order, without losing bytes", async () => {
  const data = randomBytes(10_000);
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += 700) parts.push(data.subarray(off, off + 700));
  const out = await collect(coalesce(from(parts), 4096));
  assert.ok(Buffer.concat(out).equals(data));
  for (const c of out.slice(0, -1)) assert.ok(c.length >= 4096, `chunk of ${c.length} bytes`);
  assert.equal(out.length, 3); // 4200 + 4200 + 1600
});

test("coalesce passes big chunks through as they are and skips empty ones", async () => {
  const big = randomBytes(5000);
  const small = Buffer.from("abc");
  const out = await collect(coalesce(from([Buffer.alloc(0), big, small, Buffer.alloc(0)]), 4096));
  assert.equal(out.length, 2);
  assert.equal(out[0], big); // the same buffer: no copy
  assert.ok((out[1] as Buffer).equals(small));
  assert.deepEqual(await collect(coalesce(from([]), 4096)), []);
});

test("coalesce gives up the bytes it holds only after the source ends, and passes the source's error on", async () => {
  async function* failing(): AsyncGenerator<Buffer> {
    yield Buffer.from("partial");
    throw new Error("source broke");
  }
  const seen: Buffer[] = [];
  await assert.rejects(
    (async () => {
      for await (const c of coalesce(failing(), 4096)) seen.push(c);
    })(),
    /source broke/,
  );
  assert.deepEqual(seen, []);
});
