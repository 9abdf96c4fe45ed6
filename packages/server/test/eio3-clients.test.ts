/**
 * Socket.IO v2 clients (Engine.IO 3): the reference sync server's article installs socket.io-client@2.3.0
 * (reference 000); esink's users may have old clients too. They connect to every namespace (allowEIO3),
 * unless SYNCLINE_ALLOW_EIO3=false.
 */
import { io as ioV4 } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { startPgliteServer, type TestServer } from './server-harness.js';

type V2Socket = ReturnType<typeof ioV2>;

function next<T = Record<string, unknown>>(socket: V2Socket, event: string, match: (p: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 20 s`)), 20_000);
    const on = (p: T) => {
      if (!match(p)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(p);
    };
    socket.on(event, on);
  });
}

const open = (url: string, opts: Record<string, unknown> = {}) =>
  ioV2(url, { forceNew: true, reconnection: false, transports: ['polling', 'websocket'], ...opts });

describe('socket.io-client@2.3.0', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        tableAuthColumnRouting: { notes: 'owner' },
        rules: { product: { read: '*', write: '*' }, notes: { write: { field: 'owner' } } },
      },
    });
  }, 120_000);
  afterAll(() => t?.close());

  test("/sendActions: the article's flow (sendProductActions, productActionResult, clientFin) commits the products", async () => {
    const token = await jwtFor('article-user');
    const socket = open(`${t.url}/sendActions`, { query: { token } });
    try {
      await next(socket, 'connect');
      socket.emit('sendProductActions', [
        { type: 'CREATE', data: { name: 'Apple', category_id: 1 } },
        { type: 'CREATE', data: { name: 'Pear', category_id: 1 } },
      ]);
      type Result = { id: string; status: string; data?: { id?: string; name?: string } };
      const apple = await next<Result>(socket, 'productActionResult', (p) => p.data?.name === 'Apple');
      const pear = await next<Result>(socket, 'productActionResult', (p) => p.data?.name === 'Pear');
      expect([apple.status, pear.status]).toEqual(['ACK', 'ACK']);
      const committed = Promise.all([
        next(socket, 'actionCommitted', (p: { id: string }) => p.id === apple.id),
        next(socket, 'actionCommitted', (p: { id: string }) => p.id === pear.id),
      ]);
      socket.emit('clientFin');
      socket.emit('clientFin');
      await committed;
      const r = await fetch(`${t.url}/documents/product/${encodeURIComponent(String(apple.data?.id))}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ name: 'Apple', category_id: 1 });
    } finally {
      socket.close();
    }
  });

  test('default namespace: a v2 client authenticates by ?token= and receives its routed changes', async () => {
    const token = await jwtFor('v2-user');
    const socket = open(t.url, { query: { token } });
    try {
      const connected = await next<{ userId: string; code: number }>(socket, 'connected');
      expect(connected).toMatchObject({ userId: 'v2-user', code: 200 });
      const notes = next<{ table: string; type: string; data: { owner: string; text: string } }>(socket, 'notes');
      const r = await fetch(`${t.url}/operations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          clientId: 'v2-writer',
          operations: [{ id: 'v2-op-1', type: 'insert', collection: 'notes', data: { owner: 'v2-user', text: 'hello' } }],
        }),
      });
      expect(r.status).toBe(200);
      expect(await notes).toMatchObject({ table: 'notes', type: 'insert', data: { owner: 'v2-user', text: 'hello' } });
    } finally {
      socket.close();
    }
  });

  test('SYNCLINE_ALLOW_EIO3=false: a v2 client is refused, a v4 client still connects', async () => {
    const strict = await startPgliteServer({ config: { allowEio3: false } });
    try {
      const socket = open(`${strict.url}/sendActions`, { transports: ['polling'] });
      try {
        await expect(next(socket, 'connect_error')).resolves.toBeDefined();
      } finally {
        socket.close();
      }
      const v4 = ioV4(`${strict.url}/sendActions`, { forceNew: true, reconnection: false });
      try {
        await new Promise<void>((resolve, reject) => {
          v4.once('connect', resolve);
          v4.once('connect_error', reject);
        });
      } finally {
        v4.close();
      }
    } finally {
      await strict.close();
    }
  }, 120_000);
});
