/**
 * Issue 13 item 2, the SDK side: a client whose auth function returns
 * short-lived JWTs keeps syncing across their expiries on one connection
 * (TOKEN_EXPIRED → a new token with `auth`, or renewed before `exp`), and a
 * write queued around an expiry is applied exactly once. Over HTTP a 401
 * TOKEN_EXPIRED asks the function again and retries. Real server (PGlite), real JWTs.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HS_SECRET } from '../../server/test/esink-tokens.js';
import { startPgliteServer, type TestServer } from '../../server/test/server-harness.js';
import { createClient, type SynclineClient } from '../src/client.js';
import { MemoryStore } from '../src/store/memory-store.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startPgliteServer({ config: { jwtSecret: HS_SECRET, rules: { notes: { read: '*', write: '*' } } } });
});
afterAll(() => srv?.close());

async function until(check: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** An auth function handing out JWTs of `sub` that expire `lifeSec` seconds after they are asked for. */
function tokens(sub: string, lifeSec: number) {
  const issued: number[] = [];
  const fn = async () => {
    const exp = Math.floor(Date.now() / 1000) + lifeSec;
    issued.push(exp * 1000);
    return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(new TextEncoder().encode(HS_SECRET));
  };
  return { fn, issued };
}

let seq = 0;
const remoteWrite = (docId: string) =>
  srv.server.storage.applyOperations('other-writer', [
    { id: `rw-${++seq}-${docId}`, type: 'insert', collection: 'notes', docId, data: { by: 'server' } },
  ]);

/** Every change the server logged for a document (an insert applied twice would show twice). */
async function changesOf(docId: string): Promise<number> {
  const page = await srv.server.storage.getChanges({ since: 0, limit: 1000 });
  return page.operations.filter((c) => c.collection === 'notes' && c.docId === docId).length;
}

const syncSockets = () => [...srv.server.io.of('/sync').sockets.keys()];

async function expectOnceEach(client: SynclineClient, ids: string[]) {
  for (const id of ids) {
    await until(async () => (await client.collection('notes').get(id)) !== undefined);
    expect(await changesOf(id)).toBe(1);
  }
}

test('TOKEN_EXPIRED from the server: the client sends a new token with auth on the same connection and carries on; queued writes apply once', async () => {
  const { fn, issued } = tokens('ann', 2);
  const states: string[] = [];
  // refreshBeforeExpiryMs 0: the server's TOKEN_EXPIRED is what makes the client renew.
  const client = createClient({
    url: srv.url,
    store: new MemoryStore(),
    auth: { token: fn, refreshBeforeExpiryMs: 0 },
    socketOptions: { transports: ['websocket'] },
  });
  client.on('status', (s) => states.push(s.state));
  try {
    const notes = client.collection('notes');
    await notes.insert({ _id: 'a-first' });
    await client.whenSynced();
    const [socketId] = syncSockets();
    const firstExp = issued[0] as number;

    // Across two expiries: one write queued while the connection stands expired, one remote change after each renewal.
    for (const round of [1, 2]) {
      const before = issued.length;
      await until(() => states.at(-1) === 'offline'); // the server ended what the token allowed
      expect(Date.now()).toBeGreaterThanOrEqual(issued[before - 1] as number);
      const queued = notes.insert({ _id: `a-queued-${round}` });
      await until(() => issued.length > before && client.status.state !== 'offline');
      await queued;
      await remoteWrite(`a-remote-${round}`);
      await until(async () => (await notes.get(`a-remote-${round}`)) !== undefined);
    }
    expect(Date.now()).toBeGreaterThan(firstExp);
    expect(syncSockets()).toEqual([socketId]); // re-authenticated, never reconnected
    await expectOnceEach(client, ['a-first', 'a-queued-1', 'a-queued-2', 'a-remote-1', 'a-remote-2']);
  } finally {
    await client.close();
  }
});

test('renewed before exp (refreshBeforeExpiryMs): the connection never stands expired; a write made around the old exp applies once', async () => {
  const { fn, issued } = tokens('bea', 3);
  const errors: string[] = [];
  const client = createClient({
    url: srv.url,
    store: new MemoryStore(),
    auth: { token: fn, refreshBeforeExpiryMs: 1500 },
    socketOptions: { transports: ['websocket'] },
  });
  client.on('error', (e) => errors.push(e.code));
  try {
    const notes = client.collection('notes');
    await client.whenSynced();
    const [socketId] = syncSockets().filter((id) => id !== undefined);
    const firstExp = issued[0] as number;
    await until(() => issued.length >= 2); // renewed ahead of exp
    const around = notes.insert({ _id: 'b-around-exp' });
    await until(() => Date.now() >= firstExp + 300);
    await around;
    await remoteWrite('b-remote');
    await until(async () => (await notes.get('b-remote')) !== undefined);
    expect(syncSockets()).toContain(socketId);
    expect(errors).not.toContain('TOKEN_EXPIRED');
    await expectOnceEach(client, ['b-around-exp', 'b-remote']);
  } finally {
    await client.close();
  }
});

test('HTTP transport: a 401 TOKEN_EXPIRED asks the auth function again and retries', async () => {
  const key = new TextEncoder().encode(HS_SECRET);
  let calls = 0;
  const fn = async () => {
    calls++;
    // The first token the function hands out is already stale.
    const exp = calls === 1 ? Math.floor(Date.now() / 1000) - 30 : Math.floor(Date.now() / 1000) + 600;
    return new SignJWT({ sub: 'cid' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);
  };
  const client = createClient({ url: srv.url, store: new MemoryStore(), transport: 'http', auth: fn, syncInterval: 200 });
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.code));
  try {
    await client.collection('notes').insert({ _id: 'h-1' });
    await client.whenSynced();
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(errors).not.toContain('TOKEN_EXPIRED');
    expect(await changesOf('h-1')).toBe(1);
  } finally {
    await client.close();
  }
});
