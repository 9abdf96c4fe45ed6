/** The REST API end to end (Fastify inject) on embedded PGlite: every endpoint and every bad-input path. */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type SynclineServer } from '../src/server.js';
import { opId } from './harness.js';

const json = { 'content-type': 'application/json' };

describe('REST API', () => {
  let server: SynclineServer;
  const call = (method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = json) =>
    server.app.inject({
      method,
      url,
      headers,
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  beforeAll(async () => {
    server = await createServer({ dataDir: 'memory://', logLevel: 'silent', bodyLimit: 64 * 1024, maxOperations: 50, env: {} });
  });
  afterAll(async () => {
    await server?.close();
  });

  test('GET /health and GET /ping', async () => {
    const h = await call('GET', '/health');
    expect(h.statusCode).toBe(200);
    expect(h.json()).toMatchObject({ status: 'ok', adapter: 'pglite' });
    const p = await call('GET', '/ping');
    expect(p.statusCode).toBe(200);
    expect(p.body).toBe('pong');
  });

  test('POST /operations then GET /documents, POST /changes, query and stats (the reference walkthrough)', async () => {
    const op = {
      id: opId(),
      type: 'insert',
      collection: 'todos',
      docId: 'doc-1',
      data: { title: 'Buy milk', completed: false },
      timestamp: 1234567890,
      clientId: 'client-123',
      synced: false,
      vectorClock: { 'client-123': 1 },
    };
    const push = await call('POST', '/operations', { clientId: 'client-123', operations: [op] });
    expect(push.statusCode).toBe(200);
    const body = push.json();
    expect(body.accepted).toEqual([op]);
    expect(body.conflicts).toEqual([]);
    expect(body.results[0]).toMatchObject({
      id: op.id,
      status: 'applied',
      document: { _id: 'doc-1', _rev: 1, title: 'Buy milk', completed: false },
    });

    const doc = await call('GET', '/documents/todos/doc-1');
    expect(doc.json()).toEqual({ _id: 'doc-1', _rev: 1, title: 'Buy milk', completed: false });

    const changes = await call('POST', '/changes', { since: 0, limit: 100, clientId: 'test' });
    expect(changes.statusCode).toBe(200);
    const c = changes.json();
    expect(c.operations[0]).toMatchObject({
      id: op.id,
      type: 'insert',
      collection: 'todos',
      docId: 'doc-1',
      data: { title: 'Buy milk', completed: false },
      clientId: 'client-123',
      synced: true,
      vectorClock: { 'client-123': 1 },
    });
    expect(c).toMatchObject({ conflicts: [], hasMore: false, checkpoint: c.operations[0].position });

    const q = await call('POST', '/documents/todos/query', { filter: { completed: false } });
    expect(q.json()).toMatchObject({ documents: [{ _id: 'doc-1', _rev: 1, title: 'Buy milk', completed: false }], count: 1 });

    const stats = await call('GET', '/stats');
    expect(stats.json()).toMatchObject({ totalOperations: 1, totalDocuments: 1, collections: { todos: { documents: 1, deleted: 0 } } });
    expect(typeof stats.json().unsyncedOperations).toBe('number');

    const compact = await call('POST', '/compact', { olderThanDays: 30 });
    expect(compact.json()).toMatchObject({ message: 'Compaction completed', deletedCount: 0 });
  });

  test('GET / lists the endpoints; CORS lets browsers on other origins call the API', async () => {
    const root = await call('GET', '/');
    expect(root.json()).toMatchObject({ name: 'Syncline', adapter: 'pglite' });
    expect(root.json().endpoints).toContain('POST /operations');
    const preflight = await server.app.inject({
      method: 'OPTIONS',
      url: '/operations',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    const restricted = await createServer({ dataDir: 'memory://', logLevel: 'silent', corsOrigin: 'https://app.example', env: {} });
    try {
      const other = await restricted.app.inject({ method: 'GET', url: '/ping', headers: { origin: 'https://evil.example' } });
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      const allowed = await restricted.app.inject({ method: 'GET', url: '/ping', headers: { origin: 'https://app.example' } });
      expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
    } finally {
      await restricted.close();
    }
  });

  test('POST /changes caps limit, defaults since to 0, and validates', async () => {
    const ops = Array.from({ length: 30 }, (_, i) => ({ id: opId(), type: 'insert', collection: 'many', docId: `m${i}`, data: { i } }));
    await call('POST', '/operations', { clientId: 'c', operations: ops });
    const page = (await call('POST', '/changes', { limit: 5 })).json();
    expect(page.operations).toHaveLength(5);
    expect(page.hasMore).toBe(true);
    const bad = await call('POST', '/changes', { since: -1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'VALIDATION_FAILED', details: { path: 'body.since' } });
    expect(bad.json().message).toContain('body.since');
  });

  test.each([
    ['malformed JSON', 'POST', '/operations', '{"clientId":', 400, 'INVALID_JSON'],
    ['empty body', 'POST', '/operations', '', 400, 'INVALID_JSON'],
    ['__proto__ key', 'POST', '/operations', '{"clientId":"c","operations":[],"__proto__":{"x":1}}', 400, 'FORBIDDEN_KEY'],
    ['constructor.prototype', 'POST', '/changes', '{"constructor":{"prototype":{"x":1}}}', 400, 'FORBIDDEN_KEY'],
    ['schema violation', 'POST', '/operations', { clientId: 5, operations: [] }, 400, 'VALIDATION_FAILED'],
    ['operations not an array', 'POST', '/operations', { clientId: 'c', operations: {} }, 400, 'VALIDATION_FAILED'],
    ['bad collection in path', 'GET', '/documents/no%20spaces/x', undefined, 400, 'INVALID_COLLECTION'],
    ['too long collection', 'POST', `/documents/${'a'.repeat(65)}/query`, {}, 400, 'INVALID_COLLECTION'],
    ['unknown operator', 'POST', '/documents/todos/query', { filter: { a: { $where: 'x' } } }, 400, 'UNKNOWN_OPERATOR'],
    ['bad filter', 'POST', '/documents/todos/query', { filter: { $or: 'x' } }, 400, 'INVALID_FILTER'],
    ['bad cursor', 'POST', '/documents/todos/query', { cursor: 'nope' }, 400, 'INVALID_CURSOR'],
    ['bad compact', 'POST', '/compact', { olderThanDays: 'soon' }, 400, 'VALIDATION_FAILED'],
    ['missing document', 'GET', '/documents/todos/nope', undefined, 404, 'DOCUMENT_NOT_FOUND'],
    ['unknown route', 'GET', '/nowhere', undefined, 404, 'NOT_FOUND'],
    [
      'body over the limit',
      'POST',
      '/operations',
      JSON.stringify({ clientId: 'c', operations: [], pad: 'x'.repeat(70 * 1024) }),
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'too many operations',
      'POST',
      '/operations',
      { clientId: 'c', operations: Array.from({ length: 51 }, () => ({})) },
      413,
      'TOO_MANY_OPERATIONS',
    ],
  ] as const)('%s → %i %s, and the server stays up', async (_name, method, url, body, status, code) => {
    const res = await call(method, url, body);
    expect(res.statusCode).toBe(status);
    const b = res.json();
    expect(b).toMatchObject({ code, error: expect.any(String), message: expect.any(String) });
    expect(Object.keys(b).sort()).toEqual(expect.arrayContaining(['code', 'error', 'message']));
    expect(JSON.stringify(b)).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
    expect((await call('GET', '/ping')).statusCode).toBe(200);
  });

  test('a hostile, deeply nested body is refused per operation and the server stays up', async () => {
    const nested = `${'['.repeat(20_000)}${']'.repeat(20_000)}`; // 40 KB, under this server's 64 KB limit
    const res = await call(
      'POST',
      '/operations',
      `{"clientId":"c","operations":[${nested}, {"id":"x","type":"insert","collection":"a","data":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}]}`,
    );
    expect(res.statusCode).toBe(200);
    expect(res.json().results.map((r: { error?: { code: string } }) => r.error?.code)).toEqual(['VALIDATION_FAILED', 'VALIDATION_FAILED']);
    expect((await call('GET', '/ping')).statusCode).toBe(200);
  });

  test('a non-JSON content type is refused with 415', async () => {
    const res = await call('POST', '/operations', 'clientId=c', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.statusCode).toBe(415);
    expect(res.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  test('404 for a deleted document names it, in the reference error shape', async () => {
    await call('POST', '/operations', {
      clientId: 'c',
      operations: [
        { id: opId(), type: 'insert', collection: 'todos', docId: 'tmp', data: {} },
        { id: opId(), type: 'delete', collection: 'todos', docId: 'tmp' },
      ],
    });
    const res = await call('GET', '/documents/todos/tmp');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error: 'Document not found',
      message: "No document with ID 'tmp' in collection 'todos'",
      code: 'DOCUMENT_NOT_FOUND',
      details: { collection: 'todos', id: 'tmp' },
    });
  });

  test('pulling below the compaction horizon is 410 RESYNC_REQUIRED', async () => {
    const s = await createServer({ dataDir: 'memory://', logLevel: 'silent', env: {} });
    try {
      await s.app.inject({
        method: 'POST',
        url: '/operations',
        headers: json,
        payload: JSON.stringify({ clientId: 'c', operations: [{ id: 'x1', type: 'insert', collection: 'a', docId: '1', data: {} }] }),
      });
      await s.app.inject({
        method: 'POST',
        url: '/operations',
        headers: json,
        payload: JSON.stringify({ clientId: 'c', operations: [{ id: 'x2', type: 'insert', collection: 'a', docId: '2', data: {} }] }),
      });
      const compact = await s.app.inject({ method: 'POST', url: '/compact', headers: json, payload: JSON.stringify({ olderThanDays: 0 }) });
      expect(compact.json()).toMatchObject({ message: 'Compaction completed', deletedCount: 2, horizon: 2 });
      const res = await s.app.inject({ method: 'POST', url: '/changes', headers: json, payload: JSON.stringify({ since: 1 }) });
      expect(res.statusCode).toBe(410);
      expect(res.json()).toMatchObject({ code: 'RESYNC_REQUIRED', details: { horizon: 2 } });
      expect((await s.app.inject({ method: 'POST', url: '/changes', headers: json, payload: '{"since":2}' })).statusCode).toBe(200);
    } finally {
      await s.close();
    }
  });

  test('GET /health is 503 when storage is unreachable', async () => {
    const s = await createServer({ dataDir: 'memory://', logLevel: 'silent', env: {} });
    await s.storage.close();
    const res = await s.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'error', adapter: 'pglite', code: 'STORAGE_UNAVAILABLE' });
    const pull = await s.app.inject({ method: 'POST', url: '/changes', headers: json, payload: '{}' });
    expect(pull.statusCode).toBe(503);
    expect(pull.json().code).toBe('STORAGE_UNAVAILABLE');
    await s.app.close();
  });
});
