#!/usr/bin/env node
// Bundles the dashboard's front end (src/dashboard/ui: Preact, uPlot, xterm.js) into
// dist/dashboard/{index.html,assets/app.js,assets/app.css} with esbuild: no CDN, works offline.
// Type-checks the UI first (its own tsconfig: DOM types, JSX), then bundles (~1 s).
// Run by `npm run build` after tsc.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ui = path.join(root, "src", "dashboard", "ui");
const out = path.join(root, "dist", "dashboard");

const tsc = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(ui, "tsconfig.json")], { stdio: "inherit" });
if (tsc.status !== 0) process.exit(1);

mkdirSync(path.join(out, "assets"), { recursive: true });
await build({
  entryPoints: { app: path.join(ui, "main.tsx") },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "esm",
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: path.join(out, "assets"),
  logLevel: "warning",
});
copyFileSync(path.join(ui, "index.html"), path.join(out, "index.html"));
