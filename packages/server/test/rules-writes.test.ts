/**
 * Write rules on every write path (issue 5): POST /operations, /sync push and
 * /sendActions, on a document collection and a table collection. A forbidden
 * write is `rejected` with FORBIDDEN, changes nothing and reveals nothing; the
 * owner field is the caller's whatever they send.
 */
import type { OperationResult } from '@syncline/protocol';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type SynclineServer } from '../src/server.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { limits, opId } from './harness.js';
import { ActionsClient } from './send-actions-client.js';

describe('write rules on every write path (PGlite)', () => {
  let server: SynclineServer;
  let storage: PostgresStorage;
  let url: string;
  let alice: string;
  let bob: string;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    const sql = await createPgliteClient(undefined);
    await sql.exec(`CREATE TABLE posts (id serial PRIMARY KEY, owner text, body text)`);
    storage = new PostgresStorage(sql, 'syncline', limits, { names: ['posts'], schema: 'public' });
    server = await createServer({
      storage,
      env: {},
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      jwtSecret: HS_SECRET,
      tableNames: ['posts'],
      rules: {
        notes: { read: { field: 'owner' }, write: { field: 'owner' }, owner: 'owner' },
        posts: { read: '*', write: { field: 'owner' }, owner: 'owner' },
        logs: { read: '*', write: { insert: '*' } },
        locked: { read: '*' },
        dropbox: { write: { insert: '*' } },
      },
    });
    url = await server.listen();
    alice = await jwtFor('alice');
    bob = await jwtFor('bob');
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await server?.close();
    await storage?.close();
  });

  const rest = async (token: string, ops: Record<string, unknown>[]): Promise<OperationResult[]> => {
    const res = await fetch(`${url}/operations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      // A client id belongs to its first user (CLIENT_ID_TAKEN): one per caller.
      body: JSON.stringify({ clientId: `c-${token === alice ? 'alice' : 'bob'}`, operations: ops.map((o) => ({ id: opId(), ...o })) }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { results: OperationResult[] }).results;
  };

  test('POST /operations: owners write their own; others are FORBIDDEN, change nothing and see nothing', async () => {
    const [ins] = await rest(alice, [{ type: 'insert', collection: 'notes', docId: 'n1', data: { owner: 'bob', text: 'a' } }]);
    expect(ins).toMatchObject({ status: 'applied', document: { owner: 'alice', text: 'a' } });
    const forbidden = await rest(bob, [
      { type: 'patch', collection: 'notes', docId: 'n1', data: { text: 'hacked' } },
      { type: 'delete', collection: 'notes', docId: 'n1' },
      { type: 'upsert', collection: 'notes', docId: 'n1', data: { text: 'mine now' } },
    ]);
    for (const r of forbidden) {
      expect(r).toMatchObject({ status: 'rejected', error: { code: 'FORBIDDEN' } });
      expect(r.serverDocument).toBeUndefined();
    }
    const [move] = await rest(alice, [{ type: 'patch', collection: 'notes', docId: 'n1', data: { owner: 'bob' } }]);
    expect(move).toMatchObject({ status: 'rejected', error: { code: 'FORBIDDEN' } });
    const [ok] = await rest(alice, [{ type: 'patch', collection: 'notes', docId: 'n1', data: { text: 'b' } }]);
    expect(ok).toMatchObject({ status: 'applied', version: 2 });
    expect(await server.storage.getDocument('notes', 'n1')).toMatchObject({ owner: 'alice', text: 'b', _rev: 2 });
  });

  test('a refusal never shows or confirms a document the caller may not read (exists, version, clock conflicts)', async () => {
    await rest(alice, [{ type: 'insert', collection: 'notes', docId: 'private', data: { text: 'alice only' } }]);
    const res = await fetch(`${url}/operations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bob}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'b',
        operations: [
          { id: opId(), type: 'insert', collection: 'notes', docId: 'private', data: { text: 'x' } },
          { id: opId(), type: 'patch', collection: 'notes', docId: 'private', baseVersion: 7, data: { text: 'x' } },
          { id: opId(), type: 'patch', collection: 'notes', docId: 'private', vectorClock: { zz: 1 }, data: { text: 'x' } },
        ],
      }),
    });
    const body = (await res.json()) as { results: OperationResult[]; conflicts: unknown[] };
    expect(body.results.map((r) => r.error?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    expect(JSON.stringify(body)).not.toContain('alice only');
    expect(body.conflicts).toEqual([]);
  });

  test('a write allowed where reading is not: applied, without showing the document', async () => {
    const [r] = await rest(alice, [{ type: 'insert', collection: 'dropbox', docId: 'd1', data: { letter: 'for the admins' } }]);
    expect(r).toMatchObject({ status: 'applied', version: 1 });
    expect(r?.document).toBeUndefined();
    expect(await server.storage.getDocument('dropbox', 'd1')).toMatchObject({ letter: 'for the admins' });
  });

  test('insert-only and read-only collections; no rule = no one writes', async () => {
    const r = await rest(alice, [
      { type: 'insert', collection: 'logs', docId: 'l1', data: { m: 1 } },
      { type: 'update', collection: 'logs', docId: 'l1', data: { m: 2 } },
      { type: 'insert', collection: 'locked', docId: 'x', data: {} },
      { type: 'insert', collection: 'norules', docId: 'x', data: {} },
    ]);
    expect(r.map((x) => x.error?.code ?? x.status)).toEqual(['applied', 'FORBIDDEN', 'FORBIDDEN', 'FORBIDDEN']);
    expect(await server.storage.getDocument('locked', 'x')).toBeNull();
  });

  test('table collection: the owner column is filled; another user may not update or delete the row', async () => {
    const [ins] = await rest(alice, [{ type: 'insert', collection: 'posts', data: { body: 'hello', owner: 'mallory' } }]);
    expect(ins).toMatchObject({ status: 'applied', document: { owner: 'alice', body: 'hello' } });
    const id = ins?.docId as string;
    const r = await rest(bob, [
      { type: 'patch', collection: 'posts', docId: id, data: { body: 'x' } },
      { type: 'delete', collection: 'posts', docId: id },
    ]);
    expect(r.map((x) => x.error?.code)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
    expect(await server.storage.getDocument('posts', id)).toMatchObject({ body: 'hello', owner: 'alice' });
  });

  test('/sync push and /sendActions go through the same rules', async () => {
    const s = connect(`${url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: bob } });
    sockets.push(s);
    const pushed = await s.timeout(5000).emitWithAck('push', {
      clientId: 'b',
      operations: [{ id: opId(), type: 'patch', collection: 'notes', docId: 'n1', data: { text: 'via sync' } }],
    });
    expect(pushed.results[0]).toMatchObject({ status: 'rejected', error: { code: 'FORBIDDEN' } });

    const actions = await ActionsClient.connect(url, { token: bob });
    try {
      actions.send([
        { id: 1, type: 'UPDATE', collection: 'notes', data: { id: 'n1', text: 'via actions' } },
        { id: 2, type: 'CREATE', collection: 'notes', data: { id: 'n2', text: 'bobs', owner: 'alice' } },
        { id: 3, type: 'READ', collection: 'notes', data: { id: 'n1' } },
      ]);
      expect(await actions.result(1)).toMatchObject({ status: 'NACK', error: { code: 'FORBIDDEN' } });
      const created = await actions.result(2);
      expect(created.status).toBe('ACK');
      actions.fin(2);
      await actions.committed(2);
      expect((await actions.result(3)).status).toBe('NACK');
    } finally {
      actions.close();
    }
    expect(await server.storage.getDocument('notes', 'n1')).toMatchObject({ text: 'b' });
    expect(await server.storage.getDocument('notes', 'n2')).toMatchObject({ owner: 'bob', text: 'bobs' });
  });
});
