/**
 * Secondary indexes of the local stores, declared per collection:
 * `indexes: {product: ['category', ['category', 'price']]}` (a field path, or
 * several for a compound index). Both stores keep, per index, the key
 * `[rank, value, rank, value, ..., idKey(id)]` of every record of the
 * collection (a missing field is a null), where rank/value encode the query
 * order (query.ts: null, strings by code point, numbers, booleans, then
 * arrays and objects by their JSON text) as IndexedDB keys: numbers and
 * strings only, strings mapped by `idKey` so code-unit order is code-point order.
 *
 * `planQuery` picks the index for a query: the most leading fields fixed by
 * top-level equalities of the filter, preferring one whose remaining fields
 * are exactly the sort (its order is then the result's order, so a limit
 * stops the scan early).
 */
import type { Filter } from '@syncline/protocol';
import { SynclineError } from '@syncline/protocol';
import { type SortKey, typeRank, valueAt } from '../query.js';
import { idKey } from './id-key.js';

export type IndexSpec = string | string[];
/** Declared indexes by collection name. */
export type StoreIndexes = Record<string, IndexSpec[]>;

export interface IndexDef {
  collection: string;
  fields: string[];
  segments: string[][];
  /** Stable, identifier-safe name (IndexedDB index and key path). */
  name: string;
}

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;

function hex(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += s.charCodeAt(i).toString(16).padStart(2, '0');
  return out;
}

/** Checks the declaration; throws INVALID_CONFIG on a bad one. */
export function parseIndexes(indexes: StoreIndexes | undefined): Map<string, IndexDef[]> {
  const out = new Map<string, IndexDef[]>();
  if (indexes === undefined) return out;
  const bad = (m: string) => new SynclineError('INVALID_CONFIG', `indexes: ${m}`);
  if (indexes === null || typeof indexes !== 'object' || Array.isArray(indexes)) throw bad('expected {collection: [field or [fields]]}');
  for (const [collection, specs] of Object.entries(indexes)) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(collection)) throw bad(`${collection}: not a collection name`);
    if (!Array.isArray(specs)) throw bad(`${collection}: expected an array of fields or field lists`);
    const defs: IndexDef[] = [];
    for (const spec of specs) {
      const fields = typeof spec === 'string' ? [spec] : spec;
      if (!Array.isArray(fields) || fields.length === 0 || fields.length > 8) throw bad(`${collection}: an index has 1 to 8 fields`);
      const segments = fields.map((f) => {
        const s = typeof f === 'string' ? f.split('.') : [];
        if (s.length === 0 || s.length > 8 || !s.every((x) => SEGMENT.test(x)) || s.includes('__proto__') || f === '_id' || f === '_rev') {
          throw bad(`${collection}: ${String(f)} is not a field path (dotted [A-Za-z0-9_-] names; _id is always indexed)`);
        }
        return s;
      });
      const name = `x${hex(`${collection}\u0001${fields.join('\u0002')}`)}`;
      if (!defs.some((d) => d.name === name)) defs.push({ collection, fields: [...fields], segments, name });
    }
    if (defs.length > 0) out.set(collection, defs);
  }
  return out;
}

/** The index key of a record's data. */
export function indexKey(def: IndexDef, data: Record<string, unknown>, id: string): (string | number)[] {
  const key: (string | number)[] = [];
  for (const s of def.segments) {
    const v = valueAt(data, s);
    const r = typeRank(v);
    key.push(r);
    switch (r) {
      case 0:
        key.push(0);
        break;
      case 1:
        key.push(idKey(v as string));
        break;
      case 2:
        key.push(v as number);
        break;
      case 3:
        key.push(v ? 1 : 0);
        break;
      default:
        key.push(idKey(JSON.stringify(v)));
    }
  }
  key.push(idKey(id));
  return key;
}

/** IndexedDB's order on these keys: element-wise, numbers before strings, a prefix before what extends it. */
export function compareKeys(a: (string | number)[], b: (string | number)[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as string | number;
    const y = b[i] as string | number;
    if (x === y) continue;
    const tx = typeof x;
    if (tx !== typeof y) return tx === 'number' ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** A top-level equality on a primitive (null excluded: it also matches a missing field). */
function equalities(filter: Filter | undefined): Map<string, string | number | boolean> {
  const eq = new Map<string, string | number | boolean>();
  if (!filter) return eq;
  const prim = (v: unknown): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  for (const [path, cond] of Object.entries(filter)) {
    if (path.startsWith('$') || path === '_id' || path === '_rev') continue;
    if (prim(cond)) eq.set(path, cond);
    else if (cond && typeof cond === 'object' && !Array.isArray(cond)) {
      const ops = Object.keys(cond);
      const v = (cond as Record<string, unknown>).$eq;
      if (ops.length >= 1 && prim(v)) eq.set(path, v);
    }
  }
  return eq;
}

export interface IndexPlan {
  def: IndexDef;
  /** Key prefix every matching record has (the equalities' encoded values). */
  prefix: (string | number)[];
  /** The index order (after the prefix) is the query's order: a limit ends the scan. */
  ordered: boolean;
}

/** The index to read for a query, or undefined for a scan of the collection. */
export function planQuery(
  defs: IndexDef[] | undefined,
  filter: Filter | undefined,
  keys: SortKey[],
  idAscending: boolean,
): IndexPlan | undefined {
  if (!defs || defs.length === 0) return undefined;
  const eq = equalities(filter);
  let best: IndexPlan | undefined;
  let bestScore = 0;
  for (const def of defs) {
    let p = 0;
    while (p < def.fields.length && eq.has(def.fields[p] as string)) p++;
    const rest = def.fields.slice(p);
    const ordered =
      idAscending && rest.length === keys.length && keys.every((k, i) => k.dir === 1 && k.path === rest[i]) && (p > 0 || keys.length > 0);
    const score = p * 2 + (ordered ? 1 : 0);
    if (score <= bestScore) continue;
    bestScore = score;
    // The key of the equality values themselves (the filter's, not a record's).
    const values: Record<string, unknown> = {};
    for (let i = 0; i < p; i++) setPath(values, def.segments[i] as string[], eq.get(def.fields[i] as string));
    const prefix = indexKey({ ...def, segments: def.segments.slice(0, p) }, values, '').slice(0, 2 * p);
    best = { def, prefix, ordered };
  }
  return best;
}

function setPath(target: Record<string, unknown>, segments: string[], v: unknown): void {
  let o = target;
  for (let i = 0; i < segments.length - 1; i++) {
    const s = segments[i] as string;
    o[s] ??= {};
    o = o[s] as Record<string, unknown>;
  }
  o[segments[segments.length - 1] as string] = v;
}
