import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Runtime } from "./runtime.js";

describe("the runtime addressed by container (and exec) handles", () => {
  it("keeps a container's bundle in <state root>/<id> and each exec's monitor state below it", () => {
    const rt = new Runtime({ runtime: "runc", runtimeRoot: "/rr", stateRoot: "/st" });
    const c = rt.container("c".repeat(64));
    assert.equal(c.stateDir, `/st/${"c".repeat(64)}`);
    assert.equal(c.exec("e".repeat(64)).stateDir, `/st/${"c".repeat(64)}/exec/${"e".repeat(16)}`);
    assert.equal(c.exec("e".repeat(64)).containerId, c.id);
  });

  it("sweeps the state of execs it does not know whose monitors are gone, keeps the known ones", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "berth-proc-"));
    try {
      const c = new Runtime({ runtime: "runc", runtimeRoot: path.join(dir, "rr"), stateRoot: dir }).container("d".repeat(64));
      const known = c.exec("1".repeat(64));
      const lost = c.exec("2".repeat(64));
      for (const e of [known, lost]) await fs.mkdir(e.stateDir, { recursive: true });
      await c.sweepExecs(["1".repeat(64)]);
      assert.deepEqual(await fs.readdir(path.join(c.stateDir, "exec")), [path.basename(known.stateDir)]);
      await known.remove(0);
      assert.deepEqual(await fs.readdir(path.join(c.stateDir, "exec")), []);
      await c.sweepExecs([]); // nothing left: no error
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
