/**
 * The admin API (`/admin/api/*`) and `/metrics` on a real server (PGlite) with
 * real Socket.IO clients: operations of every write path with their results and
 * codes, exact counter deltas, connected sockets, per-client positions, open FIN
 * transactions, the sampled series, collection counts (a table collection too),
 * and authentication (admin data only with ADMIN_TOKEN once auth is configured).
 */
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import { EsinkClient } from './esink-client.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';
import { limits, opId } from './harness.js';
import { ActionsClient } from './send-actions-client.js';
import { serveStorage, startPgliteServer, type TestServer } from './server-harness.js';
import { Follower, until, wait } from './sync-follower.js';

const ADMIN_TOKEN = 'admin-token-for-the-admin-api-tests';

// biome-ignore lint/suspicious/noExplicitAny: API bodies are inspected loosely
type Json = any;

async function get(url: string, path: string, token?: string): Promise<{ status: number; body: Json; text: string; type: string }> {
  const res = await fetch(`${url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, type: res.headers.get('content-type') ?? '' };
}

async function post(url: string, path: string, body: unknown): Promise<Json> {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}

/** The value of one sample of the Prometheus text (0 when the series is absent). */
function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) got[k as string] = v as string;
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) {
      return Number(m[3]);
    }
  }
  return 0;
}

function push(socket: Socket, clientId: string, operations: unknown[]): Promise<Json> {
  return socket.timeout(10_000).emitWithAck('push', { clientId, operations });
}

function syncSocket(url: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(`${url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

describe('admin API on an open server', () => {
  let srv: TestServer;
  let url: string;
  const metricsText = async () => (await get(url, '/metrics')).text;

  beforeAll(async () => {
    // A table collection beside the document collections: the storage is made with its table first.
    const sql = await createPgliteClient(undefined);
    await sql.exec('CREATE TABLE category (id serial PRIMARY KEY, name text NOT NULL)');
    await sql.exec("INSERT INTO category (name) VALUES ('fruit'), ('tools'), ('books')");
    const storage = new PostgresStorage(sql, 'syncline', limits, { names: ['category'], schema: 'public' });
    srv = await serveStorage(storage, { tableNames: ['category'], tableAuthColumnRouting: { notes: '*', category: '*' } });
    url = srv.url;
  });
  afterAll(() => srv?.close());

  test('REST, /sync push and /sendActions results appear in /admin/api/operations; /metrics counts them exactly', async () => {
    const before = await metricsText();
    const first = { id: opId(), type: 'insert', collection: 'notes', docId: 'n1', data: { text: 'one' } };
    const rest = await post(url, '/operations', {
      clientId: 'rest-client',
      operations: [
        first,
        { id: opId(), type: 'insert', collection: 'notes', docId: 'n1', data: { text: 'again' } },
        { id: opId(), type: 'insert', collection: 'bad name!', data: {} },
      ],
    });
    expect(rest.results.map((r: Json) => r.status)).toEqual(['applied', 'conflict', 'rejected']);
    const retry = await post(url, '/operations', { clientId: 'rest-client', operations: [first] });
    expect(retry.results[0].status).toBe('duplicate');

    const socket = await syncSocket(url);
    const synced = await push(socket, 'sync-client', [
      { id: opId(), type: 'insert', collection: 'notes', docId: 's1', data: { text: 's' } },
      { id: opId(), type: 'update', collection: 'notes', docId: 's1', data: { text: 't' }, baseVersion: 7 },
    ]);
    expect(synced.results.map((r: Json) => r.status)).toEqual(['applied', 'conflict']);
    socket.disconnect();

    const actions = await ActionsClient.connect(url, { clientId: 'actions-client' });
    actions.send([{ id: 1, type: 'CREATE', collection: 'notes', data: { id: 'a1', text: 'a' } }]);
    expect((await actions.result(1)).status).toBe('ACK');
    actions.fin(1);
    const committed = await actions.committed(1);
    actions.send([{ id: 2, type: 'UPDATE', collection: 'notes', data: { id: 'missing', text: 'x' } }]);
    const nack = await actions.result(2);
    expect(nack.status).toBe('NACK');
    await actions.rolledBack(2);
    actions.close();

    const { body } = await get(url, '/admin/api/operations?limit=20');
    const ops: Json[] = body.operations;
    // Newest first.
    expect(ops.map((o) => o.time)).toEqual([...ops.map((o) => o.time)].sort((a, b) => b - a));
    const pick = (via: string) => ops.filter((o) => o.via === via).reverse();
    expect(pick('rest').map((o) => [o.status, o.code ?? null, o.docId])).toEqual([
      ['applied', null, 'n1'],
      ['conflict', 'DOCUMENT_EXISTS', 'n1'],
      ['rejected', rest.results[2].error.code, null],
      ['duplicate', null, 'n1'],
    ]);
    expect(pick('rest')[0]).toMatchObject({ clientId: 'rest-client', id: first.id, type: 'insert', collection: 'notes' });
    expect(pick('rest')[0].position).toBe(rest.results[0].position);
    expect(pick('sync').map((o) => [o.status, o.code ?? null, o.type])).toEqual([
      ['applied', null, 'insert'],
      ['conflict', 'VERSION_MISMATCH', 'update'],
    ]);
    expect(pick('sync')[1].message).toEqual(expect.any(String));
    expect(pick('sendActions').map((o) => [o.status, o.code ?? null, o.docId])).toEqual([
      ['committed', null, 'a1'],
      ['rejected', nack.error.code, 'missing'],
    ]);
    expect(pick('sendActions')[0]).toMatchObject({ clientId: 'actions-client', position: committed.position });

    const after = await metricsText();
    const delta = (labels: Record<string, string>) =>
      metric(after, 'syncline_operations_total', labels) - metric(before, 'syncline_operations_total', labels);
    expect(delta({ via: 'rest', status: 'applied', code: '' })).toBe(1);
    expect(delta({ via: 'rest', status: 'conflict', code: 'DOCUMENT_EXISTS' })).toBe(1);
    expect(delta({ via: 'rest', status: 'rejected', code: rest.results[2].error.code })).toBe(1);
    expect(delta({ via: 'rest', status: 'duplicate', code: '' })).toBe(1);
    expect(delta({ via: 'sync', status: 'applied', code: '' })).toBe(1);
    expect(delta({ via: 'sync', status: 'conflict', code: 'VERSION_MISMATCH' })).toBe(1);
    expect(delta({ via: 'sendActions', status: 'committed', code: '' })).toBe(1);
    expect(delta({ via: 'sendActions', status: 'rejected', code: nack.error.code })).toBe(1);
    const counter = (name: string, labels: Record<string, string> = {}) => metric(after, name, labels) - metric(before, name, labels);
    expect(counter('syncline_actions_committed_total')).toBe(1);
    expect(counter('syncline_actions_rolled_back_total', { reason: 'nack' })).toBe(1);

    const overview = (await get(url, '/admin/api/overview')).body;
    expect(overview.totals.byStatus).toMatchObject({ applied: 2, conflict: 2, rejected: 2, duplicate: 1 });
    expect(overview.totals).toMatchObject({ operations: 8, actionsCommitted: 1, actionsRolledBack: 1 });
    expect(overview.instance).toMatchObject({ id: srv.server.bus.instanceId, adapter: 'pglite' });
    expect(overview.position).toBe(await srv.server.storage.currentPosition());
  });

  test('deliveries count once per socket reached; connected sockets follow connects and disconnects', async () => {
    const start = (await get(url, '/admin/api/overview')).body.clients.byNamespace;
    const followers = [new Follower(url), new Follower(url), new Follower(url)];
    for (const f of followers) expect((await f.subscribe({ collection: 'notes' })).ok).toBe(true);
    const esinks = await Promise.all([new EsinkClient(url).ready(), new EsinkClient(url).ready()]);
    const actions = await ActionsClient.connect(url);
    const byNs = async () => (await get(url, '/admin/api/overview')).body.clients;
    const c = await byNs();
    expect(c.byNamespace).toEqual({ '/': start['/'] + 2, '/sync': start['/sync'] + 3, '/sendActions': start['/sendActions'] + 1 });
    expect(c.connected).toBe(start['/'] + start['/sync'] + start['/sendActions'] + 6);
    const m = await metricsText();
    expect(metric(m, 'syncline_connected_sockets', { namespace: '/sync' })).toBe(start['/sync'] + 3);
    expect(metric(m, 'syncline_connected_sockets', { namespace: '/' })).toBe(start['/'] + 2);

    const before = await metricsText();
    const total0 = (await get(url, '/admin/api/overview')).body.totals.deliveries;
    await post(url, '/operations', {
      clientId: 'writer',
      operations: [
        { id: opId(), type: 'insert', collection: 'notes', docId: 'd1', data: { text: 'x' } },
        { id: opId(), type: 'insert', collection: 'notes', docId: 'd2', data: { text: 'y' } },
      ],
    });
    await until(() => followers.every((f) => f.changes.some((ch) => ch.docId === 'd2')) && esinks.every((e) => e.changes.length >= 2));
    await wait(100); // nothing more is on its way
    const after = await metricsText();
    const d = (ns: string) =>
      metric(after, 'syncline_deliveries_total', { namespace: ns }) - metric(before, 'syncline_deliveries_total', { namespace: ns });
    expect(d('/sync')).toBe(2 * 3);
    expect(d('/')).toBe(2 * 2);
    expect((await get(url, '/admin/api/overview')).body.totals.deliveries - total0).toBe(10);

    for (const f of followers) f.close();
    esinks[0]?.close();
    await until(async () => {
      const now = (await byNs()).byNamespace;
      return now['/sync'] === start['/sync'] && now['/'] === start['/'] + 1;
    });
    esinks[1]?.close();
    actions.close();
    await until(async () => (await byNs()).connected === start['/'] + start['/sync'] + start['/sendActions']);
  });

  test('a /sync client’s clientStatus and position appear in /admin/api/clients; a bad one is refused and changes nothing', async () => {
    const f = new Follower(url);
    const sub = await f.subscribe({ collection: 'notes' });
    expect(sub.ok).toBe(true);
    f.socket.emit('clientStatus', { clientId: 'status-client', pending: 3, position: 1 });
    const row = async () =>
      ((await get(url, '/admin/api/clients')).body.clients as Json[]).find((c) => c.clientId === 'status-client' && c.connected);
    await until(async () => (await row()) !== undefined);
    const r = await row();
    // Live: complete up to the head the feed has read, beyond what it reported.
    expect(r).toMatchObject({ namespace: '/sync', pending: 3, connected: true, lag: 0, userId: null });
    expect(r.position).toBe(await srv.server.storage.currentPosition());
    expect(r.address).toEqual(expect.any(String));

    for (const bad of [{ clientId: 'status-client', pending: -1, position: 1 }, { clientId: '', pending: 0, position: 0 }, 'nope']) {
      f.socket.emit('clientStatus', bad);
    }
    await until(() => f.errors.length === 3);
    expect(f.errors).toEqual(Array(3).fill(expect.objectContaining({ code: 'VALIDATION_FAILED' })));
    // With an acknowledgement callback the answer comes through it instead.
    const bad = await f.socket.timeout(5000).emitWithAck('clientStatus', { clientId: 'status-client', pending: 1.5, position: 0 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect((await row()).pending).toBe(3);
    expect(await f.socket.timeout(5000).emitWithAck('clientStatus', { clientId: 'status-client', pending: 2, position: 0 })).toEqual({
      ok: true,
    });
    expect((await row()).pending).toBe(2);

    f.close();
    // Once gone it is listed as recently seen, disconnected.
    const gone = async () =>
      ((await get(url, '/admin/api/clients')).body.clients as Json[]).find((c) => c.clientId === 'status-client' && !c.connected);
    await until(async () => (await gone()) !== undefined);
    const left = await gone();
    expect(left.lag).toBe(0);
    // ...and falls behind with every change made after it left.
    await post(url, '/operations', {
      clientId: 'writer',
      operations: [1, 2].map((n) => ({
        id: `after-leave-${n}`,
        type: 'insert',
        collection: 'notes',
        docId: `after-leave-${n}`,
        data: { n },
      })),
    });
    const head = await srv.server.storage.currentPosition();
    await until(async () => (await gone()).lag === head - left.position);
    expect(head - left.position).toBeGreaterThanOrEqual(2);
  });

  test('REST clients that pulled with a clientId are listed from the storage', async () => {
    await post(url, '/changes', { since: 0, clientId: 'poller-1' });
    const rows: Json[] = (await get(url, '/admin/api/clients')).body.clients;
    const poller = rows.find((c) => c.clientId === 'poller-1');
    expect(poller).toMatchObject({ namespace: 'rest', connected: false, position: 0, pending: null });
    expect(poller.lag).toBe(await srv.server.storage.currentPosition());
    expect(Math.abs(poller.lastSeen - Date.now())).toBeLessThan(60_000);
    expect(rows.length).toBeLessThanOrEqual(200);
  });

  test('an action awaiting its FIN is an open action in the overview and /metrics until it commits', async () => {
    const actions = await ActionsClient.connect(url, { clientId: 'fin-client' });
    const overview = async () => (await get(url, '/admin/api/overview')).body;
    expect((await overview()).openActions).toBe(0);
    actions.send([{ id: 'w1', type: 'CREATE', collection: 'notes', data: { id: 'fin-doc', text: 'held' } }]);
    expect((await actions.result('w1')).status).toBe('ACK');
    const o = await overview();
    expect(o.openActions).toBe(1);
    expect(o.maxOpenActions).toBe(srv.server.config.maxOpenActions);
    expect(metric(await metricsText(), 'syncline_open_actions')).toBe(1);
    expect(metric(await metricsText(), 'syncline_max_open_actions')).toBe(srv.server.config.maxOpenActions);
    actions.fin('w1');
    await actions.committed('w1');
    expect((await overview()).openActions).toBe(0);
    expect(metric(await metricsText(), 'syncline_open_actions')).toBe(0);

    // One left open when its socket goes: rolled back for `disconnect`, counted and listed.
    const before = await metricsText();
    actions.send([{ id: 'w2', type: 'CREATE', collection: 'notes', data: { id: 'fin-doc-2', text: 'dropped' } }]);
    expect((await actions.result('w2')).status).toBe('ACK');
    expect((await overview()).openActions).toBe(1);
    actions.close();
    await until(async () => (await overview()).openActions === 0);
    const after = await metricsText();
    const reason = { reason: 'disconnect' };
    expect(metric(after, 'syncline_actions_rolled_back_total', reason) - metric(before, 'syncline_actions_rolled_back_total', reason)).toBe(
      1,
    );
    const ops: Json[] = (await get(url, '/admin/api/operations?limit=5')).body.operations;
    expect(ops.find((o) => o.docId === 'fin-doc-2')).toMatchObject({
      via: 'sendActions',
      status: 'rolledBack',
      clientId: 'fin-client',
      message: expect.stringContaining('disconnect'),
    });
  });

  test('the series is sampled once a second, bounded, with rates', async () => {
    await until(async () => (await get(url, '/admin/api/series')).body.samples.length >= 2, 5000);
    await post(url, '/operations', {
      clientId: 'rate',
      operations: [{ id: opId(), type: 'insert', collection: 'notes', docId: 'rate-1', data: {} }],
    });
    await until(async () => {
      const s: Json[] = (await get(url, '/admin/api/series')).body.samples;
      return s.some((x) => x.operationsPerSec > 0);
    }, 5000);
    const head = await srv.server.storage.currentPosition();
    // The feed reads the write within a moment; a later sample has its position.
    await until(async () => (await get(url, '/admin/api/series')).body.samples.at(-1).position === head, 5000);
    const { body } = await get(url, '/admin/api/series');
    expect(body.intervalMs).toBe(1000);
    expect(body.samples.length).toBeLessThanOrEqual(600);
    const last = body.samples.at(-1);
    expect(Object.keys(last).sort()).toEqual(
      ['busUp', 'connected', 'deliveriesPerSec', 'maxLag', 'openActions', 'operationsPerSec', 'position', 't'].sort(),
    );
    expect(last.busUp).toBe(true);
    // Oldest first, a second apart.
    const ts = body.samples.map((s: Json) => s.t);
    expect(ts).toEqual([...ts].sort((a: number, b: number) => a - b));
    const m = await metricsText();
    expect(metric(m, 'syncline_bus_up')).toBe(1);
    expect(metric(m, 'syncline_change_log_position')).toBe(last.position);
    expect(m).toContain('process_cpu_user_seconds_total');
  });

  test('collections lists document and table collections with their counts', async () => {
    await post(url, '/operations', {
      clientId: 'counts',
      operations: [
        { id: opId(), type: 'insert', collection: 'counted', docId: 'c1', data: {} },
        { id: opId(), type: 'insert', collection: 'counted', docId: 'c2', data: {} },
        { id: opId(), type: 'delete', collection: 'counted', docId: 'c2' },
      ],
    });
    const { body } = await get(url, '/admin/api/collections');
    expect(body.collections).toContainEqual({ name: 'counted', documents: 1, deleted: 1, table: false });
    expect(body.collections).toContainEqual({ name: 'category', documents: 3, deleted: 0, table: true });
    const stats = (await get(url, '/stats')).body;
    expect(body).toMatchObject({ position: stats.position, horizon: stats.horizon, totalOperations: stats.totalOperations });
  });

  test('bad query parameters get a coded error', async () => {
    for (const q of ['limit=0', 'limit=501', 'limit=abc']) {
      const r = await get(url, `/admin/api/operations?${q}`);
      expect(r.status).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
    }
    expect((await get(url, '/admin/api/operations?limit=1')).body.operations).toHaveLength(1);
  });
});

describe('admin API with authentication configured', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startPgliteServer({ config: { jwtSecret: HS_SECRET, adminToken: ADMIN_TOKEN } });
  });
  afterAll(() => srv?.close());

  const PATHS = [
    '/metrics',
    '/admin/api/overview',
    '/admin/api/series',
    '/admin/api/clients',
    '/admin/api/operations',
    '/admin/api/collections',
    '/admin/api/unknown',
  ];

  test.each(PATHS)('%s: 401 without a token, 403 with a user’s or a wrong token, 200 with ADMIN_TOKEN', async (path) => {
    const none = await get(srv.url, path);
    expect([none.status, none.body?.code]).toEqual([401, 'UNAUTHORIZED']);
    for (const token of [await jwtFor('alice'), 'not-the-admin-token']) {
      const r = await get(srv.url, path, token);
      expect(r.status).toBe(r.body?.code === 'UNAUTHORIZED' ? 401 : 403);
      // Nothing but the error: no admin data in the body.
      expect(Object.keys(r.body).sort()).toEqual(['code', 'error', 'message']);
    }
    const ok = await get(srv.url, path, ADMIN_TOKEN);
    expect(ok.status).toBe(path === '/admin/api/unknown' ? 404 : 200);
  });

  test('a percent-encoded admin path is still admin (it routes to the same handler)', async () => {
    const alice = await jwtFor('alice');
    for (const path of ['/admin/%61pi/overview', '/%6detrics', '/%73tats', '/admin/api/overview/']) {
      const r = await get(srv.url, path, alice);
      expect(r.status === 403 || r.status === 404).toBe(true);
      expect(r.text).not.toContain('"totals"');
      expect(r.text).not.toContain('syncline_');
    }
  });

  test('/metrics is Prometheus text with the syncline_ metrics', async () => {
    const r = await get(srv.url, '/metrics', ADMIN_TOKEN);
    expect(r.type).toContain('text/plain');
    for (const name of [
      'syncline_operations_total',
      'syncline_deliveries_total',
      'syncline_connected_sockets',
      'syncline_change_log_position',
      'syncline_open_actions',
      'syncline_max_open_actions',
      'syncline_actions_committed_total',
      'syncline_actions_rolled_back_total',
      'syncline_bus_up',
      'syncline_bus_state',
      'syncline_bus_published_total',
      'syncline_bus_received_total',
      'syncline_bus_dropped_total',
      'syncline_client_lag_max',
    ]) {
      expect(r.text).toContain(`# TYPE ${name} `);
    }
  });

  test('the dashboard page itself needs no token (it asks for one)', async () => {
    for (const path of ['/admin', '/admin/']) expect([401, 403]).not.toContain((await get(srv.url, path)).status);
  });

  test('a user’s /sync clientStatus is recorded for the admin only', async () => {
    const token = await jwtFor('bob');
    const f = new Follower(srv.url, { auth: { token } });
    await f.subscribe({ collection: 'notes' });
    f.socket.emit('clientStatus', { clientId: 'bob-device', pending: 1, position: 0 });
    await until(async () =>
      ((await get(srv.url, '/admin/api/clients', ADMIN_TOKEN)).body.clients as Json[]).some(
        (c) => c.clientId === 'bob-device' && c.userId === 'bob' && c.pending === 1,
      ),
    );
    expect((await get(srv.url, '/admin/api/clients', token)).status).toBe(403);
    f.close();
  });
});
