import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { DetachScanner, parseDetachKeys } from "./stdio.js";

/** Feed chunks through a scanner; returns what passed and whether it detached. */
async function scan(keys: Buffer, chunks: (string | Buffer)[]): Promise<{ out: string; detached: boolean }> {
  let detached = false;
  const s = new DetachScanner(keys, () => (detached = true));
  const out: Buffer[] = [];
  s.on("data", (b: Buffer) => out.push(b));
  for (const c of chunks) s.write(typeof c === "string" ? Buffer.from(c, "latin1") : c);
  s.end();
  await new Promise((r) => setImmediate(r));
  return { out: Buffer.concat(out).toString("latin1"), detached };
}

const PQ = Buffer.from([16, 17]);

describe("detach keys", () => {
  it("parses Docker's key syntax", () => {
    assert.deepEqual([...parseDetachKeys("ctrl-p,ctrl-q")], [16, 17]);
    assert.deepEqual([...parseDetachKeys("ctrl-@,ctrl-a,ctrl-z,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")], [0, 1, 26, 27, 28, 29, 30, 31]);
    assert.deepEqual([...parseDetachKeys("a,DEL,Z")], [97, 127, 90]);
    assert.throws(() => parseDetachKeys("ctrl-?"), /Invalid detach keys \(ctrl-\?\) provided/);
    assert.throws(() => parseDetachKeys("ab"), /Invalid detach keys/);
  });

  it("passes ordinary input through untouched", async () => {
    assert.deepEqual(await scan(PQ, ["hello ", "world\n"]), { out: "hello world\n", detached: false });
  });

  it("detaches on the sequence in one write or split across writes, keeping what came before", async () => {
    assert.deepEqual(await scan(PQ, ["ls\n\x10\x11after"]), { out: "ls\n", detached: true });
    assert.deepEqual(await scan(PQ, ["ls\x10", "\x11", "more"]), { out: "ls", detached: true });
  });

  it("forwards a partial match that turns out to be input, in order", async () => {
    assert.deepEqual(await scan(PQ, ["a\x10", "b"]), { out: "a\x10b", detached: false });
    assert.deepEqual(await scan(PQ, ["\x10\x10\x11"]), { out: "\x10", detached: true });
    assert.deepEqual(await scan(Buffer.from("abc"), ["xaby", "abab", "c"]), { out: "xabyab", detached: true });
  });

  it("gives back a held prefix when the input ends", async () => {
    assert.deepEqual(await scan(PQ, ["x\x10"]), { out: "x\x10", detached: false });
  });

  it("detaches on a one-key sequence", async () => {
    assert.deepEqual(await scan(Buffer.from([3]), ["ab\x03cd"]), { out: "ab", detached: true });
  });
});
