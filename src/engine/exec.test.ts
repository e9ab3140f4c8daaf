import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { replaceOrAppendEnv } from "./exec.js";


describe("exec environment", () => {
  it("replaces by key, appends new keys and unsets bare names (Docker's ReplaceOrAppendEnvValues)", () => {
    assert.deepEqual(replaceOrAppendEnv(["PATH=/bin", "HOSTNAME=h", "A=1"], ["A=2", "B=3", "HOSTNAME", "PATH=/x"]), ["PATH=/x", "A=2", "B=3"]);
  });
});
