import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Runtime, runtimeErrorText } from "./index.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A stand-in OCI runtime: a script that records its arguments and the resources file, or fails like runc. */
function fakeRuntime(body: string): { rt: Runtime; dir: string } {
  const dir = mkdtempSync("/tmp/berth-rt-");
  dirs.push(dir);
  const bin = path.join(dir, "fake-runc");
  writeFileSync(bin, `#!/bin/sh\n${body}\n`);
  chmodSync(bin, 0o755);
  return { rt: new Runtime({ runtime: bin, runtimeRoot: path.join(dir, "root"), stateRoot: path.join(dir, "state") }), dir };
}

describe("runtime update (runc update)", () => {
  it("hands the resources to `<runtime> update --resources <file> <id>` and removes the file", async () => {
    const { rt, dir } = fakeRuntime(`echo "$@" > "${"$"}(dirname "$0")/args"; cat "$5" > "${"$"}(dirname "$0")/resources"`);
    await rt.init();
    const id = "a".repeat(64);
    const c = rt.container(id);
    await import("node:fs/promises").then((fs) => fs.mkdir(c.stateDir));
    await c.update({ memory: { limit: 50331648 }, pids: { limit: -1 } });
    assert.equal(readFileSync(path.join(dir, "args"), "utf8").trim(), `--root ${path.join(dir, "root")} update --resources ${path.join(c.stateDir, "update.json")} ${id}`);
    assert.deepEqual(JSON.parse(readFileSync(path.join(dir, "resources"), "utf8")), { memory: { limit: 50331648 }, pids: { limit: -1 } });
    assert.deepEqual(readdirSync(c.stateDir), []);
  });

  it("fails with the runtime's own error message", async () => {
    const { rt } = fakeRuntime(
      `echo 'time="2026-01-01T00:00:00Z" level=warning msg="Setting back cgroup configs failed"' >&2; echo 'time="2026-01-01T00:00:00Z" level=error msg="unable to set memory limit to 8388608 (current usage: 31776768, peak usage: \\"x\\")"' >&2; exit 1`,
    );
    await rt.init();
    const c = rt.container("b".repeat(64));
    await import("node:fs/promises").then((fs) => fs.mkdir(c.stateDir));
    await assert.rejects(c.update({ memory: { limit: 8388608 } }), { message: 'unable to set memory limit to 8388608 (current usage: 31776768, peak usage: "x")' });
  });

  it("keeps plain error text as it is", () => {
    assert.equal(runtimeErrorText("container not running\n"), "container not running");
    assert.equal(runtimeErrorText('level=error msg="a"\nlevel=fatal msg="b\\tc"'), "a\nb\tc");
  });
});
