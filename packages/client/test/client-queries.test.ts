/**
 * Local queries and live queries: filter, sort on several keys, limit, offset
 * and `after` over base records plus pending writes; live results updated per
 * changed document (no re-read of the collection), documents that keep their
 * identity until they change, validation once per document version; and a
 * remote change reaching a live query through a real server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { type ClientOptions, createClient, type Doc, type SynclineClient } from '../src/client.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { BaseRecord } from '../src/store/store.js';

const clients: SynclineClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

async function until(check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rec = (id: string, data: Record<string, unknown>, version = 1): BaseRecord => ({ collection: 'p', id, data, version, position: 0 });
const ids = (docs: readonly Doc[]) => docs.map((d) => d._id);

/** An offline client over a store seeded with `records` (as if synced before). */
async function offline(records: BaseRecord[], opts: Partial<ClientOptions> = {}) {
  const store = new MemoryStore({ indexes: { p: ['category', ['category', 'price']] } });
  await store.open();
  await store.write({ put: records, meta: { 'pos:p': 1 } });
  const client = createClient({ url: 'http://127.0.0.1:9', store, paused: true, ...opts });
  clients.push(client);
  await client.ready();
  return { client, store };
}

const CATALOGUE = Array.from({ length: 30 }, (_, i) =>
  rec(`p${String(i).padStart(2, '0')}`, { category: i % 3, price: (i * 7) % 11, name: `n${i}` }),
);

/** The model: the same query over plain objects. */
function expected(
  docs: Record<string, unknown>[],
  pick: (d: Record<string, unknown>) => boolean,
  order: (a: Record<string, unknown>, b: Record<string, unknown>) => number,
) {
  return docs
    .filter(pick)
    .sort(order)
    .map((d) => d._id as string);
}

describe('queries', () => {
  test('filter, sort on several keys and directions, limit, offset and after, over base records and pending writes', async () => {
    const { client } = await offline(CATALOGUE);
    const p = client.collection('p');
    // Pending writes: one moved, one deleted, one new (not yet acknowledged: the client is offline).
    void p.update('p03', { price: 100 });
    void p.delete('p06');
    void p.insert({ _id: 'new', category: 0, price: -5 });
    await until(() => client.status.pending === 3);
    const visible = [
      ...CATALOGUE.filter((r) => r.id !== 'p06').map((r) => ({ ...r.data, _id: r.id, ...(r.id === 'p03' ? { price: 100 } : {}) })),
      { _id: 'new', category: 0, price: -5 },
    ];
    const byPriceDescThenId = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      (b.price as number) - (a.price as number) || ((a._id as string) < (b._id as string) ? -1 : 1);
    const cat0 = expected(visible, (d) => d.category === 0, byPriceDescThenId);
    expect(ids(await p.query({ filter: { category: 0 }, sort: { price: 'desc' } }))).toEqual(cat0);
    expect(ids(await p.query({ filter: { category: 0 }, sort: { price: -1 }, limit: 3 }))).toEqual(cat0.slice(0, 3));
    expect(ids(await p.query({ filter: { category: 0 }, sort: { price: -1 }, limit: 3, offset: 2 }))).toEqual(cat0.slice(2, 5));
    const page1 = await p.query({ filter: { category: 0 }, sort: { price: -1 }, limit: 4 });
    const page2 = await p.query({ filter: { category: 0 }, sort: { price: -1 }, limit: 4, after: page1.at(-1) as Doc });
    expect(ids(page2)).toEqual(cat0.slice(4, 8));
    const byCatThenPrice = (a: Record<string, unknown>, b: Record<string, unknown>) =>
      (a.category as number) - (b.category as number) ||
      (a.price as number) - (b.price as number) ||
      ((a._id as string) < (b._id as string) ? -1 : 1);
    expect(ids(await p.query({ sort: { category: 'asc', price: 'asc' }, limit: 7 }))).toEqual(
      expected(visible, () => true, byCatThenPrice).slice(0, 7),
    );
    // The index on [category, price] gives this order directly (and a limit ends the scan): the pending writes still count.
    expect(ids(await p.query({ filter: { category: 0 }, sort: { price: 'asc' }, limit: 2 }))).toEqual([...cat0].reverse().slice(0, 2));
    await expect(p.query({ sort: { price: 'up' } as never })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(p.query({ limit: -1 })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  test('results are frozen and keep their identity until the document changes', async () => {
    const { client } = await offline(CATALOGUE);
    const p = client.collection('p');
    const first = await p.query({ filter: { category: 1 } });
    const again = await p.query({ sort: { price: 1 } });
    const one = first.find((d) => d._id === 'p01') as Doc;
    expect(again.find((d) => d._id === 'p01')).toBe(one);
    expect(Object.isFrozen(one)).toBe(true);
    void p.update('p01', { price: 3 });
    await until(() => client.status.pending === 1);
    const after = await p.query({ filter: { category: 1 } });
    expect(after.find((d) => d._id === 'p01')).not.toBe(one);
    expect(after.find((d) => d._id === 'p04')).toBe(first.find((d) => d._id === 'p04'));
  });
});

describe('live queries', () => {
  test('a change moves only the changed documents: windows update, untouched rows keep their objects, no re-read', async () => {
    const { client, store } = await offline(CATALOGUE);
    const p = client.collection('p');
    let reads = 0;
    const query = store.query.bind(store);
    store.query = (...args) => {
      reads++;
      return query(...args);
    };
    const top: (readonly Doc[])[] = [];
    const totals: number[] = [];
    const cheapest: (readonly Doc[])[] = [];
    p.live({ filter: { category: 2 }, sort: { price: 'desc' }, limit: 3 }, (docs, info) => {
      top.push(docs);
      totals.push(info.total);
    });
    p.live({ sort: { price: 'asc' }, limit: 2, offset: 1 }, (docs) => cheapest.push(docs));
    await until(() => top.length === 1 && cheapest.length === 1);
    const readsAfterLoad = reads;
    const cat2 = CATALOGUE.filter((r) => r.data.category === 2).map((r) => ({ ...r.data, _id: r.id }));
    const desc = (docs: Record<string, unknown>[]) =>
      [...docs]
        .sort((a, b) => (b.price as number) - (a.price as number) || ((a._id as string) < (b._id as string) ? -1 : 1))
        .map((d) => d._id);
    expect(ids(top[0] as Doc[])).toEqual(desc(cat2).slice(0, 3));
    expect(totals[0]).toBe(10);

    // A document outside both windows changes: neither callback runs.
    const low = desc(cat2).at(-1) as string;
    void p.update(low, { name: 'renamed' });
    await until(async () => (await p.get(low))?.name === 'renamed');
    await new Promise((r) => setTimeout(r, 50));
    expect(top).toHaveLength(1);
    // Raised to the top of category 2.
    void p.update(low, { price: 50 });
    await until(() => top.length === 2);
    const [before, now] = [top[0] as readonly Doc[], top[1] as readonly Doc[]];
    expect(now[0]?._id).toBe(low);
    expect(now[0]?.price).toBe(50);
    expect(now[1]).toBe(before[0]);
    expect(now[2]).toBe(before[1]);
    expect(Object.isFrozen(now)).toBe(true);
    // Leaves the filter: gone from the window, the next one moves in.
    void p.update(low, { category: 0 });
    await until(() => top.length === 3);
    expect(ids(top[2] as Doc[])).toEqual(desc(cat2.filter((d) => d._id !== low)).slice(0, 3));
    expect(totals.at(-1)).toBe(9);
    // A new document in the window, then its delete.
    void p.insert({ _id: 'zz', category: 2, price: 99 });
    await until(() => top.length === 4);
    expect(top[3]?.[0]?._id).toBe('zz');
    void p.delete('zz');
    await until(() => top.length === 5);
    expect(ids(top[4] as Doc[])).toEqual(ids(top[2] as Doc[]));
    // None of this read the collection again.
    expect(reads).toBe(readsAfterLoad);
    expect(cheapest.length).toBeGreaterThanOrEqual(1);
  });

  test('the old subscribe(filter) API: documents in id order, called again on changes', async () => {
    const { client } = await offline(CATALOGUE.slice(0, 6));
    const p = client.collection('p');
    const seen: Doc[][] = [];
    const stop = p.subscribe({ category: 0 }, (docs) => seen.push(docs));
    await until(() => seen.length === 1);
    expect(ids(seen[0] as Doc[])).toEqual(['p00', 'p03']);
    void p.insert({ _id: 'p01a', category: 0 });
    await until(() => seen.length === 2);
    expect(ids(seen[1] as Doc[])).toEqual(['p00', 'p01a', 'p03']);
    stop();
    void p.insert({ _id: 'p01b', category: 0 });
    await until(async () => (await p.get('p01b')) !== undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toHaveLength(2);
  });

  test('the schema validates each document version once, not on every read', async () => {
    let checks = 0;
    const shape = z.object({ category: z.number(), price: z.number(), name: z.string().optional() });
    const schema = {
      safeParse(v: unknown) {
        checks++;
        return shape.safeParse(v);
      },
    };
    const { client } = await offline(CATALOGUE);
    const p = client.collection('p', { schema });
    const views: (readonly Doc[])[] = [];
    for (let i = 0; i < 3; i++) p.live({ filter: { category: i }, sort: { price: 1 } }, (docs) => views.push(docs));
    await p.find();
    await p.query({ sort: { price: -1 } });
    await until(() => views.length === 3);
    expect(checks).toBe(CATALOGUE.length);
    void p.update('p00', { price: 7 });
    await until(() => views.length === 4);
    await p.find();
    // The write's own check, then the new version's: two more, whatever the number of queries and reads.
    expect(checks).toBe(CATALOGUE.length + 2);
  });
});

describe('live queries against a server', { timeout: 120_000 }, () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startPgliteServer();
  }, 120_000); // PGlite's WASM start is slow on a loaded machine
  afterAll(() => srv?.close());

  test("another client's write moves the document in this client's sorted, limited live query", async () => {
    const opts = { url: '', socketOptions: { transports: ['websocket'] } };
    const a = createClient({ ...opts, url: srv.url, store: new MemoryStore() });
    const b = createClient({ ...opts, url: srv.url, store: new MemoryStore({ indexes: { shop: [['category', 'price']] } }) });
    clients.push(a, b);
    const shop = a.collection('shop');
    await Promise.all(Array.from({ length: 20 }, (_, i) => shop.insert({ _id: `s${i}`, category: i % 2, price: i })));
    const seen: (readonly Doc[])[] = [];
    b.collection('shop').live({ filter: { category: 1 }, sort: { price: 'desc' }, limit: 3 }, (docs) => seen.push(docs));
    await until(() => ids(seen.at(-1) ?? []).join() === 's19,s17,s15');
    await shop.update('s1', { price: 1000 });
    await until(() => ids(seen.at(-1) ?? []).join() === 's1,s19,s17');
    await shop.update('s1', { category: 0 });
    await until(() => ids(seen.at(-1) ?? []).join() === 's19,s17,s15');
  });
});
