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

/** A JSON document, atomically; the daemon's records are root's only (0600, as dockerd's config.v2.json). */
export async function writeJson(file: string, value: unknown, mode = 0o600): Promise<void> {
  await atomicWriteFile(file, JSON.stringify(value), mode);
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

/** mkdir -p; directories it creates get `mode` (root-only unless asked: the daemon's state is private). */
export async function mkdirp(p: string, mode = 0o700): Promise<void> {
  await fs.mkdir(p, { recursive: true, mode });
}

/**
 * A directory of the daemon's own state with exactly this mode, owned by root and
 * group `gid` (the remapped root's group where it must pass, else root): created
 * if missing (parents too, with the same mode), tightened if an older daemon made
 * it wider. Refuses a symlink or a non-directory in its place.
 */
export async function ensureDir(p: string, mode: number, gid = 0): Promise<void> {
  await fs.mkdir(p, { recursive: true, mode });
  const st = await fs.lstat(p);
  if (!st.isDirectory()) throw new Error(`${p} is not a directory`);
  if (st.uid !== 0 || st.gid !== gid) await fs.lchown(p, 0, gid);
  // chown may clear set-id bits and mkdir's mode went through the umask: set the mode last, always exactly.
  if ((st.mode & 0o7777) !== mode || st.uid !== 0 || st.gid !== gid) await fs.chmod(p, mode);
}
