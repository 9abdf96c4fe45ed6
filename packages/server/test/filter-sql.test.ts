import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Filter, type FilterDocument, FilterError, matchFilter, parseFilter } from '../../protocol/src/filter.js';
import { compileFilter } from '../src/storage/filter-sql.js';

const DATA: Record<string, Record<string, unknown>> = {
  d01: { name: 'Alice', age: 30, active: true, tags: ['a', 'b'], address: { city: 'Berlin', zip: '10115' }, score: 9.5 },
  d02: { name: 'bob', age: 25, active: false, tags: ['b'], address: { city: 'Paris', zip: '75001' }, score: 7 },
  d03: { name: 'Carol', age: 35, active: true, address: { city: 'berlin' }, nick: null },
  d04: { name: 'Dave', age: '30', active: 'true' },
  d05: { name: 'Eve', age: null, tags: [] },
  d06: { name: 'Ärger', age: 40.5, address: null },
  d07: { name: 'Zoë', age: -3, address: { city: 'Zürich', geo: { lat: 47.3, lng: 8.5 } } },
  d08: { name: '\uFF26ull', age: 0 }, // fullwidth F: sorts before astral chars by code point, after them in UTF-16
  d09: { name: '\u{1F600} smile', age: 1000 },
  d10: {},
  d11: { name: 'alice', age: 30, meta: { a: 1, b: [1, 2] } },
  d12: { age: [30], meta: { b: [1, 2], a: 1 } },
  d13: { tags: 'a', meta: { a: 1 } },
  d14: { address: { city: null }, nested: { '0': 'zero' } },
  d15: { arr: ['zero', 'one'], nested: ['zero'] },
  d16: { name: 'Robert', score: '9' },
  d17: { active: null, score: 10 },
  d18: { name: '', score: -0.5 },
  d19: { name: 'B', x: { y: { z: 5 } } },
  d20: { name: 'b', x: { y: { z: '5' } }, tags: ['a'] },
};
const IDS = Object.keys(DATA);
const DOCS: FilterDocument[] = IDS.map((id, i) => ({ _id: id, _rev: i + 1, ...DATA[id] }));
const except = (...ids: string[]) => IDS.filter((id) => !ids.includes(id));

const CASES: [string, Filter, string[]][] = [
  ['empty filter', {}, IDS],
  ['string equality', { name: 'Alice' }, ['d01']],
  ['number equality ignores strings and arrays', { age: 30 }, ['d01', 'd11']],
  ['$eq string', { age: { $eq: '30' } }, ['d04']],
  ['null matches null or missing', { age: null }, ['d05', 'd10', 'd13', 'd14', 'd15', 'd16', 'd17', 'd18', 'd19', 'd20']],
  ['$ne null: present and not null', { age: { $ne: null } }, ['d01', 'd02', 'd03', 'd04', 'd06', 'd07', 'd08', 'd09', 'd11', 'd12']],
  ['$ne matches missing', { age: { $ne: 30 } }, except('d01', 'd11')],
  ['$gt number', { age: { $gt: 30 } }, ['d03', 'd06', 'd09']],
  ['range', { age: { $gte: 30, $lt: 100 } }, ['d01', 'd03', 'd06', 'd11']],
  ['$lte 0', { age: { $lte: 0 } }, ['d07', 'd08']],
  ['$gt string only compares strings', { age: { $gt: '2' } }, ['d04']],
  ['$gt by code point (case sensitive)', { name: { $gt: 'a' } }, ['d02', 'd06', 'd08', 'd09', 'd11', 'd20']],
  ['$lt string', { name: { $lt: 'B' } }, ['d01', 'd18']],
  ['astral chars sort after U+FF26', { name: { $gte: '\uFF26' } }, ['d08', 'd09']],
  ['$lt emoji', { name: { $lt: '\u{1F600}' } }, except('d09', 'd10', 'd12', 'd13', 'd14', 'd15', 'd17')],
  ['$in with null', { name: { $in: ['bob', 'Eve', null] } }, ['d02', 'd05', 'd10', 'd12', 'd13', 'd14', 'd15', 'd17']],
  ['$nin matches missing', { name: { $nin: ['bob', 'Eve'] } }, except('d02', 'd05')],
  [
    '$nin with null',
    { name: { $nin: ['bob', null] } },
    ['d01', 'd03', 'd04', 'd05', 'd06', 'd07', 'd08', 'd09', 'd11', 'd16', 'd18', 'd19', 'd20'],
  ],
  ['no array element matching', { tags: 'a' }, ['d13']],
  ['array equality', { tags: ['a'] }, ['d20']],
  ['empty array', { tags: [] }, ['d05']],
  ['$in arrays and scalars', { tags: { $in: [['b'], 'a'] } }, ['d02', 'd13']],
  ['dotted path', { 'address.city': 'Berlin' }, ['d01']],
  ['dotted null: null or missing intermediate', { 'address.city': null }, except('d01', 'd02', 'd03', 'd07')],
  ['dotted $exists', { 'address.city': { $exists: true } }, ['d01', 'd02', 'd03', 'd07', 'd14']],
  ['$exists counts null', { address: { $exists: true } }, ['d01', 'd02', 'd03', 'd06', 'd07', 'd14']],
  ['$exists false', { address: { $exists: false } }, except('d01', 'd02', 'd03', 'd06', 'd07', 'd14')],
  ['deep number', { 'address.geo.lat': { $gt: 47 } }, ['d07']],
  ['object equality ignores key order', { 'address.geo': { lng: 8.5, lat: 47.3 } }, ['d07']],
  ['nested object equality', { meta: { a: 1, b: [1, 2] } }, ['d11', 'd12']],
  ['object equality is exact', { meta: { a: 1 } }, ['d13']],
  ['array order matters', { 'meta.b': [2, 1] }, []],
  ['numeric object key', { 'nested.0': 'zero' }, ['d14']],
  ['paths never index arrays', { 'arr.0': { $exists: true } }, []],
  ['paths never index arrays (negative)', { 'arr.-1': { $exists: true } }, []],
  ['boolean equality', { active: true }, ['d01', 'd03']],
  ['$ne boolean', { active: { $ne: true } }, except('d01', 'd03')],
  ['$in boolean and null', { active: { $in: [false, null] } }, except('d01', 'd03', 'd04')],
  ['$gt float', { score: { $gt: 9 } }, ['d01', 'd17']],
  ['$gte string digits', { score: { $gte: '9' } }, ['d16']],
  ['negative float', { score: -0.5 }, ['d18']],
  ['present and not null', { active: { $exists: true, $ne: null } }, ['d01', 'd02', 'd03', 'd04']],
  ['$or', { $or: [{ age: { $lt: 0 } }, { name: 'B' }] }, ['d07', 'd19']],
  ['$and', { $and: [{ age: { $gte: 25 } }, { age: { $lte: 30 } }] }, ['d01', 'd02', 'd11']],
  ['$or with sibling condition', { $or: [{ 'x.y.z': 5 }, { 'x.y.z': '5' }], name: { $ne: 'b' } }, ['d19']],
  [
    'nested logic',
    {
      $or: [{ $and: [{ age: { $gt: 0 } }, { age: { $lt: 30 } }] }, { $and: [{ score: { $exists: true } }, { name: { $exists: false } }] }],
    },
    ['d02', 'd17'],
  ],
  ['null also matches missing nick', { nick: null }, IDS],
  ['present null', { nick: { $exists: true, $eq: null } }, ['d03']],
  ['_id equality', { _id: 'd05' }, ['d05']],
  ['_id $in', { _id: { $in: ['d01', 'd03', 'zz'] } }, ['d01', 'd03']],
  ['_id $gte', { _id: { $gte: 'd15' } }, ['d15', 'd16', 'd17', 'd18', 'd19', 'd20']],
  ['_rev $gt', { _rev: { $gt: 17 } }, ['d18', 'd19', 'd20']],
  ['_rev $nin and _id $lt', { _rev: { $nin: [1, 2, 3] }, _id: { $lt: 'd06' } }, ['d04', 'd05']],
  ['_id $exists false', { _id: { $exists: false } }, []],
  ['_rev $exists and field', { _rev: { $exists: true }, age: { $gt: 100 } }, ['d09']],
  ['_id $ne', { _id: { $ne: 'd01' }, _rev: { $lte: 3 } }, ['d02', 'd03']],
  ['empty sub-filter', { $or: [{}, { name: 'nobody' }] }, IDS],
  ['empty $in', { name: { $in: [] } }, []],
  ['empty $nin', { name: { $nin: [] } }, IDS],
  ['objects never compare', { x: { $gt: 1 } }, []],
  ['nested object literal', { 'x.y': { z: 5 } }, ['d19']],
];

let db: PGlite;

beforeAll(async () => {
  db = new PGlite();
  await db.exec('CREATE TABLE docs (id text PRIMARY KEY, version int NOT NULL, data jsonb NOT NULL)');
  for (const doc of DOCS) {
    const { _id, _rev, ...data } = doc;
    await db.query('INSERT INTO docs (id, version, data) VALUES ($1, $2, $3::jsonb)', [_id, _rev, JSON.stringify(data)]);
  }
});

afterAll(async () => {
  await db.close();
});

async function selectIds(filter: Filter): Promise<{ ids: string[]; sql: string }> {
  const params: unknown[] = [];
  const sql = compileFilter(filter, params);
  const res = await db.query<{ id: string }>(`SELECT id FROM docs WHERE ${sql} ORDER BY id`, params);
  return { ids: res.rows.map((r) => r.id), sql };
}

/** All strings in a filter (keys, path segments and values). */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v, ...v.split('.'));
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (typeof v === 'object' && v !== null) {
    for (const [k, x] of Object.entries(v)) {
      if (!k.startsWith('$')) strings(k, out);
      strings(x, out);
    }
  }
  return out;
}

describe('compileFilter agrees with matchFilter and intent', () => {
  test.each(CASES)('%s', async (_name, filter, expected) => {
    expect(parseFilter(filter)).toBe(filter);
    const { ids, sql } = await selectIds(filter);
    const matched = DOCS.filter((d) => matchFilter(filter, d)).map((d) => d._id);
    expect(ids).toEqual([...expected].sort());
    expect(matched).toEqual([...expected].sort());
    for (const s of strings(filter)) if (s.length >= 3) expect(sql).not.toContain(s);
  });
});

describe('compileFilter SQL shape', () => {
  test('empty filter is TRUE', () => {
    const params: unknown[] = [];
    expect(compileFilter({}, params)).toBe('TRUE');
    expect(params).toEqual([]);
  });

  test('placeholders continue after existing params and columns can be qualified', async () => {
    const params: unknown[] = [10];
    const sql = compileFilter({ age: { $gte: 25 }, _id: { $ne: 'd02' }, _rev: { $lt: 12 } }, params, {
      data: 'd.data',
      id: 'd.id',
      version: 'd.version',
    });
    expect(sql).toContain('$2');
    expect(sql).not.toContain('$1::');
    expect(sql).toContain('d.data #>');
    const res = await db.query<{ id: string }>(`SELECT d.id FROM docs d WHERE d.version <= $1 AND ${sql} ORDER BY d.id`, params);
    expect(res.rows.map((r) => r.id)).toEqual(['d01', 'd03', 'd06', 'd09']);
  });

  test('uses #> with a text[] parameter for paths', () => {
    const params: unknown[] = [];
    const sql = compileFilter({ 'address.city': 'Berlin' }, params);
    expect(sql).toBe('COALESCE((data #> $1::text[]) = $2::jsonb, FALSE)');
    expect(params).toEqual([['address', 'city'], '"Berlin"']);
  });
});

describe('injection safety', () => {
  const evilPath = "x'); drop table docs; --";
  const evilValue = "Robert'); DROP TABLE docs;--";

  test('a hostile field name is rejected by parseFilter', () => {
    expect(() => parseFilter({ [evilPath]: 1 })).toThrow(FilterError);
  });

  test('hostile names and values only ever travel as parameters', async () => {
    // Bypass parseFilter on purpose: the compiler must be safe on its own.
    const filter = { [evilPath]: evilValue, name: { $in: [evilValue] }, [`a.${evilPath}`]: { $gt: evilValue } } as Filter;
    const params: unknown[] = [];
    const sql = compileFilter(filter, params);
    for (const s of ['drop', 'DROP', 'Robert', '--', "x'"]) expect(sql).not.toContain(s);
    const res = await db.query(`SELECT id FROM docs WHERE ${sql}`, params);
    expect(res.rows).toEqual([]);
    const count = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM docs');
    expect(count.rows[0]?.n).toBe(20);
  });

  test('a hostile value in a valid filter is matched literally', async () => {
    const filter = parseFilter({ $or: [{ name: evilValue }, { name: { $gte: evilValue, $lte: `${evilValue}~` } }] });
    expect((await selectIds(filter)).ids).toEqual([]);
    const { _id, _rev, ...data } = { _id: 'evil', _rev: 1, name: evilValue };
    await db.query('INSERT INTO docs (id, version, data) VALUES ($1, $2, $3::jsonb)', [_id, _rev, JSON.stringify(data)]);
    try {
      expect((await selectIds(filter)).ids).toEqual(['evil']);
      expect(matchFilter(filter, { _id, _rev, ...data })).toBe(true);
    } finally {
      await db.query('DELETE FROM docs WHERE id = $1', ['evil']);
    }
  });

  test('unknown operators and __proto__ keys are rejected before compiling', () => {
    expect(() => parseFilter({ name: { $regex: '^A' } })).toThrow(
      expect.objectContaining({ reason: 'UNKNOWN_OPERATOR', path: 'filter.name.$regex' }),
    );
    expect(() => parseFilter({ $where: 'true' })).toThrow(expect.objectContaining({ reason: 'UNKNOWN_OPERATOR' }));
    expect(() => parseFilter(JSON.parse('{"__proto__": {"polluted": 1}}'))).toThrow(expect.objectContaining({ reason: 'INVALID_FILTER' }));
    expect(() => parseFilter({ 'a.constructor.prototype': 1 })).toThrow(expect.objectContaining({ reason: 'INVALID_FILTER' }));
  });

  test('the compiler refuses operators it does not know rather than dropping them', () => {
    expect(() => compileFilter({ name: { $regex: 'x' } } as unknown as Filter, [])).toThrow();
    expect(() => compileFilter({ $where: 'x' } as unknown as Filter, [])).toThrow();
  });
});
