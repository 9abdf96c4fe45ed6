/**
 * The client Store seam: where a replica keeps what it knows, durably when the
 * store is durable. Implementations: MemoryStore (tests, Node scripts) and
 * IndexedDBStore (browsers; a named database). One conformance suite runs on both.
 *
 * A store keeps three things, and changes them only in `write` batches that are
 * atomic (all or nothing, also across a crash or a reload):
 * - base records: the server's version of each document this client may see
 *   (what the last applied change or sync page said), by (collection, id);
 * - the pending queue: local operations not yet acknowledged by the server, in
 *   the order they were made (`seq` ascending, assigned by the store);
 * - meta: small named values (client id, last position, clocks, ...).
 * The replica the app sees is base + pending (computed by the client).
 *
 * Stored values are plain JSON (null, booleans, finite numbers, strings, arrays,
 * plain objects; object fields set to `undefined` are dropped). Stores copy them
 * on the way in and out: changing a value after `write`, or one that a read
 * returned, never changes the store. Calls before `open` or after `close` reject
 * with STORAGE_UNAVAILABLE.
 */
import type { Filter, Operation } from '@syncline/protocol';
import { isCollectionName, MAX_DOCUMENT_ID_LENGTH, parseFilter, SynclineError } from '@syncline/protocol';
import { type CompiledQuery, compileQuery, type SortDirection } from '../query.js';

/** A document as the server last confirmed it. */
export interface BaseRecord {
  collection: string;
  id: string;
  /** The document's fields (without `_id` / `_rev`). */
  data: Record<string, unknown>;
  /** The server's `_rev`. */
  version: number;
  /** The change position that last wrote it (0 when it came from an initial-sync page without one). */
  position: number;
}

export interface PendingOperation {
  /** Store-assigned, strictly increasing over the store's life (never reused, also after a reload). */
  seq: number;
  operation: Operation;
  /** Extra client state kept with the operation (attempts, local HLC stamps, ...). JSON-serializable. */
  meta?: Record<string, unknown>;
}

/**
 * One atomic change to a store. Its parts apply in this order: `clear`,
 * `delete`, `put`, `dequeue`, `update` (so an entry dequeued in the same write
 * is not updated), `enqueue`, `meta`. A (collection, id) may not be both put and
 * deleted in one write (coalesce changes first: which one is meant is ambiguous);
 * put twice, the last wins. Bad input (wrong types, a value that is not JSON)
 * rejects the whole write with a SynclineError and changes nothing.
 */
export interface StoreWrite {
  put?: BaseRecord[];
  /** (collection, id) of base records to remove. */
  delete?: { collection: string; id: string }[];
  /** Appended to the queue in order; their `seq` values are returned by `write`. */
  enqueue?: { operation: Operation; meta?: Record<string, unknown> }[];
  /** Replaces `operation`/`meta` of queued entries (by seq) that are still queued. */
  update?: PendingOperation[];
  /** Removes queued entries by seq (unknown seqs are ignored). */
  dequeue?: number[];
  /** Sets meta values; `undefined` deletes the key. Values are JSON-serializable. */
  meta?: Record<string, unknown>;
  /** Removes every base record of these collections first (a resync). */
  clear?: string[];
}

export interface StoreQuery {
  filter?: Filter;
  sort?: Record<string, SortDirection>;
  limit?: number;
}

export interface Store {
  /** Opens (or creates) the store; called once before anything else. */
  open(): Promise<void>;
  get(collection: string, id: string): Promise<BaseRecord | undefined>;
  /**
   * Base records of a collection matching `filter` (the protocol's filter
   * language, matched on `{_id, _rev, ...data}`), in id order (code points).
   * `limit`/`after` page through them (`after`: exclusive id).
   */
  find(collection: string, filter?: Filter, page?: { limit?: number; after?: string }): Promise<BaseRecord[]>;
  /** Base records by id, in the order of `ids` (undefined where there is none). */
  getMany(collection: string, ids: string[]): Promise<(BaseRecord | undefined)[]>;
  /**
   * Base records matching `q.filter`, in `q.sort` order then id (query.ts's value order), at most `q.limit`:
   * read through the collection's declared indexes when one fits (see indexes.ts), else a scan.
   */
  query(collection: string, q?: StoreQuery): Promise<BaseRecord[]>;
  /** Number of base records (of one collection, or all). */
  count(collection?: string): Promise<number>;
  /** The queue in order. */
  pending(): Promise<PendingOperation[]>;
  getMeta<T = unknown>(key: string): Promise<T | undefined>;
  /** Applies `w` atomically; resolves with the seqs given to `w.enqueue`, in order. */
  write(w: StoreWrite): Promise<number[]>;
  /** Releases the store (IndexedDB: closes the connection). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// The contract's checks, shared by every implementation: a store calls
// `prepareWrite` before it changes anything, so bad input changes nothing.

/** Deepest nesting of a stored value; deeper (or a cycle) is refused. */
export const MAX_VALUE_DEPTH = 256;

/** A checked write whose values are fresh copies the store may keep. */
export interface PreparedWrite {
  clear: string[];
  delete: { collection: string; id: string }[];
  put: BaseRecord[];
  dequeue: number[];
  update: PendingOperation[];
  enqueue: { operation: Operation; meta?: Record<string, unknown> }[];
  /** `undefined` deletes the key. */
  meta: [key: string, value: unknown][];
}

const WRITE_FIELDS: ReadonlySet<string> = new Set(['put', 'delete', 'enqueue', 'update', 'dequeue', 'meta', 'clear']);

const invalid = (path: string, message: string): SynclineError => new SynclineError('VALIDATION_FAILED', `${path}: ${message}`, { path });

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Copies a JSON value, refusing anything JSON cannot carry faithfully. */
function copyJson(v: unknown, path: string, depth = 0): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw invalid(path, `${v} is not a JSON number`);
    return v;
  }
  if (depth >= MAX_VALUE_DEPTH) throw invalid(path, `values may nest at most ${MAX_VALUE_DEPTH} levels deep (is there a cycle?)`);
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) {
      if (v[i] === undefined) throw invalid(`${path}.${i}`, 'arrays may not hold undefined (or holes)');
      out[i] = copyJson(v[i], `${path}.${i}`, depth + 1);
    }
    return out;
  }
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      const x = v[key];
      if (x === undefined) continue;
      if (key === '__proto__') throw new SynclineError('FORBIDDEN_KEY', `${path}: keys named __proto__ cannot be stored`, { path });
      out[key] = copyJson(x, `${path}.${key}`, depth + 1);
    }
    return out;
  }
  const what = typeof v === 'object' ? (Object.getPrototypeOf(v)?.constructor?.name ?? 'object') : typeof v;
  throw invalid(path, `a ${what} is not a JSON value (store plain objects, arrays, strings, finite numbers, booleans, null)`);
}

function copyObject(v: unknown, path: string): Record<string, unknown> {
  if (!isPlainObject(v)) throw invalid(path, 'expected a plain JSON object');
  return copyJson(v, path) as Record<string, unknown>;
}

/** Copies a value that is known to be stored JSON (cheaper than structuredClone, and no global needed). */
export function cloneJson<T>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(cloneJson) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) out[key] = cloneJson((v as Record<string, unknown>)[key]);
  return out as T;
}

function list(w: Record<string, unknown>, field: string): unknown[] {
  const v = w[field];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalid(`write.${field}`, 'expected an array');
  return v;
}

export function checkCollection(v: unknown, path: string): string {
  if (!isCollectionName(v)) {
    throw new SynclineError('INVALID_COLLECTION', `${path}: collection names must match [A-Za-z0-9_-]{1,64}`, { path });
  }
  return v;
}

export function checkId(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_DOCUMENT_ID_LENGTH) {
    throw new SynclineError('INVALID_DOCUMENT_ID', `${path}: document ids are strings of 1 to ${MAX_DOCUMENT_ID_LENGTH} characters`, {
      path,
    });
  }
  return v;
}

export function checkString(v: unknown, path: string): string {
  if (typeof v !== 'string') throw invalid(path, 'expected a string');
  return v;
}

function checkCount(v: unknown, path: string, min: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) throw invalid(path, `expected an integer >= ${min}`);
  return v as number;
}

function key(v: unknown, path: string): { collection: string; id: string } {
  if (!isPlainObject(v)) throw invalid(path, 'expected {collection, id}');
  return { collection: checkCollection(v.collection, `${path}.collection`), id: checkId(v.id, `${path}.id`) };
}

function queued(v: unknown, path: string): { operation: Operation; meta?: Record<string, unknown> } {
  if (!isPlainObject(v)) throw invalid(path, 'expected {operation, meta?}');
  const out: { operation: Operation; meta?: Record<string, unknown> } = {
    operation: copyObject(v.operation, `${path}.operation`) as Operation,
  };
  if (v.meta !== undefined) out.meta = copyObject(v.meta, `${path}.meta`);
  return out;
}

/** Checks a whole write and copies its values; throws a SynclineError (with `details.path`) on bad input. */
export function prepareWrite(w: StoreWrite): PreparedWrite {
  if (!isPlainObject(w)) throw invalid('write', 'expected an object');
  for (const field of Object.keys(w)) if (!WRITE_FIELDS.has(field)) throw invalid(`write.${field}`, 'unknown field');
  const clear = list(w, 'clear').map((c, i) => checkCollection(c, `write.clear.${i}`));
  const del = list(w, 'delete').map((d, i) => key(d, `write.delete.${i}`));
  const put = list(w, 'put').map((r, i): BaseRecord => {
    const path = `write.put.${i}`;
    const { collection, id } = key(r, path);
    const rec = r as Record<string, unknown>;
    return {
      collection,
      id,
      data: copyObject(rec.data, `${path}.data`),
      version: checkCount(rec.version, `${path}.version`, 0),
      position: checkCount(rec.position, `${path}.position`, 0),
    };
  });
  if (del.length > 0 && put.length > 0) {
    const deleted = new Set(del.map((d) => `${d.collection}/${d.id}`));
    const i = put.findIndex((r) => deleted.has(`${r.collection}/${r.id}`));
    if (i >= 0) throw invalid(`write.put.${i}`, 'this record is also deleted in the same write; keep only the later change');
  }
  const dequeue = list(w, 'dequeue').map((s, i) => checkCount(s, `write.dequeue.${i}`, 1));
  const update = list(w, 'update').map((u, i): PendingOperation => {
    const path = `write.update.${i}`;
    const q = queued(u, path);
    return { seq: checkCount((u as Record<string, unknown>).seq, `${path}.seq`, 1), ...q };
  });
  const enqueue = list(w, 'enqueue').map((e, i) => queued(e, `write.enqueue.${i}`));
  const meta: [string, unknown][] = [];
  if (w.meta !== undefined) {
    if (!isPlainObject(w.meta)) throw invalid('write.meta', 'expected an object of values');
    for (const [k, v] of Object.entries(w.meta)) meta.push([k, v === undefined ? undefined : copyJson(v, `write.meta.${k}`)]);
  }
  return { clear, delete: del, put, dequeue, update, enqueue, meta };
}

/** Checks `find`'s arguments; the filter is validated like the server's. */
export function prepareFind(
  collection: string,
  filter: Filter | undefined,
  page: { limit?: number; after?: string } | undefined,
): { collection: string; filter: Filter | undefined; limit: number; after: string | undefined } {
  checkCollection(collection, 'collection');
  const parsed = filter === undefined || Object.keys(filter).length === 0 ? undefined : parseFilter(filter);
  const limit = page?.limit === undefined ? Number.POSITIVE_INFINITY : checkCount(page.limit, 'page.limit', 0);
  const after = page?.after === undefined ? undefined : checkString(page.after, 'page.after');
  return { collection, filter: parsed, limit, after };
}

export const notOpen = (what: string, state: 'new' | 'closed'): SynclineError =>
  new SynclineError(
    'STORAGE_UNAVAILABLE',
    state === 'new' ? `${what} is not open; call open() first` : `${what} is closed; create and open a new store`,
  );

/** Checks `query`'s arguments (the filter like the server's, the sort like a local query's). */
export function prepareQuery(
  collection: string,
  q: StoreQuery | undefined,
): { collection: string; query: CompiledQuery; idAscending: boolean } {
  checkCollection(collection, 'collection');
  const query = compileQuery({
    ...(q?.filter === undefined ? {} : { filter: q.filter }),
    ...(q?.sort === undefined ? {} : { sort: q.sort }),
    ...(q?.limit === undefined ? {} : { limit: q.limit }),
  });
  const d = q?.sort?._id;
  return { collection, query, idAscending: d !== -1 && d !== 'desc' };
}

/** Sorts records in a query's order (the records' fields with their id, as the client sees them). */
export function sortRecords(records: BaseRecord[], query: CompiledQuery): BaseRecord[] {
  if (query.keys.length === 0 && query.compare({ _id: 'a' }, { _id: 'b' }) < 0) return records; // already in id order
  const view = new Map<BaseRecord, Record<string, unknown> & { _id: string }>();
  for (const r of records) view.set(r, { ...r.data, _id: r.id });
  return records.sort((a, b) => query.compare(view.get(a) as { _id: string }, view.get(b) as { _id: string }));
}

/** Whether a record matches a compiled query's filter. */
export function recordMatches(r: BaseRecord, query: CompiledQuery): boolean {
  return !query.filter || query.matches({ ...r.data, _id: r.id, _rev: r.version });
}
