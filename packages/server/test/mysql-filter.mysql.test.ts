/**
 * The MySQL filter compile agrees with `matchFilter` (the language's
 * definition) on documents chosen to tell types, nulls, missing fields,
 * nesting, arrays and code-point order apart; and sorting matches jsonb order.
 */
import { type Filter, matchFilter, parseFilter } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mysqlAvailable } from '../../../test/services.js';
import type { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import { opId } from './harness.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';

const DATA: Record<string, Record<string, unknown>> = {
  d01: { name: 'Alice', age: 30, active: true, tags: ['a', 'b'], address: { city: 'Berlin' }, score: 9.5 },
  d02: { name: 'bob', age: 25, active: false, tags: ['b'], address: { city: 'Paris' }, score: 7 },
  d03: { name: 'Carol', age: 35, address: { city: 'berlin' }, nick: null },
  d04: { name: 'Dave', age: '30', active: 'true' },
  d05: { name: 'Eve', age: null, tags: [] },
  d06: { name: 'Ärger', age: 40.5, address: null },
  d07: { name: 'Zoë', age: -3, address: { geo: { lat: 47.3, lng: 8.5 } } },
  d08: { name: '\uFF26ull', age: 0 },
  d09: { name: '\u{1F600} smile', age: 1000 },
  d10: {},
  d11: { name: 'alice', age: 30, meta: { a: 1, b: [1, 2] } },
  d12: { age: [30], meta: { b: [1, 2], a: 1 } },
  d13: { tags: 'a', meta: { a: 1 } },
  d14: { nested: { '0': 'zero' } },
  d15: { arr: ['zero', 'one'], nested: ['zero'] },
  d16: { name: 'Robert', score: '9' },
  d17: { active: null, score: 10 },
  d18: { name: '', score: -0.5 },
};

const FILTERS: Filter[] = [
  {},
  { name: 'Alice' },
  { age: 30 },
  { age: { $eq: '30' } },
  { age: null },
  { age: { $ne: null } },
  { age: { $ne: 30 } },
  { age: { $gt: 30 } },
  { age: { $gte: 30, $lt: 100 } },
  { age: { $gt: '2' } },
  { name: { $gt: 'a' } },
  { name: { $gte: '\uFF26' } },
  { name: { $lt: '\u{1F600}' } },
  { name: { $in: ['bob', 'Eve', null] } },
  { name: { $nin: ['bob', null] } },
  { tags: 'a' },
  { tags: ['a', 'b'] },
  { tags: [] },
  { tags: { $in: [['b'], 'a'] } },
  { 'address.city': 'Berlin' },
  { 'address.city': null },
  { 'address.city': { $exists: true } },
  { address: { $exists: false } },
  { 'address.geo': { lng: 8.5, lat: 47.3 } },
  { meta: { a: 1, b: [1, 2] } },
  { meta: { a: 1 } },
  { 'nested.0': 'zero' },
  { 'arr.0': { $exists: true } },
  { active: true },
  { active: { $in: [false, null] } },
  { score: { $gt: 9 } },
  { score: -0.5 },
  { $or: [{ age: { $lt: 0 } }, { name: '' }] },
  { $and: [{ age: { $gte: 25 } }, { age: { $lte: 30 } }] },
  { _id: { $in: ['d01', 'd02'] }, _rev: 1 },
  { _id: { $gt: 'd15' } },
];

describe.skipIf(!(await mysqlAvailable()))('MySQL filter compile', () => {
  const prefix = `f_${process.pid}`;
  const c = 'people';
  let storage: MysqlStorage;
  beforeAll(async () => {
    storage = await openMysqlStorage(prefix);
    await storage.applyOperations(
      'w',
      Object.entries(DATA).map(([docId, data]) => ({ id: opId(), type: 'insert', collection: c, docId, data })),
    );
  });
  afterAll(async () => {
    await storage?.close();
    const db = await openMysqlClient();
    await dropPrefixed(db, prefix);
    await db.close();
  });

  test.each(FILTERS.map((f) => [JSON.stringify(f), f]))('%s matches what matchFilter matches', async (_, filter) => {
    const docs = Object.entries(DATA).map(([id, data]) => ({ _id: id, _rev: 1, ...data }));
    const expected = docs.filter((d) => matchFilter(parseFilter(filter), d)).map((d) => d._id);
    const res = await storage.queryDocuments(c, { filter, limit: 1000 });
    expect(res.documents.map((d) => d._id).sort()).toEqual(expected.sort());
  });

  test('sort orders as jsonb: missing/null < strings < numbers < booleans < arrays < objects', async () => {
    const res = await storage.queryDocuments(c, { sort: { age: 1 }, limit: 1000 });
    const ages = res.documents.map((d) => d.age ?? null);
    expect(ages).toEqual([null, null, null, null, null, null, null, null, '30', -3, 0, 25, 30, 30, 35, 40.5, 1000, [30]]);
  });
});
