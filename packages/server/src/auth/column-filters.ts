/**
 * FILTERS (`table.column,...`, as in esink): columns that never leave the
 * server. Every path that puts row or document data into a payload calls
 * `redact` (DESIGN invariant 5).
 */
export class ColumnFilters {
  private readonly byCollection = new Map<string, Set<string>>();

  constructor(specs: readonly string[]) {
    for (const spec of specs) {
      const dot = spec.indexOf('.');
      if (dot <= 0 || dot === spec.length - 1) throw new Error(`FILTERS: expected table.column, got ${JSON.stringify(spec)}`);
      const collection = spec.slice(0, dot);
      const column = spec.slice(dot + 1);
      const set = this.byCollection.get(collection) ?? new Set<string>();
      set.add(column);
      this.byCollection.set(collection, set);
    }
  }

  get isEmpty(): boolean {
    return this.byCollection.size === 0;
  }

  /** Whether any column of this collection is filtered (lets fast paths skip parsing). */
  has(collection: string): boolean {
    return this.byCollection.has(collection);
  }

  /** `data` without the filtered columns: the same object when none apply, else a copy. */
  redact<T extends Record<string, unknown> | null | undefined>(collection: string, data: T): T {
    const hidden = this.byCollection.get(collection);
    if (!hidden || !data) return data;
    let out: Record<string, unknown> | undefined;
    for (const column of hidden) {
      if (Object.hasOwn(data, column)) {
        out ??= { ...data };
        delete out[column];
      }
    }
    return (out ?? data) as T;
  }
}
