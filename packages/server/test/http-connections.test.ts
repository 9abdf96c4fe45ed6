/**
 * Issue 13 item 7: every oversized request gets its coded 413 (never a connection
 * reset), and slow, stalled or idle connections are closed by the configured
 * timeouts. The server runs in its own process (`dist/cli.js serve`): with client
 * and server on one event loop, the reset the issue describes does not show.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { io as connectSocketIo } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { until } from './sync-follower.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const BODY_LIMIT = 64 * 1024;
const DRAIN_LIMIT = 16 * 1024 * 1024;
const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const KEEP_ALIVE_TIMEOUT_MS = 1000;
/** Deadlines for "closed by the timeout": generous (a loaded CI machine), the timeouts above are what is tested. */
const CLOSED_WITHIN_MS = 15_000;

interface Served {
  child: ChildProcess;
  url: string;
  port: number;
  log: string[];
}

/** `dist/cli.js serve` on embedded PGlite in memory, with these extra environment variables. */
async function startServer(env: Record<string, string>): Promise<Served> {
  const log: string[] = [];
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { PATH: process.env.PATH ?? '', SYNCLINE_DATA_DIR: 'memory://', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${log.join('')}`)), 60_000);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      log.push(text);
      if (log.length > 200) log.shift();
      const m = text.match(/Syncline listening on (http:\/\/[0-9.:]+)/);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log.join('')}`));
    });
  });
  return { child, url, port: Number(new URL(url).port), log };
}

async function stopServer(s: Served | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await exited;
}

/** A raw TCP connection that records what it receives and when it is closed. */
function rawSocket(port: number): Promise<{ socket: Socket; received: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    let isClosed = false;
    socket.on('data', (d) => {
      text += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      isClosed = true;
    });
    socket.once('connect', () => resolve({ socket, received: () => text, closed: () => isClosed }));
    socket.once('error', reject);
  });
}

type Outcome = string;
/** `413 PAYLOAD_TOO_LARGE`, or the client's error code (EPIPE, ECONNRESET, ...). */
async function outcome(send: () => Promise<Response>): Promise<Outcome> {
  try {
    const res = await send();
    const body = (await res.json()) as { code?: string };
    return `${res.status} ${body.code}`;
  } catch (err) {
    const e = err as { cause?: { code?: string; message?: string }; message?: string };
    return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
  }
}

function tally(outcomes: Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[o] = (out[o] ?? 0) + 1;
  return out;
}

const post = (url: string, body: BodyInit, extra: RequestInit = {}) =>
  fetch(`${url}/operations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, ...extra });

describe('oversized bodies get their 413, never a reset (server in its own process, default timeouts)', () => {
  let server: Served;
  let url = '';
  let port = 0;
  beforeAll(async () => {
    server = await startServer({ SYNCLINE_BODY_LIMIT: String(BODY_LIMIT), SYNCLINE_BODY_DRAIN_LIMIT: String(DRAIN_LIMIT) });
    ({ url, port } = server);
  }, 90_000);
  afterAll(() => stopServer(server));

  test('an oversized body sent by fetch gets its 413 PAYLOAD_TOO_LARGE every time, never a reset (50 × 8 MB, 5 at a time)', async () => {
    const body = JSON.stringify({ clientId: 'c', operations: [], pad: 'x'.repeat(8 * 1024 * 1024) });
    const outcomes: Outcome[] = [];
    for (let round = 0; round < 10; round++) {
      outcomes.push(...(await Promise.all(Array.from({ length: 5 }, () => outcome(() => post(url, body))))));
    }
    expect(tally(outcomes)).toEqual({ '413 PAYLOAD_TOO_LARGE': 50 });
  }, 180_000);

  test('an oversized chunked body (no Content-Length) gets its 413 too (20 × 8 MB streamed)', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(64 * 1024));
    const streamed = () => {
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 128) controller.enqueue(chunk);
          else controller.close();
        },
      });
    };
    const outcomes: Outcome[] = [];
    for (let round = 0; round < 4; round++) {
      outcomes.push(
        ...(await Promise.all(Array.from({ length: 5 }, () => outcome(() => post(url, streamed(), { duplex: 'half' } as RequestInit))))),
      );
    }
    expect(tally(outcomes)).toEqual({ '413 PAYLOAD_TOO_LARGE': 20 });
  }, 180_000);

  test('a body that goes on past SYNCLINE_BODY_DRAIN_LIMIT is not read forever: the connection is closed', async () => {
    const c = await rawSocket(port);
    c.socket.write('POST /operations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const piece = Buffer.alloc(256 * 1024, 'x');
    const frame = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    let sent = 0;
    // Writes as fast as the server reads, until it closes the connection (or far past the bound).
    while (!c.closed() && sent < DRAIN_LIMIT * 4) {
      const ok = c.socket.write(frame);
      sent += piece.length;
      if (!ok) await new Promise((r) => c.socket.once('drain', r).once('close', r));
    }
    await until(() => c.closed(), CLOSED_WITHIN_MS);
    expect(sent).toBeGreaterThan(BODY_LIMIT);
    expect(sent).toBeLessThan(DRAIN_LIMIT * 4);
  }, 60_000);
});

describe('slow, stalled and idle connections are closed by the configured timeouts (server in its own process)', () => {
  let server: Served;
  let url = '';
  let port = 0;
  beforeAll(async () => {
    server = await startServer({
      SYNCLINE_BODY_LIMIT: String(BODY_LIMIT),
      SYNCLINE_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      SYNCLINE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      SYNCLINE_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_TIMEOUT_MS),
    });
    ({ url, port } = server);
  }, 90_000);
  afterAll(() => stopServer(server));

  test('slow headers: 50 connections sending a partial header are closed by the headers timeout; a normal request and a websocket work meanwhile', async () => {
    const ws = connectSocketIo(`${url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false });
    await until(() => ws.connected, 10_000);
    const slow = await Promise.all(Array.from({ length: 50 }, () => rawSocket(port)));
    for (const s of slow) s.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const silent = await rawSocket(port); // connected, never sends a byte
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    await until(() => slow.every((s) => s.closed()) && silent.closed(), CLOSED_WITHIN_MS);
    expect(slow.filter((s) => s.received().startsWith('HTTP/1.1 408')).length).toBe(50);
    // The websocket is not an HTTP request waiting for headers: it stays, and works.
    expect(ws.connected).toBe(true);
    const ack = (await ws.timeout(10_000).emitWithAck('push', { clientId: 'c', operations: [] })) as { ok: boolean };
    expect(ack.ok).toBe(true);
    ws.disconnect();
  }, 60_000);

  test('a request whose body stalls is closed by the request timeout (408)', async () => {
    const c = await rawSocket(port);
    c.socket.write('POST /operations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"clientId"');
    await until(() => c.closed(), CLOSED_WITHIN_MS);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);

  test('an oversized body that stalls is closed by the request timeout too (the drain waits no longer)', async () => {
    const c = await rawSocket(port);
    c.socket.write(
      `POST /operations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY_LIMIT * 4}\r\n\r\n{"pad":"xxxx`,
    );
    await until(() => c.closed(), CLOSED_WITHIN_MS);
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
  }, 60_000);

  test('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const c = await rawSocket(port);
    c.socket.write('GET /ping HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    await until(() => c.received().includes('pong'), 10_000);
    expect(c.received()).toMatch(/Keep-Alive: timeout=1/i);
    await until(() => c.closed(), CLOSED_WITHIN_MS);
  }, 60_000);
});
