#!/usr/bin/env node
// Runs every compiled test file with node's built-in test runner (its summary is
// what CI reads). Unit tests live beside the code (dist/src/**/x.test.js),
// end-to-end tests in dist/test/. Pass file filters as arguments to run a subset.
import { readdirSync, statSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(new URL("..", import.meta.url).pathname, "dist");
const found = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith(".test.js")) found.push(p);
  }
}
for (const sub of ["src", "test"]) {
  try {
    walk(path.join(root, sub));
  } catch {
    // folder may not exist
  }
}
const filters = process.argv.slice(2);
const files = found.sort().filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error("no test files found (did the build run?)");
  process.exit(1);
}
const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
