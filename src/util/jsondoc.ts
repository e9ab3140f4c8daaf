import { readJson, writeJson } from "./fsutil.js";

/**
 * A small JSON document kept in memory and on disk. Changes are serialized
 * read-modify-write cycles on a copy, written atomically (temp + fsync +
 * rename) before they become visible in memory, so a crash leaves either the
 * old or the new document.
 */
export class JsonDocument<T> {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    public data: T,
  ) {}

  /** Load the file if it exists and `accept` takes it; otherwise keep the initial data. */
  async load(accept: (d: T) => boolean = () => true): Promise<void> {
    const d = await readJson<T>(this.file);
    if (d !== undefined && d !== null && accept(d)) this.data = d;
  }

  mutate<R>(fn: (d: T) => R): Promise<R> {
    const next = this.chain.then(async () => {
      const copy = structuredClone(this.data);
      const res = fn(copy);
      await writeJson(this.file, copy);
      this.data = copy;
      return res;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
