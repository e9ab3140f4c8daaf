/**
 * The extractor's cache of open directory descriptors (tar-apply.ts).
 */
import { closeQuietly } from "../util/fdpath.js";

/**
 * Open directories of the target, by relative path, so that every entry is
 * written through a descriptor of its parent directory: the root's descriptor
 * is the only thing ever addressed from outside, and each directory below it was
 * opened with O_NOFOLLOW from its own parent's descriptor. A directory renamed or
 * swapped for a symlink afterwards (a running container sharing a volume) keeps
 * receiving what belongs in it, wherever it now is; nothing is ever written
 * through the symlink. At most MAX_OPEN_DIRS are held (least recently used go).
 */
export class DirFds {
  private readonly fds = new Map<string, number>();

  constructor(readonly rootFd: number) {}

  /** The cached descriptor of rel ("" = the root), refreshed as most recently used. */
  cached(rel: string): number | undefined {
    if (rel === "") return this.rootFd;
    const fd = this.fds.get(rel);
    if (fd !== undefined) {
      this.fds.delete(rel);
      this.fds.set(rel, fd);
    }
    return fd;
  }

  add(rel: string, fd: number): void {
    const old = this.fds.get(rel);
    if (old !== undefined) closeQuietly(old);
    this.fds.delete(rel);
    this.fds.set(rel, fd);
    for (const [k, v] of this.fds) {
      if (this.fds.size <= MAX_OPEN_DIRS) break;
      this.fds.delete(k);
      closeQuietly(v);
    }
  }

  /** Close and forget rel and everything below it. */
  forget(rel: string): void {
    const prefix = `${rel}/`;
    for (const [k, v] of this.fds) {
      if (k === rel || k.startsWith(prefix)) {
        this.fds.delete(k);
        closeQuietly(v);
      }
    }
  }

  closeAll(): void {
    for (const v of this.fds.values()) closeQuietly(v);
    this.fds.clear();
  }
}

const MAX_OPEN_DIRS = 128;
