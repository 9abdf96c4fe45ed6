/**
 * `clientStatus` is sent at most once a second and the newest status always
 * goes out: the throttle of SocketTransport on a fake socket and a fake clock,
 * so the figures are exact (client-status.test.ts covers the real server).
 */
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { SocketTransport } from '../src/transport/socket.js';
import type { StatusReport } from '../src/transport/transport.js';

const fake = vi.hoisted(() => {
  const handlers = new Map<string, ((...args: unknown[]) => void)[]>();
  const sent: { at: number; status: StatusReport }[] = [];
  const socket = {
    connected: false,
    on(event: string, fn: (...args: unknown[]) => void) {
      handlers.set(event, [...(handlers.get(event) ?? []), fn]);
      return socket;
    },
    emit(event: string, payload: StatusReport) {
      if (event === 'clientStatus') sent.push({ at: Date.now(), status: payload });
      return socket;
    },
    removeAllListeners() {
      handlers.clear();
      return socket;
    },
    disconnect() {
      socket.connected = false;
      return socket;
    },
    connect() {
      return socket;
    },
    fire(event: string, ...args: unknown[]) {
      for (const fn of handlers.get(event) ?? []) fn(...args);
    },
  };
  return { socket, sent };
});
vi.mock('socket.io-client', () => ({ io: () => fake.socket }));

const T0 = 1_700_000_000_000;
let transport: SocketTransport;
const status = (pending: number): StatusReport => ({ clientId: 'c', pending, position: 0 });

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  fake.sent.length = 0;
  transport = new SocketTransport({ url: 'http://127.0.0.1:1' });
  transport.connect({ online() {}, offline() {}, refused() {} });
  fake.socket.connected = true;
  fake.socket.fire('connect');
});
afterEach(() => {
  transport.disconnect();
  vi.useRealTimers();
});

test('a burst of pending changes: one report at once, then the newest one a second after it', () => {
  transport.reportStatus(status(0));
  expect(fake.sent).toEqual([{ at: T0, status: status(0) }]);
  for (let i = 1; i <= 20; i++) {
    transport.reportStatus(status(i));
    vi.advanceTimersByTime(10);
  }
  expect(fake.sent).toHaveLength(1);
  vi.advanceTimersByTime(1000 - 200 - 1);
  expect(fake.sent).toHaveLength(1);
  vi.advanceTimersByTime(1);
  expect(fake.sent).toEqual([
    { at: T0, status: status(0) },
    { at: T0 + 1000, status: status(20) },
  ]);

  // Nothing changed: nothing sent. A change after a quiet second: sent at once.
  transport.reportStatus({ ...status(20), position: 5 });
  vi.advanceTimersByTime(5000);
  expect(fake.sent).toHaveLength(2);
  transport.reportStatus(status(0));
  expect(fake.sent.at(-1)).toEqual({ at: T0 + 6000, status: status(0) });
});

test('reports never come closer than a second, whatever the pattern of changes', () => {
  let pending = 0;
  for (let step = 0; step < 500; step++) {
    transport.reportStatus(status(++pending % 7));
    vi.advanceTimersByTime([1, 13, 250, 999, 1000, 1001][step % 6] as number);
  }
  vi.advanceTimersByTime(1000);
  const times = fake.sent.map((s) => s.at);
  expect(times.length).toBeGreaterThan(10);
  for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(1000);
  // The last status reported is the newest one.
  expect(fake.sent.at(-1)?.status).toEqual(status(pending % 7));
});

test('no report while disconnected; the newest goes out on reconnecting', () => {
  transport.reportStatus(status(1));
  fake.socket.connected = false;
  vi.advanceTimersByTime(2000);
  transport.reportStatus(status(2));
  vi.advanceTimersByTime(2000);
  expect(fake.sent.map((s) => s.status.pending)).toEqual([1]);
  fake.socket.connected = true;
  fake.socket.fire('connect');
  expect(fake.sent.map((s) => s.status.pending)).toEqual([1, 2]);
});
