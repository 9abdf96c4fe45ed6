/**
 * Issue 13 item 2 / DESIGN invariant 5: a credential that expires ends what it
 * allowed, also on connections opened before: on /sync, /sendActions and the
 * default namespace, at the JWT's exp the socket gets TOKEN_EXPIRED, receives
 * nothing more and nothing it sends is applied (also a write that was already
 * on its way to the storage); `auth` with a new token of the same user resumes
 * it without reconnecting. Real JWTs (HS256) on a real server (PGlite).
 */
import type { Change } from '@syncline/protocol';
import { SignJWT } from 'jose';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { asCaller } from '../src/storage/operation-scope.js';
import type { Storage } from '../src/storage/storage.js';
import { EsinkClient, until } from './esink-client.js';
import { HS_SECRET } from './esink-tokens.js';
import { opId } from './harness.js';
import { ActionsClient } from './send-actions-client.js';
import { startPgliteServer, type TestServer } from './server-harness.js';

const key = new TextEncoder().encode(HS_SECRET);
const nowSec = () => Math.floor(Date.now() / 1000);

/** A JWT of `sub` that expires `inSec` seconds from now (exp is in whole seconds). */
async function jwt(sub: string, inSec: number, claims: Record<string, unknown> = {}): Promise<{ token: string; expMs: number }> {
  const exp = nowSec() + inSec;
  const token = await new SignJWT({ sub, ...claims }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);
  return { token, expMs: exp * 1000 };
}
const long = async (sub: string, claims: Record<string, unknown> = {}) => (await jwt(sub, 600, claims)).token;

/** Client ids whose pushes the storage holds until the clock passes `releaseAt` (a write on its way when the token expires). */
const held = new Map<string, number>();
function holdingStorage(storage: Storage): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'applyOperations') {
        const apply: Storage['applyOperations'] = async (caller, operations, authorize) => {
          const releaseAt = held.get(asCaller(caller).clientId);
          if (releaseAt !== undefined) await until(() => Date.now() >= releaseAt, 15_000);
          return target.applyOperations(caller, operations, authorize);
        };
        return apply;
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

interface SyncClient {
  socket: Socket;
  changes: Change[];
  errors: { code: string; message: string }[];
  ids: () => string[];
}

let t: TestServer;
const sockets: { disconnect(): unknown }[] = [];

async function syncClient(token: string): Promise<SyncClient> {
  const socket = connect(`${t.url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
  sockets.push(socket);
  const c: SyncClient = { socket, changes: [], errors: [], ids: () => c.changes.map((ch) => ch.docId) };
  socket.on('changes', (f: { changes: Change[] }) => c.changes.push(...f.changes));
  socket.on('error', (e: { code: string; message: string }) => c.errors.push(e));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return c;
}

// biome-ignore lint/suspicious/noExplicitAny: acknowledgements are inspected loosely
const ask = (s: Socket, event: string, payload: unknown): Promise<any> => s.timeout(10_000).emitWithAck(event, payload);

async function rest(path: string, token: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${t.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

let writer: string;
async function write(docId: string, data: Record<string, unknown> = {}): Promise<number> {
  const r = await rest('/operations', writer, {
    clientId: 'writer',
    operations: [{ id: opId(), type: 'insert', collection: 'notes', docId, data: { n: docId, ...data } }],
  });
  expect(r.status).toBe(200);
  const result = (r.body.results as { status: string; position: number }[])[0];
  expect(result?.status).toBe('applied');
  return result?.position as number;
}

beforeAll(async () => {
  t = await startPgliteServer({
    config: {
      jwtSecret: HS_SECRET,
      finTimeoutMs: 60_000,
      rules: {
        notes: { read: '*', write: '*' },
        team_notes: { read: { field: 'team', inClaim: 'teams' }, write: '*' },
      },
    },
    wrap: holdingStorage,
  });
  writer = await long('writer');
});
afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await t?.close();
});

describe('/sync', () => {
  test('at exp: TOKEN_EXPIRED, no later change delivered, pushes and subscribes refused; auth with a fresh token resumes', async () => {
    const short = await jwt('alice', 2);
    const expiring = await syncClient(short.token);
    const control = await syncClient(await long('alice'));
    for (const c of [expiring, control]) expect((await ask(c.socket, 'subscribe', { collection: 'notes' })).ok).toBe(true);

    await write('s-before');
    await until(() => expiring.ids().includes('s-before') && control.ids().includes('s-before'));
    const last = Math.max(...expiring.changes.map((c) => c.position));

    await until(() => expiring.errors.length > 0, 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(short.expMs);
    expect(expiring.errors).toEqual([{ code: 'TOKEN_EXPIRED', message: expect.stringMatching(/auth/) }]);

    // A change after exp reaches the control client, never the expired one.
    await write('s-after');
    await until(() => control.ids().includes('s-after'));
    expect(expiring.ids()).not.toContain('s-after');

    // Its writes are not applied; nothing else it asks is done.
    const push = await ask(expiring.socket, 'push', {
      clientId: 'alice-1',
      operations: [{ id: opId(), type: 'insert', collection: 'notes', docId: 's-pushed-late', data: {} }],
    });
    expect(push).toMatchObject({ ok: false, error: { code: 'TOKEN_EXPIRED' } });
    expect(await t.server.storage.getDocument('notes', 's-pushed-late')).toBeNull();
    expect(await ask(expiring.socket, 'subscribe', { collection: 'notes', since: 0 })).toMatchObject({
      ok: false,
      error: { code: 'TOKEN_EXPIRED' },
    });
    expect(expiring.socket.connected).toBe(true); // waiting for `auth` (SYNCLINE_REAUTH_GRACE_MS)

    // Another user's token is refused and changes nothing; a bad one too.
    expect(await ask(expiring.socket, 'auth', { token: await long('mallory') })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await ask(expiring.socket, 'auth', { token: 'nope' })).toMatchObject({ ok: false, error: { code: 'UNAUTHORIZED' } });
    expect(await ask(expiring.socket, 'subscribe', { collection: 'notes' })).toMatchObject({ ok: false, error: { code: 'TOKEN_EXPIRED' } });

    // A fresh token of the same user: the same socket carries on from its position.
    const fresh = await jwt('alice', 600);
    expect(await ask(expiring.socket, 'auth', { token: fresh.token })).toEqual({ ok: true, expiresAt: fresh.expMs });
    const again = await ask(expiring.socket, 'subscribe', { collection: 'notes', since: last });
    expect(again.ok).toBe(true);
    expiring.changes.push(...again.changes); // the catch-up's first page comes with the acknowledgement
    await until(() => expiring.ids().includes('s-after'));
    const pushed = await ask(expiring.socket, 'push', {
      clientId: 'alice-1',
      operations: [{ id: opId(), type: 'insert', collection: 'notes', docId: 's-pushed-renewed', data: {} }],
    });
    expect(pushed).toMatchObject({ ok: true, results: [{ status: 'applied' }] });
  });

  test('a push already on its way when the token expires is refused at the write, not applied', async () => {
    const short = await jwt('alice', 2);
    const c = await syncClient(short.token);
    // The storage holds this client's write until after exp: it was sent, and passed the event check, before.
    held.set('alice-slow', short.expMs + 200);
    const push = ask(c.socket, 'push', {
      clientId: 'alice-slow',
      operations: [{ id: opId(), type: 'insert', collection: 'notes', docId: 's-in-flight', data: {} }],
    });
    expect(await push).toMatchObject({ ok: false, error: { code: 'TOKEN_EXPIRED' } });
    expect(Date.now()).toBeGreaterThanOrEqual(short.expMs);
    expect(await t.server.storage.getDocument('notes', 's-in-flight')).toBeNull();
  });

  test('auth before exp keeps the socket working past the old exp; a token with other claims ends subscriptions it changes', async () => {
    const short = await jwt('bob', 2, { teams: ['red'] });
    const c = await syncClient(short.token);
    const control = await syncClient(await long('bob', { teams: ['red'] }));
    const subNotes = await ask(c.socket, 'subscribe', { collection: 'notes' });
    expect(subNotes.ok).toBe(true);
    const subTeams = await ask(c.socket, 'subscribe', { collection: 'team_notes' });
    expect(subTeams.ok).toBe(true);
    for (const s of ['notes', 'team_notes']) expect((await ask(control.socket, 'subscribe', { collection: s })).ok).toBe(true);

    // Same claims: every subscription goes on.
    expect((await ask(c.socket, 'auth', { token: await long('bob', { teams: ['red'] }) })).ok).toBe(true);
    await until(() => Date.now() >= short.expMs + 500);
    await write('r-past-old-exp');
    await until(() => control.ids().includes('r-past-old-exp') && c.ids().includes('r-past-old-exp'));
    expect(c.errors).toEqual([]);

    // Other claims: the subscription whose read rule they change ends (reload it); the others go on.
    const ended: { subscriptionId: string; error: { code: string } }[] = [];
    c.socket.on('subscriptionError', (e) => ended.push(e));
    expect((await ask(c.socket, 'auth', { token: await long('bob', { teams: ['blue'] }) })).ok).toBe(true);
    await until(() => ended.length > 0);
    expect(ended).toEqual([{ subscriptionId: subTeams.subscriptionId, error: expect.objectContaining({ code: 'RESYNC_REQUIRED' }) }]);
    const r = await rest('/operations', writer, {
      clientId: 'writer',
      operations: [{ id: opId(), type: 'insert', collection: 'team_notes', docId: 't-red', data: { team: 'red' } }],
    });
    expect(r.status).toBe(200);
    await write('r-after-claims');
    await until(() => control.ids().includes('t-red') && control.ids().includes('r-after-claims'));
    await until(() => c.ids().includes('r-after-claims'));
    expect(c.ids()).not.toContain('t-red');
  });
});

describe('REST', () => {
  test('an expired token is 401 TOKEN_EXPIRED; a write authenticated before exp that reaches the storage after it is refused', async () => {
    const expired = await new SignJWT({ sub: 'carol' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('-10s').sign(key);
    expect(await rest('/changes', expired, { since: 0 })).toMatchObject({ status: 401, body: { code: 'TOKEN_EXPIRED' } });

    const short = await jwt('carol', 2);
    held.set('carol-slow', short.expMs + 200);
    const r = await rest('/operations', short.token, {
      clientId: 'carol-slow',
      operations: [{ id: opId(), type: 'insert', collection: 'notes', docId: 'rest-in-flight', data: {} }],
    });
    expect(r).toMatchObject({ status: 401, body: { code: 'TOKEN_EXPIRED' } });
    expect(await t.server.storage.getDocument('notes', 'rest-in-flight')).toBeNull();
  });
});

describe('/sendActions', () => {
  test('at exp: the open action rolls back (reason expired), a FIN and new actions after exp are refused, nothing is committed', async () => {
    const short = await jwt('dave', 2);
    const c = await ActionsClient.connect(t.url, { token: short.token, clientId: 'dave-1' });
    sockets.push(c.socket);
    c.send([{ id: 'a1', type: 'CREATE', collection: 'notes', data: { id: 'act-open', n: 1 } }]);
    expect(await c.result('a1')).toMatchObject({ status: 'ACK' });

    expect(await c.next('error', (e) => e.code === 'TOKEN_EXPIRED', 10_000)).toMatchObject({ code: 'TOKEN_EXPIRED' });
    expect(Date.now()).toBeGreaterThanOrEqual(short.expMs);
    expect(await c.rolledBack('a1')).toEqual({ id: 'a1', reason: 'expired' });

    c.fin('a1');
    c.send([{ id: 'a2', type: 'CREATE', collection: 'notes', data: { id: 'act-late', n: 2 } }]);
    await until(() => c.all('error', (e) => e.code === 'TOKEN_EXPIRED').length === 3);
    expect(c.all('actionResult', (p) => p.id === 'a2')).toEqual([]);
    expect(c.all('actionCommitted')).toEqual([]);
    expect(await t.server.storage.getDocument('notes', 'act-open')).toBeNull();
    expect(await t.server.storage.getDocument('notes', 'act-late')).toBeNull();

    // A fresh token of the same user: the socket works again (once `auth` is acknowledged).
    expect(await ask(c.socket, 'auth', { token: await long('dave') })).toMatchObject({ ok: true });
    c.send([{ id: 'a3', type: 'CREATE', collection: 'notes', data: { id: 'act-renewed', n: 3 } }]);
    expect(await c.result('a3')).toMatchObject({ status: 'ACK' });
    c.fin('a3');
    await c.committed('a3');
    expect(await t.server.storage.getDocument('notes', 'act-renewed')).toMatchObject({ n: 3 });
  });
});

describe('default namespace /', () => {
  test('at exp: TOKEN_EXPIRED and no later change; auth with a fresh token resumes; another user is refused', async () => {
    const short = await jwt('erin', 2);
    const expiring = await new EsinkClient(t.url, short.token).ready();
    const control = await new EsinkClient(t.url, await long('erin')).ready();
    sockets.push(expiring.socket, control.socket);
    const seen = (c: EsinkClient) => c.changes.map((p) => p.data?.n);

    await write('e-before');
    await until(() => seen(expiring).includes('e-before') && seen(control).includes('e-before'));
    await until(() => expiring.errors.length > 0, 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(short.expMs);
    expect(expiring.errors).toEqual([{ code: 'TOKEN_EXPIRED', message: expect.any(String) }]);

    await write('e-after');
    await until(() => seen(control).includes('e-after'));
    expect(seen(expiring)).not.toContain('e-after');

    expect(await ask(expiring.socket, 'auth', { token: await long('frank') })).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    await write('e-still-expired');
    await until(() => seen(control).includes('e-still-expired'));
    expect(seen(expiring)).not.toContain('e-still-expired');

    expect((await ask(expiring.socket, 'auth', { token: await long('erin') })).ok).toBe(true);
    await write('e-renewed');
    await until(() => seen(expiring).includes('e-renewed'));
  });
});
