/**
 * Copy-up: an image directory's content copied into a new, empty volume the first
 * time the volume is mounted over it. Owners, modes, times, symlinks (as links,
 * never followed), hard links, fifos and device nodes are preserved.
 *
 * The volume may be shared with a running container that changes it while we
 * copy (swaps a directory we just made for a symlink to the host's /etc, say).
 * So nothing below the two roots is addressed by a path string: each directory
 * is opened from its parent's descriptor with O_NOFOLLOW and every entry is
 * created through the descriptor of the directory that holds it
 * (util/fdpath.ts), exclusively (O_EXCL|O_NOFOLLOW for files); a directory
 * swapped away keeps receiving its entries wherever it moved, an entry that
 * appears meanwhile aborts the copy instead of being written through.
 */
import fss, { type BigIntStats, promises as fs, constants as fsc } from "node:fs";
import { at, closeQuietly, lstatAt, openDirAt, procAt, readdirAt, readlinkAt } from "../image/index.js";
import { bestEffort } from "../util/besteffort.js";
import { run } from "../util/exec.js";

const CHUNK = 1 << 20;

export interface CopyStats {
  files: number;
  bytes: number;
}

/** The first copy of a multiply-linked file: its directory (relative components) and name in the destination. */
interface FirstCopy {
  dir: string[];
  name: string;
}

/**
 * Copy the content of directory src into the (empty) directory dst, then give dst
 * src's owner and mode. Each is a trusted host path, or an open directory
 * descriptor (it stays the caller's).
 */
export async function copyTree(src: string | number, dst: string | number): Promise<CopyStats> {
  const srcFd = typeof src === "number" ? src : fss.openSync(src, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    const dstFd = typeof dst === "number" ? dst : fss.openSync(dst, fsc.O_RDONLY | fsc.O_DIRECTORY);
    try {
      const stats: CopyStats = { files: 0, bytes: 0 };
      await copyChildren({ srcFd, dstFd, dstRoot: dstFd, dir: [], links: new Map(), stats });
      applyMeta(dstFd, fss.fstatSync(srcFd, { bigint: true }));
      return stats;
    } finally {
      if (typeof dst !== "number") closeQuietly(dstFd);
    }
  } finally {
    if (typeof src !== "number") closeQuietly(srcFd);
  }
}

interface Walk {
  srcFd: number;
  dstFd: number;
  dstRoot: number;
  /** Components of this directory below the destination root. */
  dir: string[];
  /** "dev:ino" of a multiply-linked source file → its first copy. */
  links: Map<string, FirstCopy>;
  stats: CopyStats;
}

async function copyChildren(w: Walk): Promise<void> {
  for (const name of readdirAt(w.srcFd)) {
    const st = lstatAt(w.srcFd, name);
    if (st === undefined) continue;
    w.stats.files++;
    const d = at(w.dstFd, name);
    if (st.isDirectory()) {
      fss.mkdirSync(d, 0o700);
      const sfd = openDirAt(w.srcFd, name);
      try {
        // Held from now on: whatever becomes of the name, the content goes into this directory.
        const dfd = openDirAt(w.dstFd, name);
        try {
          await copyChildren({ ...w, srcFd: sfd, dstFd: dfd, dir: [...w.dir, name] });
          applyMeta(dfd, st);
        } finally {
          closeQuietly(dfd);
        }
      } finally {
        closeQuietly(sfd);
      }
    } else if (st.isSymbolicLink()) {
      fss.symlinkSync(readlinkAt(w.srcFd, name), d);
      fss.lchownSync(d, Number(st.uid), Number(st.gid));
      fss.lutimesSync(d, time(st.atimeNs), time(st.mtimeNs));
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1n ? w.links.get(key) : undefined;
      if (first !== undefined) {
        linkFirst(w.dstRoot, first, d);
        continue;
      }
      w.stats.bytes += await copyFile(w.srcFd, name, d);
      if (st.nlink > 1n) w.links.set(key, { dir: w.dir, name });
    } else if (st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) {
      const kind = st.isFIFO() ? ["p"] : [st.isCharacterDevice() ? "c" : "b", String(major(st.rdev)), String(minor(st.rdev))];
      await run("mknod", ["-m", Number(st.mode & 0o7777n).toString(8), procAt(w.dstFd, name), ...kind]);
      fss.lchownSync(d, Number(st.uid), Number(st.gid));
      fss.lutimesSync(d, time(st.atimeNs), time(st.mtimeNs));
    }
    // Sockets are not copied (Docker's copy skips them as well).
  }
}

/** Hard-link the first copy (reached again from the destination root, never through a symlink) as newPath. */
function linkFirst(dstRoot: number, first: FirstCopy, newPath: string): void {
  const held: number[] = [];
  try {
    let cur = dstRoot;
    for (const c of first.dir) {
      cur = openDirAt(cur, c);
      held.push(cur);
    }
    fss.linkSync(at(cur, first.name), newPath);
  } finally {
    for (const fd of held) closeQuietly(fd);
  }
}

async function copyFile(srcDirFd: number, name: string, dst: string): Promise<number> {
  const inFh = await fs.open(at(srcDirFd, name), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  let total = 0;
  try {
    const st = await inFh.stat({ bigint: true });
    if (!st.isFile()) throw Object.assign(new Error(`${name} changed while copied`), { code: "ESTALE" });
    const outFh = await fs.open(dst, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(Number(st.size), 1)));
      for (;;) {
        const { bytesRead } = await inFh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        let off = 0;
        while (off < bytesRead) off += (await outFh.write(buf, off, bytesRead - off)).bytesWritten;
        total += bytesRead;
      }
      // chown first: it clears setuid/setgid bits, which chmod then restores.
      await outFh.chown(Number(st.uid), Number(st.gid));
      await outFh.chmod(Number(st.mode & 0o7777n));
      await outFh.utimes(time(st.atimeNs), time(st.mtimeNs));
    } finally {
      await outFh.close();
    }
  } finally {
    await inFh.close();
  }
  return total;
}

/** Owner, mode and times of an open directory. */
function applyMeta(fd: number, st: BigIntStats): void {
  fss.fchownSync(fd, Number(st.uid), Number(st.gid));
  fss.fchmodSync(fd, Number(st.mode & 0o7777n));
  fss.futimesSync(fd, time(st.atimeNs), time(st.mtimeNs));
}

/** Nanoseconds since the epoch as the seconds (with fraction) Node's utimes take. */
function time(ns: bigint): number {
  return Number(ns) / 1e9;
}

function major(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
}

function minor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
}

/** True when directory p has no entries. */
export async function isEmptyDir(p: string): Promise<boolean> {
  const dh = await fs.opendir(p);
  try {
    return (await dh.read()) === null;
  } finally {
    await dh.close().catch(bestEffort(`closing ${p}`));
  }
}

/**
 * Bytes used by the files below p (apparent sizes, hard links counted once, symlinks
 * not followed). Walked through directory descriptors: a running container that swaps
 * a directory of the volume for a symlink cannot send the walk through the host.
 */
export async function dirSize(p: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  let visited = 0;
  const walk = async (fd: number): Promise<void> => {
    let names: string[];
    try {
      names = readdirAt(fd);
    } catch {
      return;
    }
    for (const name of names) {
      // Synchronous calls (cheap), but a large volume must not hold the daemon's event loop.
      if (++visited % 1000 === 0) await new Promise((r) => setImmediate(r));
      const st = lstatAt(fd, name);
      if (st === undefined) continue;
      if (st.isDirectory()) {
        let child: number;
        try {
          child = openDirAt(fd, name);
        } catch {
          continue; // replaced meanwhile
        }
        try {
          await walk(child);
        } finally {
          closeQuietly(child);
        }
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
      total += Number(st.size);
    }
  };
  let top: number;
  try {
    top = fss.openSync(p, fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch {
    return 0;
  }
  try {
    await walk(top);
  } finally {
    closeQuietly(top);
  }
  return total;
}
