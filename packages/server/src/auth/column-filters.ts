/**
 * Hidden fields (DESIGN invariant 5): FILTERS columns (`table.column,...`, as
 * in esink) and rules' `hidden` fields, plus the server metadata every
 * document may carry (`_hlc`, the client merge strategy's field stamps). This
 * class is the one answer to "is this field hidden in this collection":
 * payloads are redacted with it, and filters, sorts and writes that name a
 * hidden field are refused with it (HIDDEN_FIELD) — a filter answering 1 row
 * vs 0 reveals a value as surely as a payload does. Policy (policy.ts) owns
 * one instance and decides who may write hidden fields.
 */
import { type ErrorRef, errorRef, SynclineError } from '@syncline/protocol';

/** Where the client's `conflict: 'merge'` strategy keeps its per-field clock stamps. */
export const STAMPS = '_hlc';
/** Server metadata in document data: hidden in every collection, never filtered on. */
export const INTERNAL_FIELDS: readonly string[] = [STAMPS];
/** Bounds a stamps object (one stamp per field of a document). */
const MAX_STAMPS = 1024;
const MAX_STAMP_LENGTH = 256;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class ColumnFilters {
  private readonly byCollection = new Map<string, Set<string>>();
  private readonly internal = new Set(INTERNAL_FIELDS);
  /** Every hidden name as a JSON text holds it (a quoted string), to tell whether stored JSON may be sent as is. */
  private readonly needles: string[];
  /** Some name is not plain printable ASCII: its JSON form may differ between the database and JS, so never trust a miss. */
  private readonly exotic: boolean;

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
    const names = new Set<string>(INTERNAL_FIELDS);
    for (const set of this.byCollection.values()) for (const n of set) names.add(n);
    this.needles = [...names].map((n) => JSON.stringify(n));
    this.exotic = [...names].some((n) => !/^[\x20-\x7e]*$/.test(n) || n.includes('"') || n.includes('\\'));
  }

  /** No configured column (server metadata is still hidden). */
  get isEmpty(): boolean {
    return this.byCollection.size === 0;
  }

  /** Whether any column of this collection is configured hidden (server metadata aside). */
  has(collection: string): boolean {
    return this.byCollection.has(collection);
  }

  /** Whether `field` (a top-level name) never leaves the server in `collection`. */
  isHidden(collection: string, field: string): boolean {
    return this.internal.has(field) || (this.byCollection.get(collection)?.has(field) ?? false);
  }

  /** Whether a filter or sort path reaches a hidden field: names it, or a dotted path into it. */
  reaches(collection: string, path: string): boolean {
    const dot = path.indexOf('.');
    return this.isHidden(collection, path) || (dot > 0 && this.isHidden(collection, path.slice(0, dot)));
  }

  /** `data` without hidden fields: the same object when none is present, else a copy. */
  redact<T extends Record<string, unknown> | null | undefined>(collection: string, data: T, keepStamps = false): T {
    if (!data) return data;
    let out: Record<string, unknown> | undefined;
    const drop = (field: string) => {
      if (!Object.hasOwn(data, field)) return;
      out ??= { ...data };
      delete out[field];
    };
    for (const field of this.internal) if (!(keepStamps && field === STAMPS)) drop(field);
    for (const field of this.byCollection.get(collection) ?? []) drop(field);
    return (out ?? data) as T;
  }

  /** Whether a JSON text may hold a hidden field; when not, it may be sent as it is (no parse, no copy). */
  mayHold(json: string): boolean {
    return this.exotic || this.needles.some((n) => json.includes(n));
  }

  /**
   * Throws HIDDEN_FIELD when a filter names a hidden field anywhere (inside
   * `$and`/`$or` too). Runs on the caller's raw filter: a malformed one is left
   * to the filter parser, which refuses it with its own code.
   */
  checkFilter(collection: string, filter: unknown, at = 'filter', depth = 0): void {
    // The parser refuses deeper filters; this walk only has to stay bounded.
    if (!isObject(filter) || depth > 16) return;
    for (const [key, value] of Object.entries(filter)) {
      if (key === '$and' || key === '$or') {
        if (!Array.isArray(value)) continue;
        for (let i = 0; i < value.length; i++) this.checkFilter(collection, value[i], `${at}.${key}.${i}`, depth + 1);
      } else if (this.reaches(collection, key)) {
        throw hiddenField(`${at}.${key}`, 'filtered on');
      }
    }
  }

  /** Throws HIDDEN_FIELD when a sort names a hidden field (a cursor carries only the sort's values). */
  checkSort(collection: string, sort: unknown, at = 'sort'): void {
    if (!isObject(sort)) return;
    for (const key of Object.keys(sort)) if (this.reaches(collection, key)) throw hiddenField(`${at}.${key}`, 'sorted or paged on');
  }

  /**
   * Why a write may not store these fields (`written`: what the operation
   * names), or undefined: a hidden field unless `mayWriteHidden`, or stamps
   * that are not an object of strings.
   */
  writeRefusal(collection: string, written: Record<string, unknown>, mayWriteHidden: boolean, exempt?: string): ErrorRef | undefined {
    const stamps = written[STAMPS];
    if (stamps !== undefined && !validStamps(stamps)) {
      return errorRef(
        'VALIDATION_FAILED',
        `data.${STAMPS}: the merge strategy's stamps are an object of strings (at most ${MAX_STAMPS})`,
        `data.${STAMPS}`,
      );
    }
    if (mayWriteHidden) return undefined;
    for (const field of this.byCollection.get(collection) ?? []) {
      if (field !== exempt && Object.hasOwn(written, field)) {
        return errorRef(
          'HIDDEN_FIELD',
          `data.${field} is a hidden field of ${collection}: no writeHidden rule lets you write it; leave it out.`,
          `data.${field}`,
        );
      }
    }
    return undefined;
  }

  /**
   * The data a write stores, given the live document's (`before`, null when
   * none): hidden fields and stamps the operation does not name are kept (the
   * caller never saw them, so leaving them out of a full update is not a
   * delete), and stamps merge per field, the later one winning.
   */
  shape(collection: string, before: Record<string, unknown> | null, data: Record<string, unknown>): Record<string, unknown> {
    if (!before) return data;
    let out: Record<string, unknown> | undefined;
    const keep = (field: string) => {
      if (Object.hasOwn(before, field) && !Object.hasOwn(data, field)) {
        out ??= { ...data };
        out[field] = before[field];
      }
    };
    for (const field of this.internal) keep(field);
    for (const field of this.byCollection.get(collection) ?? []) keep(field);
    const old = before[STAMPS];
    const mine = data[STAMPS];
    if (isObject(old) && isObject(mine) && old !== mine) {
      const merged: Record<string, unknown> = { ...old };
      for (const [f, s] of Object.entries(mine)) {
        const o = merged[f];
        if (typeof o !== 'string' || (typeof s === 'string' && s > o)) merged[f] = s;
      }
      out ??= { ...data };
      out[STAMPS] = merged;
    }
    return out ?? data;
  }
}

function validStamps(v: unknown): boolean {
  if (!isObject(v)) return false;
  const entries = Object.values(v);
  return entries.length <= MAX_STAMPS && entries.every((s) => typeof s === 'string' && s.length <= MAX_STAMP_LENGTH);
}

function hiddenField(path: string, how: string): SynclineError {
  return new SynclineError('HIDDEN_FIELD', `${path}: a hidden field cannot be ${how} (that would reveal its values).`, { path });
}
