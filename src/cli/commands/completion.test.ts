import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { buildProgram } from "../program.js";
import { bashCompletion, zshCompletion } from "./completion.js";

/** Source the script in bash, complete `words` (the last one being typed), return COMPREPLY. */
function complete(script: string, words: string[]): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), "berth-compl-"));
  try {
    writeFileSync(path.join(dir, "c.sh"), script);
    const arr = words.map((w) => `'${w}'`).join(" ");
    const r = spawnSync("bash", ["-c", `source ${dir}/c.sh; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split("\n").filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("berth completion", () => {
  const script = bashCompletion(buildProgram());

  it("completes commands, subcommands and flags from the command tree", () => {
    assert.deepEqual(complete(script, ["berth", "cont"]), ["container", "context"]);
    assert.deepEqual(complete(script, ["berth", "context", ""]), ["create", "inspect", "ls", "list", "rm", "remove", "show", "use"]);
    assert.deepEqual(complete(script, ["berth", "--context", "x", "context", "ls", "--f"]), ["--format"]);
    assert.ok(complete(script, ["berth", "run", "--pla"]).includes("--platform"));
    assert.deepEqual(complete(script, ["berth", "--tlsv"]), ["--tlsverify"]);
  });

  it("gives zsh the same function through bashcompinit", () => {
    const z = zshCompletion(buildProgram());
    assert.match(z, /^#compdef berth\n/);
    assert.match(z, /bashcompinit/);
    assert.ok(z.includes("complete -F _berth berth"));
  });
});
