/**
 * IndexedDBStore on fake-indexeddb: the Store conformance suite (a fresh
 * IDBFactory per store, so tests share nothing; `reopen` opens the same named
 * database again), then what only IndexedDB has: transactions that abort,
 * other connections (versionchange), foreign and newer databases.
 */
import { compareCodePoints } from '@syncline/protocol';
import { IDBFactory, IDBKeyRange, IDBObjectStore } from 'fake-indexeddb';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { IndexedDBStore, idKey } from '../src/store/indexeddb-store.js';
import { registerStoreTests } from './store-conformance.js';

const idb = (name = 'syncline-test', factory = new IDBFactory()) => ({ name, indexedDB: factory, IDBKeyRange });

registerStoreTests('IndexedDBStore (fake-indexeddb)', (extra) => {
  const options = idb();
  return { store: new IndexedDBStore({ ...options, ...extra }), reopen: (more) => new IndexedDBStore({ ...options, ...more }) };
});

const request = <T>(r: IDBRequest<T>) =>
  new Promise<T>((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

describe('IndexedDBStore', () => {
  test('idKey orders by UTF-16 code unit exactly as ids order by code point', () => {
    const units = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const char = fc.oneof(
      fc.constantFrom('a', '\uD7FF', '\uE000', '\uFFFF', '😀'),
      fc.integer({ min: 0, max: 0x10ffff }).map((c) => String.fromCodePoint(c)),
      // Lone surrogates are valid ids in JS and IndexedDB too.
      fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    );
    const id = fc.array(char, { maxLength: 6 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(id, id, (x, y) => units(idKey(x), idKey(y)) === Math.sign(compareCodePoints(x, y))),
      { numRuns: 1000 },
    );
  });

  test('without IndexedDB the constructor says what to do', () => {
    expect(() => new IndexedDBStore({ name: 'x' })).toThrow(/no IndexedDB here.*fake-indexeddb.*MemoryStore/);
    expect(() => new IndexedDBStore({ name: 'x', indexedDB: new IDBFactory() })).toThrow(/IDBKeyRange/);
    expect(() => new IndexedDBStore({ name: '', indexedDB: new IDBFactory(), IDBKeyRange })).toThrow(/database name/);
  });

  test('a failure inside the transaction aborts the whole write', async () => {
    const store = new IndexedDBStore(idb());
    await store.open();
    const [seq] = await store.write({
      put: [{ collection: 'c', id: 'keep', data: {}, version: 1, position: 0 }],
      enqueue: [{ operation: { id: 'o1', type: 'delete', collection: 'c', docId: 'keep' } }],
    });
    const put = IDBObjectStore.prototype.put;
    // The last request of the write (a meta put) fails after records and queue requests were issued.
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, value: unknown, key?: IDBValidKey) {
      if (key === 'explode') throw new DOMException('simulated', 'DataCloneError');
      return put.call(this, value, key);
    };
    try {
      await expect(
        store.write({
          put: [{ collection: 'c', id: 'new', data: {}, version: 1, position: 0 }],
          delete: [{ collection: 'c', id: 'keep' }],
          dequeue: [seq!],
          enqueue: [{ operation: { id: 'o2', type: 'delete', collection: 'c', docId: 'x' } }],
          meta: { fine: 1, explode: 2 },
        }),
      ).rejects.toMatchObject({ name: 'DataCloneError' });
    } finally {
      IDBObjectStore.prototype.put = put;
    }
    expect((await store.find('c')).map((r) => r.id)).toEqual(['keep']);
    expect((await store.pending()).map((p) => p.seq)).toEqual([seq]);
    expect(await store.getMeta('fine')).toBeUndefined();
    const [next] = await store.write({ enqueue: [{ operation: { id: 'o3', type: 'delete', collection: 'c', docId: 'y' } }] });
    expect(next).toBeGreaterThan(seq!);
    await store.close();
  });

  test('another connection deleting the database: the store closes, says so, and is not in the way', async () => {
    const options = idb();
    let told = 0;
    const store = new IndexedDBStore({ ...options, onVersionChange: () => told++ });
    await store.open();
    await store.write({ meta: { a: 1 } });
    await request(options.indexedDB.deleteDatabase(options.name));
    expect(told).toBe(1);
    await expect(store.getMeta('a')).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
      message: expect.stringMatching(/upgraded or deleted.*reload/),
    });
    const fresh = new IndexedDBStore(options);
    await fresh.open();
    expect(await fresh.getMeta('a')).toBeUndefined();
    await fresh.close();
  });

  test('another connection upgrading the database is not blocked by an open store', async () => {
    const options = idb();
    const store = new IndexedDBStore(options);
    await store.open();
    // A newer app: it declares an index this one does not know.
    const upgrade = options.indexedDB.open(options.name, 2);
    upgrade.onupgradeneeded = () => upgrade.transaction?.objectStore('records').createIndex('xnewer', 'k.xnewer');
    const db = await request(upgrade);
    expect(db.version).toBe(2);
    db.close();
    await expect(store.count()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    // This client's schema is older than the database now: a clear error, not a VersionError.
    await expect(new IndexedDBStore(options).open()).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
      message: expect.stringMatching(/newer version/),
    });
  });

  test('a database of that name that is not a Syncline store is refused', async () => {
    const options = idb('someone-elses');
    const other = options.indexedDB.open(options.name, 1);
    other.onupgradeneeded = () => other.result.createObjectStore('things');
    (await request(other)).close();
    await expect(new IndexedDBStore(options).open()).rejects.toMatchObject({ message: expect.stringMatching(/not a Syncline store/) });
  });
});
