/**
 * Authentication on every path (issue 5): REST (Bearer), the SDK namespaces
 * (/sync, /sendActions: refused in a middleware), admin endpoints, open mode
 * and its refusal in production, and a custom `authenticate` function.
 */
import { SignJWT } from 'jose';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { AuthFailures } from '../src/auth/access.js';
import { createServer, type SynclineServer } from '../src/server.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { opId } from './harness.js';
import { startPgliteServer } from './server-harness.js';

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

async function call(url: string, method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: { code?: string } | undefined;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, code: json?.code, text };
}

/** Connects to a namespace; resolves 'connected' or the refusal's code. */
function tryConnect(url: string, ns: string, auth?: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
  return new Promise((resolve) => {
    const s: Socket = connect(`${url}${ns}`, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: auth ?? {},
      ...extra,
    });
    s.on('connect', () => {
      s.disconnect();
      resolve('connected');
    });
    s.on('connect_error', (err: Error & { data?: { code?: string } }) => {
      s.disconnect();
      resolve(err.data?.code ?? `connect_error: ${err.message}`);
    });
  });
}

const PATHS: [string, string, unknown?][] = [
  ['POST', '/operations', { clientId: 'c', operations: [{ id: 'x', type: 'insert', collection: 'notes', docId: 'n', data: {} }] }],
  ['POST', '/changes', { since: 0 }],
  ['GET', '/documents/notes/n'],
  ['POST', '/documents/notes/query', {}],
];

describe('authentication on every path (JWT configured)', () => {
  let server: SynclineServer;
  let url: string;
  beforeAll(async () => {
    ({ server, url } = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        adminToken: ADMIN_TOKEN,
      },
    }));
  });
  afterAll(() => server?.close());

  test.each(PATHS)('%s %s: no token and a wrong token are 401 UNAUTHORIZED; a valid token passes', async (method, path, body) => {
    expect(await call(url, method, path, undefined, body)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(await call(url, method, path, 'not-a-valid-token', body)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    const forged = await new SignJWT({ sub: 'u1' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('wrong-secret'));
    expect(await call(url, method, path, forged, body)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    expect(await call(url, method, path, await jwtFor('u1', { expIn: '-1m' }), body)).toMatchObject({ status: 401, code: 'TOKEN_EXPIRED' });
    const ok = await call(url, method, path, await jwtFor('u1'), body);
    expect(ok.code).not.toBe('UNAUTHORIZED');
    expect(ok.status).toBeLessThan(500);
  });

  test('a refused write changes nothing', async () => {
    const id = opId();
    await call(url, 'POST', '/operations', undefined, {
      clientId: 'c',
      operations: [{ id, type: 'insert', collection: 'guarded', docId: 'g1', data: { a: 1 } }],
    });
    expect(await server.storage.getDocument('guarded', 'g1')).toBeNull();
  });

  test('probes and the index need no token', async () => {
    for (const path of ['/health', '/ping', '/']) expect((await call(url, 'GET', path)).status).toBe(200);
  });

  test('admin endpoints: no token 401, a user token 403, ADMIN_TOKEN or an admin claim 200', async () => {
    for (const [method, path, body] of [
      ['GET', '/stats', undefined],
      ['POST', '/compact', { olderThanDays: 365 }],
    ] as const) {
      expect(await call(url, method, path, undefined, body)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      expect(await call(url, method, path, await jwtFor('u1'), body)).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      expect((await call(url, method, path, ADMIN_TOKEN, body)).status).toBe(200);
      const admin = await new SignJWT({ sub: 'boss', admin: true })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(HS_SECRET));
      expect((await call(url, method, path, admin, body)).status).toBe(200);
    }
  });

  test.each(['/sync', '/sendActions'])(
    '%s: no token or a wrong one is refused with UNAUTHORIZED, an expired one TOKEN_EXPIRED; a valid token connects',
    async (ns) => {
      expect(await tryConnect(url, ns)).toBe('UNAUTHORIZED');
      expect(await tryConnect(url, ns, { token: 'nope' })).toBe('UNAUTHORIZED');
      expect(await tryConnect(url, ns, { token: await jwtFor('u1', { expIn: '-1m' }) })).toBe('TOKEN_EXPIRED');
      expect(await tryConnect(url, ns, { token: await jwtFor('u1') })).toBe('connected');
    },
  );
});

describe('open mode and library authentication', () => {
  test('no method configured: open for development, refused with NODE_ENV=production unless ALLOW_ANONYMOUS', async () => {
    const base = { dataDir: 'memory://', env: {}, logLevel: 'silent' as const, host: '127.0.0.1', port: 0 };
    await expect(createServer({ ...base, nodeEnv: 'production' })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    const open = await createServer({ ...base, nodeEnv: 'production', allowAnonymous: true });
    const url = await open.listen();
    try {
      expect((await call(url, 'POST', '/changes', undefined, { since: 0 })).status).toBe(200);
      expect(await tryConnect(url, '/sync')).toBe('connected');
    } finally {
      await open.close();
    }
  });

  test('a custom authenticate function decides for REST and sockets; unknown callers are refused', async () => {
    const server = await createServer({
      dataDir: 'memory://',
      env: {},
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      authenticate: async (req) => (req.token === 'session-42' ? { userId: 42, claims: { plan: 'pro' } } : null),
    });
    const url = await server.listen();
    try {
      expect((await call(url, 'POST', '/changes', 'session-42', { since: 0 })).status).toBe(200);
      expect(await call(url, 'POST', '/changes', 'session-41', { since: 0 })).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      expect(await call(url, 'POST', '/changes', undefined, { since: 0 })).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      expect(await tryConnect(url, '/sync', { token: 'session-42' })).toBe('connected');
      expect(await tryConnect(url, '/sendActions', { token: 'x' })).toBe('UNAUTHORIZED');
    } finally {
      await server.close();
    }
  });
});

describe('refused authentications per IP (SYNCLINE_AUTH_FAILURES_PER_MINUTE)', () => {
  test('past the limit an address is refused with RATE_LIMITED on every path, even with a good token or ADMIN_TOKEN', async () => {
    const { server, url } = await startPgliteServer({
      config: { jwtSecret: HS_SECRET, adminToken: ADMIN_TOKEN, authFailuresPerMinute: 4 },
    });
    try {
      const good = await jwtFor('u1');
      expect((await call(url, 'POST', '/changes', good, { since: 0 })).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await call(url, 'POST', '/changes', `guess-${i}`, { since: 0 })).status).toBe(401);
      expect(await tryConnect(url, '/sync', { token: 'guess-socket' })).toBe('UNAUTHORIZED'); // the 4th refusal
      const limited = await call(url, 'POST', '/changes', good, { since: 0 });
      expect(limited).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(limited.text).toContain('refused authentications');
      expect(await call(url, 'GET', '/stats', ADMIN_TOKEN)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
      expect(await tryConnect(url, '/sync', { token: good })).toBe('RATE_LIMITED');
      expect(await tryConnect(url, '/sendActions', { token: good })).toBe('RATE_LIMITED');
      // The default namespace answers with an `error` event.
      const s: Socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: good } });
      const err = await new Promise<{ code: string }>((resolve) => s.on('error', resolve));
      s.disconnect();
      expect(err.code).toBe('RATE_LIMITED');
      expect((await call(url, 'GET', '/health')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  test('windows are per address, end after a minute, and the table of addresses is bounded', () => {
    let t = 1_000_000;
    const failures = new AuthFailures(2, () => t);
    failures.fail('10.0.0.1');
    failures.fail('::ffff:10.0.0.1'); // the same address
    expect(() => failures.check('10.0.0.1')).toThrow(expect.objectContaining({ code: 'RATE_LIMITED' }));
    expect(() => failures.check('10.0.0.2')).not.toThrow();
    t += 59_000;
    expect(() => failures.check('10.0.0.1')).toThrow(expect.objectContaining({ details: { retryAfterMs: 1000 } }));
    t += 1_000;
    expect(() => failures.check('10.0.0.1')).not.toThrow();
    for (let i = 0; i < 25_000; i++) failures.fail(`10.1.${i >> 8}.${i & 255}`);
    expect(failures.size).toBe(20_000);
    const off = new AuthFailures(0, () => t);
    for (let i = 0; i < 5; i++) off.fail('10.0.0.3');
    expect(() => off.check('10.0.0.3')).not.toThrow();
  });
});

describe('the default namespace counts sockets per user once identified', () => {
  /** Resolves 'connected' or the code of the `error` event esink sends before disconnecting. */
  const esink = (url: string, token: string) =>
    new Promise<{ outcome: string; socket: Socket }>((resolve) => {
      const socket: Socket = connect(url, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token } });
      socket.on('connected', () => resolve({ outcome: 'connected', socket }));
      socket.on('error', (e: { code: string }) => resolve({ outcome: e.code, socket }));
    });

  test('users behind one address each get SYNCLINE_MAX_SOCKETS_PER_USER; one more is TOO_MANY_CONNECTIONS', async () => {
    const { server, url } = await startPgliteServer({ config: { jwtSecret: HS_SECRET, maxSocketsPerUser: 2 } });
    const sockets: Socket[] = [];
    try {
      for (const user of ['alice', 'alice', 'bob', 'bob']) {
        const r = await esink(url, await jwtFor(user));
        sockets.push(r.socket);
        expect(r.outcome).toBe('connected');
      }
      const third = await esink(url, await jwtFor('alice'));
      sockets.push(third.socket);
      expect(third.outcome).toBe('TOO_MANY_CONNECTIONS');
      // /sync counts the same user's sockets together with the default namespace's.
      expect(await tryConnect(url, '/sync', { token: await jwtFor('bob') })).toBe('TOO_MANY_CONNECTIONS');
      sockets[0]?.disconnect();
      // Its slot is free once the server has seen the disconnect.
      const token = await jwtFor('alice');
      await vi.waitFor(async () => expect(await tryConnect(url, '/sync', { token })).toBe('connected'), { timeout: 10_000, interval: 50 });
    } finally {
      for (const s of sockets) s.disconnect();
      await server.close();
    }
  });
});
