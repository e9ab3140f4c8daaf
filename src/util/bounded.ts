/**
 * A Map that keeps at most `max` entries, dropping the least recently used: the daemon's caches of
 * immutable, content-addressed facts (an image's size, its config's summary) must not grow with
 * everything a long-lived daemon has ever seen.
 */
export class BoundedMap<K, V> {
  private readonly m = new Map<K, V>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`BoundedMap needs room for one entry at least, not ${max}`);
  }

  get size(): number {
    return this.m.size;
  }

  get(k: K): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }

  set(k: K, v: V): this {
    this.m.delete(k);
    this.m.set(k, v);
    while (this.m.size > this.max) this.m.delete(this.m.keys().next().value as K);
    return this;
  }

  delete(k: K): boolean {
    return this.m.delete(k);
  }
}
