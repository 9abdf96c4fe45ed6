/**
 * Operation ids scoped to their caller (issue 13 item 1, DESIGN invariant 3), end to end on
 * every path: REST /operations and /changes, /sync push, /sendActions. Two JWT users using one
 * operation id both get their own write; one user's client id cannot be borrowed by another;
 * the same id with a different body is refused; open mode stays idempotent per client id.
 * Registered for PGlite, PostgreSQL and MariaDB (operation-scope*.test.ts).
 */
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../src/config/options.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { freshCollection, opId } from './harness.js';
import { ActionsClient, type Payload } from './send-actions-client.js';
import type { TestServer } from './server-harness.js';

export type MakeServer = (config: ConfigInput) => Promise<TestServer>;

interface Result {
  id: string;
  status: string;
  docId?: string;
  document?: Record<string, unknown> | null;
  error?: { code: string };
  [k: string]: unknown;
}
interface PushBody {
  accepted: { id: string; docId?: string }[];
  results: Result[];
  code?: string;
}

function http(url: string) {
  return async (path: string, body: unknown, token?: string): Promise<{ status: number; body: PushBody & Payload }> => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as PushBody & Payload };
  };
}

/** A /sync socket; `push` resolves the ack. */
async function syncSocket(url: string, token: string): Promise<{ push(body: unknown): Promise<Payload>; close(): void }> {
  const socket: Socket = connect(`${url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  return {
    push: (body) => socket.timeout(10_000).emitWithAck('push', body),
    close: () => socket.disconnect(),
  };
}

const insert = (id: string, collection: string, docId: string, data: Record<string, unknown>) => ({
  id,
  type: 'insert',
  collection,
  docId,
  data,
});

export function registerOperationScopeTests(name: string, make: MakeServer): void {
  describe(`operation ids scoped to their caller (JWT users): ${name}`, () => {
    let t: TestServer;
    let post: ReturnType<typeof http>;
    let u0: string;
    let u1: string;
    beforeAll(async () => {
      t = await make({ jwtSecret: HS_SECRET, rules: { notes: { read: '*', write: '*' } } });
      post = http(t.url);
      u0 = await jwtFor('u0');
      u1 = await jwtFor('u1');
    });
    afterAll(() => t?.close());

    test('REST /operations: two users with one op id are both applied and each gets only its own result', async () => {
      const c = 'notes';
      const id = opId();
      const doc0 = `${id}-u0`;
      const doc1 = `${id}-u1`;
      const r0 = await post('/operations', { clientId: `${id}-c0`, operations: [insert(id, c, doc0, { by: 'u0' })] }, u0);
      expect(r0.status).toBe(200);
      expect(r0.body.results[0]).toMatchObject({ status: 'applied', docId: doc0 });
      const r1 = await post('/operations', { clientId: `${id}-c1`, operations: [insert(id, c, doc1, { by: 'u1' })] }, u1);
      expect(r1.status).toBe(200);
      expect(r1.body.results[0]).toMatchObject({ id, status: 'applied', docId: doc1, document: { _id: doc1, by: 'u1' } });
      expect(JSON.stringify(r1.body)).not.toContain(doc0);
      const got = await fetch(`${t.url}/documents/${c}/${doc1}`, { headers: { authorization: `Bearer ${u1}` } });
      expect(await got.json()).toMatchObject({ _id: doc1, by: 'u1' });
      // Each retry answers its own caller's original.
      const again1 = await post('/operations', { clientId: `${id}-c1`, operations: [insert(id, c, doc1, { by: 'u1' })] }, u1);
      expect(again1.body.results[0]).toMatchObject({ status: 'duplicate', originalStatus: 'applied', docId: doc1 });
      expect(JSON.stringify(again1.body)).not.toContain(doc0);
      // The same id with another body: a coded refusal, nothing applied, nothing of the original shown.
      const reused = await post('/operations', { clientId: `${id}-c1`, operations: [insert(id, c, `${id}-x`, { by: 'u1' })] }, u1);
      expect(reused.status).toBe(200);
      expect(reused.body.results[0]).toMatchObject({ id, status: 'rejected', error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
      expect(reused.body.accepted).toEqual([]);
      expect(JSON.stringify(reused.body)).not.toContain(doc1);
      expect((await fetch(`${t.url}/documents/${c}/${id}-x`, { headers: { authorization: `Bearer ${u1}` } })).status).toBe(404);
    });

    test('/sync push: two users with one op id are both applied and each gets only its own result', async () => {
      const c = 'notes';
      const id = opId();
      const s0 = await syncSocket(t.url, u0);
      const s1 = await syncSocket(t.url, u1);
      try {
        const r0 = await s0.push({ clientId: `${id}-s0`, operations: [insert(id, c, `${id}-u0`, { by: 'u0' })] });
        expect(r0).toMatchObject({ ok: true, results: [{ status: 'applied', docId: `${id}-u0` }] });
        const r1 = await s1.push({ clientId: `${id}-s1`, operations: [insert(id, c, `${id}-u1`, { by: 'u1' })] });
        expect(r1).toMatchObject({ ok: true, results: [{ id, status: 'applied', docId: `${id}-u1` }] });
        expect(r1.accepted).toHaveLength(1);
        expect(JSON.stringify(r1)).not.toContain(`${id}-u0`);
        const again = await s1.push({ clientId: `${id}-s1`, operations: [insert(id, c, `${id}-u1`, { by: 'u1' })] });
        expect(again).toMatchObject({ ok: true, results: [{ status: 'duplicate', docId: `${id}-u1` }] });
        const reused = await s1.push({ clientId: `${id}-s1`, operations: [insert(id, c, `${id}-u1`, { by: 'other' })] });
        expect(reused).toMatchObject({ ok: true, results: [{ status: 'rejected', error: { code: 'IDEMPOTENCY_KEY_REUSED' } }] });
      } finally {
        s0.close();
        s1.close();
      }
    });

    test('a client id belongs to its first user: another user is refused with CLIENT_ID_TAKEN on REST /operations and /changes and /sync push', async () => {
      const c = 'notes';
      const clientId = `owned-${opId()}`;
      const id = opId();
      expect((await post('/operations', { clientId, operations: [insert(id, c, `${id}-d`, { by: 'u0' })] }, u0)).status).toBe(200);
      const borrowed = await post('/operations', { clientId, operations: [insert(id, c, `${id}-d`, { by: 'u0' })] }, u1);
      expect(borrowed).toMatchObject({ status: 403, body: { code: 'CLIENT_ID_TAKEN' } });
      expect(JSON.stringify(borrowed.body)).not.toContain(`${id}-d`);
      expect(await post('/changes', { since: 0, clientId }, u1)).toMatchObject({ status: 403, body: { code: 'CLIENT_ID_TAKEN' } });
      const s1 = await syncSocket(t.url, u1);
      try {
        const r = await s1.push({ clientId, operations: [insert(opId(), c, `${id}-e`, {})] });
        expect(r).toMatchObject({ ok: false, error: { code: 'CLIENT_ID_TAKEN' } });
      } finally {
        s1.close();
      }
      expect((await fetch(`${t.url}/documents/${c}/${id}-e`, { headers: { authorization: `Bearer ${u0}` } })).status).toBe(404);
      // The owner is not disturbed.
      expect((await post('/changes', { since: 0, clientId }, u0)).status).toBe(200);
      expect(
        (await post('/operations', { clientId, operations: [insert(id, c, `${id}-d`, { by: 'u0' })] }, u0)).body.results[0],
      ).toMatchObject({ status: 'duplicate' });
    });

    test('/sendActions: another user connecting with the owner client id is NACKed CLIENT_ID_TAKEN, never a false actionCommitted', async () => {
      const col = 'notes';
      const clientId = `act-owner-${opId()}`;
      const k = `${clientId}-k`;
      const a = await ActionsClient.connect(t.url, { token: u0, clientId });
      a.send([{ id: 'x1', type: 'CREATE', collection: col, data: { id: k, by: 'u0' } }]);
      expect(await a.result('x1')).toMatchObject({ status: 'ACK' });
      a.fin('x1');
      await a.committed('x1');
      a.close();

      const b = await ActionsClient.connect(t.url, { token: u1, clientId });
      b.send([{ id: 'x1', type: 'CREATE', collection: col, data: { id: k, by: 'u0' } }]);
      const nack = await b.result('x1');
      expect(nack).toMatchObject({ status: 'NACK', error: { code: 'CLIENT_ID_TAKEN' } });
      expect(JSON.stringify(nack)).not.toContain('"by"');
      await b.rolledBack('x1');
      expect(b.all('actionCommitted')).toEqual([]);
      b.close();

      // With a client id of its own, u1 may reuse the action id: its own write.
      const own = await ActionsClient.connect(t.url, { token: u1, clientId: `act-own-${opId()}` });
      own.send([{ id: 'x1', type: 'CREATE', collection: col, data: { id: `${k}2`, by: 'u1' } }]);
      const ack = await own.result('x1');
      expect(ack).toMatchObject({ status: 'ACK', data: { id: `${k}2` } });
      expect(ack.duplicate).toBeUndefined();
      own.fin('x1');
      expect((await own.committed('x1')).duplicate).toBeUndefined();
      own.close();
    });

    test('/sendActions: a retried action is a duplicate, the same action id with another body is NACKed IDEMPOTENCY_KEY_REUSED', async () => {
      const col = 'notes';
      const clientId = `act-retry-${opId()}`;
      const k = `${clientId}-k`;
      const a = await ActionsClient.connect(t.url, { token: u0, clientId });
      a.send([
        { id: 'r1', type: 'CREATE', collection: col, data: { id: k, v: 1 } },
        { id: 'r2', type: 'CREATE', collection: col, data: { v: 2 } },
      ]);
      const generated = (await a.result('r2')).data.id;
      a.fin('r1');
      a.fin('r2');
      await a.committed('r1');
      await a.committed('r2');
      a.close();
      const again = await ActionsClient.connect(t.url, { token: u0, clientId });
      again.send([
        { id: 'r1', type: 'CREATE', collection: col, data: { id: k, v: 1 } },
        { id: 'r2', type: 'CREATE', collection: col, data: { v: 2 } },
      ]);
      expect(await again.result('r1')).toMatchObject({ status: 'ACK', duplicate: true, data: { id: k } });
      expect(await again.result('r2')).toMatchObject({ status: 'ACK', duplicate: true, data: { id: generated } });
      again.send([{ id: 'r1', type: 'CREATE', collection: col, data: { id: k, v: 99 } }]);
      expect(await again.next('actionResult', (p) => p.id === 'r1' && p.status === 'NACK')).toMatchObject({
        error: { code: 'IDEMPOTENCY_KEY_REUSED' },
      });
      again.close();
    });
  });

  describe(`operation ids in open mode (no users: the client id is the scope): ${name}`, () => {
    let t: TestServer;
    let post: ReturnType<typeof http>;
    beforeAll(async () => {
      t = await make({});
      post = http(t.url);
    });
    afterAll(() => t?.close());

    test('REST: a retry from the same client id is a duplicate; another client id with the same op id gets its own write', async () => {
      const c = freshCollection('open');
      const id = opId();
      const first = await post('/operations', { clientId: `${id}-a`, operations: [insert(id, c, 'a', { v: 1 })] });
      expect(first.body.results[0]).toMatchObject({ status: 'applied' });
      const retry = await post('/operations', { clientId: `${id}-a`, operations: [insert(id, c, 'a', { v: 1 })] });
      expect(retry.body.results[0]).toMatchObject({ status: 'duplicate', originalStatus: 'applied', docId: 'a' });
      const other = await post('/operations', { clientId: `${id}-b`, operations: [insert(id, c, 'b', { v: 2 })] });
      expect(other.body.results[0]).toMatchObject({ status: 'applied', docId: 'b' });
      const reused = await post('/operations', { clientId: `${id}-a`, operations: [insert(id, c, 'a', { v: 3 })] });
      expect(reused.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'IDEMPOTENCY_KEY_REUSED' } });
      // No user owns a client id in open mode: every caller may present any.
      expect((await post('/changes', { since: 0, clientId: `${id}-a` })).status).toBe(200);
    });
  });
}
