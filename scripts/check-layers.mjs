#!/usr/bin/env node
// Layering lint: each subsystem folder under src/ may import only the folders
// below it, and only through their index.ts (their public interface), never
// their internals. Dependencies point one way:
//   util → image → {registry, runtime, network, volume, build} → engine → api → daemon, cli
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(new URL("..", import.meta.url).pathname, "src");
const ALLOWED = {
  util: [],
  image: ["util"],
  registry: ["util", "image"],
  runtime: ["util", "image"],
  network: ["util", "image", "runtime"],
  volume: ["util", "image"],
  build: ["util", "image", "runtime", "registry"],
  engine: ["util", "image", "registry", "runtime", "network", "volume", "build"],
  api: ["util", "engine"],
  daemon: ["util", "engine", "api", "dashboard"],
  cli: ["util", "image", "registry", "dashboard"],
  dashboard: ["util"],
};

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith(".ts")) yield p;
  }
}

const problems = [];
for (const file of files(ROOT)) {
  const from = path.relative(ROOT, file).split(path.sep)[0];
  if (!(from in ALLOWED)) {
    problems.push(`${path.relative(ROOT, file)}: folder "${from}" is not a known subsystem (add it to scripts/check-layers.mjs)`);
    continue;
  }
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g)) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith(".")) continue;
    const target = path.resolve(path.dirname(file), spec);
    const rel = path.relative(ROOT, target);
    if (rel.startsWith("..")) continue;
    const to = rel.split(path.sep)[0];
    if (to === from) continue;
    if (!ALLOWED[from].includes(to)) {
      problems.push(`${path.relative(ROOT, file)}: ${from} must not import ${to} (${spec})`);
      continue;
    }
    // util is a bag of leaf modules; everything else is entered through its index.
    const inner = rel.split(path.sep).slice(1).join("/");
    if (to !== "util" && inner !== "index.js" && inner !== "index.ts") {
      problems.push(`${path.relative(ROOT, file)}: imports ${to}'s internals (${spec}); use ${to}/index.js`);
    }
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(`layering: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log("layering: ok");
