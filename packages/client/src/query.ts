/**
 * Local queries: a filter (the protocol's filter language), a sort on several
 * fields, a window (offset or keyset `after`, limit). The order is total:
 * after the sort keys the document id (code points) breaks ties.
 *
 * Value order (the server's jsonb order, so REST and local queries agree):
 * missing and null first, then strings (by code point), numbers, booleans
 * (false before true), arrays, objects (these two by their JSON text). Dotted
 * paths traverse objects only.
 */
import { compareCodePoints, type Filter, type FilterDocument, matchFilter, parseFilter, SynclineError } from '@syncline/protocol';

export type SortDirection = 1 | -1 | 'asc' | 'desc';

export interface Query {
  filter?: Filter;
  /** Fields in priority order, e.g. `{category: 'asc', price: 'desc'}` (then `_id` ascending). */
  sort?: Record<string, SortDirection>;
  /** At most this many documents. */
  limit?: number;
  /** Skip this many first. */
  offset?: number;
  /** Keyset cursor: only documents after this one in the query's order (e.g. the last one of the previous page). */
  after?: Record<string, unknown> & { _id: string };
}

export interface SortKey {
  path: string;
  segments: string[];
  dir: 1 | -1;
}

export interface CompiledQuery {
  filter: Filter | undefined;
  keys: SortKey[];
  limit: number;
  offset: number;
  after: (Record<string, unknown> & { _id: string }) | undefined;
  matches(doc: Record<string, unknown> & { _id: string; _rev?: number }): boolean;
  compare(a: Record<string, unknown> & { _id: string }, b: Record<string, unknown> & { _id: string }): number;
}

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_SORT_KEYS = 8;

const invalid = (path: string, message: string) => new SynclineError('VALIDATION_FAILED', `${path}: ${message}`, { path });

/** The value at a dotted path (objects only; undefined when missing). */
export function valueAt(doc: Record<string, unknown>, segments: string[]): unknown {
  let v: unknown = doc;
  for (const s of segments) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[s];
  }
  return v;
}

/** Rank of a value's type in the order. */
export function typeRank(v: unknown): number {
  if (v === undefined || v === null) return 0;
  switch (typeof v) {
    case 'string':
      return 1;
    case 'number':
      return 2;
    case 'boolean':
      return 3;
    default:
      return Array.isArray(v) ? 4 : 5;
  }
}

export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return compareCodePoints(a as string, b as string);
    case 2:
      return (a as number) - (b as number);
    case 3:
      return (a ? 1 : 0) - (b ? 1 : 0);
    default:
      return compareCodePoints(JSON.stringify(a), JSON.stringify(b));
  }
}

export function parseSort(sort: Record<string, SortDirection> | undefined): SortKey[] {
  if (sort === undefined) return [];
  if (sort === null || typeof sort !== 'object' || Array.isArray(sort)) throw invalid('sort', 'expected an object of field: direction');
  const entries = Object.entries(sort);
  if (entries.length > MAX_SORT_KEYS) throw invalid('sort', `at most ${MAX_SORT_KEYS} keys`);
  const keys: SortKey[] = [];
  for (const [path, d] of entries) {
    if (d !== 1 && d !== -1 && d !== 'asc' && d !== 'desc') throw invalid(`sort.${path}`, "the direction is 1, -1, 'asc' or 'desc'");
    const segments = path.split('.');
    if (segments.length > 8 || !segments.every((s) => SEGMENT.test(s)) || segments.includes('__proto__')) {
      throw invalid(`sort.${path}`, 'field paths are dotted [A-Za-z0-9_-] names');
    }
    if (path === '_id') break; // the id is unique: nothing after it matters
    keys.push({ path, segments, dir: d === -1 || d === 'desc' ? -1 : 1 });
  }
  // `{_id: 'desc'}` as the last key: ties broken by descending id.
  return keys;
}

function count(v: unknown, path: string): number {
  if (v === undefined) return -1;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(path, 'expected an integer >= 0');
  return v as number;
}

/** Checks a query (bad input: VALIDATION_FAILED or the filter's own codes) and compiles its matcher and order. */
export function compileQuery(q: Query = {}): CompiledQuery {
  if (q === null || typeof q !== 'object') throw invalid('query', 'expected an object');
  const filter = q.filter === undefined || Object.keys(q.filter).length === 0 ? undefined : parseFilter(q.filter);
  const keys = parseSort(q.sort);
  const idDir = q.sort && (q.sort._id === -1 || q.sort._id === 'desc') ? -1 : 1;
  const limit = count(q.limit, 'limit');
  const offset = count(q.offset, 'offset');
  if (q.after !== undefined && (q.after === null || typeof q.after !== 'object' || typeof q.after._id !== 'string')) {
    throw invalid('after', 'expected a document (an object with an _id) of a previous page');
  }
  const compare = (a: Record<string, unknown> & { _id: string }, b: Record<string, unknown> & { _id: string }): number => {
    for (const k of keys) {
      const c = compareValues(valueAt(a, k.segments), valueAt(b, k.segments));
      if (c !== 0) return c * k.dir;
    }
    return a._id === b._id ? 0 : compareCodePoints(a._id, b._id) * idDir;
  };
  return {
    filter,
    keys,
    limit: limit < 0 ? Number.POSITIVE_INFINITY : limit,
    offset: offset < 0 ? 0 : offset,
    after: q.after,
    matches: (doc) => !filter || matchFilter(filter, (doc._rev === undefined ? { ...doc, _rev: 0 } : doc) as FilterDocument),
    compare,
  };
}
