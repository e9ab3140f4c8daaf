/** Serializes async work per key (e.g. one operation at a time per container). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** True while an operation on key runs or waits. */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/**
 * Shared/exclusive lock: many leases (writers adding content) at once, or one
 * exclusive holder (garbage collection) that waits for the leases to end.
 */
export class SharedLock {
  private shared = 0;
  private exclusive: Promise<void> | null = null;
  private waiters: (() => void)[] = [];

  async withShared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    this.shared++;
    try {
      return await fn();
    } finally {
      this.shared--;
      if (this.shared === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  async withExclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusive) await this.exclusive;
    let release!: () => void;
    this.exclusive = new Promise<void>((r) => (release = r));
    try {
      while (this.shared > 0) await new Promise<void>((r) => this.waiters.push(r));
      return await fn();
    } finally {
      this.exclusive = null;
      release();
    }
  }
}
