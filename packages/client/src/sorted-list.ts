/**
 * An ordered list in chunks (the layout of Python's sortedcontainers): a
 * binary search over the chunks' last elements, then one within a chunk, so an
 * insert or a removal costs O(log n) comparisons plus moving at most one chunk
 * (at most 2 × CHUNK elements); positions (`rankOf`, `slice`) walk the chunk sizes, n / CHUNK
 * steps. The order must be total (no two elements compare equal unless they
 * are the same row): live queries break ties by document id.
 */
const CHUNK = 512;

export class SortedList<T> {
  private chunks: T[][] = [];
  private count = 0;

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.count;
  }

  /** Replaces the content with `items`, which must already be in order. */
  load(items: T[]): void {
    this.chunks = [];
    for (let i = 0; i < items.length; i += CHUNK) this.chunks.push(items.slice(i, i + CHUNK));
    this.count = items.length;
  }

  /** Index of the first chunk whose last element is >= x (chunks.length when none). */
  private chunkFor(x: T): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const chunk = this.chunks[mid] as T[];
      if (this.compare(chunk[chunk.length - 1] as T, x) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** First index in `chunk` whose element is >= x (or > x when `after`). */
  private within(chunk: T[], x: T, after: boolean): number {
    let lo = 0;
    let hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.compare(chunk[mid] as T, x);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(x: T): void {
    this.count++;
    if (this.chunks.length === 0) {
      this.chunks.push([x]);
      return;
    }
    let ci = this.chunkFor(x);
    if (ci === this.chunks.length) ci--;
    const chunk = this.chunks[ci] as T[];
    chunk.splice(this.within(chunk, x, false), 0, x);
    if (chunk.length > 2 * CHUNK) this.chunks.splice(ci, 1, chunk.slice(0, CHUNK), chunk.slice(CHUNK));
  }

  /** Removes the element comparing equal to x; false when there is none. */
  remove(x: T): boolean {
    const ci = this.chunkFor(x);
    const chunk = this.chunks[ci];
    if (!chunk) return false;
    const i = this.within(chunk, x, false);
    if (i >= chunk.length || this.compare(chunk[i] as T, x) !== 0) return false;
    chunk.splice(i, 1);
    this.count--;
    if (chunk.length === 0) this.chunks.splice(ci, 1);
    return true;
  }

  /** How many elements come before x (x itself need not be in the list); `after`: also those equal to x. */
  rankOf(x: T, after = false): number {
    let rank = 0;
    for (const chunk of this.chunks) {
      const last = chunk[chunk.length - 1] as T;
      const c = this.compare(last, x);
      if (c < 0 || (after && c === 0)) {
        rank += chunk.length;
        continue;
      }
      return rank + this.within(chunk, x, after);
    }
    return rank;
  }

  /** Elements [start, end) in order. */
  slice(start = 0, end = this.count): T[] {
    const out: T[] = [];
    if (end > this.count) end = this.count;
    let base = 0;
    for (const chunk of this.chunks) {
      if (base >= end) break;
      const next = base + chunk.length;
      if (next > start) {
        const from = Math.max(0, start - base);
        const to = Math.min(chunk.length, end - base);
        for (let i = from; i < to; i++) out.push(chunk[i] as T);
      }
      base = next;
    }
    return out;
  }

  /** Elements from index `start` on, lazily. */
  *from(start: number): Generator<T> {
    let base = 0;
    for (const chunk of this.chunks) {
      const next = base + chunk.length;
      if (next > start) for (let i = Math.max(0, start - base); i < chunk.length; i++) yield chunk[i] as T;
      base = next;
    }
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const chunk of this.chunks) yield* chunk;
  }
}
