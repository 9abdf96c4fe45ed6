/**
 * The client SDK against a real Syncline server (embedded PGlite): replicas,
 * the offline queue, conflicts under each strategy, initial sync and resync,
 * schemas, and the HTTP-polling `createDatabase`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { type ClientOptions, createClient, type Doc, type SynclineClient } from '../src/client.js';
import { createDatabase } from '../src/database.js';
import { ConflictError, RejectedError, ValidationError } from '../src/errors.js';
import { MemoryStore } from '../src/store/memory-store.js';

let srv: TestServer;
const clients: SynclineClient[] = [];

const make = (opts: Partial<ClientOptions> = {}) => {
  const c = createClient({ url: srv.url, store: new MemoryStore(), socketOptions: { transports: ['websocket'] }, ...opts });
  clients.push(c);
  return c;
};

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const strip = (docs: Doc[]) => docs.map(({ _rev, ...d }) => d);
let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}`;

beforeAll(async () => {
  srv = await startPgliteServer();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});
afterAll(() => srv?.close());

describe('replicas', () => {
  test('writes apply locally at once, reach the server and every other replica; live queries fire', async () => {
    const col = fresh('todos');
    const a = make();
    const b = make();
    const seen: Doc[][] = [];
    b.collection(col).subscribe({ done: false }, (docs) => seen.push(docs));
    const todos = a.collection(col);
    const pending = todos.insert({ _id: 't1', title: 'milk', done: false });
    expect(await todos.get('t1')).toMatchObject({ _id: 't1', title: 'milk' });
    const outcome = await pending;
    expect(outcome).toMatchObject({ status: 'applied', document: { _id: 't1', _rev: 1, title: 'milk' } });
    await todos.update('t1', { title: 'oat milk' });
    await todos.insert({ _id: 't2', title: 'bread', done: true });
    await a.whenSynced();
    await b.whenSynced();
    await until(async () => (await b.collection(col).find()).length === 2);
    expect(strip(await b.collection(col).find())).toEqual([
      { _id: 't1', title: 'oat milk', done: false },
      { _id: 't2', title: 'bread', done: true },
    ]);
    expect(strip(seen.at(-1) ?? [])).toEqual([{ _id: 't1', title: 'oat milk', done: false }]);
    await todos.delete('t1');
    await until(async () => (await b.collection(col).get('t1')) === undefined);
    expect(await srv.server.storage.getDocument(col, 't1')).toBeNull();
    expect(a.status).toMatchObject({ state: 'online', pending: 0 });
  });

  test('offline: writes queue and show locally; back online they replay in order and converge', async () => {
    const col = fresh('notes');
    const a = make();
    const b = make();
    b.collection(col);
    await a.whenSynced();
    a.pause();
    expect(a.status.state).toBe('offline');
    const notes = a.collection(col);
    const writes = [notes.insert({ _id: 'n1', v: 1 }), notes.update('n1', { v: 2 }), notes.insert({ _id: 'n2', v: 1 }), notes.delete('n2')];
    await until(() => a.status.pending === 4);
    expect(strip(await notes.find())).toEqual([{ _id: 'n1', v: 2 }]);
    expect(await srv.server.storage.getDocument(col, 'n1')).toBeNull();
    a.resume();
    await Promise.all(writes);
    await a.whenSynced();
    expect(await srv.server.storage.getDocument(col, 'n1')).toMatchObject({ v: 2, _rev: 2 });
    await until(async () => (await b.collection(col).find()).length === 1);
    expect(strip(await b.collection(col).find())).toEqual([{ _id: 'n1', v: 2 }]);
  });

  test('a rejected write does not block later ones; writes depending on a rejected insert are rejected with it', async () => {
    const col = fresh('items');
    const a = make();
    const items = a.collection(col);
    await a.whenSynced();
    a.pause();
    // Nested past the server's 64 levels: VALIDATION_FAILED on the server.
    let deep: Record<string, unknown> = { x: 1 };
    for (let i = 0; i < 70; i++) deep = { d: deep };
    const bad = items.insert({ _id: 'bad', deep });
    const dependent = items.update('bad', { more: 1 });
    const unrelated = items.insert({ _id: 'good', ok: true });
    const rejected: string[] = [];
    a.on('rejected', (e) => rejected.push(`${e.id}:${e.code}`));
    a.resume();
    await expect(bad).rejects.toBeInstanceOf(RejectedError);
    await expect(bad).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(dependent).rejects.toMatchObject({ code: 'DEPENDENCY_REJECTED' });
    await expect(unrelated).resolves.toMatchObject({ status: 'applied' });
    await a.whenSynced();
    expect(rejected).toEqual(['bad:VALIDATION_FAILED', 'bad:DEPENDENCY_REJECTED']);
    expect(await items.get('bad')).toBeUndefined();
    expect(await srv.server.storage.getDocument(col, 'good')).toMatchObject({ ok: true });
  });
});

describe('conflicts: every replica and the server end with the same document', () => {
  async function race(strategy: ClientOptions['conflict']) {
    const col = fresh('docs');
    const a = make({ conflict: strategy });
    const b = make({ conflict: strategy });
    await a.collection(col).insert({ _id: 'd', title: 'start', price: 1, tags: ['x'] });
    await until(async () => (await b.collection(col).get('d')) !== undefined);
    a.pause();
    b.pause();
    const wa = a.collection(col).update('d', { title: 'from a', price: 2 });
    await new Promise((r) => setTimeout(r, 5));
    const wb = b.collection(col).update('d', { title: 'from b', tags: ['y'] });
    const conflicts: string[] = [];
    b.on('conflict', (e) => conflicts.push(e.resolution));
    a.resume();
    await wa;
    b.resume();
    const outcome = await wb.catch((e: unknown) => e);
    await a.whenSynced();
    await b.whenSynced();
    const server = await srv.server.storage.getDocument(col, 'd');
    await until(
      async () => (await a.collection(col).get('d'))?._rev === server?._rev && (await b.collection(col).get('d'))?._rev === server?._rev,
    );
    const final = await srv.server.storage.getDocument(col, 'd');
    for (const c of [a, b])
      expect(await c.collection(col).get('d')).toEqual(final && Object.fromEntries(Object.entries(final).filter(([k]) => k !== '_hlc')));
    return { final, outcome, conflicts };
  }

  test('server-wins (default): the later write is refused with the server document; nobody keeps it', async () => {
    const { final, outcome, conflicts } = await race(undefined);
    expect(outcome).toBeInstanceOf(ConflictError);
    expect(outcome).toMatchObject({ code: 'VERSION_MISMATCH', resolution: 'server-wins', serverDocument: { title: 'from a' } });
    expect(final).toMatchObject({ title: 'from a', price: 2, tags: ['x'] });
    expect(conflicts).toEqual(['server-wins']);
  });

  test('client-wins: the later write is re-applied on the new base', async () => {
    const { final, outcome, conflicts } = await race('client-wins');
    expect(outcome).toMatchObject({ status: 'applied', resolution: 'client-wins' });
    expect(final).toMatchObject({ title: 'from b', price: 2, tags: ['y'] });
    expect(conflicts).toEqual(['client-wins']);
  });

  test('merge: per field, the later clock wins; fields only one side changed are kept', async () => {
    const { final, outcome } = await race('merge');
    expect(outcome).toMatchObject({ status: 'applied', resolution: 'merge' });
    // b wrote title and tags after a wrote title and price.
    expect(final).toMatchObject({ title: 'from b', price: 2, tags: ['y'] });
  });

  test('a custom resolver decides, and its result is what everyone keeps', async () => {
    const { final, outcome } = await race(({ local, server }) => ({ ...server, ...local, title: `${server?.title} + ${local?.title}` }));
    expect(outcome).toMatchObject({ status: 'applied', resolution: 'custom' });
    expect(final).toMatchObject({ title: 'from a + from b', price: 2, tags: ['y'] });
  });
});

describe('initial sync, resync, schemas, http', () => {
  test('initial sync is paged with progress; after compaction a client resyncs and keeps its pending writes', async () => {
    const col = fresh('bulk');
    await srv.server.storage.applyOperations(
      'seed',
      Array.from({ length: 120 }, (_, i) => ({
        id: `seed-${col}-${i}`,
        type: 'insert',
        collection: col,
        docId: `r${String(i).padStart(3, '0')}`,
        data: { i },
      })),
    );
    const a = make({ pageSize: 25 });
    const progress: number[] = [];
    a.on('progress', (p) => p.collection === col && progress.push(p.received));
    a.collection(col);
    await a.whenSynced();
    expect(progress).toEqual([25, 50, 75, 100, 120]);
    expect(await a.collection(col).find()).toHaveLength(120);

    // Offline with a pending write while the log is compacted past this client's position.
    a.pause();
    const mine = a.collection(col).update('r000', { i: 'mine' });
    await srv.server.storage.applyOperations('other', [{ id: `x-${col}`, type: 'delete', collection: col, docId: 'r001' }]);
    await srv.server.storage.compact(0);
    a.resume();
    await mine;
    await a.whenSynced();
    const docs = await a.collection(col).find();
    expect(docs).toHaveLength(119);
    expect(docs[0]).toMatchObject({ _id: 'r000', i: 'mine' });
    expect(await srv.server.storage.getDocument(col, 'r000')).toMatchObject({ i: 'mine' });
  });

  test('schemas: an invalid local write is refused with its path; an invalid record from the server is quarantined', async () => {
    const col = fresh('typed');
    const schema = z.object({ name: z.string(), price: z.number().nonnegative() });
    const a = make();
    const products = a.collection(col, { schema });
    await expect(products.insert({ _id: 'p1', name: 'x', price: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(products.insert({ _id: 'p1', name: 'x', price: -1 })).rejects.toMatchObject({ path: 'price' });
    expect(a.status.pending).toBe(0);
    const quarantined: string[] = [];
    a.on('quarantine', (q) => quarantined.push(`${q.id}:${q.path}`));
    await srv.server.storage.applyOperations('other', [
      { id: `q1-${col}`, type: 'insert', collection: col, docId: 'ok', data: { name: 'fine', price: 2 } },
      { id: `q2-${col}`, type: 'insert', collection: col, docId: 'broken', data: { name: 7, price: 2 } },
    ]);
    await until(async () => (await products.find()).length === 1 && quarantined.length > 0);
    expect((await products.find()).map((d) => d._id)).toEqual(['ok']);
    expect(quarantined).toEqual(['broken:name']);
  });

  test('createDatabase: the HTTP-polling client pushes, pulls and converges with socket clients', async () => {
    const col = fresh('http');
    const { db, sync } = await createDatabase({ name: 'test-db', serverUrl: srv.url, syncInterval: 100, store: new MemoryStore() });
    clients.push(db);
    const socketClient = make();
    await db.collection(col).insert({ _id: 'h1', by: 'http' });
    await socketClient.collection(col).insert({ _id: 's1', by: 'socket' });
    await until(async () => (await db.collection(col).find()).length === 2);
    await sync.whenSynced();
    expect(strip(await db.collection(col).find())).toEqual([
      { _id: 'h1', by: 'http' },
      { _id: 's1', by: 'socket' },
    ]);
    await until(async () => (await socketClient.collection(col).find()).length === 2);
    expect(sync.status.state).toBe('online');
  });
});
