#!/usr/bin/env node
// Layering lint: each subsystem folder under src/ may import only the folders
// ALLOWED lists for it, and only through their index.ts (their public interface),
// never their internals. ALLOWED is the one statement of the dependency graph:
// `node scripts/check-layers.mjs --print` prints it (docs/architecture.md quotes that).
// The table is exact: an import it does not list fails, and so does a listed edge no
// file uses (between folders that exist), so that it never drifts from the code.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(new URL("..", import.meta.url).pathname, "src");
const ALLOWED = {
  util: [],
  image: ["util"],
  registry: ["util"],
  runtime: ["util"],
  network: ["util"],
  volume: ["util", "image"],
  build: ["util", "image", "runtime"],
  engine: ["util", "image", "registry", "runtime", "network", "volume", "build"],
  api: ["util", "engine"],
  daemon: ["util", "engine", "api", "dashboard"],
  cli: ["util", "image", "registry", "client", "dashboard"],
  client: [],
  dashboard: ["util"],
};

if (process.argv.includes("--print")) {
  const width = Math.max(...Object.keys(ALLOWED).map((k) => k.length));
  for (const [from, to] of Object.entries(ALLOWED)) console.log(`${from.padEnd(width)}  → ${to.length > 0 ? to.join(", ") : "(nothing)"}`);
  process.exit(0);
}

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith(".ts")) yield p;
  }
}

const problems = [];
const used = new Set();
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
    used.add(`${from}→${to}`);
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
const present = new Set(readdirSync(ROOT).filter((n) => statSync(path.join(ROOT, n)).isDirectory()));
for (const [from, tos] of Object.entries(ALLOWED)) {
  for (const to of tos) {
    if (present.has(from) && present.has(to) && !used.has(`${from}→${to}`)) problems.push(`ALLOWED lets ${from} import ${to}, but nothing in src/${from} does: remove the edge (the table states the real graph)`);
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  console.error(`layering: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log("layering: ok");
