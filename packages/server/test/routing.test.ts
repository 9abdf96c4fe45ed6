import { describe, expect, test } from 'vitest';
import { ColumnFilters } from '../src/auth/column-filters.js';
import { changeRows, type Delivery, owners, publishedRows, type RoutedRows, route } from '../src/auth/routing.js';
import { testChange } from './harness.js';

/** Deliveries as `type:user,user→row-id` strings, order-independent. */
const show = (ds: Delivery[]) =>
  ds.map((d) => `${d.type}:${d.to === '*' ? '*' : [...d.to].sort().join(',')}→${String(d.row?.id ?? d.row?._id ?? null)}`).sort();

describe('owners', () => {
  test.each([
    [{ owner: 7 }, ['owner'], ['7']],
    [{ owner: '7', other: 8 }, ['owner', 'other'], ['7', '8']],
    [{ owner: 7, other: 7 }, ['owner', 'other'], ['7']],
    [{ owner: null }, ['owner'], []],
    [{ owner: { id: 7 } }, ['owner'], []],
    [{ owner: 7 }, ['missing'], []],
    // Booleans are never user ids (the read rules agree).
    [{ owner: true }, ['owner'], []],
  ])('%j under %j reaches %j', (row, columns, ids) => {
    expect([...owners(row, columns)].sort()).toEqual(ids);
  });

  test('an inherited property is not a column', () => {
    expect([...owners(Object.create({ owner: 1 }) as Record<string, unknown>, ['owner'])]).toEqual([]);
  });
});

describe('route', () => {
  const rows = (type: RoutedRows['type'], before: RoutedRows['before'], after: RoutedRows['after']): RoutedRows => ({
    type,
    before,
    after,
  });

  test.each<[string, Parameters<typeof route>[0], RoutedRows, string[]]>([
    ['unlisted table → nobody', undefined, rows('insert', null, { id: 1, owner: 1 }), []],
    ['* insert → everyone', '*', rows('insert', null, { id: 1, owner: 1 }), ['insert:*→1']],
    ['* delete carries the old row', '*', rows('delete', { id: 1, owner: 1 }, null), ['delete:*→1']],
    ['* update', '*', rows('update', { id: 1, owner: 1 }, { id: 1, owner: 2 }), ['update:*→1']],
    ['column insert → its owner', ['owner'], rows('insert', null, { id: 1, owner: 5 }), ['insert:5→1']],
    ['array: every column owner', ['a', 'b', 'c'], rows('insert', null, { id: 1, a: 1, b: 2, c: 1 }), ['insert:1,2→1']],
    ['column delete → its owner, with the old row', ['owner'], rows('delete', { id: 1, owner: 5 }, null), ['delete:5→1']],
    ['delete with an unknown old row → nobody', ['owner'], rows('delete', undefined, null), []],
    ['update staying → update', ['owner'], rows('update', { id: 1, owner: 5 }, { id: 1, owner: 5 }), ['update:5→1']],
    [
      'moved row: delete for the old owner, insert for the new',
      ['owner'],
      rows('update', { id: 1, owner: 5 }, { id: 1, owner: 6 }),
      ['delete:5→1', 'insert:6→1'],
    ],
    [
      'array: stayed, entered and left at once',
      ['a', 'b'],
      rows('update', { id: 1, a: 1, b: 2 }, { id: 1, a: 2, b: 3 }),
      ['delete:1→1', 'insert:3→1', 'update:2→1'],
    ],
    [
      'update out of everyone’s reach → delete only',
      ['owner'],
      rows('update', { id: 1, owner: 5 }, { id: 1, owner: null }),
      ['delete:5→1'],
    ],
    [
      'update with an unknown old row → update for the new owners',
      ['owner'],
      rows('update', undefined, { id: 1, owner: 6 }),
      ['update:6→1'],
    ],
    ['no owner at all → nobody', ['owner'], rows('insert', null, { id: 1 }), []],
  ])('%s', (_name, rule, r, expected) => {
    expect(show(route(rule, r))).toEqual(expected);
  });

  test('ids compare as strings: number 5 and "5" are the same user', () => {
    expect(show(route(['owner'], rows('update', { id: 1, owner: 5 }, { id: 1, owner: '5' })))).toEqual(['update:5→1']);
  });

  test('the moved-out delete carries the old row, the insert the new one', () => {
    const ds = route(['owner'], rows('update', { id: 1, owner: 5, v: 'old' }, { id: 1, owner: 6, v: 'new' }));
    expect(ds.find((d) => d.type === 'delete')?.row).toEqual({ id: 1, owner: 5, v: 'old' });
    expect(ds.find((d) => d.type === 'insert')?.row).toEqual({ id: 1, owner: 6, v: 'new' });
  });
});

describe('changeRows', () => {
  test('table update: the old row is the new row overlaid with the old values of the changed columns', () => {
    const c = testChange({ type: 'update', collection: 't', data: { id: 1, owner: 6, n: 2 }, old: { owner: 5 } });
    expect(changeRows(c, true)).toEqual({ type: 'update', before: { id: 1, owner: 5, n: 2 }, after: { id: 1, owner: 6, n: 2 } });
    expect(show(route(['owner'], changeRows(c, true)))).toEqual(['delete:5→1', 'insert:6→1']);
  });

  test('table delete: the deleted row (old) is routed and sent', () => {
    const c = testChange({ type: 'delete', collection: 't', data: null, old: { id: 1, owner: 5 } });
    expect(changeRows(c, true)).toEqual({ type: 'delete', before: { id: 1, owner: 5 }, after: null });
  });

  test('table insert: no old row', () => {
    expect(changeRows(testChange({ type: 'insert', data: { id: 1 } }), true)).toEqual({ type: 'insert', before: null, after: { id: 1 } });
  });

  test('documents get their id as _id; an update without old values routes by its new row only', () => {
    const c = testChange({ type: 'update', docId: 'd9', data: { owner: 6 } });
    expect(changeRows(c, false)).toEqual({ type: 'update', before: undefined, after: { _id: 'd9', owner: 6 } });
    const del = changeRows(testChange({ type: 'delete', docId: 'd9', data: null }), false);
    expect(del).toEqual({ type: 'delete', before: { _id: 'd9' }, after: null });
    expect(show(route(['_id'], del))).toEqual(['delete:d9→d9']);
  });

  test('published: data is the new row, or the old one for a delete', () => {
    expect(publishedRows('insert', { id: 1 })).toEqual({ type: 'insert', before: null, after: { id: 1 } });
    expect(publishedRows('update', { id: 1 })).toEqual({ type: 'update', before: undefined, after: { id: 1 } });
    expect(publishedRows('delete', { id: 1 })).toEqual({ type: 'delete', before: { id: 1 }, after: null });
  });
});

describe('FILTERS on routed rows', () => {
  const filters = new ColumnFilters(['t.secret', 't.hash']);
  test('a filtered column is absent from new and old row data, and routing still reads it', () => {
    const c = testChange({
      type: 'update',
      collection: 't',
      data: { id: 1, secret: 'B', owner: 6, hash: 'h2' },
      old: { owner: 5, secret: 'A' },
    });
    const ds = route(['secret'], changeRows(c, true));
    expect(show(ds)).toEqual(['delete:A→1', 'insert:B→1']);
    for (const d of ds) {
      const sent = filters.redact('t', d.row);
      expect(sent).not.toHaveProperty('secret');
      expect(sent).not.toHaveProperty('hash');
      expect(sent).toHaveProperty('owner');
    }
    // The server-side rows are untouched.
    expect(c.data).toHaveProperty('secret', 'B');
  });
});
