/**
 * The SDK reports its status to the server (`clientStatus` on /sync): on connect
 * and when its pending count changes, at most once a second; the admin API shows
 * it. A server that does not know the event costs the client nothing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { createClient } from '../src/client.js';
import { MemoryStore } from '../src/store/memory-store.js';

let srv: TestServer;
/** While set, the server's writes wait for it (the server "pauses"). */
let gate: Promise<void> | undefined;
let open: () => void = () => {};
/** `clientStatus` events the server received, with when. */
const reports: { at: number; payload: { clientId: string; pending: number; position: number } }[] = [];

beforeAll(async () => {
  srv = await startPgliteServer({
    wrap: (storage) =>
      new Proxy(storage, {
        get(target, prop, receiver) {
          if (prop === 'applyOperations') {
            return async (...args: Parameters<typeof target.applyOperations>) => {
              await gate;
              return target.applyOperations(...args);
            };
          }
          const v = Reflect.get(target, prop, receiver);
          return typeof v === 'function' ? v.bind(target) : v;
        },
      }),
  });
  srv.server.io.of('/sync').on('connection', (socket) => {
    socket.on('clientStatus', (payload) => reports.push({ at: Date.now(), payload }));
  });
});
afterAll(() => srv?.close());

async function until(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function adminRow(clientId: string) {
  const res = await fetch(`${srv.url}/admin/api/clients`);
  const body = (await res.json()) as {
    clients: { clientId: string; connected: boolean; pending: number | null; position: number | null }[];
  };
  return body.clients.find((c) => c.clientId === clientId && c.connected);
}

test('pending writes while the server pauses show in the admin API; reports come at most once a second', async () => {
  const client = createClient({
    url: srv.url,
    clientId: 'status-sdk',
    store: new MemoryStore(),
    socketOptions: { transports: ['websocket'] },
  });
  try {
    const notes = client.collection('notes');
    await client.whenSynced();
    // Sent on connect.
    await until(async () => (await adminRow('status-sdk'))?.pending === 0);

    gate = new Promise((r) => {
      open = r;
    });
    const from = Date.now();
    const writes = Array.from({ length: 20 }, (_, i) => notes.insert({ _id: `w${i}`, n: i }));
    await until(() => client.status.pending === 20);
    await until(async () => (await adminRow('status-sdk'))?.pending === 20, 5000);
    const sdkReports = () => reports.filter((r) => r.at >= from && r.payload.clientId === 'status-sdk');
    // Twenty changes of `pending`: not a report each, at most one per second that passed (and the first at once).
    // Counted, not timed: slow delivery only makes fewer arrive. The exact throttle: status-throttle.test.ts.
    expect(sdkReports().length).toBeLessThanOrEqual(Math.ceil((Date.now() - from) / 1000) + 1);

    open();
    gate = undefined;
    await Promise.all(writes);
    await client.whenSynced();
    await until(async () => (await adminRow('status-sdk'))?.pending === 0, 5000);
    const row = await adminRow('status-sdk');
    expect(row?.position).toBeGreaterThanOrEqual(client.status.position);
    // Forty changes of `pending` in all (up to 20 and back to 0), still at most one report per second.
    expect(sdkReports().length).toBeLessThanOrEqual(Math.ceil((Date.now() - from) / 1000) + 1);
    expect(sdkReports().at(-1)?.payload.pending).toBe(0);
  } finally {
    open();
    gate = undefined;
    await client.close();
  }
});

test('a server without clientStatus (it answers an unknown-event error) does not disturb the client', async () => {
  const http = createServer();
  const io = new Server(http);
  const seen: string[] = [];
  io.of('/sync').on('connection', (socket) => {
    socket.onAny((event: string) => {
      seen.push(event);
      if (event !== 'subscribe' && event !== 'push') socket.emit('error', { code: 'UNKNOWN_EVENT', message: 'unknown' });
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const errors: unknown[] = [];
  const client = createClient({ url, clientId: 'old-server', store: new MemoryStore(), socketOptions: { transports: ['websocket'] } });
  client.on('error', (e) => errors.push(e));
  try {
    await until(() => seen.includes('clientStatus'));
    await new Promise((r) => setTimeout(r, 300));
    expect(errors).toEqual([]);
    expect(client.status.state).not.toBe('offline');
    // Writes still queue.
    void client
      .collection('notes')
      .insert({ _id: 'q', v: 1 })
      .catch(() => {});
    await until(() => client.status.pending === 1);
  } finally {
    await client.close();
    io.close();
    http.close();
  }
});
