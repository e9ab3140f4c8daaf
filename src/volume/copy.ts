/**
 * Copy-up: an image directory's content copied into a new, empty volume the first
 * time the volume is mounted over it. Owners, modes, times, symlinks (as links,
 * never followed), hard links, fifos and device nodes are preserved. Every file
 * is created exclusively (O_EXCL|O_NOFOLLOW) and adjusted through its own
 * descriptor, so an entry that appears meanwhile in a shared volume aborts the
 * copy instead of being written through.
 */
import { promises as fs, constants as fsc, type Stats } from "node:fs";
import path from "node:path";
import { run } from "../util/exec.js";

const O_DIR = fsc.O_RDONLY | fsc.O_DIRECTORY | fsc.O_NOFOLLOW;
const CHUNK = 1 << 20;

export interface CopyStats {
  files: number;
  bytes: number;
}

/** Copy the content of directory src into the (empty) directory dst, then give dst src's owner and mode. */
export async function copyTree(src: string, dst: string): Promise<CopyStats> {
  const stats: CopyStats = { files: 0, bytes: 0 };
  const links = new Map<string, string>(); // "dev:ino" of a multiply-linked file → its first copy
  await copyChildren(src, dst, links, stats);
  const st = await fs.lstat(src);
  await applyToDir(dst, st);
  return stats;
}

async function copyChildren(src: string, dst: string, links: Map<string, string>, stats: CopyStats): Promise<void> {
  const names = (await fs.readdir(src)).sort();
  for (const name of names) {
    const s = path.join(src, name);
    const d = path.join(dst, name);
    const st = await fs.lstat(s);
    stats.files++;
    if (st.isDirectory()) {
      await fs.mkdir(d, 0o700);
      await copyChildren(s, d, links, stats);
      await applyToDir(d, st);
    } else if (st.isSymbolicLink()) {
      await fs.symlink(await fs.readlink(s), d);
      await fs.lchown(d, st.uid, st.gid);
      await fs.lutimes(d, st.atime, st.mtime);
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? links.get(key) : undefined;
      if (first !== undefined) {
        await fs.link(first, d);
        continue;
      }
      stats.bytes += await copyFile(s, d, st);
      if (st.nlink > 1) links.set(key, d);
    } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
      const kind = st.isFIFO() ? ["p"] : [st.isCharacterDevice() ? "c" : "b", String(major(st.rdev)), String(minor(st.rdev))];
      await run("mknod", ["-m", (st.mode & 0o7777).toString(8), d, ...kind]);
      await fs.lchown(d, st.uid, st.gid);
      await fs.lutimes(d, st.atime, st.mtime);
    }
    // Sockets are not copied (Docker's copy skips them as well).
  }
}

async function copyFile(src: string, dst: string, st: Stats): Promise<number> {
  const inFh = await fs.open(src, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  let total = 0;
  try {
    const outFh = await fs.open(dst, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(st.size, 1)));
      for (;;) {
        const { bytesRead } = await inFh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let off = 0;
        while (off < bytesRead) off += (await outFh.write(buf, off, bytesRead - off)).bytesWritten;
        total += bytesRead;
      }
      // chown first: it clears setuid/setgid bits, which chmod then restores.
      await outFh.chown(st.uid, st.gid);
      await outFh.chmod(st.mode & 0o7777);
      await outFh.utimes(st.atime, st.mtime);
    } finally {
      await outFh.close();
    }
  } finally {
    await inFh.close();
  }
  return total;
}

async function applyToDir(dir: string, st: Stats): Promise<void> {
  const fh = await fs.open(dir, O_DIR);
  try {
    await fh.chown(st.uid, st.gid);
    await fh.chmod(st.mode & 0o7777);
    await fh.utimes(st.atime, st.mtime);
  } finally {
    await fh.close();
  }
}

function major(dev: number): number {
  return ((dev >> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & ~0xfff);
}

function minor(dev: number): number {
  return (dev & 0xff) | ((dev >> 12) & 0xfff00);
}

/** True when directory p has no entries. */
export async function isEmptyDir(p: string): Promise<boolean> {
  const dh = await fs.opendir(p);
  try {
    return (await dh.read()) === null;
  } finally {
    await dh.close().catch(() => undefined);
  }
}

/** Bytes used by the files below p (apparent sizes, hard links counted once, symlinks not followed). */
export async function dirSize(p: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const full = path.join(dir, name);
      let st;
      try {
        st = await fs.lstat(full);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        await walk(full);
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += st.size;
    }
  };
  await walk(p);
  return total;
}
