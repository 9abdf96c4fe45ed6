/**
 * FILTERS on every path of a table collection: /sync live frames and catch-up,
 * POST /changes, GET /documents, query, /operations results and /sendActions
 * results never carry a filtered column, nor the server-only `old` row.
 */
import type { Change } from '@syncline/protocol';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type SynclineServer } from '../src/server.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { limits, opId } from './harness.js';

const SECRET = 'hunter2-secret';
/** Fails if a filtered column or an old row appears anywhere in a payload. */
function expectClean(payload: unknown): void {
  const text = JSON.stringify(payload);
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain('"secret"');
  expect(text).not.toContain('"old"');
}

describe('FILTERS on every path (table collection, PGlite)', () => {
  let sql: SqlClient;
  let storage: PostgresStorage;
  let server: SynclineServer;
  let url: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    sql = await createPgliteClient(undefined);
    await sql.exec(`CREATE TABLE product (id serial PRIMARY KEY, name text, "ownerId" integer, secret text)`);
    storage = new PostgresStorage(sql, 'syncline', limits, { names: ['product'], schema: 'public' });
    server = await createServer({
      storage,
      env: {},
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      tableNames: ['product'],
      filters: ['product.secret'],
      // Writers may set the filtered column (without this, such writes are HIDDEN_FIELD: hidden-fields.test.ts).
      rules: { product: { writeHidden: '*' } },
    });
    url = await server.listen();
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await server?.close();
    await storage?.close();
  });

  function socket(ns: string): Socket {
    const s = connect(`${url}${ns}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    sockets.push(s);
    return s;
  }

  test('the stored row keeps the column; nothing served carries it', async () => {
    const live = socket('/sync');
    const frames: Change[][] = [];
    live.on('changes', (f: { changes: Change[] }) => frames.push(f.changes));
    const ack = await live.timeout(5000).emitWithAck('subscribe', { collection: 'product' });
    expect(ack.ok).toBe(true);

    await sql.exec(`INSERT INTO product (name, "ownerId", secret) VALUES ('a', 1, '${SECRET}')`);
    await sql.exec(`UPDATE product SET secret = '${SECRET}-2', name = 'b' WHERE name = 'a'`);
    const push = await fetch(`${url}/operations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'c1',
        operations: [{ id: opId(), type: 'insert', collection: 'product', data: { name: 'c', secret: SECRET } }],
      }),
    }).then((r) => r.json());
    expect(push.results[0].status).toBe('applied');
    expectClean(push);
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::integer AS n FROM product WHERE secret LIKE '${SECRET}%'`);
    expect(rows[0]?.n).toBe(2);

    await expect.poll(() => frames.flat().length, { timeout: 5000 }).toBe(3);
    expect(frames.flat().map((c) => c.type)).toEqual(['insert', 'update', 'insert']);
    expect(frames.flat()[1]?.data).toMatchObject({ name: 'b', ownerId: 1 });
    expectClean(frames);

    const pulled = await fetch(`${url}/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ since: 0 }),
    }).then((r) => r.json());
    expect(pulled.operations).toHaveLength(3);
    expectClean(pulled);

    const id = pulled.operations[0].docId;
    const doc = await fetch(`${url}/documents/product/${id}`).then((r) => r.json());
    expect(doc).toMatchObject({ _id: id, name: 'b' });
    expectClean(doc);
    const query = await fetch(`${url}/documents/product/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({}),
    }).then((r) => r.json());
    expect(query.documents).toHaveLength(2);
    expectClean(query);

    const catchUp = socket('/sync');
    const caught: unknown[] = [];
    catchUp.on('changes', (f: unknown) => caught.push(f));
    const ack2 = await catchUp.timeout(5000).emitWithAck('subscribe', { collection: 'product', since: 0 });
    expect(ack2.ok).toBe(true);
    // Catch-up arrives in the ack and/or in frames after it.
    const served = () => [...(ack2.changes ?? []), ...caught.flatMap((f) => (f as { changes: Change[] }).changes)];
    await expect.poll(() => served().length, { timeout: 5000 }).toBe(3);
    expectClean([ack2, caught]);

    const pushed = await catchUp.timeout(5000).emitWithAck('push', {
      clientId: 'c2',
      operations: [{ id: opId(), type: 'patch', collection: 'product', docId: id, data: { secret: SECRET } }],
    });
    expect(pushed.results[0].status).toBe('applied');
    expectClean(pushed);
  });
});
