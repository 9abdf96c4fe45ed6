/**
 * `/sendActions` end to end: a real server on a port, real Socket.IO clients,
 * REST to look at what is visible. Run against PGlite (staged actions) and
 * PostgreSQL (held transactions) by send-actions.test.ts / send-actions.pg.test.ts.
 */
import type { Change } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ActionRunner } from '../src/storage/action-runner.js';
import type { Storage } from '../src/storage/storage.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { freshCollection, opId } from './harness.js';
import { ActionsClient, type Payload, sleep } from './send-actions-client.js';
import type { TestServer, TestServerOptions } from './server-harness.js';
import { until } from './sync-follower.js';

export type MakeServer = (opts?: TestServerOptions) => Promise<TestServer>;

/** Actions on collections named `slow*` start only once the test opens this gate: a slow action next to fast ones. */
let slowGate: Promise<void> = Promise.resolve();
/** Write actions that reached the storage (the action runner), per collection. */
const begun = new Map<string, number>();
function withSlowCollections(storage: Storage): Storage {
  const wrapped = Object.create(storage) as Storage;
  wrapped.createActionRunner = async (opts) => {
    const inner = (await storage.createActionRunner?.(opts)) as ActionRunner;
    return {
      mode: inner.mode,
      close: () => inner.close(),
      begin: async (clientId, op) => {
        begun.set(op.collection, (begun.get(op.collection) ?? 0) + 1);
        if (op.collection.startsWith('slow')) await slowGate;
        return inner.begin(clientId, op);
      },
    };
  };
  return wrapped;
}

function rest(base: string) {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Payload };
  };
  return {
    post,
    async get(collection: string, id: string) {
      const r = await fetch(`${base}/documents/${collection}/${encodeURIComponent(id)}`);
      return { status: r.status, body: (await r.json()) as Payload };
    },
    /** Every change after `since` (of one collection, if given). */
    async pull(since = 0, collection?: string): Promise<Change[]> {
      const out: Change[] = [];
      for (let cursor = since; ; ) {
        const { status, body } = await post('/changes', { since: cursor, limit: 1000 });
        expect(status).toBe(200);
        out.push(...body.operations);
        cursor = body.checkpoint;
        if (!body.hasMore) break;
      }
      return collection ? out.filter((c) => c.collection === collection) : out;
    },
  };
}

let n = 0;
const aid = (p = 'a') => `${p}${++n}`;

const ADMIN_TOKEN = 'send-actions-admin-token-0123456789';
/** Write actions open on server `s` (its admin API; the server must have ADMIN_TOKEN). */
async function openActions(s: TestServer): Promise<number> {
  const r = await fetch(`${s.url}/admin/api/overview`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(r.status).toBe(200);
  return ((await r.json()) as Payload).openActions;
}

/**
 * Resolves once the server has handled everything `c` sent before: a READ's answer comes after whatever
 * the server emitted for the earlier events (one socket keeps its order). To check that nothing came, without waiting a fixed time.
 */
async function barrier(c: ActionsClient): Promise<void> {
  const id = aid('barrier');
  c.send([{ id, type: 'READ', collection: 'barrier', data: { id: 'none' } }]);
  await c.result(id);
}

/** The next `error` event the client receives after `fn` runs. */
async function errorFrom(c: ActionsClient, fn: () => void): Promise<Payload> {
  const before = c.all('error').length;
  fn();
  return c.next('error', (p) => c.all('error').indexOf(p) >= before);
}

export function registerSendActionsTests(name: string, makeServer: MakeServer, opts: { heldActions: number }): void {
  describe(`/sendActions: ${name}`, () => {
    let main: TestServer;
    let api: ReturnType<typeof rest>;
    const clients: ActionsClient[] = [];
    const connect = async (s: TestServer = main, auth?: Record<string, unknown>) => {
      const c = await ActionsClient.connect(s.url, auth);
      clients.push(c);
      return c;
    };

    beforeAll(async () => {
      main = await makeServer({ config: { finTimeoutMs: 10_000, maxOperations: 50 }, wrap: withSlowCollections });
      api = rest(main.url);
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await main?.close();
    });

    test('the server emits connected with its limits', async () => {
      const c = await connect();
      const perSocket = main.server.config.actionMode === 'held' ? 16 : 2000;
      expect(await c.next('connected')).toMatchObject({ finTimeoutMs: 10_000, maxActionsPerBatch: 50, maxOpenActionsPerSocket: perSocket });
    });

    test('CREATE with and without data.id is ACKed with the record; nothing is visible before FIN, all of it after', async () => {
      const c = await connect();
      const col = freshCollection('a');
      const [a1, a2] = [aid(), aid()];
      c.send([
        { id: a1, type: 'CREATE', collection: col, data: { id: 'k1', name: 'Apple', price: 3 } },
        { id: a2, type: 'CREATE', collection: col, data: { name: 'Pear' } },
      ]);
      expect(await c.result(a1)).toEqual({ id: a1, status: 'ACK', data: { id: 'k1', name: 'Apple', price: 3, _rev: 1 } });
      const r2 = await c.result(a2);
      expect(r2).toMatchObject({ status: 'ACK', data: { name: 'Pear', _rev: 1 } });
      const generated = r2.data.id as string;
      expect(generated).toMatch(/\S{8,}/);

      // Not visible to REST get, query, pull, stats.
      expect((await api.get(col, 'k1')).status).toBe(404);
      expect((await api.get(col, generated)).status).toBe(404);
      expect((await api.post(`/documents/${col}/query`, {})).body.count).toBe(0);
      expect(await api.pull(0, col)).toEqual([]);
      expect((await (await fetch(`${main.url}/stats`)).json()).collections[col]).toBeUndefined();

      c.fin(a1);
      const done = await c.committed(a1);
      expect(done.position).toBeGreaterThan(0);
      expect((await api.get(col, 'k1')).body).toEqual({ _id: 'k1', _rev: 1, name: 'Apple', price: 3 });
      const changes = await api.pull(done.position - 1, col);
      expect(changes).toHaveLength(1);
      expect(changes[0]).toMatchObject({ position: done.position, type: 'insert', docId: 'k1', data: { name: 'Apple', price: 3 } });
      expect(changes[0]?.id).toMatch(/^act/);
      expect((await api.get(col, generated)).status).toBe(404);

      c.fin(a2);
      expect((await c.committed(a2)).position).toBeGreaterThan(done.position);
      expect((await api.get(col, generated)).body).toEqual({ _id: generated, _rev: 1, name: 'Pear' });
    });

    test('READ answers without holding anything; UPDATE patches, DELETE deletes, each at its FIN', async () => {
      const c = await connect();
      const col = freshCollection('r');
      const mk = aid();
      c.send([{ id: mk, type: 'CREATE', collection: col, data: { id: 'k', name: 'Apple', price: 3 } }]);
      await c.result(mk);
      c.fin(mk);
      await c.committed(mk);

      const [rd, up] = [aid(), aid()];
      c.send([{ id: rd, type: 'READ', collection: col, data: { id: 'k' } }]);
      expect(await c.result(rd)).toEqual({ id: rd, status: 'ACK', data: { id: 'k', name: 'Apple', price: 3, _rev: 1 } });
      // The READ holds no lock: an UPDATE of the record is ACKed right away.
      c.send([{ id: up, type: 'UPDATE', collection: col, data: { id: 'k', price: 5 } }]);
      expect(await c.result(up)).toEqual({ id: up, status: 'ACK', data: { id: 'k', name: 'Apple', price: 5, _rev: 2 } });
      expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 1, name: 'Apple', price: 3 });
      c.fin(up);
      await c.committed(up);
      expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 2, name: 'Apple', price: 5 });

      const del = aid();
      c.send([{ id: del, type: 'DELETE', collection: col, data: { id: 'k' } }]);
      expect(await c.result(del)).toMatchObject({ status: 'ACK', data: { id: 'k', deleted: true } });
      expect((await api.get(col, 'k')).status).toBe(200);
      c.fin(del);
      await c.committed(del);
      expect((await api.get(col, 'k')).status).toBe(404);
      expect((await api.pull(0, col)).map((ch) => ch.type)).toEqual(['insert', 'update', 'delete']);

      // CREATE over the deleted record's tombstone.
      const again = aid();
      c.send([{ id: again, type: 'CREATE', collection: col, data: { id: 'k', name: 'Apple again' } }]);
      expect(await c.result(again)).toEqual({ id: again, status: 'ACK', data: { id: 'k', name: 'Apple again', _rev: 4 } });
      c.fin(again);
      await c.committed(again);
      expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 4, name: 'Apple again' });
      const del2 = aid();
      c.send([{ id: del2, type: 'DELETE', collection: col, data: { id: 'k' } }]);
      await c.result(del2);
      c.fin(del2);
      await c.committed(del2);

      const [gone, never] = [aid(), aid()];
      c.send([
        { id: gone, type: 'READ', collection: col, data: { id: 'k' } },
        { id: never, type: 'READ', collection: col, data: { id: 'never-existed' } },
      ]);
      for (const id of [gone, never]) {
        expect(await c.result(id)).toMatchObject({ id, status: 'NACK', error: { code: 'NOT_FOUND' } });
        expect(await c.rolledBack(id)).toEqual({ id, reason: 'nack' });
      }
    });

    test('bad actions are NACKed one by one with a code; the others in the batch still run', async () => {
      const c = await connect();
      const col = freshCollection('n');
      const seed = await api.post('/operations', {
        clientId: 'seed',
        operations: [{ id: opId(), type: 'insert', collection: col, docId: 'exists', data: { v: 1 } }],
      });
      expect(seed.status).toBe(200);
      const cases: [unknown, string][] = [
        [{ type: 'UPDATE', collection: col, data: { id: 'missing1', a: 1 } }, 'DOCUMENT_NOT_FOUND'],
        [{ type: 'DELETE', collection: col, data: { id: 'missing2' } }, 'DOCUMENT_NOT_FOUND'],
        [{ type: 'CREATE', collection: col, data: { id: 'exists', v: 2 } }, 'DOCUMENT_EXISTS'],
        [{ type: 'CREATE', collection: 'bad name!', data: {} }, 'INVALID_COLLECTION'],
        [{ type: 'CREATE', data: {} }, 'INVALID_COLLECTION'],
        [{ type: 'UPSERT', collection: col, data: { id: 'x' } }, 'VALIDATION_FAILED'],
        [{ type: 42, collection: col, data: { id: 'x' } }, 'VALIDATION_FAILED'],
        [{ type: 'READ', collection: col, data: {} }, 'VALIDATION_FAILED'],
        [{ type: 'UPDATE', collection: col, data: 'not an object' }, 'VALIDATION_FAILED'],
        [{ type: 'CREATE', collection: col, data: { id: { nested: true } } }, 'INVALID_DOCUMENT_ID'],
        [{ type: 'CREATE', collection: col, data: JSON.parse('{"id":"p","__proto__":{"admin":true}}') }, 'FORBIDDEN_KEY'],
      ];
      const ok = aid();
      const ids = cases.map(() => aid());
      c.send([
        ...cases.map(([a, _], i) => ({ id: ids[i], ...(a as object) })),
        { id: ok, type: 'CREATE', collection: col, data: { id: 'fine' } },
      ]);
      for (const [i, [, code]] of cases.entries()) {
        const r = await c.result(ids[i]);
        expect({ id: r.id, status: r.status, code: r.error?.code }).toEqual({ id: ids[i], status: 'NACK', code });
        expect(typeof r.error.message).toBe('string');
        expect(await c.rolledBack(ids[i])).toEqual({ id: ids[i], reason: 'nack' });
      }
      expect((await c.result(ids[2])).serverDocument).toEqual({ id: 'exists', v: 1, _rev: 1 });
      expect(await c.result(ok)).toMatchObject({ status: 'ACK' });
      c.fin(ok);
      await c.committed(ok);
      expect((await api.pull(0, col)).map((ch) => ch.docId)).toEqual(['exists', 'fine']);
      expect(({} as Record<string, unknown>).admin).toBeUndefined();
    });

    test('a record held by an open action is RECORD_BUSY at once for every other action, and free after the commit', async () => {
      const [c, d] = [await connect(), await connect()];
      const col = freshCollection('b');
      const [b1, b2] = [aid(), aid()];
      c.send([
        { id: b1, type: 'CREATE', collection: col, data: { id: 'k', v: 1 } },
        { id: b2, type: 'UPDATE', collection: col, data: { id: 'k', v: 2 } },
      ]);
      expect(await c.result(b1)).toMatchObject({ status: 'ACK' });
      expect(await c.result(b2)).toMatchObject({ status: 'NACK', error: { code: 'RECORD_BUSY' } });

      const others = [aid(), aid(), aid(), aid()];
      d.send([
        { id: others[0], type: 'READ', collection: col, data: { id: 'k' } },
        { id: others[1], type: 'UPDATE', collection: col, data: { id: 'k', v: 3 } },
        { id: others[2], type: 'CREATE', collection: col, data: { id: 'k', v: 4 } },
        { id: others[3], type: 'DELETE', collection: col, data: { id: 'k' } },
      ]);
      for (const id of others) expect(await d.result(id)).toMatchObject({ status: 'NACK', error: { code: 'RECORD_BUSY' } });
      // At once: refused before reaching the storage, so no lock was waited for (only b1 began there).
      expect(begun.get(col)).toBe(1);

      c.fin(b1);
      await c.committed(b1);
      const after = aid();
      d.send([{ id: after, type: 'UPDATE', collection: col, data: { id: 'k', w: true } }]);
      expect(await d.result(after)).toMatchObject({ status: 'ACK', data: { id: 'k', v: 1, w: true, _rev: 2 } });
      d.fin(after);
      await d.committed(after);
      expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 2, v: 1, w: true });
    });

    test('a slow action delays no other action of the batch', async () => {
      const c = await connect();
      const [slowCol, fastCol] = [freshCollection('slow'), freshCollection('f')];
      await api.post('/operations', {
        clientId: 'seed',
        operations: [{ id: opId(), type: 'insert', collection: fastCol, docId: 'r', data: { v: 1 } }],
      });
      const [s1, f1, f2] = [aid(), aid(), aid()];
      let open: () => void = () => {};
      slowGate = new Promise((r) => {
        open = r;
      });
      try {
        c.send([
          { id: s1, type: 'CREATE', collection: slowCol, data: { id: 'x' } },
          { id: f1, type: 'CREATE', collection: fastCol, data: { id: 'y' } },
          { id: f2, type: 'READ', collection: fastCol, data: { id: 'r' } },
        ]);
        // The fast ones are answered, and f1 even committed, while the slow one is still held at its start.
        expect(await c.result(f1)).toMatchObject({ status: 'ACK' });
        expect(await c.result(f2)).toMatchObject({ status: 'ACK', data: { id: 'r', v: 1 } });
        c.fin(f1);
        await c.committed(f1);
        expect(begun.get(slowCol)).toBe(1);
        expect(c.all('actionResult', (p) => p.id === s1)).toEqual([]);
      } finally {
        open();
        slowGate = Promise.resolve();
      }
      expect(await c.result(s1)).toMatchObject({ status: 'ACK', data: { id: 'x' } });
      c.fin(s1);
      await c.committed(s1);
    });

    test("the reference's client: sendProductActions, productActionResult, clientFin without id", async () => {
      const c = await connect();
      c.socket.emit('sendProductActions', [
        { type: 'CREATE', data: { name: 'Apple', category_id: 1 } },
        { type: 'CREATE', data: { name: 'Pear', category_id: 1 } },
      ]);
      const apple = await c.next('productActionResult', (p) => p.data?.name === 'Apple');
      const pear = await c.next('productActionResult', (p) => p.data?.name === 'Pear');
      expect(apple).toMatchObject({ status: 'ACK', data: { name: 'Apple', category_id: 1, _rev: 1 } });
      expect(pear.status).toBe('ACK');
      expect(c.all('actionResult')).toEqual([]);
      expect((await api.get('product', apple.data.id)).status).toBe(404);
      c.socket.emit('clientFin');
      c.socket.emit('clientFin', {});
      await c.committed(apple.id);
      await c.committed(pear.id);
      expect((await api.get('product', apple.data.id)).body).toMatchObject({ _id: apple.data.id, name: 'Apple' });
      expect((await api.get('product', pear.data.id)).body).toMatchObject({ _id: pear.data.id, name: 'Pear' });

      // UPDATE by record id, then a FIN with nothing open is ignored.
      c.socket.emit('sendProductActions', [{ type: 'UPDATE', data: { id: apple.data.id, price: 2 } }]);
      const upd = await c.next('productActionResult', (p) => p.data?.price === 2);
      c.socket.emit('clientFin');
      await c.committed(upd.id);
      c.socket.emit('clientFin');
      expect((await api.get('product', apple.data.id)).body).toMatchObject({ name: 'Apple', price: 2, _rev: 2 });
      await barrier(c);
      expect(c.all('error')).toEqual([]);
    });

    test('disconnecting rolls back its open actions and frees their records', async () => {
      const [c, d] = [await connect(), await connect()];
      const col = freshCollection('d');
      const a = aid();
      c.send([{ id: a, type: 'CREATE', collection: col, data: { id: 'k', by: 'c' } }]);
      await c.result(a);
      c.close();
      let mine: Payload;
      for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(50)) {
        const id = aid();
        d.send([{ id, type: 'CREATE', collection: col, data: { id: 'k', by: 'd' } }]);
        mine = await d.result(id);
        if (mine.status === 'ACK') break;
        expect(mine.error.code).toBe('RECORD_BUSY');
      }
      expect(mine).toMatchObject({ status: 'ACK', data: { id: 'k', by: 'd', _rev: 1 } });
      d.fin(mine.id);
      await d.committed(mine.id);
      expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 1, by: 'd' });
    });

    test('operation ids derive from client id + action id: a retried action is applied once', async () => {
      const col = freshCollection('i');
      const a = await connect(main, { clientId: 'client-x' });
      const [i1, i2] = [aid(), aid()];
      a.send([
        { id: i1, type: 'CREATE', collection: col, data: { id: 'k', v: 1 } },
        { id: i2, type: 'CREATE', collection: col, data: { v: 2 } },
      ]);
      const generated = (await a.result(i2)).data.id;
      a.fin(i1);
      a.fin(i2);
      await a.committed(i1);
      await a.committed(i2);
      a.close();

      const again = await connect(main, { clientId: 'client-x' });
      again.send([
        { id: i1, type: 'CREATE', collection: col, data: { id: 'k', v: 1 } },
        { id: i2, type: 'CREATE', collection: col, data: { v: 2 } },
      ]);
      expect(await again.result(i1)).toMatchObject({ status: 'ACK', duplicate: true, data: { id: 'k', _rev: 1 } });
      expect(await again.result(i2)).toMatchObject({ status: 'ACK', duplicate: true, data: { id: generated } });
      expect(await again.committed(i1)).toEqual({ id: i1, duplicate: true });
      expect((await api.pull(0, col)).length).toBe(2);

      // Another client may use the same action ids.
      const other = await connect(main, { clientId: 'client-y' });
      other.send([{ id: i1, type: 'CREATE', collection: col, data: { id: 'k2', v: 3 } }]);
      expect(await other.result(i1)).toMatchObject({ status: 'ACK', data: { id: 'k2' } });
      expect((await other.result(i1)).duplicate).toBeUndefined();
      other.fin(i1);
      await other.committed(i1);
      expect((await api.pull(0, col)).length).toBe(3);
    });

    test('a concurrent REST write of a record held by an action: RECORD_BUSY after a bounded wait (held), the FIN rolls back (staged)', async () => {
      const c = await connect();
      const col = freshCollection('m');
      const patchOp = { id: opId(), type: 'patch', collection: col, docId: 'k', data: { y: 2 } };
      const patch = () =>
        api.post('/operations', {
          clientId: 'rest',
          operations: [patchOp, { id: opId(), type: 'insert', collection: col, docId: 'free', data: {} }],
        });
      expect(
        (
          await api.post('/operations', {
            clientId: 'rest',
            operations: [{ id: opId(), type: 'insert', collection: col, docId: 'k', data: { v: 0 } }],
          })
        ).status,
      ).toBe(200);
      const a = aid();
      c.send([{ id: a, type: 'UPDATE', collection: col, data: { id: 'k', x: 1 } }]);
      expect(await c.result(a)).toMatchObject({ status: 'ACK', data: { v: 0, x: 1, _rev: 2 } });
      if (main.server.config.actionMode === 'held') {
        // The held record is refused after SYNCLINE_LOCK_TIMEOUT_MS; the rest of the batch applies.
        const busy = await patch();
        expect(busy.body.results[0]).toMatchObject({ status: 'rejected', error: { code: 'RECORD_BUSY' } });
        expect(busy.body.results[1]).toMatchObject({ status: 'applied' });
        c.fin(a);
        expect((await c.committed(a)).position).toBeGreaterThan(0);
        // RECORD_BUSY is not recorded: the same operation goes through once the record is free.
        const again = await api.post('/operations', { clientId: 'rest', operations: [patchOp] });
        expect(again.body.results[0]).toMatchObject({ status: 'applied' });
        expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 3, v: 0, x: 1, y: 2 });
      } else {
        expect((await patch()).body.results[0]).toMatchObject({ status: 'applied' });
        c.fin(a);
        expect(await c.rolledBack(a)).toMatchObject({ reason: 'conflict', error: { code: 'VERSION_MISMATCH' } });
        expect((await api.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 2, v: 0, y: 2 });
      }
    });

    test('bad input gets an error event or a NACK, and the socket keeps working', async () => {
      const c = await connect();
      const col = freshCollection('e');
      expect(await errorFrom(c, () => c.socket.emit('bogusEvent', { x: 1 }))).toMatchObject({ code: 'UNKNOWN_EVENT' });
      expect(await errorFrom(c, () => c.send('not an array'))).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await errorFrom(c, () => c.send({ id: 1, type: 'READ' }))).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await errorFrom(c, () => c.socket.emit('sendActions'))).toMatchObject({ code: 'VALIDATION_FAILED' });
      const tooMany = Array.from({ length: 51 }, (_, i) => ({ id: `big${i}`, type: 'READ', collection: col, data: { id: 'x' } }));
      expect(await errorFrom(c, () => c.send(tooMany))).toMatchObject({ code: 'VALIDATION_FAILED', details: { limit: 50, received: 51 } });
      expect(await errorFrom(c, () => c.send([{ type: 'CREATE', collection: col, data: {} }]))).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { index: 0 },
      });
      expect(await errorFrom(c, () => c.send([null]))).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await errorFrom(c, () => c.socket.emit('clientFin', { id: { not: 'an id' } }))).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(await errorFrom(c, () => c.fin('never-sent'))).toMatchObject({ code: 'NOT_FOUND' });

      // An id still in progress cannot be reused.
      const open = aid();
      c.send([{ id: open, type: 'CREATE', collection: col, data: { id: 'k' } }]);
      await c.result(open);
      expect(await errorFrom(c, () => c.send([{ id: open, type: 'CREATE', collection: col, data: { id: 'k2' } }]))).toMatchObject({
        code: 'VALIDATION_FAILED',
        details: { id: open },
      });
      expect(c.all('actionResult', (p) => p.id === open)).toHaveLength(1);

      expect(c.socket.connected).toBe(true);
      c.fin(open);
      await c.committed(open);
      const ok = aid();
      c.send([{ id: ok, type: 'READ', collection: col, data: { id: 'k' } }]);
      expect(await c.result(ok)).toMatchObject({ status: 'ACK', data: { id: 'k', _rev: 1 } });
      expect((await fetch(`${main.url}/health`)).status).toBe(200);
    });

    describe('with a short FIN timeout', () => {
      let s: TestServer;
      beforeAll(async () => {
        s = await makeServer({ config: { finTimeoutMs: 400 } });
      });
      afterAll(async () => {
        await s?.close();
      });

      test('an action without FIN rolls back at the timeout; nothing of it is visible; a late FIN is ignored', async () => {
        const c = await connect(s);
        const sApi = rest(s.url);
        const col = freshCollection('t');
        const a = aid();
        const t0 = Date.now();
        c.send([{ id: a, type: 'CREATE', collection: col, data: { id: 'k', v: 1 } }]);
        expect(await c.result(a)).toMatchObject({ status: 'ACK' });
        expect(await c.rolledBack(a)).toEqual({ id: a, reason: 'timeout' });
        // Not before the timeout (a timer never fires early; the slack is for clock rounding).
        expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
        expect((await sApi.get(col, 'k')).status).toBe(404);
        expect(await sApi.pull(0, col)).toEqual([]);
        c.fin(a);
        await barrier(c);
        expect(c.all('error')).toEqual([]);
        expect(c.all('actionCommitted', (p) => p.id === a)).toEqual([]);

        // The record is free again, and a prompt FIN commits.
        const b = aid();
        c.send([{ id: b, type: 'CREATE', collection: col, data: { id: 'k', v: 2 } }]);
        await c.result(b);
        c.fin(b);
        await c.committed(b);
        expect((await sApi.get(col, 'k')).body).toEqual({ _id: 'k', _rev: 1, v: 2 });
      });
    });

    describe("the article's bulk flow with the default limits", () => {
      let s: TestServer;
      beforeAll(async () => {
        s = await makeServer({});
      });
      afterAll(async () => {
        await s?.close();
      });

      // Reference 000's client sends a whole JSON file of actions in one sendProductActions, waits for every
      // result, then FINs each. Staged actions hold only memory, so 1,000 of them are each answered on their
      // merits; held ones hold a connection each and are bounded far lower (README, "Limits").
      test('1,000 actions in one batch: each ACKed or NACKed on its merits, all ACKed ones committed by their FINs', async ({ skip }) => {
        if (s.server.config.actionMode === 'held') skip();
        const c = await connect(s);
        const sApi = rest(s.url);
        const existing = await sApi.post('/operations', {
          clientId: 'bulk-seed',
          operations: Array.from({ length: 5 }, (_, i) => ({
            id: opId(),
            type: 'insert',
            collection: 'product',
            docId: `taken-${i}`,
            data: { name: 'Taken' },
          })),
        });
        expect(existing.status).toBe(200);
        const before = (await sApi.pull(0, 'product')).length;
        // 990 new products; 5 updates of records that do not exist; 5 creates of ids that exist.
        const actions = [
          ...Array.from({ length: 990 }, (_, i) => ({ type: 'CREATE', data: { name: `Product ${i}`, category_id: 1 + (i % 8) } })),
          ...Array.from({ length: 5 }, (_, i) => ({ type: 'UPDATE', data: { id: `missing-${i}`, price: 1 } })),
          ...Array.from({ length: 5 }, (_, i) => ({ type: 'CREATE', data: { id: `taken-${i}`, name: 'Again' } })),
        ];
        c.socket.emit('sendProductActions', actions);
        await until(() => c.all('productActionResult').length === 1000, 120_000);
        const results = c.all('productActionResult');
        expect(results.filter((r) => r.status === 'ACK')).toHaveLength(990);
        const nacks = results.filter((r) => r.status === 'NACK').map((r) => r.error?.code);
        expect(nacks.sort()).toEqual([...Array(5).fill('DOCUMENT_EXISTS'), ...Array(5).fill('DOCUMENT_NOT_FOUND')]);
        for (let i = 0; i < 990; i++) c.socket.emit('clientFin');
        await until(() => c.all('actionCommitted').length === 990, 120_000);
        expect(c.all('actionRolledBack', (p) => p.reason !== 'nack')).toEqual([]);
        const pulled = await sApi.pull(0, 'product');
        expect(pulled.length - before).toBe(990);
        expect(new Set(pulled.map((ch) => ch.docId)).size).toBe(pulled.length);
      }, 240_000);
    });

    describe(`with ${opts.heldActions} actions held open`, () => {
      let s: TestServer;
      const held = opts.heldActions;
      const perSocket = Math.floor(held / 2);
      beforeAll(async () => {
        s = await makeServer({
          config: { finTimeoutMs: 20_000, maxOpenActionsPerSocket: perSocket, maxOpenActionsPerUser: held, maxOpenActions: held + 2 },
        });
      });
      afterAll(async () => {
        await s?.close();
      });

      test('limits per socket and server-wide; others’ REST and socket reads and writes stay prompt and correct', async () => {
        const [other, reader] = [await connect(s), await connect(s)];
        const sApi = rest(s.url);
        const [col, restCol] = [freshCollection('h'), freshCollection('rest')];
        let i = 0;
        /** Sends `count` CREATEs on `c`; resolves to their results, in order. */
        const create = (c: ActionsClient, count: number): Promise<Payload[]> => {
          const ids = Array.from({ length: count }, () => aid('h'));
          c.send(ids.map((id) => ({ id, type: 'CREATE', collection: col, data: { id: `k${i++}` } })));
          return Promise.all(ids.map((id) => c.result(id)));
        };

        // Per socket: one more than the bound is NACKed.
        const holder = await connect(s);
        const first = await create(holder, perSocket + 1);
        expect(first.slice(0, perSocket).map((r) => r.status)).toEqual(Array(perSocket).fill('ACK'));
        expect(first[perSocket]).toMatchObject({ status: 'NACK', error: { code: 'TOO_MANY_OPEN_ACTIONS' } });

        // `held` in all, by several users (anonymous sockets without a client id: one user each), each within its share.
        const holders = new Map<ActionsClient, string[]>([[holder, first.slice(0, perSocket).map((r) => r.id)]]);
        for (let holding = perSocket; holding < held; ) {
          const c = await connect(s);
          const mine = (await create(c, Math.min(perSocket, held - holding))).filter((r) => r.status === 'ACK').map((r) => r.id);
          expect(mine.length).toBeGreaterThan(0);
          holders.set(c, mine);
          holding += mine.length;
        }

        // Server-wide: two more fit, the third does not.
        const statuses = await create(other, 3);
        expect(statuses.map((r) => r.status)).toEqual(['ACK', 'ACK', 'NACK']);
        expect(statuses[2]).toMatchObject({ error: { code: 'TOO_MANY_OPEN_ACTIONS', message: expect.stringContaining('on this server') } });

        const t0 = Date.now();
        const ops = Array.from({ length: 5 }, (_, i) => ({ id: opId(), type: 'insert', collection: restCol, docId: `r${i}`, data: { i } }));
        const pushed = await sApi.post('/operations', { clientId: 'rest', operations: ops });
        expect(pushed.body.results.map((r: Payload) => r.status)).toEqual(Array(5).fill('applied'));
        expect((await sApi.get(restCol, 'r3')).body).toEqual({ _id: 'r3', _rev: 1, i: 3 });
        const pulled = await sApi.pull(0);
        expect(pulled.filter((ch) => ch.collection === restCol)).toHaveLength(5);
        expect(pulled.filter((ch) => ch.collection === col)).toEqual([]);
        const rd = aid();
        reader.send([{ id: rd, type: 'READ', collection: restCol, data: { id: 'r1' } }]);
        expect(await reader.result(rd)).toMatchObject({ status: 'ACK', data: { id: 'r1', i: 1 } });
        // Not held up by the open actions: that would last until their FIN timeout (20 s). A bound far from both.
        expect(Date.now() - t0).toBeLessThan(10_000);

        // FIN of the other socket's actions frees server-wide room for a new one.
        for (const r of statuses.filter((x) => x.status === 'ACK')) other.fin(r.id);
        for (const r of statuses.filter((x) => x.status === 'ACK')) await other.committed(r.id);
        const more = aid();
        reader.send([{ id: more, type: 'CREATE', collection: restCol, data: { id: 'late' } }]);
        expect(await reader.result(more)).toMatchObject({ status: 'ACK' });
        reader.fin(more);
        await reader.committed(more);

        // clientFin without id confirms the oldest: all of them commit, each with its own position.
        for (const [c, ids] of holders) for (const _ of ids) c.socket.emit('clientFin');
        const committed = [...holders].flatMap(([c, ids]) => ids.map(async (id) => (await c.committed(id, 15_000)).position));
        const positions = await Promise.all(committed);
        expect(new Set(positions).size).toBe(held);
        expect((await sApi.pull(0, col)).length).toBe(held + 2);
      });
    });

    describe('fair budgets per user (issue 13, item 6)', () => {
      const POOL = 30;
      const PER_USER = 10;
      let s: TestServer;
      const token: Record<string, string> = {};
      beforeAll(async () => {
        s = await makeServer({
          config: {
            jwtSecret: HS_SECRET,
            rules: { budget: { read: '*', write: '*' } },
            finTimeoutMs: 20_000,
            maxOpenActions: POOL,
            maxOpenActionsPerUser: PER_USER,
            maxOpenActionsPerSocket: PER_USER,
            adminToken: ADMIN_TOKEN,
          },
        });
        for (const u of ['ann', 'ben', 'cat']) token[u] = await jwtFor(u);
      });
      afterAll(async () => {
        await s?.close();
      });

      const as = (user: string) => connect(s, { token: token[user] as string });
      /** Sends `count` CREATEs on `c`; resolves to their results, in order. */
      const create = async (c: ActionsClient, count: number): Promise<Payload[]> => {
        const ids = Array.from({ length: count }, () => aid('fair'));
        c.send(ids.map((id) => ({ id, type: 'CREATE', collection: 'budget', data: { id } })));
        return Promise.all(ids.map((id) => c.result(id)));
      };
      const acked = (rs: Payload[]) => rs.filter((r) => r.status === 'ACK');
      const status = async (id: string) =>
        (await fetch(`${s.url}/documents/budget/${id}`, { headers: { authorization: `Bearer ${token.ann}` } })).status;
      const expectTooMany = (rs: Payload[]) => {
        for (const r of rs) expect(r).toMatchObject({ status: 'NACK', error: { code: 'TOO_MANY_OPEN_ACTIONS' } });
      };

      test('a user holding actions on several sockets cannot starve another; its extra actions are NACKed; FINs and rollbacks give the room back', async () => {
        // Ann alone, on three sockets, sends as much as the per-socket bound lets through: enough to fill the pool.
        const ann = [await as('ann'), await as('ann'), await as('ann')];
        const first: Payload[] = [];
        for (const c of ann) first.push(...(await create(c, PER_USER)));

        // Ben still gets all of his 10.
        const ben = await as('ben');
        expect((await create(ben, 10)).map((r) => r.status)).toEqual(Array(10).fill('ACK'));

        // Ann got more than one user's cap while alone, never so much that no room was left for another user;
        // the rest was NACKed, and now that two users hold actions she gets no more.
        const annHolds = acked(first).length;
        expect(annHolds).toBeGreaterThanOrEqual(PER_USER);
        expect(annHolds).toBeLessThanOrEqual(POOL - PER_USER);
        expectTooMany(first.filter((r) => r.status !== 'ACK'));
        expectTooMany(await create(ann[2] as ActionsClient, 2));

        // A third user gets what is left (within her share), and Ann still nothing.
        const cat = await as('cat');
        const catResults = await create(cat, POOL - annHolds - 10);
        expect(catResults.map((r) => r.status)).toEqual(Array(catResults.length).fill('ACK'));
        expectTooMany(await create(ann[0] as ActionsClient, 1));

        // Ann's FINs (socket 0) and disconnects (sockets 1 and 2: rollbacks) end her actions; her budget comes back.
        const annOn0 = acked(first.slice(0, PER_USER));
        const annElsewhere = acked(first.slice(PER_USER));
        for (const r of annOn0) ann[0]?.fin(r.id);
        for (const r of annOn0) await ann[0]?.committed(r.id);
        ann[1]?.close();
        ann[2]?.close();
        const othersHold = 10 + catResults.length;
        await until(async () => (await openActions(s)) === othersHold);
        // Three users hold actions now: she gets a share again, as much as the last user to come got at least.
        const again = await create(await as('ann'), PER_USER);
        const annAgain = acked(again).length;
        expect(annAgain).toBeGreaterThanOrEqual(catResults.length);
        expect(again.slice(0, annAgain).map((r) => r.status)).toEqual(Array(annAgain).fill('ACK'));
        expectTooMany(again.slice(annAgain));
        expect(await openActions(s)).toBe(othersHold + annAgain);

        // What Ann committed is there; nothing of what was rolled back.
        for (const r of annOn0) expect(await status(r.id)).toBe(200);
        for (const r of annElsewhere) expect(await status(r.id)).toBe(404);
      });
    });

    test('closing the server rolls back open actions and tells their clients', async () => {
      const s = await makeServer({ wrap: (x) => x });
      const c = await connect(s);
      const col = freshCollection('z');
      const a = aid();
      c.send([{ id: a, type: 'CREATE', collection: col, data: { id: 'k' } }]);
      expect(await c.result(a)).toMatchObject({ status: 'ACK' });
      await s.server.close();
      expect(await c.rolledBack(a)).toEqual({ id: a, reason: 'shutdown' });
      expect(await s.server.storage.getDocument(col, 'k')).toBeNull();
      expect((await s.server.storage.getChanges({ since: 0, limit: 100 })).operations).toEqual([]);
      await s.close();
    });
  });
}
