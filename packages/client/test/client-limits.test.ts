/**
 * The queue never stalls behind a write the server will not take: against a
 * real server with small limits, over both transports, a write too large for
 * one request is refused (PAYLOAD_TOO_LARGE) and leaves the queue, the writes
 * around it reach the server, batches are split to fit the byte and operation
 * limits, and the socket is never closed for an oversized message.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { type ClientOptions, createClient, type SynclineClient } from '../src/client.js';
import { RejectedError } from '../src/errors.js';
import { MemoryStore } from '../src/store/memory-store.js';

const LIMIT = 8192;
const MAX_OPS = 5;

let srv: TestServer;
let connections = 0;
const clients: SynclineClient[] = [];

const make = (opts: Partial<ClientOptions> = {}) => {
  const c = createClient({ url: srv.url, store: new MemoryStore(), socketOptions: { transports: ['websocket'] }, ...opts });
  clients.push(c);
  return c;
};

async function until(check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The promise's outcome, or a failure when it does not settle in time (today's client never settles it). */
function outcome<T>(p: Promise<T>, ms = 15_000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
    p.then(
      (value) => resolve({ ok: true, value }),
      (error) => resolve({ ok: false, error }),
    ).finally(() => clearTimeout(timer));
  });
}

let n = 0;
const fresh = (prefix: string) => `${prefix}${++n}`;
const blob = (bytes: number) => 'x'.repeat(bytes);

beforeAll(async () => {
  srv = await startPgliteServer({ config: { bodyLimit: LIMIT, socketMaxMessageBytes: LIMIT, maxOperations: MAX_OPS } });
  const nsp = srv.server.io.of('/sync');
  nsp.on('connection', () => connections++);
  // `?hideLimits=1`: this connection behaves as a server that does not announce its limits (an older one).
  nsp.use((socket, next) => {
    if (socket.handshake.query.hideLimits === '1') {
      const emit = socket.emit.bind(socket) as (event: string, ...args: unknown[]) => boolean;
      (socket as unknown as { emit: typeof emit }).emit = (event, ...args) => (event === 'limits' ? true : emit(event, ...args));
    }
    next();
  });
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});
afterAll(() => srv?.close());

test('the server announces its limits: on /health and first thing on every /sync connection', async () => {
  const health = await (await fetch(`${srv.url}/health`)).json();
  expect(health.limits).toEqual({ bodyLimit: LIMIT, socketMaxMessageBytes: LIMIT, maxOperations: MAX_OPS });
  const { io } = await import('socket.io-client');
  const socket = io(`${srv.url}/sync`, { transports: ['websocket'] });
  try {
    const first = await new Promise<[string, unknown]>((resolve) =>
      socket.onAny((event: string, payload: unknown) => resolve([event, payload])),
    );
    expect(first).toEqual(['limits', { bodyLimit: LIMIT, socketMaxMessageBytes: LIMIT, maxOperations: MAX_OPS }]);
  } finally {
    socket.close();
  }
});

const transports: [string, Partial<ClientOptions>][] = [
  ['socket', {}],
  // Long-polling: the limit applies to each HTTP request body of the Socket.IO transport.
  ['socket (polling)', { socketOptions: { transports: ['polling'] } }],
  ['http', { transport: 'http', syncInterval: 200 }],
];

describe.each(transports)('over %s', (transport, opts) => {
  test('a write too large for the server is rejected with PAYLOAD_TOO_LARGE; the writes before and after it are applied', async () => {
    const col = fresh('big');
    const a = make({ ...opts, paused: true });
    const docs = a.collection(col);
    const rejected: string[] = [];
    a.on('rejected', (e) => rejected.push(`${e.id}:${e.code}`));
    const before = docs.insert({ _id: 'before', v: 1 });
    const big = docs.insert({ _id: 'big', blob: blob(3 * LIMIT) });
    const dependent = docs.update('big', { v: 2 });
    const after = docs.insert({ _id: 'after', v: 1 });
    await until(() => a.status.pending === 4);
    connections = 0;
    a.resume();
    const b = await outcome(big);
    expect(b.ok).toBe(false);
    expect((b as { error: unknown }).error).toBeInstanceOf(RejectedError);
    expect((b as { error: unknown }).error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(outcome(dependent)).resolves.toMatchObject({ ok: false, error: { code: 'DEPENDENCY_REJECTED' } });
    await expect(outcome(before)).resolves.toMatchObject({ ok: true, value: { status: 'applied' } });
    await expect(outcome(after)).resolves.toMatchObject({ ok: true, value: { status: 'applied' } });
    await outcome(a.whenSynced());
    expect(rejected).toEqual(['big:PAYLOAD_TOO_LARGE', 'big:DEPENDENCY_REJECTED']);
    // The local state rolled back; the server has the others and not it.
    expect(await docs.get('big')).toBeUndefined();
    expect(await srv.server.storage.getDocument(col, 'before')).toMatchObject({ v: 1 });
    expect(await srv.server.storage.getDocument(col, 'after')).toMatchObject({ v: 1 });
    expect(await srv.server.storage.getDocument(col, 'big')).toBeNull();
    expect(a.status).toMatchObject({ state: 'online', pending: 0 });
    // One connection: the socket was never closed for an oversized message.
    if (transport !== 'http') expect(connections).toBe(1);
  });

  test('an update too large for the server rolls back to the server version; the queue goes on', async () => {
    const col = fresh('grow');
    const a = make(opts);
    const docs = a.collection(col);
    await docs.insert({ _id: 'd', v: 1 });
    const grow = docs.update('d', { blob: blob(2 * LIMIT) });
    const next = docs.insert({ _id: 'e', v: 1 });
    await expect(outcome(grow)).resolves.toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    await expect(outcome(next)).resolves.toMatchObject({ ok: true });
    expect(await docs.get('d')).toMatchObject({ _id: 'd', v: 1 });
    expect(await docs.get('d')).not.toHaveProperty('blob');
    expect(await srv.server.storage.getDocument(col, 'e')).toMatchObject({ v: 1 });
  });

  test('sizes are counted in UTF-8 bytes, as the server counts them', async () => {
    const col = fresh('utf8');
    const a = make({ ...opts, paused: true });
    const docs = a.collection(col);
    // 2,800 characters fit in 8 KB, their 8,400 bytes do not; 2,000 three-byte characters (6,000 bytes) do.
    const wide = docs.insert({ _id: 'wide', blob: '€'.repeat(2800) });
    const fits = docs.insert({ _id: 'fits', blob: '€'.repeat(2000) });
    const emoji = docs.insert({ _id: 'emoji', blob: '😀'.repeat(1500) }); // 6,000 bytes, 3,000 UTF-16 units
    await until(() => a.status.pending === 3);
    connections = 0;
    a.resume();
    await expect(outcome(wide)).resolves.toMatchObject({ ok: false, error: { code: 'PAYLOAD_TOO_LARGE' } });
    await expect(outcome(fits)).resolves.toMatchObject({ ok: true });
    await expect(outcome(emoji)).resolves.toMatchObject({ ok: true });
    expect(await srv.server.storage.getDocument(col, 'emoji')).toMatchObject({ blob: '😀'.repeat(1500) });
    if (transport !== 'http') expect(connections).toBe(1);
  });

  test('many medium writes whose sum exceeds the byte and operation limits are split and all applied', async () => {
    const col = fresh('medium');
    const a = make({ ...opts, paused: true });
    const docs = a.collection(col);
    // 2.5 KB each: three fit in 8 KB; the tiny ones are limited by the 5 operations per push.
    const writes = [
      ...Array.from({ length: 12 }, (_, i) => docs.insert({ _id: `m${i}`, blob: blob(2500) })),
      ...Array.from({ length: 23 }, (_, i) => docs.insert({ _id: `t${i}`, v: i })),
    ];
    await until(() => a.status.pending === writes.length);
    connections = 0;
    a.resume();
    const results = await Promise.all(writes.map((w) => outcome(w)));
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const stored = await srv.server.storage.queryDocuments(col, { limit: 100 });
    expect(stored.documents.length).toBe(writes.length);
    if (transport !== 'http') expect(connections).toBe(1);
  });
});

describe('http, limits unknown (the server does not announce them): 413 answers are bisected', () => {
  test('a batch answered 413 is split until it fits; a single write answered 413 is rejected; the rest is applied', async () => {
    const col = fresh('bisect');
    let pushes = 0;
    const hiding: typeof fetch = async (input, init) => {
      const url = String(input);
      // A server (or proxy) that says nothing of its limits: the client assumes the defaults (1 MB, 1000 operations).
      if (url.endsWith('/health')) return new Response('{}', { status: 404 });
      if (url.endsWith('/operations')) pushes++;
      return fetch(input, init);
    };
    const a = make({ transport: 'http', syncInterval: 200, fetch: hiding, paused: true });
    const docs = a.collection(col);
    const rejected: string[] = [];
    a.on('rejected', (e) => rejected.push(`${e.id}:${e.code}`));
    const writes = [
      ...Array.from({ length: 10 }, (_, i) => docs.insert({ _id: `m${i}`, blob: blob(2500) })),
      docs.insert({ _id: 'big', blob: blob(3 * LIMIT) }),
      ...Array.from({ length: 10 }, (_, i) => docs.insert({ _id: `t${i}`, v: i })),
    ];
    await until(() => a.status.pending === writes.length);
    a.resume();
    const results = await Promise.all(writes.map((w) => outcome(w)));
    expect(results.filter((r) => !r.ok).map((r) => (r as { error: { code: string } }).error.code)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(rejected).toEqual(['big:PAYLOAD_TOO_LARGE']);
    const stored = await srv.server.storage.queryDocuments(col, { limit: 100 });
    expect(stored.documents.map((d) => d._id).sort()).toEqual(
      [...Array.from({ length: 10 }, (_, i) => `m${i}`), ...Array.from({ length: 10 }, (_, i) => `t${i}`)].sort(),
    );
    // Bisecting, not retrying forever: a bounded number of requests (21 writes, at most 3 per request).
    expect(pushes).toBeLessThan(40);
  });
});

describe.each([
  ['websocket', ['websocket']],
  ['polling', ['polling']],
])('socket over %s, limits not announced: a push that closes the connection is bisected, never resent', (_name, transports) => {
  test('the batch is split after the close; the single write that closes it is rejected; the rest is applied; few reconnects', async () => {
    const col = fresh('closed');
    const a = make({ socketOptions: { transports, query: { hideLimits: '1' } }, paused: true });
    const docs = a.collection(col);
    const rejected: string[] = [];
    a.on('rejected', (e) => rejected.push(`${e.id}:${e.code}`));
    const writes = [
      ...Array.from({ length: 10 }, (_, i) => docs.insert({ _id: `m${i}`, blob: blob(2500) })),
      docs.insert({ _id: 'big', blob: blob(3 * LIMIT) }),
      ...Array.from({ length: 10 }, (_, i) => docs.insert({ _id: `t${i}`, v: i })),
    ];
    await until(() => a.status.pending === writes.length);
    connections = 0;
    a.resume();
    const results = await Promise.all(writes.map((w) => outcome(w, 25_000)));
    expect(results.filter((r) => !r.ok).map((r) => (r as { error: { code: string } }).error.code)).toEqual(['PAYLOAD_TOO_LARGE']);
    expect(rejected).toEqual(['big:PAYLOAD_TOO_LARGE']);
    const stored = await srv.server.storage.queryDocuments(col, { limit: 100 });
    expect(stored.documents.length).toBe(20);
    expect(await srv.server.storage.getDocument(col, 'big')).toBeNull();
    // Each close teaches the client something (half the bytes, or the one write that cannot fit): a few, not a loop.
    expect(connections).toBeLessThanOrEqual(6);
  });
});
