/**
 * The client Store conformance suite: MemoryStore (store.memory.test.ts) and
 * IndexedDBStore on fake-indexeddb (store.indexeddb.test.ts) both run it. Every
 * case starts from a new, empty store; durable stores also get the reopen cases.
 */
import type { Filter, Operation } from '@syncline/protocol';
import { compareCodePoints, isSynclineError } from '@syncline/protocol';
import fc from 'fast-check';
import { afterEach, describe, expect, test } from 'vitest';
import { compileQuery, type Query } from '../src/query.js';
import type { StoreIndexes } from '../src/store/indexes.js';
import type { BaseRecord, Store, StoreQuery, StoreWrite } from '../src/store/store.js';

/** What a store is made with (both stores take these). */
export interface StoreOptions {
  indexes?: StoreIndexes;
}

export interface StoreHarness {
  store: Store;
  /** Durable stores: a new handle on the same storage, to open after closing `store` (with other options, e.g. new indexes). */
  reopen?: (options?: StoreOptions) => Store;
}

const rec = (collection: string, id: string, data: Record<string, unknown> = {}, version = 1, position = 0): BaseRecord => ({
  collection,
  id,
  data,
  version,
  position,
});

const op = (id: string, docId = 'd1'): Operation => ({ id, type: 'update', collection: 'todos', docId, data: { title: id } });

const ids = (records: BaseRecord[]) => records.map((r) => r.id);

/** Code-point order, written out: U+E000..U+FFFF come before astral characters (UTF-16 `<` gets this wrong). */
const ORDERED_IDS = ['A', 'B', 'a', 'a0', 'ab', 'b', 'z', '~', 'é', 'ÿ', 'Ā', '中', '\uE000', '\uFF01', '\u{10000}', '😀', '\u{10FFFF}'];

const SHOP = [
  rec('items', 'i1', { name: 'pen', price: 2, tags: ['office'], dims: { w: 1, h: 10 } }, 3),
  rec('items', 'i2', { name: 'ink', price: 12.5, stock: null, dims: { w: 2, h: 2 } }),
  rec('items', 'i3', { name: 'pad', price: 5, stock: 0 }),
  rec('items', 'i4', { name: 'cup', price: '7' }),
];

const FILTERS: [string, Filter, string[]][] = [
  ['equality', { name: 'ink' }, ['i2']],
  ['$in', { name: { $in: ['pen', 'cup', 'nope'] } }, ['i1', 'i4']],
  ['$gt on numbers only', { price: { $gt: 4 } }, ['i2', 'i3']],
  ['$gte/$lt range', { price: { $gte: 2, $lt: 12.5 } }, ['i1', 'i3']],
  ['nested equality (dotted path)', { 'dims.w': 2 }, ['i2']],
  ['nested equality (object, key order ignored)', { dims: { h: 10, w: 1 } }, ['i1']],
  ['$exists true (a present null counts)', { stock: { $exists: true } }, ['i2', 'i3']],
  ['$exists false', { stock: { $exists: false } }, ['i1', 'i4']],
  ['null matches null or missing', { stock: null }, ['i1', 'i2', 'i4']],
  ['array equality (no element matching)', { tags: ['office'] }, ['i1']],
  ['$or', { $or: [{ name: 'pad' }, { price: '7' }] }, ['i3', 'i4']],
  ['_id and _rev', { _id: { $in: ['i1', 'i3'] }, _rev: 3 }, ['i1']],
  ['empty filter', {}, ['i1', 'i2', 'i3', 'i4']],
];

interface Cycle {
  self?: Cycle;
}
const cycle: Cycle = {};
cycle.self = cycle;

/** Writes that must be refused whole: [case, write, expected code, expected details.path]. */
const BAD_WRITES: [string, StoreWrite, string, string][] = [
  ['a function in data', { put: [rec('c', 'x', { f: () => 1 })] }, 'VALIDATION_FAILED', 'write.put.0.data.f'],
  ['a Date in data', { put: [rec('c', 'x', { at: new Date(0) })] }, 'VALIDATION_FAILED', 'write.put.0.data.at'],
  ['NaN', { put: [rec('c', 'x', { n: Number.NaN })] }, 'VALIDATION_FAILED', 'write.put.0.data.n'],
  ['a bigint', { put: [rec('c', 'x', { n: 1n })] }, 'VALIDATION_FAILED', 'write.put.0.data.n'],
  ['undefined in an array', { put: [rec('c', 'x', { a: [1, undefined] })] }, 'VALIDATION_FAILED', 'write.put.0.data.a.1'],
  ['a cycle', { put: [rec('c', 'x', cycle as Record<string, unknown>)] }, 'VALIDATION_FAILED', 'write.put.0.data'],
  ['a __proto__ key', { put: [rec('c', 'x', JSON.parse('{"__proto__": {"admin": true}}'))] }, 'FORBIDDEN_KEY', 'write.put.0.data'],
  ['a bad collection name', { put: [rec('no such/collection', 'x')] }, 'INVALID_COLLECTION', 'write.put.0.collection'],
  ['an empty id', { delete: [{ collection: 'c', id: '' }] }, 'INVALID_DOCUMENT_ID', 'write.delete.0.id'],
  ['a fractional version', { put: [rec('c', 'x', {}, 1.5)] }, 'VALIDATION_FAILED', 'write.put.0.version'],
  [
    'data that is an array',
    { put: [{ ...rec('c', 'x'), data: [] as unknown as Record<string, unknown> }] },
    'VALIDATION_FAILED',
    'write.put.0.data',
  ],
  ['put and delete of one record', { put: [rec('c', 'x')], delete: [{ collection: 'c', id: 'x' }] }, 'VALIDATION_FAILED', 'write.put.0'],
  [
    'an operation that is not an object',
    { enqueue: [{ operation: 'op' as unknown as Operation }] },
    'VALIDATION_FAILED',
    'write.enqueue.0.operation',
  ],
  ['seq 0', { dequeue: [0] }, 'VALIDATION_FAILED', 'write.dequeue.0'],
  ['a meta value that is a Map', { meta: { m: new Map() } }, 'VALIDATION_FAILED', 'write.meta.m'],
  ['an unknown field', { puts: [] } as StoreWrite, 'VALIDATION_FAILED', 'write.puts'],
];

/** Indexes the query cases run with (and without). */
const PRODUCT_INDEXES: StoreIndexes = { p: ['category', ['category', 'price'], 'price', 'dims.w'] };

/** What `query` must return: the query's matcher and order over every record (the model). */
function expectedQuery(records: BaseRecord[], q: StoreQuery): string[] {
  const c = compileQuery(q as Query);
  const docs = records.map((r) => ({ ...r.data, _id: r.id, _rev: r.version })).filter((d) => c.matches(d));
  return docs
    .sort(c.compare)
    .slice(0, c.limit)
    .map((d) => d._id);
}

export function registerStoreTests(label: string, create: (options?: StoreOptions) => StoreHarness): void {
  describe(`Store conformance: ${label}`, () => {
    const opened: Store[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });
    const open = async (s: Store): Promise<Store> => {
      opened.push(s);
      await s.open();
      return s;
    };
    const fresh = async () => {
      const h = create();
      return { store: await open(h.store), reopen: h.reopen };
    };
    const start = async () => (await fresh()).store;

    test('put, get, overwrite, delete', async () => {
      const s = await start();
      expect(await s.write({ put: [rec('a', 'x', { n: 1 }, 1, 5), rec('b', 'x', { n: 2 })] })).toEqual([]);
      expect(await s.get('a', 'x')).toEqual(rec('a', 'x', { n: 1 }, 1, 5));
      expect(await s.get('b', 'x')).toEqual(rec('b', 'x', { n: 2 }));
      expect(await s.get('a', 'y')).toBeUndefined();
      expect(await s.get('c', 'x')).toBeUndefined();
      // The same key twice in one write: the last wins.
      await s.write({ put: [rec('a', 'x', { n: 2 }, 2, 6), rec('a', 'x', { n: 3 }, 3, 7)] });
      expect(await s.get('a', 'x')).toEqual(rec('a', 'x', { n: 3 }, 3, 7));
      await s.write({
        delete: [
          { collection: 'a', id: 'x' },
          { collection: 'a', id: 'never-existed' },
        ],
      });
      expect(await s.get('a', 'x')).toBeUndefined();
      expect(await s.get('b', 'x')).toEqual(rec('b', 'x', { n: 2 }));
    });

    test('find sees deletes and re-puts made between reads', async () => {
      const s = await start();
      await s.write({ put: [rec('a', 'x'), rec('a', 'y'), rec('a', 'z')] });
      expect(ids(await s.find('a'))).toEqual(['x', 'y', 'z']);
      await s.write({ delete: [{ collection: 'a', id: 'y' }] });
      await s.write({ put: [rec('a', 'y', { back: true }), rec('a', 'w')] });
      await s.write({ delete: [{ collection: 'a', id: 'z' }] });
      expect(ids(await s.find('a'))).toEqual(['w', 'x', 'y']);
      expect((await s.find('a', undefined, { after: 'x' }))[0]?.data).toEqual({ back: true });
    });

    test('clear removes only the named collections, before the same write puts', async () => {
      const s = await start();
      await s.write({ put: [rec('a', '1'), rec('a', '2'), rec('ab', '1'), rec('b', '1')] });
      await s.write({ clear: ['a', 'nothing-here'], put: [rec('a', '3')] });
      expect(ids(await s.find('a'))).toEqual(['3']);
      expect(ids(await s.find('ab'))).toEqual(['1']);
      expect(ids(await s.find('b'))).toEqual(['1']);
      expect(await s.count()).toBe(3);
    });

    test('fields set to undefined are dropped, like JSON', async () => {
      const s = await start();
      await s.write({ put: [rec('a', 'x', { keep: 1, drop: undefined, deep: { drop: undefined } })], meta: { m: { v: 1, w: undefined } } });
      const got = await s.get('a', 'x');
      expect(got?.data).toStrictEqual({ keep: 1, deep: {} });
      expect(await s.getMeta('m')).toStrictEqual({ v: 1 });
    });

    test.each(FILTERS)('find with a filter: %s', async (_name, filter, expected) => {
      const s = await start();
      await s.write({ put: [...SHOP, rec('other', 'i1', { name: 'ink' })] });
      expect(ids(await s.find('items', filter))).toEqual(expected);
    });

    test('find rejects an invalid filter', async () => {
      const s = await start();
      await expect(s.find('items', { price: { $regex: 'x' } } as unknown as Filter)).rejects.toMatchObject({ reason: 'UNKNOWN_OPERATOR' });
      await expect(s.find('items', { 'a..b': 1 })).rejects.toMatchObject({ reason: 'INVALID_FILTER' });
    });

    test('id order is code-point order, also for non-ASCII ids', async () => {
      const s = await start();
      const shuffled = [...ORDERED_IDS].reverse();
      // Several writes, so ids arrive both before and after ones already stored.
      for (let i = 0; i < shuffled.length; i += 5) await s.write({ put: shuffled.slice(i, i + 5).map((id) => rec('c', id)) });
      expect([...ORDERED_IDS].sort(compareCodePoints)).toEqual(ORDERED_IDS);
      expect(ids(await s.find('c'))).toEqual(ORDERED_IDS);
      const paged: string[] = [];
      for (let after: string | undefined; ; ) {
        const page = await s.find('c', undefined, { limit: 4, ...(after === undefined ? {} : { after }) });
        paged.push(...ids(page));
        if (page.length < 4) break;
        after = page[page.length - 1]!.id;
      }
      expect(paged).toEqual(ORDERED_IDS);
      expect(ids(await s.find('c', { _id: { $gt: '\uFF01' } }))).toEqual(['\u{10000}', '😀', '\u{10FFFF}']);
      expect(await s.get('c', '😀')).toEqual(rec('c', '😀'));
    });

    test('paging with limit and after', async () => {
      const s = await start();
      const all = Array.from({ length: 10 }, (_, i) => `d${i}`);
      await s.write({ put: all.map((id, i) => rec('p', id, { i, even: i % 2 === 0 })) });
      expect(ids(await s.find('p', undefined, { limit: 3 }))).toEqual(['d0', 'd1', 'd2']);
      expect(ids(await s.find('p', undefined, { limit: 3, after: 'd2' }))).toEqual(['d3', 'd4', 'd5']);
      // `after` need not be a stored id.
      expect(ids(await s.find('p', undefined, { after: 'd45' }))).toEqual(['d5', 'd6', 'd7', 'd8', 'd9']);
      expect(ids(await s.find('p', undefined, { after: 'd9' }))).toEqual([]);
      expect(ids(await s.find('p', undefined, { limit: 0 }))).toEqual([]);
      expect(ids(await s.find('p', { even: true }, { limit: 2, after: 'd2' }))).toEqual(['d4', 'd6']);
      await expect(s.find('p', undefined, { limit: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    test('paging a filtered scan over many records', async () => {
      const s = await start();
      const n = 1200;
      await s.write({ put: Array.from({ length: n }, (_, i) => rec('big', `k${String(i).padStart(5, '0')}`, { i, hit: i % 97 === 0 })) });
      const expected = Array.from({ length: n }, (_, i) => i)
        .filter((i) => i % 97 === 0)
        .map((i) => `k${String(i).padStart(5, '0')}`);
      const got: string[] = [];
      for (let after: string | undefined; ; ) {
        const page = await s.find('big', { hit: true }, { limit: 5, ...(after === undefined ? {} : { after }) });
        got.push(...ids(page));
        if (page.length < 5) break;
        after = page[page.length - 1]!.id;
      }
      expect(got).toEqual(expected);
      expect(await s.find('big', { hit: 'never' })).toEqual([]);
    });

    test('count per collection and in all', async () => {
      const s = await start();
      expect(await s.count()).toBe(0);
      expect(await s.count('a')).toBe(0);
      await s.write({ put: [rec('a', '1'), rec('a', '2'), rec('a', '3'), rec('b', '1')] });
      expect(await s.count('a')).toBe(3);
      expect(await s.count('b')).toBe(1);
      expect(await s.count()).toBe(4);
      await s.write({ delete: [{ collection: 'a', id: '2' }] });
      expect(await s.count('a')).toBe(2);
      await s.write({ clear: ['b'] });
      expect(await s.count()).toBe(2);
    });

    test('queue: in order, seqs strictly increasing, never reused after dequeue', async () => {
      const s = await start();
      const first = await s.write({
        enqueue: [{ operation: op('o1') }, { operation: op('o2'), meta: { attempts: 0 } }, { operation: op('o3') }],
      });
      expect(first).toHaveLength(3);
      expect(first[0]).toBeGreaterThan(0);
      expect(first[1]).toBeGreaterThan(first[0]!);
      expect(first[2]).toBeGreaterThan(first[1]!);
      expect(await s.pending()).toEqual([
        { seq: first[0], operation: op('o1') },
        { seq: first[1], operation: op('o2'), meta: { attempts: 0 } },
        { seq: first[2], operation: op('o3') },
      ]);
      await s.write({ dequeue: [first[1]!, 987654] });
      expect((await s.pending()).map((p) => p.operation.id)).toEqual(['o1', 'o3']);
      await s.write({ dequeue: [first[0]!, first[2]!] });
      expect(await s.pending()).toEqual([]);
      const [next] = await s.write({ enqueue: [{ operation: op('o4') }] });
      expect(next).toBeGreaterThan(first[2]!);
      expect(await s.pending()).toEqual([{ seq: next, operation: op('o4') }]);
    });

    test('queue: update replaces queued entries in place, never brings back a dequeued one', async () => {
      const s = await start();
      const [a, b, c] = await s.write({ enqueue: [{ operation: op('o1') }, { operation: op('o2') }, { operation: op('o3') }] });
      await s.write({
        dequeue: [c!],
        update: [
          { seq: a!, operation: { ...op('o1'), data: { title: 'edited' } }, meta: { attempts: 2 } },
          { seq: c!, operation: op('o3-again') },
          { seq: 424242, operation: op('unknown') },
        ],
      });
      expect(await s.pending()).toEqual([
        { seq: a, operation: { ...op('o1'), data: { title: 'edited' } }, meta: { attempts: 2 } },
        { seq: b, operation: op('o2') },
      ]);
    });

    test('meta: set, overwrite, delete with undefined', async () => {
      const s = await start();
      expect(await s.getMeta('clientId')).toBeUndefined();
      await s.write({ meta: { clientId: 'c-1', position: 42, clock: { a: 1 }, list: [1, 'x', null], none: null } });
      expect(await s.getMeta('clientId')).toBe('c-1');
      expect(await s.getMeta<number>('position')).toBe(42);
      expect(await s.getMeta('clock')).toEqual({ a: 1 });
      expect(await s.getMeta('list')).toEqual([1, 'x', null]);
      expect(await s.getMeta('none')).toBeNull();
      await s.write({ meta: { position: 43, clock: undefined } });
      expect(await s.getMeta('position')).toBe(43);
      expect(await s.getMeta('clock')).toBeUndefined();
      expect(await s.getMeta('clientId')).toBe('c-1');
    });

    test.each(BAD_WRITES)('a write with %s is refused whole and changes nothing', async (_name, bad, code, path) => {
      const s = await start();
      const [seq] = await s.write({ put: [rec('c', 'keep', { v: 1 })], enqueue: [{ operation: op('o1') }], meta: { m: 1 } });
      const snapshot = async () => ({
        records: await s.find('c'),
        count: await s.count(),
        pending: await s.pending(),
        m: await s.getMeta('m'),
      });
      const before = await snapshot();
      // A valid entry before the bad one in every list, so a store that applied as it went would show it.
      const write: StoreWrite = {
        ...bad,
        clear: ['c'],
        put: [rec('c', 'new1'), ...(bad.put ?? [])],
        delete: [{ collection: 'c', id: 'keep' }, ...(bad.delete ?? [])],
        dequeue: [seq!, ...(bad.dequeue ?? [])],
        enqueue: [{ operation: op('o2') }, ...(bad.enqueue ?? [])],
        meta: { m: 2, added: true, ...bad.meta },
      };
      const error = await s.write(write).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isSynclineError(error), String(error)).toBe(true);
      const shifted = path.replace(/^write\.(put|delete|dequeue|enqueue)\.(\d+)/, (_m, list, i) => `write.${list}.${Number(i) + 1}`);
      expect(error).toMatchObject({ code });
      expect((error as { details: { path: string } }).details.path.startsWith(shifted), (error as Error).message).toBe(true);
      expect(await snapshot()).toEqual(before);
      expect(await s.getMeta('added')).toBeUndefined();
    });

    test('values are copies: changing what was written or read changes nothing stored', async () => {
      const s = await start();
      const data = { tags: ['a'], nested: { n: 1 } };
      const operation = op('o1');
      const meta = { attempts: 0 };
      const clock = { a: 1 };
      await s.write({ put: [rec('c', 'x', data)], enqueue: [{ operation, meta }], meta: { clock } });
      data.tags.push('b');
      data.nested.n = 2;
      (operation.data as Record<string, unknown>).title = 'changed';
      meta.attempts = 9;
      clock.a = 9;
      const got = await s.get('c', 'x');
      expect(got?.data).toEqual({ tags: ['a'], nested: { n: 1 } });
      (got!.data.tags as string[]).push('c');
      const found = await s.find('c');
      expect(found[0]?.data).toEqual({ tags: ['a'], nested: { n: 1 } });
      (found[0]!.data.nested as { n: number }).n = 3;
      const pending = await s.pending();
      expect(pending[0]).toMatchObject({ operation: op('o1'), meta: { attempts: 0 } });
      (pending[0]!.operation.data as Record<string, unknown>).title = 'changed again';
      pending[0]!.meta!.attempts = 5;
      const m = await s.getMeta<{ a: number }>('clock');
      expect(m).toEqual({ a: 1 });
      m!.a = 7;
      expect(await s.get('c', 'x')).toEqual(rec('c', 'x', { tags: ['a'], nested: { n: 1 } }));
      expect(await s.pending()).toEqual([{ seq: pending[0]!.seq, operation: op('o1'), meta: { attempts: 0 } }]);
      expect(await s.getMeta('clock')).toEqual({ a: 1 });
    });

    test('calls before open and after close are refused', async () => {
      const h = create();
      await expect(h.store.get('c', 'x')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      await open(h.store);
      await h.store.write({ put: [rec('c', 'x')] });
      await h.store.close();
      await expect(h.store.get('c', 'x')).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
      await expect(h.store.write({ put: [rec('c', 'y')] })).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    });

    test('random writes agree with a model (contents, order, paging)', async () => {
      const idArb = fc.constantFrom('a', 'b', 'B', 'ab', 'é', '\uFF01', '😀', '中', 'z0', 'z1');
      const command = fc.oneof(
        fc.record({
          put: fc.uniqueArray(fc.record({ id: idArb, n: fc.integer({ min: 0, max: 9 }) }), { selector: (r) => r.id, maxLength: 4 }),
        }),
        fc.record({ del: fc.uniqueArray(idArb, { maxLength: 3 }) }),
        fc.constant({ clear: true as const }),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(command, fc.boolean()), { maxLength: 12 }),
          fc.integer({ min: 1, max: 4 }),
          async (commands, limit) => {
            const h = create();
            const s = await open(h.store);
            const model = new Map<string, number>();
            for (const [c, read] of commands) {
              if ('put' in c) {
                await s.write({ put: c.put.map((r) => rec('m', r.id, { n: r.n })) });
                for (const r of c.put) model.set(r.id, r.n);
              } else if ('del' in c) {
                await s.write({ delete: c.del.map((id) => ({ collection: 'm', id })) });
                for (const id of c.del) model.delete(id);
              } else {
                await s.write({ clear: ['m'] });
                model.clear();
              }
              // Reading between some writes: a store may index lazily on read.
              if (read) expect(ids(await s.find('m'))).toEqual([...model.keys()].sort(compareCodePoints));
            }
            const expected = [...model.keys()].sort(compareCodePoints);
            expect(ids(await s.find('m', { n: { $gte: 5 } }))).toEqual(expected.filter((id) => model.get(id)! >= 5));
            const paged: string[] = [];
            for (let after: string | undefined; ; ) {
              const page = await s.find('m', undefined, { limit, ...(after === undefined ? {} : { after }) });
              paged.push(...ids(page));
              if (page.length < limit) break;
              after = page[page.length - 1]!.id;
            }
            expect(paged).toEqual(expected);
            expect(await s.count('m')).toBe(expected.length);
            await s.close();
          },
        ),
        { numRuns: 60 },
      );
    });

    test('getMany: records by id in the order asked, undefined where none', async () => {
      const s = await start();
      await s.write({ put: [rec('a', 'x', { n: 1 }), rec('a', 'y', { n: 2 }), rec('b', 'x')] });
      expect(await s.getMany('a', ['y', 'nope', 'x'])).toEqual([rec('a', 'y', { n: 2 }), undefined, rec('a', 'x', { n: 1 })]);
      expect(await s.getMany('a', [])).toEqual([]);
      await expect(s.getMany('a', [''])).rejects.toMatchObject({ code: 'INVALID_DOCUMENT_ID' });
    });

    for (const indexed of [false, true]) {
      test(`query: filter, sort on several keys and directions, limit (${indexed ? 'with' : 'without'} indexes) agree with a model`, async () => {
        const value = fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom('a', 'B', 'é', null, true, false));
        const fields = fc.record(
          { category: value, price: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constant(2.5)), dims: fc.record({ w: value }) },
          { requiredKeys: [] },
        );
        const idArb = fc.constantFrom('a', 'b', 'B', 'é', '😀', 'z0', 'z1', 'z2', 'z3', 'z4');
        const command = fc.oneof(
          fc.record({ put: fc.uniqueArray(fc.record({ id: idArb, data: fields }), { selector: (r) => r.id, maxLength: 5 }) }),
          fc.record({ del: fc.uniqueArray(idArb, { maxLength: 3 }) }),
          fc.constant({ clear: true as const }),
        );
        const filter = fc.oneof(
          fc.constant(undefined),
          fc.record({ category: fc.integer({ min: 0, max: 3 }) }),
          fc.record({ category: fc.constantFrom('a', true) }),
          fc.record({ category: fc.integer({ min: 0, max: 3 }), price: fc.record({ $gte: fc.integer({ min: 0, max: 5 }) }) }),
          fc.record({ 'dims.w': fc.integer({ min: 0, max: 3 }) }),
          fc.record({ price: fc.record({ $lt: fc.integer({ min: 0, max: 5 }) }) }),
        );
        const dir = fc.constantFrom(1 as const, -1 as const, 'asc' as const, 'desc' as const);
        const sort = fc.oneof(
          fc.constant(undefined),
          fc.record({ price: dir }),
          fc.record({ category: dir, price: dir }),
          fc.record({ 'dims.w': dir }),
          fc.record({ price: dir, _id: dir }),
        );
        await fc.assert(
          fc.asyncProperty(
            fc.array(command, { maxLength: 8 }),
            fc.array(fc.record({ filter, sort, limit: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }) }), {
              minLength: 1,
              maxLength: 4,
            }),
            async (commands, queries) => {
              const h = create(indexed ? { indexes: PRODUCT_INDEXES } : {});
              const s = await open(h.store);
              const model = new Map<string, BaseRecord>();
              for (const c of commands) {
                if ('put' in c) {
                  const records = c.put.map((r) => rec('p', r.id, r.data as Record<string, unknown>));
                  await s.write({ put: [...records, rec('other', 'a', { category: 0 })] });
                  for (const r of records) model.set(r.id, r);
                } else if ('del' in c) {
                  await s.write({ delete: c.del.map((id) => ({ collection: 'p', id })) });
                  for (const id of c.del) model.delete(id);
                } else {
                  await s.write({ clear: ['p'] });
                  model.clear();
                }
              }
              for (const q of queries) {
                const query: StoreQuery = {
                  ...(q.filter ? { filter: q.filter } : {}),
                  ...(q.sort ? { sort: q.sort } : {}),
                  ...(q.limit === undefined ? {} : { limit: q.limit }),
                };
                expect(ids(await s.query('p', query))).toEqual(expectedQuery([...model.values()], query));
              }
              const all = await s.query('p');
              expect(all).toEqual([...model.values()].sort((a, b) => compareCodePoints(a.id, b.id)));
              await s.close();
            },
          ),
          { numRuns: 80 },
        );
      });
    }

    test('query: bad input is refused with a code', async () => {
      const s = await start();
      await expect(s.query('p', { filter: { a: { $regex: 'x' } } as unknown as Filter })).rejects.toMatchObject({
        reason: 'UNKNOWN_OPERATOR',
      });
      await expect(s.query('p', { sort: { a: 'up' } as unknown as StoreQuery['sort'] })).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
      });
      await expect(s.query('p', { limit: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(s.query('no/such', {})).rejects.toMatchObject({ code: 'INVALID_COLLECTION' });
      expect(() => create({ indexes: { p: [['a..b']] } })).toThrow(/not a field path/);
      expect(() => create({ indexes: { p: ['_id'] } })).toThrow(/not a field path/);
    });

    // Stores that keep their data (a `reopen`): the same cases again across close and open.
    if (create().reopen === undefined) return;
    describe('durable stores', () => {
      test('base records, queue, seq counter and meta survive close and reopen', async () => {
        const h = await fresh();
        if (!h.reopen) throw new Error('unreachable');
        const s = h.store;
        await s.write({ put: [rec('a', '1', { v: 1 }, 2, 10), rec('a', '😀'), rec('b', '1')], meta: { clientId: 'c-1', position: 10 } });
        const seqs = await s.write({
          enqueue: [{ operation: op('o1') }, { operation: op('o2'), meta: { attempts: 1 } }, { operation: op('o3') }],
        });
        // Dequeue the newest: the next seq must not be derived from what is left.
        await s.write({ dequeue: [seqs[2]!] });
        await s.close();

        const again = await open(h.reopen());
        expect(await again.get('a', '1')).toEqual(rec('a', '1', { v: 1 }, 2, 10));
        expect(ids(await again.find('a'))).toEqual(['1', '😀']);
        expect(await again.count()).toBe(3);
        expect(await again.pending()).toEqual([
          { seq: seqs[0], operation: op('o1') },
          { seq: seqs[1], operation: op('o2'), meta: { attempts: 1 } },
        ]);
        expect(await again.getMeta('clientId')).toBe('c-1');
        expect(await again.getMeta('position')).toBe(10);
        const [next] = await again.write({ enqueue: [{ operation: op('o4') }] });
        expect(next).toBeGreaterThan(seqs[2]!);
        await again.close();

        const third = await open(h.reopen());
        expect((await third.pending()).map((p) => p.seq)).toEqual([seqs[0], seqs[1], next]);
      });

      test('indexes declared later are filled from the records held; query results are the same through them', async () => {
        const h = await fresh();
        if (!h.reopen) throw new Error('unreachable');
        const records = Array.from({ length: 40 }, (_, i) => rec('p', `d${i}`, { category: i % 4, price: (i * 7) % 10 }));
        await h.store.write({ put: records });
        await h.store.close();
        const q: StoreQuery = { filter: { category: 2 }, sort: { price: 'asc' }, limit: 5 };
        const want = expectedQuery(records, q);
        const again = await open(h.reopen({ indexes: PRODUCT_INDEXES }));
        expect(ids(await again.query('p', q))).toEqual(want);
        // Written after the index exists, and moved within it.
        await again.write({ put: [rec('p', 'new', { category: 2, price: -1 }), rec('p', 'd2', { category: 3, price: 0 })] });
        const after = [
          ...records.filter((r) => r.id !== 'd2'),
          rec('p', 'new', { category: 2, price: -1 }),
          rec('p', 'd2', { category: 3, price: 0 }),
        ];
        expect(ids(await again.query('p', q))).toEqual(expectedQuery(after, q));
        expect(await again.get('p', 'new')).toEqual(rec('p', 'new', { category: 2, price: -1 }));
        await again.close();
        const third = await open(h.reopen({ indexes: PRODUCT_INDEXES }));
        expect(ids(await third.query('p', q))).toEqual(expectedQuery(after, q));
      });

      test('a refused write leaves nothing behind after reopen', async () => {
        const h = await fresh();
        if (!h.reopen) throw new Error('unreachable');
        await h.store.write({ put: [rec('a', '1')] });
        await expect(h.store.write({ put: [rec('a', '2')], meta: { bad: () => 0 } })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
        await h.store.close();
        const again = await open(h.reopen());
        expect(ids(await again.find('a'))).toEqual(['1']);
        expect(await again.getMeta('bad')).toBeUndefined();
      });
    });
  });
}
