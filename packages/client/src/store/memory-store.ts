/**
 * MemoryStore: the Store seam in memory (tests, Node scripts, and the default
 * when nothing needs to survive the process). Values are copied in (by
 * `prepareWrite`) and out (`cloneJson`), so callers never share state with it.
 *
 * Id order without sorting on every read: each collection keeps its ids sorted
 * (code points) plus the ids added since the last sort. A read merges them in
 * O(n + k log k) for k new ids, so a bulk load costs O(1) per record and a page
 * read after it one merge.
 */
import type { Filter } from '@syncline/protocol';
import { compareCodePoints, matchFilter } from '@syncline/protocol';
import { SortedList } from '../sorted-list.js';
import { compareKeys, type IndexDef, indexKey, parseIndexes, planQuery, type StoreIndexes } from './indexes.js';
import type { BaseRecord, PendingOperation, Store, StoreQuery, StoreWrite } from './store.js';
import {
  checkCollection,
  checkId,
  checkString,
  cloneJson,
  notOpen,
  prepareFind,
  prepareQuery,
  prepareWrite,
  recordMatches,
  sortRecords,
} from './store.js';

export interface MemoryStoreOptions {
  /** Secondary indexes by collection, e.g. `{product: ['category', ['category', 'price']]}` (see `query`). */
  indexes?: StoreIndexes;
}

interface IndexEntry {
  key: (string | number)[];
  id: string;
}

/** One declared index of a collection: its entries in key order. */
class Index {
  readonly entries = new SortedList<IndexEntry>((a, b) => compareKeys(a.key, b.key));
  constructor(readonly def: IndexDef) {}
}

class Collection {
  readonly records = new Map<string, BaseRecord>();
  readonly indexes: Index[];

  constructor(defs: IndexDef[] | undefined) {
    this.indexes = (defs ?? []).map((d) => new Index(d));
  }
  /** Ids in code-point order; may still hold ids deleted (or re-added) since the last sort. */
  private sorted: string[] = [];
  /** Ids added since the last sort (not counted in `sorted`). */
  private added = new Set<string>();
  private deletedSinceSort = 0;

  put(record: BaseRecord): void {
    const old = this.records.get(record.id);
    if (!old) this.added.add(record.id);
    this.records.set(record.id, record);
    for (const ix of this.indexes) {
      if (old) ix.entries.remove({ key: indexKey(ix.def, old.data, old.id), id: old.id });
      ix.entries.insert({ key: indexKey(ix.def, record.data, record.id), id: record.id });
    }
  }

  delete(id: string): void {
    const old = this.records.get(id);
    if (!old) return;
    this.records.delete(id);
    for (const ix of this.indexes) ix.entries.remove({ key: indexKey(ix.def, old.data, old.id), id });
    if (!this.added.delete(id)) this.deletedSinceSort++;
  }

  /** Ids in code-point order. */
  ids(): string[] {
    if (this.added.size > 0 || this.deletedSinceSort > 0) {
      const kept = this.sorted.filter((id) => this.records.has(id) && !this.added.has(id));
      const fresh = [...this.added].sort(compareCodePoints);
      this.sorted = merge(kept, fresh);
      this.added.clear();
      this.deletedSinceSort = 0;
    }
    return this.sorted;
  }
}

function merge(a: string[], b: string[]): string[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  // Loading in id order (an initial sync) only appends.
  if (compareCodePoints(a[a.length - 1]!, b[0]!) < 0) return a.concat(b);
  const out: string[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = compareCodePoints(a[i]!, b[j]!) < 0 ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

/** First index whose id is after `id` (code points). */
function firstAfter(ids: string[], id: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareCodePoints(ids[mid]!, id) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryStore implements Store {
  private state: 'new' | 'open' | 'closed' = 'new';
  private readonly collections = new Map<string, Collection>();
  /** Insertion order is seq order: seqs only grow, and `update` keeps an entry's place. */
  private readonly queue = new Map<number, PendingOperation>();
  private readonly meta = new Map<string, unknown>();
  private lastSeq = 0;
  private readonly indexDefs: Map<string, IndexDef[]>;

  constructor(options: MemoryStoreOptions = {}) {
    this.indexDefs = parseIndexes(options.indexes);
  }

  async open(): Promise<void> {
    if (this.state === 'closed') throw notOpen('MemoryStore', 'closed');
    this.state = 'open';
  }

  async get(collection: string, id: string): Promise<BaseRecord | undefined> {
    this.check();
    const record = this.collections.get(checkCollection(collection, 'collection'))?.records.get(checkId(id, 'id'));
    return record && cloneJson(record);
  }

  async find(collection: string, filter?: Filter, page?: { limit?: number; after?: string }): Promise<BaseRecord[]> {
    this.check();
    const q = prepareFind(collection, filter, page);
    const c = this.collections.get(q.collection);
    if (!c || q.limit === 0) return [];
    const ids = c.ids();
    const out: BaseRecord[] = [];
    for (let i = q.after === undefined ? 0 : firstAfter(ids, q.after); i < ids.length && out.length < q.limit; i++) {
      const record = c.records.get(ids[i]!)!;
      if (q.filter && !matchFilter(q.filter, { ...record.data, _id: record.id, _rev: record.version })) continue;
      out.push(cloneJson(record));
    }
    return out;
  }

  async getMany(collection: string, ids: string[]): Promise<(BaseRecord | undefined)[]> {
    this.check();
    const c = this.collections.get(checkCollection(collection, 'collection'));
    return ids.map((id) => {
      const r = c?.records.get(checkId(id, 'id'));
      return r && cloneJson(r);
    });
  }

  async query(collection: string, q?: StoreQuery): Promise<BaseRecord[]> {
    this.check();
    const { query, idAscending } = prepareQuery(collection, q);
    const c = this.collections.get(collection);
    if (!c || query.limit === 0) return [];
    const plan = planQuery(this.indexDefs.get(collection), query.filter, query.keys, idAscending);
    const out: BaseRecord[] = [];
    if (plan) {
      const ix = c.indexes.find((i) => i.def === plan.def) as Index;
      const p = plan.prefix;
      const entries = ix.entries;
      const start = entries.rankOf({ key: p, id: '' });
      for (const e of entries.from(start)) {
        if (p.length > 0 && compareKeys(e.key.slice(0, p.length), p) !== 0) break;
        const r = c.records.get(e.id) as BaseRecord;
        if (!recordMatches(r, query)) continue;
        out.push(r);
        if (plan.ordered && out.length >= query.limit) break;
      }
      if (!plan.ordered) sortRecords(out, query);
    } else {
      for (const id of c.ids()) {
        const r = c.records.get(id) as BaseRecord;
        if (recordMatches(r, query)) out.push(r);
      }
      sortRecords(out, query);
    }
    return out.slice(0, query.limit).map(cloneJson);
  }

  async count(collection?: string): Promise<number> {
    this.check();
    if (collection !== undefined) return this.collections.get(checkCollection(collection, 'collection'))?.records.size ?? 0;
    let n = 0;
    for (const c of this.collections.values()) n += c.records.size;
    return n;
  }

  async pending(): Promise<PendingOperation[]> {
    this.check();
    return [...this.queue.values()].map(cloneJson);
  }

  async getMeta<T = unknown>(key: string): Promise<T | undefined> {
    this.check();
    return cloneJson(this.meta.get(checkString(key, 'key'))) as T | undefined;
  }

  async write(w: StoreWrite): Promise<number[]> {
    this.check();
    // Everything that can fail happens here; applying below cannot throw.
    const p = prepareWrite(w);
    for (const name of p.clear) this.collections.delete(name);
    for (const { collection, id } of p.delete) this.collections.get(collection)?.delete(id);
    for (const record of p.put) {
      let c = this.collections.get(record.collection);
      if (!c) {
        c = new Collection(this.indexDefs.get(record.collection));
        this.collections.set(record.collection, c);
      }
      c.put(record);
    }
    for (const seq of p.dequeue) this.queue.delete(seq);
    for (const u of p.update) if (this.queue.has(u.seq)) this.queue.set(u.seq, u);
    const seqs = p.enqueue.map((e) => {
      const seq = ++this.lastSeq;
      this.queue.set(seq, { seq, ...e });
      return seq;
    });
    for (const [key, value] of p.meta) {
      if (value === undefined) this.meta.delete(key);
      else this.meta.set(key, value);
    }
    return seqs;
  }

  async close(): Promise<void> {
    this.state = 'closed';
  }

  private check(): void {
    if (this.state !== 'open') throw notOpen('MemoryStore', this.state);
  }
}
