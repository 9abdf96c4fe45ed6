/** The `/sync` namespace end to end over real Socket.IO connections (registered for PGlite and PostgreSQL). */
import type { Change } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../src/config/options.js';
import type { SynclineServer } from '../src/server.js';
import { opId } from './harness.js';
import type { TestServer } from './server-harness.js';
import { Follower, until, wait } from './sync-follower.js';

export type MakeServer = (config: ConfigInput) => Promise<TestServer>;

export function registerSyncTests(name: string, make: MakeServer): void {
  describe(`/sync namespace: ${name}`, () => {
    let server: SynclineServer;
    let url: string;
    let cleanup: () => Promise<void>;
    const clients: Follower[] = [];
    const client = (opts?: Record<string, unknown>) => {
      const c = new Follower(url, opts);
      clients.push(c);
      return c;
    };
    const push = async (operations: Record<string, unknown>[], clientId = 'rest') => {
      const res = await fetch(`${url}/operations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientId, operations }),
      });
      expect(res.status).toBe(200);
      return res.json() as Promise<{ results: { status: string; position?: number }[] }>;
    };
    const insert = (collection: string, docId: string, data: Record<string, unknown>) => ({
      id: opId(),
      type: 'insert',
      collection,
      docId,
      data,
    });
    const pullAll = async (collection: string, since = 0) => {
      const out: Change[] = [];
      for (;;) {
        const page = await server.storage.getChanges({ since, limit: 1000 });
        out.push(...page.operations.filter((c) => c.collection === collection));
        since = page.checkpoint;
        if (!page.hasMore) return out;
      }
    };

    beforeAll(async () => {
      ({ server, url, close: cleanup } = await make({ socketBufferLimit: 4, maxSubscriptionsPerSocket: 3 }));
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await cleanup();
    });

    test('live changes arrive after commit, in commit order, with from/position', async () => {
      const c = client();
      const ack = await c.subscribe({ collection: 'live' });
      expect(ack).toMatchObject({ ok: true, subscriptionId: expect.any(String), position: expect.any(Number) });
      await push([insert('live', 'a', { n: 1 }), insert('live', 'b', { n: 2 })]);
      await push([
        { id: opId(), type: 'patch', collection: 'live', docId: 'a', data: { n: 3 } },
        { id: opId(), type: 'delete', collection: 'live', docId: 'b' },
      ]);
      await until(() => c.changes.length >= 4);
      expect(c.changes.map((x) => [x.docId, x.type, x.version])).toEqual([
        ['a', 'insert', 1],
        ['b', 'insert', 1],
        ['a', 'update', 2],
        ['b', 'delete', 2],
      ]);
      expect(c.changes[3]?.data).toBeNull();
      expect(c.changes[2]?.data).toEqual({ n: 3 });
      expect(c.gaps).toBe(0);
      const positions = c.changes.map((x) => x.position);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    });

    test('filters: only matching documents (indexed equality or not), deletes only where the document matched, never other collections', async () => {
      const mine = client();
      const big = client();
      const other = client();
      await mine.subscribe({ collection: 'tasks', filter: { owner: 'ann' } });
      await big.subscribe({ collection: 'tasks', filter: { size: { $gt: 5 } } });
      await other.subscribe({ collection: 'elsewhere' });
      await push([
        insert('tasks', 't1', { owner: 'ann', size: 1 }),
        insert('tasks', 't2', { owner: 'bob', size: 9 }),
        insert('tasks', 't3', { owner: 'ann', size: 7 }),
      ]);
      await push([{ id: opId(), type: 'delete', collection: 'tasks', docId: 't2' }]);
      // A last write every subscription sees: once it has arrived, everything before it has (one socket, position order).
      await push([insert('tasks', 'last', { owner: 'ann', size: 9 }), insert('elsewhere', 'last', {})]);
      await until(() => [mine, big, other].every((f) => f.changes.some((x) => x.docId === 'last')));
      const seen = (f: Follower) => f.changes.filter((x) => x.docId !== 'last').map((x) => `${x.docId}:${x.type}`);
      // t2 was never ann's: its delete is not hers either (the log keeps the deleted document's old values).
      expect(seen(mine)).toEqual(['t1:insert', 't3:insert']);
      expect(seen(big)).toEqual(['t2:insert', 't3:insert', 't2:delete']);
      expect(seen(other)).toEqual([]);
    });

    test('catch-up with since: exactly the missed changes, then live ones, no gap and no duplicate (also over many pages)', async () => {
      const head = await server.storage.currentPosition();
      const ops = Array.from({ length: 2500 }, (_, i) => insert('bulk', `d${i}`, { i }));
      for (let i = 0; i < ops.length; i += 1000) await push(ops.slice(i, i + 1000));
      // A polling client too: between its polls frames queue up (the buffer limit here is 4), and a
      // catch-up waits for them to drain instead of ending with SLOW_CONSUMER.
      const clients = [client(), client({ transports: ['polling'] })];
      for (const c of clients) {
        const ack = await c.subscribe({ collection: 'bulk', since: head });
        expect(ack.error).toBeUndefined();
        expect(ack.ok).toBe(true);
      }
      await push([insert('bulk', 'late', { late: true })]);
      const logOrder = (await pullAll('bulk', head)).map((x) => x.docId);
      expect(logOrder).toHaveLength(2501);
      expect(logOrder.at(-1)).toBe('late');
      for (const c of clients) {
        await until(() => c.changes.length >= 2501).catch((err) => {
          throw new Error(
            `${(err as Error).message}: got ${c.changes.length} changes, last ${c.last}, gaps ${c.gaps}, errors ${JSON.stringify([c.errors, c.subErrors])}`,
          );
        });
        expect(c.changes.map((x) => x.docId)).toEqual(logOrder);
        expect(c.gaps).toBe(0);
        // One caughtUp, at or after the last catch-up change (2500 of them; `late` may be live).
        expect(c.caughtUp).toHaveLength(1);
        expect(c.caughtUp[0]).toBeGreaterThanOrEqual(c.changes[2499]?.position ?? Number.POSITIVE_INFINITY);
      }
    });

    test('a client that disconnects during writes and resubscribes with its last position gets exactly what it missed', async () => {
      const col = 'reconnect';
      let writing = true;
      let written = 0;
      const writer = (async () => {
        for (let i = 0; writing && i < 400; i++) {
          await push([insert(col, `w${i}a`, { i }), insert(col, `w${i}b`, { i })]);
          written++;
        }
      })();
      // Waits for the writer to make progress (not a fixed time: a loaded machine writes slowly).
      const moreWrites = async (n: number) => {
        const at = written;
        await until(() => written >= at + n, 20_000);
      };
      const first = client();
      await first.subscribe({ collection: col, since: 0 });
      await until(() => first.changes.length >= 20);
      first.close();
      const missedFrom = first.last;
      await moreWrites(10); // writes continue while it is away
      const second = client();
      second.last = missedFrom;
      await second.subscribe({ collection: col, since: missedFrom });
      await moreWrites(10);
      writing = false;
      await writer;
      const all = await pullAll(col);
      await until(() => second.last >= (all.at(-1)?.position ?? 0));
      const received = [...first.changes.filter((x) => x.position <= missedFrom), ...second.changes];
      expect(received.map((x) => x.position)).toEqual(all.map((x) => x.position));
      expect(received.map((x) => x.docId)).toEqual(all.map((x) => x.docId));
      expect(first.gaps + second.gaps).toBe(0);
      expect(all.length).toBeGreaterThan(40);
    });

    test('push over the socket answers like POST /operations', async () => {
      const c = client();
      await until(() => c.socket.connected);
      const op = insert('pushed', 'p1', { via: 'socket' });
      const reply = await c.socket.timeout(5000).emitWithAck('push', { clientId: 'sock', operations: [op, { id: 'bad' }] });
      expect(reply.ok).toBe(true);
      expect(reply.accepted.map((a: { id: string }) => a.id)).toEqual([op.id]);
      expect(reply.results[0]).toMatchObject({ status: 'applied', document: { _id: 'p1', _rev: 1, via: 'socket' } });
      expect(reply.results[1]).toMatchObject({ status: 'rejected', error: { code: 'VALIDATION_FAILED' } });
      const again = await c.socket.timeout(5000).emitWithAck('push', { clientId: 'sock', operations: [op] });
      expect(again.results[0]).toMatchObject({ status: 'duplicate', originalStatus: 'applied' });
      const bad = await c.socket.timeout(5000).emitWithAck('push', { clientId: 5 });
      expect(bad).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    });

    test('unsubscribe stops delivery; unknown ids are SUBSCRIPTION_NOT_FOUND', async () => {
      const c = client();
      const { subscriptionId } = await c.subscribe({ collection: 'unsub' });
      // A second subscription on the same socket, outside the Follower: its frame after the write is the barrier.
      const barrier = await c.socket.timeout(5000).emitWithAck('subscribe', { collection: 'unsub-barrier' });
      let barrierSeen = false;
      c.socket.on('changes', (f: { subscriptionId: string }) => {
        if (f.subscriptionId === barrier.subscriptionId) barrierSeen = true;
      });
      expect(await c.socket.timeout(5000).emitWithAck('unsubscribe', { subscriptionId })).toEqual({ ok: true });
      await push([insert('unsub', 'x', {})]);
      await push([insert('unsub-barrier', 'b', {})]);
      await until(() => barrierSeen);
      expect(c.changes).toEqual([]);
      expect(await c.socket.timeout(5000).emitWithAck('unsubscribe', { subscriptionId })).toMatchObject({
        ok: false,
        error: { code: 'SUBSCRIPTION_NOT_FOUND' },
      });
    });

    test.each([
      [{ collection: 'bad name' }, 'INVALID_COLLECTION'],
      [{ collection: 'ok', filter: { a: { $where: '1' } } }, 'UNKNOWN_OPERATOR'],
      [{ collection: 'ok', filter: { $or: 3 } }, 'INVALID_FILTER'],
      [{ collection: 'ok', since: -4 }, 'VALIDATION_FAILED'],
      ['not an object', 'VALIDATION_FAILED'],
    ])('subscribe %j → %s, and the socket keeps working', async (payload, code) => {
      const c = client();
      expect(await c.socket.timeout(5000).emitWithAck('subscribe', payload)).toMatchObject({ ok: false, error: { code } });
      expect((await c.subscribe({ collection: 'fine' })).ok).toBe(true);
    });

    test('unknown events get an error event; too many subscriptions are refused', async () => {
      const c = client();
      await until(() => c.socket.connected);
      c.socket.emit('explode', { x: 1 });
      await until(() => c.errors.length > 0);
      expect(c.errors[0]).toMatchObject({ code: 'UNKNOWN_EVENT' });
      for (const col of ['s1', 's2', 's3']) expect((await c.subscribe({ collection: col })).ok).toBe(true);
      expect(await c.socket.timeout(5000).emitWithAck('subscribe', { collection: 's4' })).toMatchObject({
        ok: false,
        error: { code: 'TOO_MANY_SUBSCRIPTIONS' },
      });
    });

    test('an oversized message closes only that connection', async () => {
      const c = client();
      await until(() => c.socket.connected);
      const closed = new Promise((r) => c.socket.once('disconnect', r));
      c.socket.emit('push', { clientId: 'big', operations: [{ pad: 'x'.repeat(2 * 1024 * 1024) }] });
      await closed;
      const d = client();
      expect((await d.subscribe({ collection: 'after-big' })).ok).toBe(true);
    });

    test('a catch-up waits for a socket that stops reading, instead of ending it, and completes when it reads again', async () => {
      const head = await server.storage.currentPosition();
      const ops = Array.from({ length: 6000 }, (_, i) => insert('paced', `p${i}`, { i }));
      for (let i = 0; i < ops.length; i += 1000) await push(ops.slice(i, i + 1000));
      const c = client({ transports: ['polling'] });
      await until(() => c.socket.connected);
      const sid = c.socket.id;
      const transport = c.socket.io.engine.transport as unknown as {
        pause: (cb: () => void) => void;
        readyState: string;
        _poll: () => void;
      };
      const acked = c.subscribe({ collection: 'paced', since: head });
      // The open poll carries the ack and then polling stops: the next pages (1,000 changes each) queue on the server.
      transport.pause(() => {});
      expect((await acked).ok).toBe(true);
      const serverSocket = [...server.io.of('/sync').sockets.values()].find((s) => s.id === sid);
      await until(() => (serverSocket as unknown as { conn: { writeBuffer: unknown[] } }).conn.writeBuffer.length >= 4);
      await wait(300);
      expect(c.subErrors).toEqual([]);
      expect((serverSocket as unknown as { conn: { writeBuffer: unknown[] } }).conn.writeBuffer.length).toBeLessThanOrEqual(5);
      transport.readyState = 'open';
      transport._poll();
      await until(() => c.changes.length >= 6000);
      expect(c.changes.map((x) => x.docId)).toEqual((await pullAll('paced', head)).map((x) => x.docId));
      expect(c.gaps).toBe(0);
      expect(c.subErrors).toEqual([]);
    });

    test('a slow consumer loses its subscription with SLOW_CONSUMER and the server buffer stays bounded', async () => {
      const c = client({ transports: ['polling'] });
      const { subscriptionId } = await c.subscribe({ collection: 'slow' });
      const sid = c.socket.id;
      // Stop reading: the polling transport stops polling once its open poll returns (the first frame ends it).
      (c.socket.io.engine.transport as unknown as { pause: (cb: () => void) => void }).pause(() => {});
      for (let i = 0; i < 12; i++) await push([insert('slow', `s${i}`, {})]);
      const nsp = server.io.of('/sync');
      const serverSocket = [...nsp.sockets.values()].find((s) => s.id === sid);
      expect(serverSocket).toBeDefined();
      // The subscription ends (its room is left) once the buffer limit is passed; the socket stays.
      await until(() => !(nsp.adapter.rooms.get(`sub:${subscriptionId}`)?.has(sid as string) ?? false));
      expect(nsp.sockets.has(sid as string)).toBe(true);
      const queued = (serverSocket as unknown as { conn: { writeBuffer: unknown[] } }).conn.writeBuffer.length;
      expect(queued).toBeLessThanOrEqual(6);
    });

    // Last: compaction moves the horizon for the whole server.
    test('after compaction, subscribing below the horizon is RESYNC_REQUIRED; from the horizon it works', async () => {
      await push([insert('compacted', 'c1', {})]);
      const { horizon } = await server.storage.compact(0);
      expect(horizon).toBeGreaterThan(0);
      const c = client();
      expect(await c.subscribe({ collection: 'compacted', since: 0 })).toMatchObject({ ok: false, error: { code: 'RESYNC_REQUIRED' } });
      expect((await c.subscribe({ collection: 'compacted', since: horizon })).ok).toBe(true);
      await push([insert('compacted', 'c2', {})]);
      await until(() => c.changes.length >= 1);
      expect(c.changes.map((x) => x.docId)).toEqual(['c2']);
    });
  });
}
