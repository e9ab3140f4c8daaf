import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(new URL("./main.js", import.meta.url));

test("berthd's #! line starts node with its memory settings (malloc tunables, a 1 MiB semi-space)", () => {
  const first = readFileSync(entry, "utf8").split("\n")[0] ?? "";
  // Kernels before 5.1 read only the first 128 bytes of a #! line.
  assert.ok(first.length < 128, `#! line too long for older kernels (${first.length} bytes): ${first}`);
  const m = /^#!\/usr\/bin\/env -S (.+)$/.exec(first);
  assert.ok(m, `not an env -S line: ${first}`);
  // Run the interpreter line as the kernel would, with a probe script instead of berthd.
  const r = spawnSync("/usr/bin/env", ["-S", m[1] as string, "-p", "JSON.stringify([process.execArgv, process.env.GLIBC_TUNABLES, require('v8').getHeapStatistics().total_available_size > 0])"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const [execArgv, tunables, ok] = JSON.parse(r.stdout) as [string[], string, boolean];
  assert.ok(execArgv.includes("--max-semi-space-size=1"), r.stdout);
  assert.match(tunables, /glibc\.malloc\.mmap_threshold=131072/);
  assert.match(tunables, /glibc\.malloc\.arena_max=2/);
  assert.equal(ok, true);
});
