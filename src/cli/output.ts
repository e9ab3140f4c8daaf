/**
 * docker's `-o/--output` of save and export: a terminal is refused, the file's directory is
 * checked first, and the archive is written to a temporary file renamed into place once complete.
 */
import { createWriteStream, existsSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

/** The file to write (undefined: stdout), after docker's checks; `failing` starts its errors ("failed to save image"). */
export function outputFile(output: string | undefined, failing: string, dashIsStdout: boolean): string | undefined {
  const toFile = output !== undefined && output !== "" && !(dashIsStdout && output === "-");
  if (!toFile && process.stdout.isTTY) throw new Error("cowardly refusing to save to a terminal. Use the -o flag or redirect");
  if (!toFile) return undefined;
  const file = path.resolve(output);
  const dir = path.dirname(file);
  if (!existsSync(dir)) throw new Error(`${failing}: invalid output path: stat ${dir}: no such file or directory`);
  if (!statSync(dir).isDirectory()) throw new Error(`${failing}: invalid output path: "${dir}" must be a directory`);
  return file;
}

/** The response body to stdout, or to `file` through a temporary file (as docker does). */
export async function writeOutput(res: Readable, file: string | undefined): Promise<void> {
  if (file === undefined) {
    await pipeline(res, process.stdout, { end: false });
    return;
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.berth-${process.pid}`);
  try {
    await pipeline(res, createWriteStream(tmp, { mode: 0o644 }));
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
