/**
 * Query sort and keyset cursors on MySQL. Keys are validated by parseSort
 * (query-sort.ts); each JSON field key becomes three SQL keys so that values
 * order as jsonb does on PostgreSQL (null/missing < strings < numbers <
 * booleans < arrays < objects; numbers by value, strings by code point):
 * its type rank, its numeric value, its text. None is ever NULL, so keyset
 * equality works on every key.
 */
import type { SortKey } from '../query-sort.js';
import { jsonPath, NUMBER_TYPES } from './mysql-filter.js';

export interface MysqlSortKey {
  /** The sort path it belongs to (a JSON key has three). */
  path: string;
  dir: 1 | -1;
  /** What a cursor value must be (see decodeCursor). */
  cast: SortKey['cast'];
  /** SQL of the key; pushes its parameters (the JSON path) each time it is written. */
  sql(params: unknown[]): string;
}

export function mysqlSortKeys(keys: SortKey[]): MysqlSortKey[] {
  const out: MysqlSortKey[] = [];
  for (const k of keys) {
    if (k.path === '_id') out.push({ path: k.path, dir: k.dir, cast: 'text', sql: () => 'd.id' });
    else if (k.path === '_rev') out.push({ path: k.path, dir: k.dir, cast: 'integer', sql: () => 'd.version' });
    else {
      const path = jsonPath(k.path.split('.'));
      const at = (params: unknown[]) => {
        params.push(path);
        return 'JSON_EXTRACT(d.data, ?)';
      };
      out.push(
        {
          path: k.path,
          dir: k.dir,
          cast: 'integer',
          sql: (params) =>
            `(CASE WHEN JSON_TYPE(${at(params)}) = 'STRING' THEN 1 WHEN JSON_TYPE(${at(params)}) IN ${NUMBER_TYPES} THEN 2
              WHEN JSON_TYPE(${at(params)}) = 'BOOLEAN' THEN 3 WHEN JSON_TYPE(${at(params)}) = 'ARRAY' THEN 4
              WHEN JSON_TYPE(${at(params)}) = 'OBJECT' THEN 5 ELSE 0 END)`,
        },
        {
          path: k.path,
          dir: k.dir,
          cast: 'jsonb',
          sql: (params) => `COALESCE(CASE WHEN JSON_TYPE(${at(params)}) IN ${NUMBER_TYPES} THEN JSON_UNQUOTE(${at(params)}) + 0 END, 0)`,
        },
        { path: k.path, dir: k.dir, cast: 'text', sql: (params) => `(COALESCE(JSON_UNQUOTE(${at(params)}), '') COLLATE utf8mb4_bin)` },
      );
    }
  }
  return out;
}

/** `(k1, k2, ...) after (v1, v2, ...)` in the keys' directions, as an OR of prefixes; params in text order. */
export function mysqlKeyset(keys: MysqlSortKey[], values: unknown[], params: unknown[]): string {
  const value = (i: number) => {
    params.push(values[i]);
    return '?';
  };
  const ors: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) ands.push(`${(keys[j] as MysqlSortKey).sql(params)} = ${value(j)}`);
    ands.push(`${(keys[i] as MysqlSortKey).sql(params)} ${keys[i]?.dir === -1 ? '<' : '>'} ${value(i)}`);
    ors.push(`(${ands.join(' AND ')})`);
  }
  return `(${ors.join(' OR ')})`;
}
