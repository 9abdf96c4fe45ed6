/** Abuse limits: REST requests per minute, sockets per user, socket events per minute (a real Fastify app and Socket.IO server). */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Server } from 'socket.io';
import { type Socket as ClientSocket, io as connect } from 'socket.io-client';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { loadConfig } from '../src/config/load-config.js';
import type { Storage } from '../src/storage/storage.js';
import { registerRoutes } from '../src/transport/http-routes.js';
import { registerRestRateLimit, type SocketLimits, socketLimits } from '../src/transport/rate-limits.js';

describe('REST rate limit', () => {
  let app: FastifyInstance | undefined;
  let handled = 0;

  /** The app as server.ts builds it: an identity hook (here from `x-user`), the limit, then the real routes and error handler. */
  async function restApp(rateLimitPerMinute: number): Promise<FastifyInstance> {
    handled = 0;
    const config = loadConfig({ rateLimitPerMinute, logLevel: 'silent' }, {});
    app = Fastify();
    app.addHook('onRequest', async (req) => {
      const user = req.headers['x-user'];
      Object.assign(req, { identity: typeof user === 'string' ? { userId: user, claims: {}, method: 'jwt-secret' } : null });
    });
    await registerRestRateLimit(app, config);
    const storage = {
      adapter: 'pglite',
      currentPosition: async () => 7,
      getDocument: async (_collection: string, id: string) => {
        handled++;
        return { _id: id, _rev: 1 };
      },
    } as unknown as Storage;
    registerRoutes(app, storage, config);
    await app.ready();
    return app;
  }

  const get = (url: string, user?: string, remoteAddress = '127.0.0.1') =>
    (app as FastifyInstance).inject({ method: 'GET', url, remoteAddress, headers: user ? { 'x-user': user } : {} });

  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('over the limit: 429 RATE_LIMITED with retryAfterMs and Retry-After, the route does not run', async () => {
    await restApp(3);
    for (let i = 0; i < 3; i++) expect((await get('/documents/todos/a', 'alice')).statusCode).toBe(200);
    const r = await get('/documents/todos/a', 'alice');
    expect(r.statusCode).toBe(429);
    const body = r.json();
    expect(body).toEqual({
      error: 'Rate limited',
      code: 'RATE_LIMITED',
      message: expect.stringContaining('at most 3 per minute'),
      details: { retryAfterMs: expect.any(Number) },
    });
    expect(body.details.retryAfterMs).toBeGreaterThan(50_000);
    expect(body.details.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(50);
    expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(handled).toBe(3);
  });

  test('each user and each anonymous address has its own budget', async () => {
    await restApp(2);
    for (let i = 0; i < 2; i++) expect((await get('/documents/todos/a', 'alice')).statusCode).toBe(200);
    expect((await get('/documents/todos/a', 'alice')).statusCode).toBe(429);
    // Same address, other user; same address, anonymous: unaffected.
    for (let i = 0; i < 2; i++) expect((await get('/documents/todos/a', 'bob')).statusCode).toBe(200);
    expect((await get('/documents/todos/a', 'bob')).statusCode).toBe(429);
    for (let i = 0; i < 2; i++) expect((await get('/documents/todos/a')).statusCode).toBe(200);
    expect((await get('/documents/todos/a')).statusCode).toBe(429);
    // Another anonymous address (IPv4-mapped IPv6 counts as its IPv4 address).
    expect((await get('/documents/todos/a', undefined, '10.0.0.9')).statusCode).toBe(200);
    expect((await get('/documents/todos/a', undefined, '::ffff:10.0.0.9')).statusCode).toBe(200);
    expect((await get('/documents/todos/a', undefined, '10.0.0.9')).statusCode).toBe(429);
    expect(handled).toBe(8);
  });

  test('GET /health and GET /ping are exempt and do not use the budget', async () => {
    await restApp(2);
    for (let i = 0; i < 10; i++) {
      expect((await get('/health', 'alice')).statusCode).toBe(200);
      expect((await get('/ping', 'alice')).statusCode).toBe(200);
      expect((await get('/health')).statusCode).toBe(200);
    }
    for (let i = 0; i < 2; i++) expect((await get('/documents/todos/a', 'alice')).statusCode).toBe(200);
    expect((await get('/documents/todos/a', 'alice')).statusCode).toBe(429);
    expect((await get('/health', 'alice')).statusCode).toBe(200);
  });

  test('0 turns the limit off', async () => {
    await restApp(0);
    for (let i = 0; i < 30; i++) {
      const r = await get('/documents/todos/a', 'alice');
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBeUndefined();
    }
    expect(handled).toBe(30);
  });
});

describe('socket limits', () => {
  let http: HttpServer | undefined;
  let ioServer: Server | undefined;
  let limits: SocketLimits;
  let clients: ClientSocket[] = [];
  let handled: Record<string, number> = {};
  let serverDisconnects = 0;
  let clock = 1_000_000;

  /**
   * Namespaces /a and /b: an auth middleware (identity from `auth.user`), then the limits, then one that
   * refuses `auth.refuse`; `work` (acked) and `fire` count what runs.
   */
  async function socketServer(maxSocketsPerUser: number, socketEventsPerMinute: number, pendingMs?: number): Promise<void> {
    handled = {};
    serverDisconnects = 0;
    clock = 1_000_000;
    const config = loadConfig({ maxSocketsPerUser, socketEventsPerMinute }, {});
    limits = socketLimits(config, { now: () => clock, ...(pendingMs === undefined ? {} : { pendingMs }) });
    http = createServer();
    ioServer = new Server(http);
    for (const name of ['/a', '/b']) {
      const nsp = ioServer.of(name);
      nsp.use((socket, next) => {
        const user = (socket.handshake.auth as { user?: unknown }).user;
        socket.data.identity = typeof user === 'string' ? { userId: user, claims: {}, method: 'jwt-secret' } : null;
        next();
      });
      nsp.use(limits.middleware);
      nsp.use((socket, next) => next((socket.handshake.auth as { refuse?: boolean }).refuse ? new Error('refused later') : undefined));
      nsp.on('connection', (socket) => {
        const who = String(socket.data.identity?.userId ?? 'anonymous');
        const count = () => {
          handled[who] = (handled[who] ?? 0) + 1;
        };
        socket.on('work', (_payload: unknown, ack: (r: unknown) => void) => {
          count();
          ack({ ok: true });
        });
        socket.on('fire', count);
        socket.on('disconnect', () => serverDisconnects++);
      });
    }
    await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
  }

  afterEach(async () => {
    for (const c of clients) c.close();
    clients = [];
    await ioServer?.close();
    ioServer = undefined;
    http = undefined;
  });

  const url = (nsp: string) => `http://127.0.0.1:${((http as HttpServer).address() as AddressInfo).port}${nsp}`;

  /** Resolves with the connected client, or with the `connect_error` data. */
  function open(
    nsp: string,
    user?: string,
    refuse = false,
  ): Promise<{ socket: ClientSocket; refused?: { code: string; message: string } }> {
    const socket = connect(url(nsp), {
      auth: { ...(user ? { user } : {}), ...(refuse ? { refuse } : {}) },
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
    });
    clients.push(socket);
    return new Promise((resolve) => {
      socket.once('connect', () => resolve({ socket }));
      socket.once('connect_error', (err: Error & { data?: { code: string; message: string } }) =>
        resolve({ socket, refused: err.data ?? { code: 'none', message: err.message } }),
      );
    });
  }

  async function connected(nsp: string, user?: string): Promise<ClientSocket> {
    const r = await open(nsp, user);
    expect(r.refused).toBeUndefined();
    return r.socket;
  }

  const work = (s: ClientSocket) => s.timeout(5000).emitWithAck('work', { n: 1 });

  test('at most maxSocketsPerUser sockets per user over all namespaces; a slot frees on disconnect', async () => {
    await socketServer(3, 0);
    const a1 = await connected('/a', 'alice');
    await connected('/a', 'alice');
    await connected('/b', 'alice');
    const over = await open('/b', 'alice');
    expect(over.refused).toEqual({ code: 'TOO_MANY_CONNECTIONS', message: expect.stringContaining('At most 3') });
    expect((await open('/a', 'alice')).refused?.code).toBe('TOO_MANY_CONNECTIONS');
    // Others are unaffected: another user, and anonymous callers (keyed by address).
    await connected('/a', 'bob');
    for (let i = 0; i < 3; i++) await connected('/b');
    expect((await open('/a')).refused?.code).toBe('TOO_MANY_CONNECTIONS');

    a1.close();
    await vi.waitFor(() => expect(serverDisconnects).toBe(1));
    const again = await connected('/b', 'alice');
    expect(again.connected).toBe(true);
    expect((await open('/a', 'alice')).refused?.code).toBe('TOO_MANY_CONNECTIONS');
  });

  test('a socket refused by a later middleware frees its slot after pendingMs', async () => {
    await socketServer(2, 0, 300);
    expect((await open('/a', 'alice', true)).refused?.code).toBe('none');
    expect((await open('/b', 'alice', true)).refused?.code).toBe('none');
    // Their slots are held while they might still connect, then freed.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await connected('/a', 'alice');
    await connected('/b', 'alice');
    expect((await open('/a', 'alice')).refused?.code).toBe('TOO_MANY_CONNECTIONS');
  });

  test('events over socketEventsPerMinute (all sockets of a user together) are refused and not handled', async () => {
    await socketServer(10, 5);
    const s1 = await connected('/a', 'alice');
    const s2 = await connected('/b', 'alice');
    for (let i = 0; i < 3; i++) expect(await work(s1)).toEqual({ ok: true });
    for (let i = 0; i < 2; i++) expect(await work(s2)).toEqual({ ok: true });
    expect(handled.alice).toBe(5);

    // With an ack: answered through it.
    const refused = await work(s1);
    expect(refused).toEqual({
      ok: false,
      error: { code: 'RATE_LIMITED', message: expect.stringContaining('at most 5 per minute'), retryAfterMs: 60_000 },
    });
    // Without an ack: an `error` event.
    const error = new Promise((resolve) => s2.once('error', resolve));
    s2.emit('fire', { n: 1 });
    expect(await error).toEqual({ code: 'RATE_LIMITED', message: expect.any(String), retryAfterMs: 60_000 });
    expect(handled.alice).toBe(5);

    // Other users and anonymous callers keep their own budget.
    const bob = await connected('/a', 'bob');
    for (let i = 0; i < 5; i++) expect(await work(bob)).toEqual({ ok: true });
    const anon = await connected('/a');
    expect(await work(anon)).toEqual({ ok: true });
    expect(handled).toEqual({ alice: 5, bob: 5, anonymous: 1 });

    // retryAfterMs counts down; the next window accepts events again.
    clock += 45_000;
    expect(await work(s1)).toMatchObject({ ok: false, error: { retryAfterMs: 15_000 } });
    clock += 15_000;
    expect(await work(s1)).toEqual({ ok: true });
    expect(handled.alice).toBe(6);
  });

  test('a new socket does not reset the event budget; keys are forgotten once idle and their window ended', async () => {
    await socketServer(10, 2);
    const s1 = await connected('/a', 'alice');
    await work(s1);
    await work(s1);
    expect((await work(s1)).ok).toBe(false);
    s1.close();
    await vi.waitFor(() => expect(serverDisconnects).toBe(1));
    // Idle but within its window: still tracked, and a reconnect gets no fresh budget.
    expect(limits.size()).toBe(1);
    const s2 = await connected('/a', 'alice');
    expect((await work(s2)).ok).toBe(false);
    s2.close();
    await vi.waitFor(() => expect(serverDisconnects).toBe(2));

    // A key that sent nothing is forgotten at once.
    const quiet = await connected('/b', 'carol');
    expect(limits.size()).toBe(2);
    quiet.close();
    await vi.waitFor(() => expect(serverDisconnects).toBe(3));
    expect(limits.size()).toBe(1);

    // Once alice's window has ended, the next connection sweeps her key away.
    clock += 60_000;
    await connected('/a', 'dave');
    expect(limits.size()).toBe(1);
    const s3 = await connected('/a', 'alice');
    expect(await work(s3)).toEqual({ ok: true });
  });

  test('0 events per minute turns the event limit off', async () => {
    await socketServer(10, 0);
    const s = await connected('/a', 'alice');
    for (let i = 0; i < 30; i++) expect(await work(s)).toEqual({ ok: true });
    expect(handled.alice).toBe(30);
  });
});
