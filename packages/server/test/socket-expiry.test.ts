/**
 * SocketExpiry on a real Socket.IO server with a clock the test moves: expiry is
 * decided by the clock wherever it matters (an arriving event, a fan-out's sweep),
 * not only when the timer fires (a busy event loop fires it late).
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { Server, type Socket as ServerSocket } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Access } from '../src/auth/access.js';
import { SocketExpiry } from '../src/transport/socket-expiry.js';
import { until } from './esink-client.js';
import { HS_SECRET } from './esink-tokens.js';

const authConfig = {
  authTable: undefined,
  authColumn: undefined,
  jwtSecret: HS_SECRET,
  jwtPublicKey: undefined,
  jwksUrl: undefined,
  jwtUserClaim: 'sub',
  jwtIssuer: undefined,
  jwtAudience: undefined,
  allowTestToken: false,
  nodeEnv: 'test',
  adminToken: undefined,
  adminClaim: 'admin',
};

describe('SocketExpiry (real Socket.IO, moved clock)', () => {
  let http: HttpServer;
  let io: Server;
  let url: string;
  let offset = 0;
  const expiry = new SocketExpiry(new Access(authConfig, { findRow: async () => null }), {
    graceMs: 60_000,
    now: () => Date.now() + offset,
  });
  const expired: string[] = [];
  const handled: string[] = [];
  const server = new Map<string, ServerSocket>();
  const clients: Socket[] = [];

  beforeAll(async () => {
    http = createServer();
    io = new Server(http, { transports: ['websocket'] });
    const access = new Access(authConfig, { findRow: async () => null });
    io.of('/t').use((socket, next) => {
      access.identify({ token: socket.handshake.auth.token, headers: {}, ip: '127.0.0.1', transport: 'socket' }).then(
        (who) => {
          socket.data.identity = who;
          next();
        },
        (err: Error) => next(err),
      );
    });
    io.of('/t').on('connection', (socket) => {
      server.set(socket.handshake.auth.name, socket);
      socket.join('room');
      expiry.track(socket, { expired: () => expired.push(socket.handshake.auth.name) });
      socket.on('work', (p: unknown, ack: (r: unknown) => void) => {
        handled.push(String(p));
        ack({ ok: true });
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await new Promise((r) => io.close(r));
  });

  async function client(name: string) {
    // Ten minutes of validity: the real timer does not fire during the test.
    const token = await new SignJWT({ sub: 'u1' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(HS_SECRET));
    const socket = connect(`${url}/t`, { transports: ['websocket'], forceNew: true, reconnection: false, auth: { token, name } });
    clients.push(socket);
    const errors: { code: string }[] = [];
    socket.on('error', (e: { code: string }) => errors.push(e));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    await until(() => server.has(name));
    return { socket, errors };
  }

  test('before exp events pass; past exp (timer not fired) an arriving event is refused by the clock and the socket expires', async () => {
    const a = await client('a');
    expect(await a.socket.timeout(5000).emitWithAck('work', 'a1')).toEqual({ ok: true });
    offset = 11 * 60_000;
    try {
      expect(await a.socket.timeout(5000).emitWithAck('work', 'a2')).toMatchObject({ ok: false, error: { code: 'TOKEN_EXPIRED' } });
      expect(handled).toEqual(['a1']);
      expect(expired).toEqual(['a']);
      expect(server.get('a')?.rooms.has('room')).toBe(false);
      await until(() => a.errors.length > 0);
      expect(a.errors[0]?.code).toBe('TOKEN_EXPIRED');
    } finally {
      offset = 0;
    }
  });

  test('sweep() (what fan-out calls before emitting) expires a due socket before its timer fires: it leaves every room', async () => {
    const b = await client('b');
    const c = await client('c');
    expect(server.get('b')?.rooms.has('room')).toBe(true);
    expiry.sweep();
    expect(expired).not.toContain('b');
    offset = 11 * 60_000;
    try {
      expiry.sweep();
      expect(expired).toEqual(expect.arrayContaining(['b', 'c']));
      expect(
        io
          .of('/t')
          .adapter.rooms.get('room')
          ?.has(server.get('b')?.id as string) ?? false,
      ).toBe(false);
      await until(() => b.errors.length > 0 && c.errors.length > 0);
    } finally {
      offset = 0;
    }
  });
});
