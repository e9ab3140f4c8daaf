import { promises as fs, constants as fsc } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { errnoCode } from "./errors.js";

/** Write a file atomically: temp file in the same directory, fsync, rename, fsync dir. */
export async function atomicWriteFile(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.tmp-${path.basename(file)}-${randomBytes(6).toString("hex")}`);
  const fh = await fs.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await syncDir(dir);
}

export async function syncDir(dir: string): Promise<void> {
  const dh = await fs.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await atomicWriteFile(file, JSON.stringify(value));
}

/** Read JSON; undefined when the file does not exist. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  }
  return JSON.parse(text) as T;
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (e) {
    if (errnoCode(e) === "ENOENT") return false;
    throw e;
  }
}

export async function mkdirp(p: string, mode = 0o755): Promise<void> {
  await fs.mkdir(p, { recursive: true, mode });
}
