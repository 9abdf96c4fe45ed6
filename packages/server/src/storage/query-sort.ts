/** Sorting and keyset cursors for document queries; every value and path is a parameter. */
import { createHash } from 'node:crypto';
import { SynclineError } from '@syncline/protocol';

const SEGMENT = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_SORT_KEYS = 4;

export interface SortKey {
  path: string;
  dir: 1 | -1;
  cast: 'text' | 'integer' | 'jsonb';
  /** SQL of the key; may push parameters (the JSON path). */
  sql(params: unknown[]): string;
}

export function parseSort(sort: Record<string, 1 | -1 | 'asc' | 'desc'> | undefined): SortKey[] {
  const keys: SortKey[] = [];
  const entries = Object.entries(sort ?? {});
  if (entries.length > MAX_SORT_KEYS) {
    throw new SynclineError('VALIDATION_FAILED', `sort: at most ${MAX_SORT_KEYS} keys`, { path: 'sort' });
  }
  for (const [path, d] of entries) {
    const dir = d === -1 || d === 'desc' ? -1 : 1;
    keys.push(sortKey(path, dir));
  }
  // The id breaks ties, so the order (and the cursor) is total.
  if (!keys.some((k) => k.path === '_id')) keys.push(sortKey('_id', 1));
  return keys;
}

function sortKey(path: string, dir: 1 | -1): SortKey {
  if (path === '_id') return { path, dir, cast: 'text', sql: () => 'd.id' };
  if (path === '_rev') return { path, dir, cast: 'integer', sql: () => 'd.version' };
  const segments = path.split('.');
  if (segments.length > 8 || !segments.every((s) => SEGMENT.test(s)) || segments.includes('__proto__')) {
    throw new SynclineError('VALIDATION_FAILED', `sort.${path}: field paths are dotted [A-Za-z0-9_-] names`, {
      path: `sort.${path}`,
    });
  }
  return {
    path,
    dir,
    cast: 'jsonb',
    sql(params) {
      params.push(segments);
      // Missing fields sort as JSON null (first ascending).
      return `coalesce(d.data #> $${params.length}::text[], 'null'::jsonb)`;
    },
  };
}

/** `(k1, k2, ...) after (v1, v2, ...)` in the sort's directions, as an OR of prefixes. */
export function buildKeyset(keySql: string[], keys: SortKey[], values: unknown[], params: unknown[]): string {
  const value = (i: number) => {
    const k = keys[i] as SortKey;
    const v = values[i];
    params.push(k.cast === 'jsonb' ? JSON.stringify(v ?? null) : v);
    return `$${params.length}::${k.cast}`;
  };
  const ors: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(`${keySql[j]} = ${value(j)}`);
    ands.push(`${keySql[i]} ${keys[i]?.dir === -1 ? '<' : '>'} ${value(i)}`);
    ors.push(`(${ands.join(' AND ')})`);
  }
  return `(${ors.join(' OR ')})`;
}

const fingerprintOf = (f: string) => createHash('sha256').update(f).digest('base64url').slice(0, 16);

export function encodeCursor(values: unknown[], fingerprint: string): string {
  return Buffer.from(JSON.stringify({ v: values, f: fingerprintOf(fingerprint) })).toString('base64url');
}

export function decodeCursor(cursor: string, fingerprint: string, keys: SortKey[]): unknown[] {
  let parsed: { v?: unknown; f?: unknown } | undefined;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const values = parsed?.v;
  const ok =
    Array.isArray(values) &&
    values.length === keys.length &&
    parsed?.f === fingerprintOf(fingerprint) &&
    keys.every((k, i) =>
      k.cast === 'text' ? typeof values[i] === 'string' : k.cast === 'integer' ? Number.isSafeInteger(values[i]) : true,
    );
  if (!ok) throw new SynclineError('INVALID_CURSOR');
  return values as unknown[];
}
