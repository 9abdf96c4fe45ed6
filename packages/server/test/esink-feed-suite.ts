/**
 * Default-namespace events from the change feed (API writes on document
 * collections), client `publish`, and the slow-consumer bound; registered for
 * PGlite and PostgreSQL.
 */
import type { Socket } from 'socket.io';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../src/config/options.js';
import { barrier, EsinkClient as Client, connectAll, type EsinkClient, until, wait } from './esink-client.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { opId } from './harness.js';
import type { TestServer } from './server-harness.js';

export type MakeServer = (config: ConfigInput) => Promise<TestServer>;

const routing = { notes: ['owner', 'reviewer'], news: '*' };
const base: ConfigInput = { jwtSecret: HS_SECRET, tableAuthColumnRouting: routing, filters: ['notes.secret', 'news.internal'] };

export function registerEsinkFeedTests(name: string, make: MakeServer): void {
  describe(`default namespace, feed events: ${name}`, () => {
    let t: TestServer;
    let alice: EsinkClient;
    let bob: EsinkClient;
    let carol: EsinkClient;
    const everyone = () => [alice, bob, carol];
    const write = (ops: Record<string, unknown>[]) =>
      t.server.storage.applyOperations(
        'writer',
        ops.map((o) => ({ id: opId(), ...o })),
      );

    /** A change on `news` (routed "*") that every client must see: all earlier events have arrived by then. */
    const sync = (clear = false) =>
      barrier(everyone(), (marker) => write([{ type: 'insert', collection: 'news', docId: marker, data: { marker } }]), { clear });

    beforeAll(async () => {
      t = await make(base);
      [alice, bob, carol] = await connectAll(t.url, [await jwtFor('alice'), await jwtFor('bob'), await jwtFor('carol')]);
    });
    afterAll(async () => {
      for (const c of [alice, bob, carol]) c?.close();
      await t.close();
    });
    beforeEach(() => sync(true));

    test('writes reach exactly the routed users, as <table> and changes, in commit order, without filtered columns', async () => {
      // One transaction each, so commit order is the order below.
      for (const op of [
        { type: 'insert', collection: 'notes', docId: 'n1', data: { owner: 'alice', reviewer: 'bob', text: 'a', secret: 'S1' } },
        { type: 'insert', collection: 'notes', docId: 'n2', data: { owner: 'carol', text: 'c', secret: 'S2' } },
        { type: 'insert', collection: 'private', docId: 'p1', data: { owner: 'alice' } },
        { type: 'insert', collection: 'news', docId: 'w1', data: { title: 'hello', internal: 'S3' } },
        { type: 'patch', collection: 'notes', docId: 'n1', data: { text: 'b' } },
      ]) {
        await write([op]);
      }
      await sync();
      const seen = (c: EsinkClient) => c.changes.map((p) => `${p.table}/${p.data?._id}:${p.type}:v${p.version}`);
      expect(seen(alice)).toEqual(['notes/n1:insert:v1', 'news/w1:insert:v1', 'notes/n1:update:v2']);
      expect(seen(bob)).toEqual(['notes/n1:insert:v1', 'news/w1:insert:v1', 'notes/n1:update:v2']);
      expect(seen(carol)).toEqual(['notes/n2:insert:v1', 'news/w1:insert:v1']);
      expect(alice.changes[2]).toEqual({
        table: 'notes',
        type: 'update',
        data: { _id: 'n1', owner: 'alice', reviewer: 'bob', text: 'b' },
        source: 'api',
        timestamp: expect.any(Number),
        version: 2,
        position: expect.any(Number),
      });
      for (const c of everyone()) {
        expect(c.tableEvents.map((e) => e.payload)).toEqual(c.changes);
        expect(c.tableEvents.every((e) => e.event === e.payload.table)).toBe(true);
        const wire = JSON.stringify([c.changes, c.tableEvents]);
        for (const secret of ['S1', 'S2', 'S3']) expect(wire).not.toContain(secret);
      }
    });

    test('a delete on a "*" collection reaches everyone with the document id', async () => {
      await write([{ type: 'insert', collection: 'news', docId: 'w2', data: { title: 'x' } }]);
      await write([{ type: 'delete', collection: 'news', docId: 'w2' }]);
      await sync();
      for (const c of everyone()) {
        expect(c.changes.map((p) => p.type)).toEqual(['insert', 'delete']);
        expect(c.changes[0]?.data).toEqual({ _id: 'w2', title: 'x' });
        // The delete carries the document as it was where the backend keeps old values (PostgreSQL), else its id.
        expect([{ _id: 'w2', title: 'x' }, { _id: 'w2' }]).toContainEqual(c.changes[1]?.data);
      }
    });

    test('a reconnect with the last position gets what it missed (as live delivery decides it), then live events, each once', async () => {
      // alice stays connected throughout: what she receives is what her resumed connection must receive.
      const token = await jwtFor('alice');
      const first = new Client(t.url, token);
      await first.ready();
      await write([{ type: 'insert', collection: 'notes', docId: 'r0', data: { owner: 'alice', text: 'before', secret: 'S5' } }]);
      await until(() => first.changes.some((p) => p.data?._id === 'r0'));
      const last = first.changes.at(-1)?.position;
      expect(last).toEqual(expect.any(Number));
      first.close();
      // Missed while away: hers, someone else's, everyone's (with a filtered column), an update and a delete.
      for (const op of [
        { type: 'insert', collection: 'notes', docId: 'r1', data: { owner: 'alice', text: 'missed', secret: 'S6' } },
        { type: 'insert', collection: 'notes', docId: 'r2', data: { owner: 'carol', text: 'not hers' } },
        { type: 'insert', collection: 'news', docId: 'r3', data: { title: 'news', internal: 'S7' } },
        { type: 'patch', collection: 'notes', docId: 'r1', data: { text: 'missed too' } },
        { type: 'delete', collection: 'news', docId: 'r3' },
      ]) {
        await write([op]);
      }
      const resumed = new Client(t.url, token, { auth: { token, since: last } });
      // Writes while it replays and goes live: none may be missed or repeated at the seam.
      const during = (async () => {
        for (let i = 0; i < 20; i++) await write([{ type: 'insert', collection: 'notes', docId: `rl${i}`, data: { owner: 'alice', i } }]);
      })();
      await resumed.ready();
      await during;
      await barrier([...everyone(), resumed], (marker) => write([{ type: 'insert', collection: 'news', docId: marker, data: { marker } }]));
      const after = alice.changes.filter((p) => Number(p.position) > Number(last));
      expect(resumed.errors).toEqual([]);
      expect(resumed.changes).toEqual(after);
      expect(resumed.changes.map((p) => `${p.table}/${p.data?._id}:${p.type}`).slice(0, 4)).toEqual([
        'notes/r1:insert',
        'news/r3:insert',
        'notes/r1:update',
        'news/r3:delete',
      ]);
      expect(resumed.changes).toHaveLength(24);
      const positions = resumed.changes.map((p) => Number(p.position));
      expect(positions).toEqual([...positions].sort((x, y) => x - y));
      expect(new Set(positions).size).toBe(positions.length);
      expect(resumed.tableEvents.map((e) => e.payload)).toEqual(resumed.changes);
      const wire = JSON.stringify(resumed.changes);
      for (const secret of ['S5', 'S6', 'S7', 'not hers']) expect(wire).not.toContain(secret);
      resumed.close();
    });

    test('a resume position that is not a non-negative integer gets VALIDATION_FAILED and the connection ends', async () => {
      const token = await jwtFor('alice');
      for (const since of [-1, 'abc', 1.5]) {
        const c = new Client(t.url, token, { auth: { token, since } });
        await c.ready();
        await until(() => c.disconnectReason !== undefined);
        expect(c.connected).toBeUndefined();
        expect(c.errors.map((e) => e.code)).toEqual(['VALIDATION_FAILED']);
      }
    });

    test('client publish is refused with FORBIDDEN while ALLOW_REPUBLISHING is off; nothing is delivered', async () => {
      for (const event of ['publish', 'event']) {
        alice.socket.emit(event, { table: 'news', type: 'insert', userId: '*', data: { forged: true } });
        alice.socket.emit(event, { table: 'notes', type: 'insert', data: { owner: 'bob', forged: true } });
      }
      await until(() => alice.errors.length >= 4);
      expect(alice.errors.every((e) => e.code === 'FORBIDDEN')).toBe(true);
      await sync();
      for (const c of everyone()) expect(JSON.stringify(c.changes)).not.toContain('forged');
      alice.errors.length = 0;
    });
  });

  describe(`default namespace, ALLOW_REPUBLISHING: ${name}`, () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await make({ ...base, allowRepublishing: true, defaultSource: 'SRC' });
    });
    afterAll(() => t.close());

    test('a client publish is routed and filtered like any change; a bad one gets VALIDATION_FAILED', async () => {
      const [alice, bob, carol] = await connectAll(t.url, [await jwtFor('alice'), await jwtFor('bob'), await jwtFor('carol')]);
      alice.socket.emit('publish', {
        table: 'notes',
        type: 'insert',
        data: { id: 1, owner: 'bob', secret: 'S4' },
        securityToken: 'ignored',
      });
      alice.socket.emit('event', { table: 'notes', type: 'update', data: { id: 2, owner: 'bob' }, source: 'mine', version: 3 });
      alice.socket.emit('publish', { table: 'notes', type: 'upsert', data: {} });
      alice.socket.emit('publish', 'nonsense');
      alice.socket.emit('publish', { table: 'news', type: 'insert', data: { id: 3 } });
      await until(() => carol.changes.length >= 1 && bob.changes.length >= 3 && alice.errors.length >= 2);
      expect(bob.changes).toEqual([
        { table: 'notes', type: 'insert', data: { id: 1, owner: 'bob' }, source: 'SRC', timestamp: expect.any(Number), version: 1 },
        { table: 'notes', type: 'update', data: { id: 2, owner: 'bob' }, source: 'mine', timestamp: expect.any(Number), version: 3 },
        { table: 'news', type: 'insert', data: { id: 3 }, source: 'SRC', timestamp: expect.any(Number), version: 1 },
      ]);
      expect(carol.changes.map((p) => p.data)).toEqual([{ id: 3 }]);
      expect(alice.changes.map((p) => p.data)).toEqual([{ id: 3 }]);
      expect(alice.errors.map((e) => e.code)).toEqual(['VALIDATION_FAILED', 'VALIDATION_FAILED']);
      expect(alice.errors[0]?.message).toMatch(/payload\.type/);
      for (const c of [alice, bob, carol]) c.close();
    });

    test('a listener that keeps reading gets a burst of many more events than SYNCLINE_SOCKET_BUFFER_LIMIT packets (the bound of / is in bytes)', async () => {
      // Before issue 14 the bound was this count of packets: a burst dropped listeners that were keeping up.
      const t2 = await make({ ...base, socketBufferLimit: 5 });
      try {
        const reader = new Client(t2.url, await jwtFor('reader'));
        await reader.ready();
        await t2.server.storage.applyOperations(
          'w',
          Array.from({ length: 300 }, (_, i) => ({ id: opId(), type: 'insert', collection: 'news', docId: `burst${i}`, data: { i } })),
        );
        await until(() => reader.changes.filter((p) => p.table === 'news').length >= 300 || reader.errors.length > 0);
        expect(reader.errors).toEqual([]);
        expect(reader.changes.filter((p) => p.table === 'news')).toHaveLength(300);
        reader.close();
      } finally {
        await t2.close();
      }
    });

    test('a slow consumer is told SLOW_CONSUMER and dropped; its server buffer stays bounded', async () => {
      const limitBytes = 64 * 1024;
      const limited = await make({ ...base, esinkBufferBytes: limitBytes });
      try {
        const slow = new Client(limited.url, await jwtFor('slow'), { transports: ['polling'] });
        await slow.ready();
        const sid = slow.connected?.sessionId;
        expect(sid).toBeDefined();
        // Stop reading: the polling transport stops polling once its open poll returns.
        (slow.socket.io.engine.transport as unknown as { pause: (cb: () => void) => void }).pause(() => {});
        const nsp = limited.server.io.of('/');
        const serverSocket = nsp.sockets.get(sid as string) as Socket;
        // A large transaction first (one feed batch of many changes), then single writes.
        await limited.server.storage.applyOperations(
          'w',
          Array.from({ length: 150 }, (_, i) => ({
            id: opId(),
            type: 'insert',
            collection: 'news',
            docId: `b${i}`,
            data: { text: 'x'.repeat(1000) },
          })),
        );
        for (let i = 0; i < 5; i++) {
          await limited.server.storage.applyOperations('w', [
            { id: opId(), type: 'insert', collection: 'news', docId: `s${i}`, data: { i } },
          ]);
        }
        await until(() => !nsp.sockets.has(sid as string));
        await wait(100);
        const buffer = (serverSocket as unknown as { conn: { writeBuffer: { data?: string }[] } }).conn.writeBuffer;
        const bytes = buffer.reduce((n, p) => n + (typeof p.data === 'string' ? p.data.length : 0), 0);
        // A scan runs after each feed batch: at most the limit plus one batch (150 changes × 2 events × ~1.1 KB).
        expect(bytes).toBeLessThanOrEqual(limitBytes + 150 * 2 * 1200);
        slow.close();
      } finally {
        await limited.close();
      }
    });
  });
}
