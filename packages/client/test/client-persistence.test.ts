/**
 * A client on IndexedDB (fake-indexeddb in Node) survives a restart: its
 * replica, pending queue, client id and position are all there when a new
 * client opens the same named database, and the queue then syncs.
 */
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { createClient } from '../src/client.js';
import { IndexedDBStore } from '../src/store/indexeddb-store.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startPgliteServer();
});
afterAll(() => srv?.close());

test('replica, pending writes, client id and position survive closing the client; the queue syncs after', async () => {
  const indexedDB = new IDBFactory();
  const open = (paused: boolean) =>
    createClient({
      url: srv.url,
      store: new IndexedDBStore({ name: 'app', indexedDB, IDBKeyRange }),
      socketOptions: { transports: ['websocket'] },
      paused,
    });
  const first = open(false);
  await first.collection('notes').insert({ _id: 'synced', v: 1 });
  await first.whenSynced();
  // Its own insert comes back as a change (the position is the last change applied).
  for (let i = 0; i < 200 && first.status.position === 0; i++) await new Promise((r) => setTimeout(r, 20));
  const { clientId, position } = { clientId: first.clientId, position: first.status.position };
  expect(position).toBeGreaterThan(0);
  first.pause();
  const pending = first.collection('notes').insert({ _id: 'offline', v: 2 });
  // Queued (and so stored) before the close.
  for (const end = Date.now() + 10_000; first.status.pending < 1; await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) throw new Error('the offline write was not queued');
  }
  await first.close();
  await expect(pending).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  expect(await srv.server.storage.getDocument('notes', 'offline')).toBeNull();

  // "Reload": a new client on the same database, still offline.
  const second = open(true);
  await second.ready();
  expect(second.clientId).toBe(clientId);
  expect(second.status).toMatchObject({ pending: 1, position });
  expect((await second.collection('notes').find()).map((d) => d._id)).toEqual(['offline', 'synced']);
  second.resume();
  await second.whenSynced();
  expect(await srv.server.storage.getDocument('notes', 'offline')).toMatchObject({ v: 2 });
  // Sent once, under the first client's id.
  const pulled = await srv.server.storage.getChanges({ since: 0, limit: 100 });
  expect(pulled.operations.filter((c) => c.docId === 'offline').map((c) => c.clientId)).toEqual([clientId]);
  await second.close();
});
