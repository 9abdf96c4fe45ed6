/**
 * Read rules on /sync (issue 5): live frames and catch-up carry only what the
 * subscriber may read; a document leaving their reach is a delete, one
 * entering it an insert; deletes of documents they never held do not reach them.
 */
import type { Change } from '@syncline/protocol';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type SynclineServer } from '../src/server.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { opId } from './harness.js';
import { startPgliteServer } from './server-harness.js';

describe('read rules on /sync (PGlite)', () => {
  let server: SynclineServer;
  let url: string;
  const sockets: Socket[] = [];
  const write = (ops: Record<string, unknown>[]) =>
    server.storage.applyOperations(
      'seed',
      ops.map((o) => ({ id: opId(), ...o })),
    );

  beforeAll(async () => {
    ({ server, url } = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        rules: { notes: { read: { field: 'owner' }, hidden: ['secret'] } },
      },
    }));
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await server?.close();
  });

  async function subscriber(user: string, payload: Record<string, unknown>) {
    const socket = connect(`${url}/sync`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { token: await jwtFor(user) },
    });
    sockets.push(socket);
    const changes: Change[] = [];
    socket.on('changes', (f: { changes: Change[] }) => changes.push(...f.changes));
    const ack = await socket.timeout(5000).emitWithAck('subscribe', payload);
    expect(ack.ok).toBe(true);
    changes.push(...(ack.changes ?? []));
    return { changes, seen: () => changes.map((c) => `${c.docId}:${c.type}`) };
  }

  test('live and catch-up: only readable documents, moves as delete/insert, no foreign deletes, no hidden field', async () => {
    await write([
      { type: 'insert', collection: 'notes', docId: 'a1', data: { owner: 'alice', secret: 'x1' } },
      { type: 'insert', collection: 'notes', docId: 'b1', data: { owner: 'bob', secret: 'x2' } },
    ]);
    const aliceLive = await subscriber('alice', { collection: 'notes' });
    const bobLive = await subscriber('bob', { collection: 'notes' });
    const aliceCatchUp = await subscriber('alice', { collection: 'notes', since: 0 });
    expect(aliceCatchUp.seen()).toEqual(['a1:insert']);

    await write([
      { type: 'insert', collection: 'notes', docId: 'a2', data: { owner: 'alice', secret: 'x3' } },
      { type: 'patch', collection: 'notes', docId: 'a1', data: { owner: 'bob' } },
      { type: 'delete', collection: 'notes', docId: 'b1' },
    ]);
    await expect.poll(() => bobLive.seen().length, { timeout: 5000 }).toBe(2);
    await expect.poll(() => aliceLive.seen().length, { timeout: 5000 }).toBe(2);
    expect(aliceLive.seen()).toEqual(['a2:insert', 'a1:delete']);
    expect(bobLive.seen()).toEqual(['a1:insert', 'b1:delete']);
    expect(bobLive.changes[0]?.data).toMatchObject({ owner: 'bob' });

    const bobCatchUp = await subscriber('bob', { collection: 'notes', since: 0 });
    expect(bobCatchUp.seen()).toEqual(['b1:insert', 'a1:insert', 'b1:delete']);
    for (const c of [aliceLive, bobLive, aliceCatchUp, bobCatchUp]) {
      expect(JSON.stringify(c.changes)).not.toMatch(/secret|"old"/);
    }
  });

  test('a user holds at most SYNCLINE_MAX_SUBSCRIPTIONS_PER_USER subscriptions over all their sockets', async () => {
    const limited = await createServer({
      dataDir: 'memory://',
      env: {},
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      jwtSecret: HS_SECRET,
      maxSubscriptionsPerUser: 3,
      rules: { notes: { read: '*' } },
    });
    const at = await limited.listen();
    const open = async (user: string) => {
      const s = connect(`${at}/sync`, {
        transports: ['websocket'],
        forceNew: true,
        reconnection: false,
        auth: { token: await jwtFor(user) },
      });
      sockets.push(s);
      return s;
    };
    try {
      const [s1, s2, other] = [await open('carol'), await open('carol'), await open('dave')];
      const sub = (s: Socket, i: number) => s.timeout(5000).emitWithAck('subscribe', { collection: 'notes', filter: { n: i } });
      expect((await sub(s1, 1)).ok).toBe(true);
      expect((await sub(s1, 2)).ok).toBe(true);
      expect((await sub(s2, 3)).ok).toBe(true);
      expect(await sub(s2, 4)).toMatchObject({ ok: false, error: { code: 'TOO_MANY_SUBSCRIPTIONS' } });
      expect((await sub(other, 4)).ok).toBe(true);
      s1.disconnect();
      await expect.poll(async () => (await sub(s2, 5)).ok, { timeout: 5000 }).toBe(true);
    } finally {
      await limited.close();
    }
  });
});
