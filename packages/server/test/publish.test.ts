/** `POST /publish` on a real server: status codes, routing, filters, defaults. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { tokenMatches } from '../src/transport/publish-route.js';
import { barrier, connectAll, type EsinkClient, until } from './esink-client.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { startPgliteServer, type TestServer } from './server-harness.js';

const SECURITY_TOKEN = 'publish-secret-123';

async function post(url: string, body: unknown, raw?: string) {
  const res = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('POST /publish without SECURITY_TOKEN', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startPgliteServer({ config: { jwtSecret: HS_SECRET } });
  });
  afterAll(() => t.close());

  test('403 PUBLISH_DISABLED, whatever the body', async () => {
    for (const body of [{ securityToken: 'x', table: 't', type: 'insert', data: {}, userId: '*' }, {}]) {
      const r = await post(t.url, body);
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ code: 'PUBLISH_DISABLED', error: 'Publishing disabled' });
    }
  });
});

describe('POST /publish', () => {
  let t: TestServer;
  let alice: EsinkClient;
  let bob: EsinkClient;
  let carol: EsinkClient;
  const valid = (over: Record<string, unknown> = {}) => ({
    securityToken: SECURITY_TOKEN,
    table: 'notes',
    type: 'insert',
    userId: '*',
    data: { id: 1, owner: 'alice', text: 'hi', secret: 's3cret' },
    ...over,
  });

  beforeAll(async () => {
    t = await startPgliteServer({
      config: {
        jwtSecret: HS_SECRET,
        securityToken: SECURITY_TOKEN,
        defaultSource: 'backend',
        tableAuthColumnRouting: { notes: ['owner', 'reviewer'], news: '*' },
        filters: ['notes.secret', 'news.internal'],
      },
    });
    [alice, bob, carol] = await connectAll(t.url, [await jwtFor('alice'), await jwtFor('bob'), await jwtFor('carol')]);
  });
  afterAll(async () => {
    for (const c of [alice, bob, carol]) c?.close();
    await t.close();
  });
  /** Publishes a `news` marker to everyone and waits for it: whatever was sent before it has arrived by then. */
  const sync = (clear = false) =>
    barrier(
      [alice, bob, carol],
      async (marker) => expect((await post(t.url, valid({ table: 'news', data: { marker } }))).status).toBe(200),
      { clear },
    );
  // Each test starts from empty logs (a failing test leaves nothing behind for the next).
  beforeEach(() => sync(true));

  test('200: reaches exactly the routed users, as <table> and changes, without filtered columns or the security token', async () => {
    const r = await post(t.url, valid({ data: { id: 1, owner: 'alice', reviewer: 'bob', text: 'hi', secret: 's3cret' } }));
    expect(r).toEqual({ status: 200, body: { code: 200, message: 'Published.' } });
    await sync();
    for (const c of [alice, bob]) {
      expect(c.changes).toHaveLength(1);
      const p = c.changes[0];
      expect(p).toEqual({
        table: 'notes',
        type: 'insert',
        data: { id: 1, owner: 'alice', reviewer: 'bob', text: 'hi' },
        source: 'backend',
        timestamp: expect.any(Number),
        version: 1,
      });
      expect(Math.abs((p?.timestamp ?? 0) - Date.now())).toBeLessThan(10_000);
      expect(c.tableEvents).toEqual([{ event: 'notes', payload: p }]);
      expect(JSON.stringify(p)).not.toContain('s3cret');
      expect(JSON.stringify(p)).not.toContain(SECURITY_TOKEN);
    }
    expect(carol.changes).toEqual([]);
    expect(carol.tableEvents).toEqual([]);
  });

  test('given source, timestamp and version are kept; a delete routes by its (old) row; userId narrows delivery', async () => {
    await post(t.url, valid({ type: 'delete', source: 'cron', timestamp: 1234, version: 7, data: { id: 2, owner: 'bob', secret: 'x' } }));
    await post(t.url, valid({ userId: 'alice', data: { id: 3, owner: 'alice', reviewer: 'bob' } }));
    // Narrowing never widens: carol is not routed for this row, so naming her delivers nothing.
    await post(t.url, valid({ userId: 'carol', data: { id: 4, owner: 'alice' } }));
    await post(t.url, valid({ table: 'unlisted', data: { id: 5, owner: 'alice' } }));
    await sync();
    expect(bob.changes).toEqual([
      { table: 'notes', type: 'delete', data: { id: 2, owner: 'bob' }, source: 'cron', timestamp: 1234, version: 7 },
    ]);
    expect(alice.changes.map((p) => p.data?.id)).toEqual([3]);
    expect(carol.changes).toEqual([]);
  });

  test('a numeric userId matches the string id (ids compare as strings)', async () => {
    const [n7] = await connectAll(t.url, [await jwtFor('7')]);
    await post(t.url, valid({ userId: 7, data: { id: 6, owner: 7 } }));
    await until(() => n7.changes.length >= 1);
    expect(n7.changes[0]?.data).toEqual({ id: 6, owner: 7 });
    n7.close();
  });

  test.each<[string, number, string, Record<string, unknown> | string]>([
    ['no security token', 401, 'UNAUTHORIZED', { ...valid(), securityToken: undefined }],
    ['a wrong security token', 401, 'UNAUTHORIZED', valid({ securityToken: `${SECURITY_TOKEN}x` })],
    ['a security token that is not a string', 401, 'UNAUTHORIZED', valid({ securityToken: ['publish-secret-123'] })],
    ['a body that is not an object', 400, 'VALIDATION_FAILED', '[1,2]'],
    ['invalid JSON', 400, 'INVALID_JSON', '{"securityToken":'],
    ['no data', 400, 'VALIDATION_FAILED', { ...valid(), data: undefined }],
    ['data that is an array', 400, 'VALIDATION_FAILED', valid({ data: [1] })],
    ['an unknown type', 400, 'VALIDATION_FAILED', valid({ type: 'upsert' })],
    ['no table', 400, 'VALIDATION_FAILED', { ...valid(), table: undefined }],
    ['a table that is not a collection name', 400, 'VALIDATION_FAILED', valid({ table: 'a b' })],
    ['no userId', 400, 'VALIDATION_FAILED', { ...valid(), userId: undefined }],
    ['a timestamp that is not a number', 400, 'VALIDATION_FAILED', valid({ timestamp: 'now' })],
  ])('%s → %i %s, nothing delivered', async (_name, status, code, body) => {
    const r = typeof body === 'string' ? await post(t.url, undefined, body) : await post(t.url, body);
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ code });
    expect(JSON.stringify(r.body)).not.toContain(SECURITY_TOKEN);
    await sync();
    for (const c of [alice, bob, carol]) expect(c.changes).toEqual([]);
  });

  test('500 INTERNAL when emitting fails (a failing Socket.IO adapter), without leaking the cause', async () => {
    const adapter = t.server.io.of('/').adapter;
    const original = adapter.broadcast;
    adapter.broadcast = () => {
      throw new Error('adapter exploded: secret internals');
    };
    try {
      const r = await post(t.url, valid());
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ code: 'INTERNAL', error: 'Internal server error', message: expect.any(String) });
      expect(JSON.stringify(r.body)).not.toContain('exploded');
    } finally {
      adapter.broadcast = original;
    }
    await sync();
  });
});

test('tokenMatches: equal strings only, whatever their length', () => {
  expect(tokenMatches('abc', 'abc')).toBe(true);
  expect(tokenMatches('abd', 'abc')).toBe(false);
  expect(tokenMatches('abcd', 'abc')).toBe(false);
  expect(tokenMatches('', 'abc')).toBe(false);
  expect(tokenMatches(undefined, 'abc')).toBe(false);
});
