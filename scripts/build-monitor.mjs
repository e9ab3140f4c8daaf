#!/usr/bin/env node
// Compiles the per-container monitor (src/runtime/monitor/berth-monitor.c and its headers) to
// dist/berth-monitor. Run by `npm run build` after tsc.
//
// - Skips the compile when dist/berth-monitor is newer than the source.
// - Links statically when the C library allows it (smaller RSS, no runtime
//   dependency), falling back to a dynamic link with a warning.
// - Fails loudly (exit 1) when no C compiler is available or it reports errors.
// Environment: CC (default "cc"), CFLAGS (extra flags), BERTH_MONITOR_FORCE=1
// to rebuild unconditionally.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "src", "runtime", "monitor", "berth-monitor.c");
const out = path.join(root, "dist", "berth-monitor");

function mtime(file) {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

// The monitor is one compile unit: berth-monitor.c and the headers it includes beside it.
const srcTime = mtime(src) === undefined ? undefined : Math.max(...readdirSync(path.dirname(src)).map((f) => mtime(path.join(path.dirname(src), f)) ?? 0));
if (srcTime === undefined) {
  console.error(`build-monitor: source not found: ${src}`);
  process.exit(1);
}
const outTime = mtime(out);
if (process.env.BERTH_MONITOR_FORCE !== "1" && outTime !== undefined && outTime > srcTime) {
  console.log("build-monitor: dist/berth-monitor is up to date");
  process.exit(0);
}

const cc = process.env.CC || "cc";
const extra = (process.env.CFLAGS || "").split(/\s+/).filter(Boolean);
const base = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", ...extra];
mkdirSync(path.dirname(out), { recursive: true });
const tmp = `${out}.tmp-${process.pid}`;

function compile(flags) {
  const args = [...base, ...flags, "-o", tmp, src];
  const r = spawnSync(cc, args, { encoding: "utf8" });
  if (r.error) {
    const code = /** @type {NodeJS.ErrnoException} */ (r.error).code;
    if (code === "ENOENT") {
      console.error(
        `build-monitor: C compiler "${cc}" not found. berth needs a C compiler to build its ` +
          `container monitor: install one (Debian/Ubuntu: apt-get install gcc libc6-dev) or set CC.`,
      );
    } else {
      console.error(`build-monitor: cannot run ${cc}: ${r.error.message}`);
    }
    process.exit(1);
  }
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim(), cmd: `${cc} ${args.join(" ")}` };
}

let result = compile(["-static", "-s"]);
if (!result.ok) {
  const dynamic = compile(["-s"]);
  if (!dynamic.ok) {
    rmSync(tmp, { force: true });
    console.error(`build-monitor: compiling the monitor failed:\n$ ${dynamic.cmd}\n${dynamic.output}`);
    process.exit(1);
  }
  console.warn(
    "build-monitor: warning: static linking failed (is the static C library installed?); " +
      "built a dynamically linked monitor instead",
  );
  result = dynamic;
}
if (result.output) console.warn(result.output);
renameSync(tmp, out);
console.log(`build-monitor: built ${path.relative(root, out)}`);
