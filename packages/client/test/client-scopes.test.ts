/**
 * Scoped sync against a real server (embedded PGlite): `collection(name, {where})`
 * loads and follows only matching documents (the server filters the pages and
 * the subscription), documents that stop matching leave the replica, several
 * scopes sync their union, releasing a scope drops what only it held, writes
 * outside every scope still reach the server, and a reopened replica with other
 * scopes is reconciled.
 */

import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { type ClientOptions, createClient, type Doc, type SynclineClient } from '../src/client.js';
import { IndexedDBStore } from '../src/store/indexeddb-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { BaseRecord, Store, StoreWrite } from '../src/store/store.js';

let srv: TestServer;
const clients: SynclineClient[] = [];
let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}`;

const make = (opts: Partial<ClientOptions> = {}) => {
  const c = createClient({ url: srv.url, store: new MemoryStore(), socketOptions: { transports: ['websocket'] }, ...opts });
  clients.push(c);
  return c;
};

async function until(check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A MemoryStore that remembers every record ever put into it. */
function recording(): { store: Store; put: BaseRecord[] } {
  const store = new MemoryStore();
  const put: BaseRecord[] = [];
  const write = store.write.bind(store);
  store.write = (w: StoreWrite) => {
    put.push(...(w.put ?? []));
    return write(w);
  };
  return { store, put };
}

const heldIds = async (store: Store, col: string) => (await store.find(col)).map((r) => r.id);

/** 30 products, category i % 3, written by a whole-collection client. */
async function seed(col: string): Promise<SynclineClient> {
  const a = make();
  const p = a.collection(col);
  await Promise.all(Array.from({ length: 30 }, (_, i) => p.insert({ _id: `p${String(i).padStart(2, '0')}`, category: i % 3, price: i })));
  await a.whenSynced();
  return a;
}

const inCategory = (c: number) =>
  Array.from({ length: 30 }, (_, i) => i)
    .filter((i) => i % 3 === c)
    .map((i) => `p${String(i).padStart(2, '0')}`);

beforeAll(async () => {
  srv = await startPgliteServer();
}, 120_000); // PGlite's WASM start is slow on a loaded machine
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});
afterAll(() => srv?.close());

describe('scoped sync', { timeout: 120_000 }, () => {
  test('only matching documents arrive; changes move documents in and out of the replica; other categories never arrive', async () => {
    const col = fresh('products');
    const a = await seed(col);
    const { store, put } = recording();
    const b = make({ store });
    const scoped = b.collection(col, { where: { category: 2 } });
    await b.whenSynced();
    expect(await heldIds(store, col)).toEqual(inCategory(2));
    const live: (readonly Doc[])[] = [];
    scoped.live({ sort: { price: 'desc' }, limit: 2 }, (docs) => live.push(docs));

    const products = a.collection(col);
    await products.update('p02', { category: 0 }); // leaves
    await products.update('p00', { category: 2, price: 100 }); // enters
    await products.insert({ _id: 'other', category: 1 }); // never arrives
    await products.update('p05', { price: 99 }); // stays, changes
    await products.insert({ _id: 'last', category: 2, price: -1 });
    await until(async () => (await store.get(col, 'last')) !== undefined);
    const want = [...inCategory(2).filter((id) => id !== 'p02'), 'p00', 'last'].sort();
    expect(await heldIds(store, col)).toEqual(want);
    expect((await store.get(col, 'p05'))?.data).toMatchObject({ price: 99 });
    await until(
      () =>
        live
          .at(-1)
          ?.map((d) => d._id)
          .join() === 'p00,p05',
    );
    // Nothing outside the scope was ever written to the store (the server filtered pages and the subscription).
    for (const r of put) expect(r.data.category, `${r.id} in the store`).toBe(2);
    expect(put.some((r) => r.id === 'other')).toBe(false);
  });

  test('several scopes sync their union; a document moving between them stays; releasing one drops what only it held', async () => {
    const col = fresh('products');
    const a = await seed(col);
    const { store } = recording();
    const b = make({ store });
    const two = b.collection(col, { where: { category: 2 } });
    await b.whenSynced();
    const one = b.collection(col, { where: { category: 1 } });
    await until(async () => (await heldIds(store, col)).length === 20);
    await b.whenSynced();
    expect(await heldIds(store, col)).toEqual([...inCategory(1), ...inCategory(2)].sort());
    // From one scope into the other: still held, with its new data.
    await a.collection(col).update('p02', { category: 1 });
    await until(async () => (await store.get(col, 'p02'))?.data.category === 1);
    // A third, non-equality scope: still a union.
    b.collection(col, { where: { price: { $gte: 27 } } });
    await until(async () => (await heldIds(store, col)).includes('p27'));
    two.release();
    await until(async () => !(await heldIds(store, col)).includes('p05'));
    await b.whenSynced();
    expect(await heldIds(store, col)).toEqual([...inCategory(1), 'p02', 'p27', 'p29'].sort());
    one.release();
    await until(async () => (await heldIds(store, col)).join() === 'p27,p28,p29');
    // Deletes reach a scope that held the document.
    await a.collection(col).delete('p28');
    await until(async () => (await heldIds(store, col)).join() === 'p27,p29');
  });

  test('a write outside every scope goes to the server, then leaves the replica', async () => {
    const col = fresh('products');
    await seed(col);
    const { store } = recording();
    const b = make({ store });
    const scoped = b.collection(col, { where: { category: 2 } });
    await b.whenSynced();
    const pending = scoped.insert({ _id: 'mine', category: 0 });
    // Until the server has it, the write shows locally.
    expect(await scoped.get('mine')).toMatchObject({ category: 0 });
    await pending;
    expect(await srv.server.storage.getDocument(col, 'mine')).toMatchObject({ category: 0 });
    await until(async () => (await scoped.get('mine')) === undefined);
    expect(await store.get(col, 'mine')).toBeUndefined();
    // Moving a held document out of the scope by a local write: it leaves too.
    await scoped.update('p05', { category: 1 });
    await until(async () => (await store.get(col, 'p05')) === undefined);
    expect(await srv.server.storage.getDocument(col, 'p05')).toMatchObject({ category: 1 });
  });

  test('a replica reopened with other scopes is reconciled: what left is dropped, what was added is loaded', async () => {
    const col = fresh('products');
    const a = await seed(col);
    const idb = { name: fresh('scoped-db'), indexedDB: new IDBFactory(), IDBKeyRange };
    const b = make({ store: new IndexedDBStore(idb) });
    b.collection(col, { where: { category: 2 } });
    await b.whenSynced();
    await b.close();
    // Changes while it was closed.
    await a.collection(col).update('p01', { category: 0 });
    await a.collection(col).update('p03', { category: 0, price: 1000 });
    const reopened = new IndexedDBStore(idb);
    const c = make({ store: reopened });
    c.collection(col, { where: { category: 0 } });
    await c.whenSynced();
    expect(await heldIds(reopened, col)).toEqual([...inCategory(0), 'p01'].sort());
    expect((await reopened.get(col, 'p03'))?.data.price).toBe(1000);
  });

  test('over HTTP polling the scope is applied on the client: the replica holds only matching documents', async () => {
    const col = fresh('products');
    const a = await seed(col);
    const { store } = recording();
    const b = make({ store, transport: 'http', syncInterval: 50 });
    b.collection(col, { where: { category: 1 } });
    await b.whenSynced();
    await until(async () => (await heldIds(store, col)).length === 10);
    expect(await heldIds(store, col)).toEqual(inCategory(1));
    await a.collection(col).update('p01', { category: 2 });
    await until(async () => (await store.get(col, 'p01')) === undefined);
  });
});
