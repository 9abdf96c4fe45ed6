/** Authentication on the default namespace over real Socket.IO connections. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type SynclineServer } from '../src/server.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { connectAll, EsinkClient, until } from './esink-client.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { limits } from './harness.js';
import { startPgliteServer, type TestServer } from './server-harness.js';

async function refused(url: string, token: unknown, code = 'UNAUTHORIZED') {
  const c = await new EsinkClient(url, token).ready();
  await until(() => c.disconnectReason !== undefined);
  expect(c.connected).toBeUndefined();
  expect(c.errors).toEqual([{ code, message: expect.stringMatching(/token/i) }]);
  expect(c.disconnectReason).toBe('io server disconnect');
  return c;
}

describe('JWT and AUTH_TABLE on one server (a real table on PGlite)', () => {
  let sql: SqlClient;
  let storage: PostgresStorage;
  let server: SynclineServer;
  let url: string;

  beforeAll(async () => {
    sql = await createPgliteClient();
    await sql.exec(`CREATE TABLE members (id bigint PRIMARY KEY, api_key text UNIQUE, name text);
      INSERT INTO members VALUES (501, 'key-501', 'Ann'), (502, 'key-502', 'Ben');`);
    storage = new PostgresStorage(sql, 'syncline', limits);
    server = await createServer({
      storage,
      env: {},
      logLevel: 'silent',
      host: '127.0.0.1',
      port: 0,
      authTable: 'members',
      authColumn: 'api_key',
      jwtSecret: HS_SECRET,
      securityToken: 'st',
      tableAuthColumnRouting: { notes: 'owner' },
      reauthGraceMs: 500,
    });
    url = await server.listen();
  });
  afterAll(async () => {
    await server.close();
    await storage.close();
  });

  test('a token from AUTH_TABLE connects as that row’s id, and receives that id’s rows', async () => {
    const [ann] = await connectAll(url, ['key-501']);
    expect(ann.connected).toEqual({ sessionId: ann.socket.id, userId: '501', code: 200, message: 'Successfully connected.' });
    await fetch(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ securityToken: 'st', userId: '*', table: 'notes', type: 'insert', data: { owner: 501, n: 1 } }),
    });
    await until(() => ann.changes.length === 1);
    expect(ann.changes[0]?.data).toEqual({ owner: 501, n: 1 });
    ann.close();
  });

  test('a JWT connects as its sub', async () => {
    const [j] = await connectAll(url, [await jwtFor('jwt-9')]);
    expect(j.connected?.userId).toBe('jwt-9');
    j.close();
  });

  test.each([
    ['an unknown token', 'key-999'],
    ['no token', undefined],
    ['a token that is not a string', { token: 'key-501' }],
    ['TEST while ALLOW_TEST_TOKEN is off', 'TEST'],
  ])('%s → error UNAUTHORIZED, then disconnected', async (_name, token) => {
    await refused(url, token === 'expired' ? await jwtFor('x', { expIn: '-1h' }) : token);
  });

  test('an expired JWT → error TOKEN_EXPIRED, then disconnected', async () => {
    await refused(url, await jwtFor('x', { expIn: '-1h' }), 'TOKEN_EXPIRED');
  });

  test('a JWT connection gets TOKEN_EXPIRED when its token expires, and is closed when no new token follows (SYNCLINE_REAUTH_GRACE_MS)', async () => {
    const [c] = await connectAll(url, [await jwtFor('short', { expIn: '2s' })]);
    expect(c.connected?.userId).toBe('short');
    await until(() => c.disconnectReason !== undefined, 8000);
    expect(c.errors).toEqual([{ code: 'TOKEN_EXPIRED', message: expect.stringMatching(/expired/) }]);
    expect(c.disconnectReason).toBe('io server disconnect');
  });

  test('a refused connection receives nothing, and is gone from the server', async () => {
    const c = await refused(url, 'key-999');
    expect(c.changes).toEqual([]);
    await until(() => server.io.of('/').sockets.size === 0);
  });
});

describe('ALLOW_TEST_TOKEN', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startPgliteServer({
      config: { jwtSecret: HS_SECRET, allowTestToken: true, filters: ['sample.title'], tableAuthColumnRouting: { notes: 'owner' } },
    });
  });
  afterAll(() => t.close());

  test('TEST connects as user -1 and gets one sample event as `sample` and `changes` (FILTERS applied)', async () => {
    const [c] = await connectAll(t.url, ['TEST']);
    expect(c.connected?.userId).toBe('-1');
    await until(() => c.changes.length === 1 && c.tableEvents.length === 1);
    const sample = c.changes[0];
    expect(sample).toEqual({
      table: 'sample',
      type: 'insert',
      data: { id: 1, userId: '-1' },
      source: 'database',
      timestamp: expect.any(Number),
      version: 1,
    });
    expect(c.tableEvents).toEqual([{ event: 'sample', payload: sample }]);
    c.close();
  });

  test('other tokens are still checked, and real users get no sample', async () => {
    const [u] = await connectAll(t.url, [await jwtFor('u1')]);
    await refused(t.url, 'TES');
    expect(u.changes).toEqual([]);
    u.close();
  });
});

describe('no authentication configured', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startPgliteServer({ config: { securityToken: 'st', tableAuthColumnRouting: { news: '*', notes: 'owner' } } });
  });
  afterAll(() => t.close());

  test('connections are anonymous (userId null) and receive only tables routed "*"', async () => {
    const [anon, withToken] = await connectAll(t.url, [undefined, 'whatever']);
    expect(anon.connected?.userId).toBeNull();
    expect(withToken.connected?.userId).toBeNull();
    const publish = (table: string, data: Record<string, unknown>) =>
      fetch(`${t.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ securityToken: 'st', userId: '*', table, type: 'insert', data }),
      });
    await publish('notes', { owner: 'null', n: 1 });
    await publish('notes', { owner: '', n: 2 });
    await publish('news', { n: 3 });
    await until(() => anon.changes.length >= 1 && withToken.changes.length >= 1);
    for (const c of [anon, withToken]) expect(c.changes.map((p) => p.data?.n)).toEqual([3]);
    anon.close();
    withToken.close();
  });
});
