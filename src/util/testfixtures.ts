/**
 * Set-up shared by unit tests (imported by *.test.ts only): a temp directory that lives as long as
 * the suite that asked for it, so tests neither leak directories nor repeat the before/after pair.
 */
import { mkdirSync, mkdtempSync, promises as fs, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after } from "node:test";

/**
 * A new directory named `prefix` + random characters (under the system temp dir unless `prefix`
 * is absolute), made now and removed, with its contents, after the calling suite (or file) ends.
 */
export function suiteTempDir(prefix: string): string {
  const dir = mkdtempSync(path.isAbsolute(prefix) ? prefix : path.join(os.tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A function that makes a new empty directory, inside one suiteTempDir(prefix), at each call. */
export function suiteDirs(prefix: string): () => Promise<string> {
  const base = suiteTempDir(prefix);
  let n = 0;
  return async () => {
    const d = path.join(base, `d${n++}`);
    await fs.mkdir(d);
    return d;
  };
}

/**
 * A root for tests of path resolution confined to it: `base` (a suiteTempDir) holding `root`,
 * with an empty etc/, and beside it `outside`, which nothing resolved in the root may reach.
 */
export function suiteRootAndOutside(prefix: string): { base: string; root: string; outside: string } {
  const base = suiteTempDir(prefix);
  const root = path.join(base, "root");
  const outside = path.join(base, "outside");
  mkdirSync(path.join(root, "etc"), { recursive: true });
  mkdirSync(outside);
  return { base, root, outside };
}
