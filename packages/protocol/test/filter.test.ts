import { describe, expect, test } from 'vitest';
import {
  compareCodePoints,
  type Filter,
  type FilterDocument,
  FilterError,
  type FilterErrorReason,
  matchFilter,
  parseFilter,
} from '../src/filter.js';
import { FilterSchema } from '../src/filter-schema.js';

const deep = (levels: number): unknown => {
  let f: unknown = { a: 1 };
  for (let i = 1; i < levels; i++) f = { $and: [f] };
  return f;
};

describe('parseFilter accepts', () => {
  test.each<[string, unknown]>([
    ['empty', {}],
    ['literal equality', { name: 'x', n: 1, b: true, z: null }],
    ['object and array literals', { address: { city: 'Berlin' }, tags: ['a', { b: [1] }] }],
    ['empty object literal', { meta: {} }],
    [
      'all operators',
      { a: { $eq: 1, $ne: null, $gt: 1, $gte: 'a', $lt: 2, $lte: 'z', $in: [1, null, [1]], $nin: [{ a: 1 }], $exists: true } },
    ],
    ['dotted paths', { 'a.b-c.d_e.0': 1 }],
    ['8 segments', { 'a.b.c.d.e.f.g.h': 1 }],
    ['64-char segment', { ['a'.repeat(64)]: 1 }],
    ['_id and _rev', { _id: { $in: ['a'], $gte: 'a' }, _rev: { $gt: 3, $nin: [1, 2] } }],
    ['logic', { $and: [{ a: 1 }, { $or: [{ b: 2 }, {}] }] }],
    ['depth 8', deep(8)],
    ['100 conditions', Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, i]))],
    ['1000 $in values', { a: { $in: Array.from({ length: 1000 }, (_, i) => i) } }],
    ['non-ASCII and emoji strings', { a: 'Zürich \u{1F600}' }],
  ])('%s', (_name, input) => {
    expect(parseFilter(input)).toBe(input);
    expect(FilterSchema.safeParse(input).success).toBe(true);
  });
});

describe('parseFilter rejects', () => {
  test.each<[string, unknown, FilterErrorReason, string]>([
    ['not an object', [], 'INVALID_FILTER', 'filter'],
    ['null', null, 'INVALID_FILTER', 'filter'],
    ['unknown field operator', { price: { $foo: 1 } }, 'UNKNOWN_OPERATOR', 'filter.price.$foo'],
    ['$regex', { name: { $regex: '^a' } }, 'UNKNOWN_OPERATOR', 'filter.name.$regex'],
    ['$where at top level', { $where: 'sleep(1)' }, 'UNKNOWN_OPERATOR', 'filter.$where'],
    ['$nor', { $nor: [{ a: 1 }] }, 'UNKNOWN_OPERATOR', 'filter.$nor'],
    ['unknown operator in $or', { $or: [{ a: 1 }, { b: { $elemMatch: {} } }] }, 'UNKNOWN_OPERATOR', 'filter.$or.1.b.$elemMatch'],
    ['mixed operator object', { a: { $gt: 1, b: 2 } }, 'INVALID_FILTER', 'filter.a'],
    ['operator nested in a literal', { a: { b: { $gt: 1 } } }, 'INVALID_FILTER', 'filter.a.b.$gt'],
    ['operator inside $eq', { a: { $eq: { $gt: 1 } } }, 'INVALID_FILTER', 'filter.a.$eq.$gt'],
    ['empty $and', { $and: [] }, 'INVALID_FILTER', 'filter.$and'],
    ['$or not an array', { $or: { a: 1 } }, 'INVALID_FILTER', 'filter.$or'],
    ['$or of non-objects', { $or: [1] }, 'INVALID_FILTER', 'filter.$or.0'],
    ['__proto__ key', JSON.parse('{"__proto__": {"x": 1}}'), 'INVALID_FILTER', 'filter.__proto__'],
    ['constructor segment', { 'a.constructor': 1 }, 'INVALID_FILTER', 'filter.a.constructor'],
    ['prototype segment', { 'prototype.x': 1 }, 'INVALID_FILTER', 'filter.prototype.x'],
    ['empty segment', { 'a..b': 1 }, 'INVALID_FILTER', 'filter.a..b'],
    ['bad characters', { 'a b': 1 }, 'INVALID_FILTER', 'filter.a b'],
    ['quote in path', { "x'); drop table docs; --": 1 }, 'INVALID_FILTER', "filter.x'); drop table docs; --"],
    ['65-char segment', { ['a'.repeat(65)]: 1 }, 'INVALID_FILTER', `filter.${'a'.repeat(65)}`],
    ['9 segments', { 'a.b.c.d.e.f.g.h.i': 1 }, 'INVALID_FILTER', 'filter.a.b.c.d.e.f.g.h.i'],
    ['path under _id', { '_id.x': 'a' }, 'INVALID_FILTER', 'filter._id.x'],
    ['depth 9', deep(9), 'INVALID_FILTER', `filter${'.$and.0'.repeat(8)}`],
    ['101 conditions', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`f${i}`, i])), 'INVALID_FILTER', 'filter.f100'],
    [
      'too many conditions via operators',
      { a: { $gt: 1, $lt: 2 }, $or: Array.from({ length: 99 }, () => ({})) },
      'INVALID_FILTER',
      'filter.$or.98',
    ],
    ['1001 $in values', { a: { $in: Array.from({ length: 1001 }, (_, i) => i) } }, 'INVALID_FILTER', 'filter.a.$in'],
    ['$in not an array', { a: { $in: 1 } }, 'INVALID_FILTER', 'filter.a.$in'],
    ['$gt boolean', { a: { $gt: true } }, 'INVALID_FILTER', 'filter.a.$gt'],
    ['$lt null', { a: { $lt: null } }, 'INVALID_FILTER', 'filter.a.$lt'],
    ['$gte object', { a: { $gte: {} } }, 'INVALID_FILTER', 'filter.a.$gte'],
    ['$exists non-boolean', { a: { $exists: 1 } }, 'INVALID_FILTER', 'filter.a.$exists'],
    ['_id number', { _id: 5 }, 'INVALID_FILTER', 'filter._id'],
    ['_id null', { _id: null }, 'INVALID_FILTER', 'filter._id'],
    ['_id $in with number', { _id: { $in: ['a', 1] } }, 'INVALID_FILTER', 'filter._id.$in.1'],
    ['_rev string', { _rev: '3' }, 'INVALID_FILTER', 'filter._rev'],
    ['_rev fraction', { _rev: { $gt: 1.5 } }, 'INVALID_FILTER', 'filter._rev.$gt'],
    ['NaN', { a: Number.NaN }, 'INVALID_FILTER', 'filter.a'],
    ['Infinity in $gt', { a: { $gt: Number.POSITIVE_INFINITY } }, 'INVALID_FILTER', 'filter.a.$gt'],
    ['undefined', { a: undefined }, 'INVALID_FILTER', 'filter.a'],
    ['Date', { a: new Date(0) }, 'INVALID_FILTER', 'filter.a'],
    ['NUL in string', { a: 'x\u0000' }, 'INVALID_TEXT', 'filter.a'],
    ['NUL in a field name', { 'a\u0000': 1 }, 'INVALID_TEXT', 'filter'],
    ['lone surrogate in a literal key', { a: { b: { '\uDC00': 1 } } }, 'INVALID_TEXT', 'filter.a.b'],
    ['lone surrogate in _id', { _id: { $in: ['x', '\uD800'] } }, 'INVALID_TEXT', 'filter._id.$in.1'],
    ['lone surrogate', { a: { $gt: '\uD800' } }, 'INVALID_TEXT', 'filter.a.$gt'],
  ])('%s', (_name, input, reason, path) => {
    let err: unknown;
    try {
      parseFilter(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect(err).toMatchObject({ reason, path });
    const result = FilterSchema.safeParse(input);
    expect(result.success).toBe(false);
    const issue = result.error?.issues[0];
    expect(['filter', ...(issue?.path ?? [])].join('.')).toBe(path);
    expect(issue).toMatchObject({ params: { reason } });
  });

  test('rejecting __proto__ does not pollute', () => {
    expect(() => parseFilter(JSON.parse('{"a": 1, "__proto__": {"polluted": true}}'))).toThrow(FilterError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

const doc = (fields: Record<string, unknown>, _id = 'doc1', _rev = 3): FilterDocument => ({ _id, _rev, ...fields });

describe('matchFilter', () => {
  test.each<[string, Filter, FilterDocument, boolean]>([
    ['empty filter', {}, doc({}), true],
    ['equality', { a: 1 }, doc({ a: 1 }), true],
    ['equality type-strict', { a: 1 }, doc({ a: '1' }), false],
    ['no array element matching', { tags: 'x' }, doc({ tags: ['x'] }), false],
    ['array equality', { tags: ['x'] }, doc({ tags: ['x'] }), true],
    ['object equality ignores key order', { o: { a: 1, b: { c: [1, { d: 2 }] } } }, doc({ o: { b: { c: [1, { d: 2 }] }, a: 1 } }), true],
    ['object equality is exact', { o: { a: 1 } }, doc({ o: { a: 1, b: 2 } }), false],
    ['null matches missing', { a: null }, doc({}), true],
    ['null matches null', { a: { $eq: null } }, doc({ a: null }), true],
    ['null does not match value', { a: null }, doc({ a: 0 }), false],
    ['$ne null on missing', { a: { $ne: null } }, doc({}), false],
    ['$ne null on value', { a: { $ne: null } }, doc({ a: false }), true],
    ['$ne value on missing', { a: { $ne: 5 } }, doc({}), true],
    ['$ne value on same', { a: { $ne: 5 } }, doc({ a: 5 }), false],
    ['$gt number', { a: { $gt: 5 } }, doc({ a: 6 }), true],
    ['$gt number vs string', { a: { $gt: 5 } }, doc({ a: '6' }), false],
    ['$gt string vs number', { a: { $gt: '5' } }, doc({ a: 6 }), false],
    ['$gte equal', { a: { $gte: 5 } }, doc({ a: 5 }), true],
    ['$lt missing', { a: { $lt: 5 } }, doc({}), false],
    ['$lt null', { a: { $lt: 5 } }, doc({ a: null }), false],
    ['$lte boolean', { a: { $lte: 5 } }, doc({ a: true }), false],
    ['$gt array', { a: { $gt: 0 } }, doc({ a: [1] }), false],
    ['uppercase sorts before lowercase', { a: { $lt: 'a' } }, doc({ a: 'Z' }), true],
    ['non-ASCII after ASCII', { a: { $gt: 'z' } }, doc({ a: 'é' }), true],
    ['astral after U+FFxx (code point order)', { a: { $gt: '\uFF26' } }, doc({ a: '\u{1F600}' }), true],
    ['U+FFxx before astral', { a: { $lt: '\u{1F600}' } }, doc({ a: '\uFF26' }), true],
    ['prefix sorts first', { a: { $lt: 'ab' } }, doc({ a: 'a' }), true],
    ['$in', { a: { $in: [1, 'x'] } }, doc({ a: 'x' }), true],
    ['$in null matches missing', { a: { $in: [1, null] } }, doc({}), true],
    ['$in without null, missing', { a: { $in: [1] } }, doc({}), false],
    ['$nin missing', { a: { $nin: [1] } }, doc({}), true],
    ['$nin with null, missing', { a: { $nin: [1, null] } }, doc({}), false],
    ['$in object', { a: { $in: [{ b: 1 }] } }, doc({ a: { b: 1 } }), true],
    ['$exists true on null', { a: { $exists: true } }, doc({ a: null }), true],
    ['$exists false on missing', { a: { $exists: false } }, doc({}), true],
    ['$exists false on present', { a: { $exists: false } }, doc({ a: 0 }), false],
    ['operators are ANDed', { a: { $gt: 1, $lt: 3 } }, doc({ a: 3 }), false],
    ['keys are ANDed', { a: 1, b: 2 }, doc({ a: 1, b: 3 }), false],
    ['dotted path', { 'a.b.c': 1 }, doc({ a: { b: { c: 1 } } }), true],
    ['missing intermediate', { 'a.b.c': null }, doc({ a: { x: 1 } }), true],
    ['scalar intermediate', { 'a.b': { $exists: true } }, doc({ a: 'str' }), false],
    ['no array traversal', { 'a.0': 'x' }, doc({ a: ['x'] }), false],
    ['numeric object key', { 'a.0': 'x' }, doc({ a: { '0': 'x' } }), true],
    ['inherited property is missing', { 'a.toString': { $exists: true } }, doc({ a: {} }), false],
    ['$or', { $or: [{ a: 1 }, { b: 1 }] }, doc({ b: 1 }), true],
    ['$and', { $and: [{ a: 1 }, { b: 1 }] }, doc({ b: 1 }), false],
    ['$or of empty filter', { $or: [{}] }, doc({}), true],
    ['_id equality', { _id: 'doc1' }, doc({}), true],
    ['_id is not a data field', { _id: 'doc1' }, doc({ _id_: 'doc1' }, 'other'), false],
    ['_id comparison by code point', { _id: { $gt: 'Doc' } }, doc({}, 'doc'), true],
    ['_rev range', { _rev: { $gte: 3, $lt: 4 } }, doc({}), true],
    ['_rev $in', { _rev: { $in: [1, 2] } }, doc({}), false],
    ['_id always exists', { _id: { $exists: true }, _rev: { $exists: true } }, doc({}), true],
  ])('%s', (_name, filter, d, expected) => {
    parseFilter(filter);
    expect(matchFilter(filter, d)).toBe(expected);
  });

  test('throws on operators parseFilter would reject instead of ignoring them', () => {
    expect(() => matchFilter({ a: { $regex: 'x' } } as unknown as Filter, doc({ a: 'x' }))).toThrow(FilterError);
    expect(() => matchFilter({ $nor: [] } as unknown as Filter, doc({}))).toThrow(FilterError);
  });
});

describe('compareCodePoints', () => {
  const sorted = ['', 'A', 'Z', 'a', 'ab', 'z', 'é', '\u4E2D', '\uFF26', '\u{1F600}', '\u{1F600}a'];
  test.each(sorted.flatMap((a, i) => sorted.map((b, j) => [a, b, Math.sign(i - j)] as const)))('%j vs %j', (a, b, sign) => {
    expect(Math.sign(compareCodePoints(a, b))).toBe(sign);
    // Agrees with comparing code point arrays.
    const ca = [...a].map((c) => c.codePointAt(0) as number);
    const cb = [...b].map((c) => c.codePointAt(0) as number);
    let ref = ca.length - cb.length;
    for (let k = 0; k < Math.min(ca.length, cb.length); k++) {
      if (ca[k] !== cb[k]) {
        ref = (ca[k] as number) - (cb[k] as number);
        break;
      }
    }
    expect(Math.sign(ref)).toBe(sign);
  });
});
