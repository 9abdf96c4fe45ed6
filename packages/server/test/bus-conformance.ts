/**
 * The EventBus conformance suite: every backend runs it against the real
 * service (bus.test.ts in-process, bus.pg/redis/nats/amqp.test.ts). Each run
 * uses its own bus names, so test files running in parallel do not meet.
 */
import { isSynclineError } from '@syncline/protocol';
import { afterEach, describe, expect, test } from 'vitest';
import type { BusOptions } from '../src/bus/create-bus.js';
import { createBus } from '../src/bus/create-bus.js';
import type { BusState, EventBus } from '../src/bus/event-bus.js';
import type { BusMessage, Serializer } from '../src/bus/serializer.js';
import type { BusPayload } from '../src/bus/transport.js';
import { startTcpProxy } from './bus-proxy.js';

export interface BusBackend {
  label: string;
  /** The service; undefined for the in-process bus. */
  url?: string;
  /** Default port of the scheme, for the proxy. */
  port?: number;
  /** Where nothing listens: `ready` must reject. */
  unreachableUrl?: string;
  /**
   * Drops the bus's connection from the server side. Without it, the suite
   * puts a TCP proxy in front of the service and resets the connection there.
   */
  kill?: (bus: EventBus) => Promise<void>;
}

const run = `${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
let seq = 0;
const uniqueName = (what: string) => `t_${run}_${what}_${seq++}`;

export async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function collect(bus: EventBus): BusMessage[] {
  const got: BusMessage[] = [];
  bus.subscribe((m) => got.push(m));
  return got;
}

export function registerBusTests(backend: BusBackend): void {
  describe(`EventBus conformance: ${backend.label}`, () => {
    const open: EventBus[] = [];
    const start = async (name: string, options: BusOptions = {}): Promise<EventBus> => {
      const bus = createBus({ ...(backend.url ? { url: backend.url } : {}), name, ...options });
      open.push(bus);
      await bus.ready;
      return bus;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    test('buses on one name get each other’s messages in order, never their own', async () => {
      const name = uniqueName('order');
      const [a, b, c] = await Promise.all([start(name), start(name), start(name)]);
      expect([a.state, b.state, c.state]).toEqual(['up', 'up', 'up']);
      expect(a.kind).toBe(b.kind);
      const [gotA, gotB, gotC] = [collect(a), collect(b), collect(c)];
      const n = 200;
      await Promise.all(Array.from({ length: n }, (_, i) => a.publish({ kind: 'test', i })));
      await Promise.all(Array.from({ length: 20 }, (_, i) => b.publish({ kind: 'test', j: i })));
      const fromA = (got: BusMessage[]) => got.filter((m) => m.origin === a.instanceId).map((m) => m.i);
      await waitFor(() => fromA(gotB).length === n && fromA(gotC).length === n, 'a’s messages at b and c');
      const inOrder = Array.from({ length: n }, (_, i) => i);
      expect(fromA(gotB)).toEqual(inOrder);
      expect(fromA(gotC)).toEqual(inOrder);
      await waitFor(() => gotA.length === 20, 'b’s messages at a');
      expect(gotA.map((m) => m.j)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      await pause(100);
      expect(gotA.every((m) => m.origin === b.instanceId)).toBe(true);
      expect(gotB.every((m) => m.origin === a.instanceId)).toBe(true);
      expect(a.stats()).toMatchObject({ published: n, dropped: 0, received: 20, invalid: 0 });
    });

    test('unsubscribe stops that handler only', async () => {
      const name = uniqueName('unsub');
      const [a, b] = await Promise.all([start(name), start(name)]);
      const first: unknown[] = [];
      const second: unknown[] = [];
      const off = b.subscribe((m) => first.push(m.n));
      b.subscribe((m) => second.push(m.n));
      await a.publish({ kind: 'test', n: 1 });
      await waitFor(() => second.length === 1, 'first message');
      off();
      off();
      await a.publish({ kind: 'test', n: 2 });
      await waitFor(() => second.length === 2, 'second message');
      expect(first).toEqual([1]);
      expect(second).toEqual([1, 2]);
    });

    test('different names are isolated', async () => {
      const one = uniqueName('iso');
      const two = uniqueName('iso');
      const [a1, b1, a2, b2] = await Promise.all([start(one), start(one), start(two), start(two)]);
      const [got1, got2] = [collect(b1), collect(b2)];
      await a2.publish({ kind: 'test', on: 'two' });
      await a1.publish({ kind: 'test', on: 'one' });
      await waitFor(() => got1.length === 1 && got2.length === 1, 'one message on each name');
      await pause(100);
      expect(got1.map((m) => m.on)).toEqual(['one']);
      expect(got2.map((m) => m.on)).toEqual(['two']);
    });

    test('a large message (~200 KB of multi-byte text) arrives intact', async () => {
      const name = uniqueName('large');
      const [a, b] = await Promise.all([start(name), start(name)]);
      const got = collect(b);
      const text = 'a€😀é\u0001"\\'.repeat(20_000);
      expect(Buffer.byteLength(JSON.stringify({ text }))).toBeGreaterThan(150_000);
      await a.publish({ kind: 'big', text });
      await a.publish({ kind: 'small' });
      await waitFor(() => got.length === 2, 'the large message');
      expect(got.map((m) => m.kind)).toEqual(['big', 'small']);
      expect(got[0]?.text).toBe(text);
    });

    test('JSON is the default: a Date arrives as its ISO string', async () => {
      const name = uniqueName('json');
      const [a, b] = await Promise.all([start(name), start(name)]);
      const got = collect(b);
      const at = new Date('2024-02-29T12:34:56.789Z');
      await a.publish({ kind: 'test', at, nested: { list: [1, 'x', null, true] } });
      await waitFor(() => got.length === 1, 'the message');
      expect(got[0]).toEqual({ kind: 'test', at: at.toISOString(), nested: { list: [1, 'x', null, true] }, origin: a.instanceId });
    });

    test('MessagePack: a Date and binary (Uint8Array, Buffer) survive', async () => {
      const name = uniqueName('msgpack');
      const [a, b] = await Promise.all([start(name, { serializer: 'msgpack' }), start(name, { serializer: 'msgpack' })]);
      const got = collect(b);
      const at = new Date('2024-02-29T12:34:56.789Z');
      const bytes = new Uint8Array(50_000).map((_, i) => (i * 7919) % 256);
      await a.publish({ kind: 'test', at, bytes, buffer: Buffer.from([0, 1, 2, 255]) });
      await waitFor(() => got.length === 1, 'the message');
      const m = got[0] as BusMessage;
      expect(m.at).toBeInstanceOf(Date);
      expect((m.at as Date).getTime()).toBe(at.getTime());
      expect(m.bytes).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(m.bytes as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
      expect([...(m.buffer as Uint8Array)]).toEqual([0, 1, 2, 255]);
      expect(m.origin).toBe(a.instanceId);
    });

    test('a custom serializer is used on both sides', async () => {
      const name = uniqueName('custom');
      const seen: string[] = [];
      const custom: Serializer = {
        serialize: (m) => `v1;${JSON.stringify(m)}`,
        deserialize: (p: BusPayload) => {
          const text = typeof p === 'string' ? p : Buffer.from(p).toString('utf8');
          seen.push(text.slice(0, 3));
          if (!text.startsWith('v1;')) throw new Error('not v1');
          return JSON.parse(text.slice(3));
        },
      };
      const [a, b] = await Promise.all([start(name, { serializer: custom }), start(name, { serializer: custom })]);
      const got = collect(b);
      await a.publish({ kind: 'test', x: 1 });
      await waitFor(() => got.length === 1, 'the message');
      expect(got[0]).toMatchObject({ kind: 'test', x: 1 });
      expect(seen).toContain('v1;');
    });

    const unreachableUrl = backend.unreachableUrl;
    if (unreachableUrl)
      test('ready rejects with BUS_UNAVAILABLE when the service is unreachable', async () => {
        const t0 = Date.now();
        const bus = createBus({ url: unreachableUrl, name: uniqueName('down') });
        open.push(bus);
        const states: BusState[] = [];
        bus.onStateChange((s) => states.push(s));
        const err = await bus.ready.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isSynclineError(err) && err.code).toBe('BUS_UNAVAILABLE');
        expect(Date.now() - t0).toBeLessThan(5000);
        expect(bus.state).toBe('closed');
        expect(states).toEqual(['closed']);
        await expect(bus.publish({ kind: 'test' })).rejects.toMatchObject({ code: 'BUS_UNAVAILABLE' });
      });

    test('close() is idempotent and stops delivery at once', async () => {
      const name = uniqueName('close');
      const [a, b, c] = await Promise.all([start(name), start(name), start(name)]);
      const [gotB, gotC] = [collect(b), collect(c)];
      await a.publish({ kind: 'test', n: 1 });
      await waitFor(() => gotB.length === 1 && gotC.length === 1, 'the first message');
      await Promise.all([b.close(), b.close()]);
      await b.close();
      expect(b.state).toBe('closed');
      await a.publish({ kind: 'test', n: 2 });
      await waitFor(() => gotC.length === 2, 'the second message at c');
      await pause(100);
      expect(gotB.map((m) => m.n)).toEqual([1]);
      await expect(b.publish({ kind: 'test' })).rejects.toMatchObject({ code: 'BUS_UNAVAILABLE' });
    });

    if (backend.url)
      test('after its connection drops it reports down, refuses publish quickly, reconnects and delivers again', async () => {
        const name = uniqueName('drop');
        const proxy = backend.kill ? undefined : await startTcpProxy(backend.url as string, backend.port as number);
        try {
          const a = await start(name);
          const b = await start(name, proxy ? { url: proxy.url(backend.url as string) } : {});
          const [gotA, gotB] = [collect(a), collect(b)];
          await a.publish({ kind: 'test', n: 'before' });
          await waitFor(() => gotB.length === 1, 'the message before the drop');

          const states: BusState[] = [];
          let whileDown: Promise<unknown> | undefined;
          b.onStateChange((s) => {
            states.push(s);
            if (s === 'down') {
              // "At once" = before any I/O or timer could run: settled in the microtasks before this setImmediate.
              let ioRan = false;
              setImmediate(() => {
                ioRan = true;
              });
              whileDown = b.publish({ kind: 'test', n: 'lost' }).then(
                () => 'sent',
                (e: { code?: string }) => ({ code: e.code, atOnce: !ioRan }),
              );
            }
          });
          if (backend.kill) await backend.kill(b);
          else expect(proxy?.dropAll()).toBeGreaterThan(0);
          await waitFor(() => states.includes('down'), 'state down');
          await waitFor(() => b.state === 'up', 'state up again', 10_000);
          expect(states).toEqual(['down', 'up']);
          expect(await whileDown).toEqual({ code: 'BUS_UNAVAILABLE', atOnce: true });
          expect(b.stats().dropped).toBe(1);

          await a.publish({ kind: 'test', n: 'after' });
          await b.publish({ kind: 'test', n: 'back' });
          await waitFor(() => gotB.length === 2 && gotA.length === 1, 'messages after reconnecting');
          expect(gotB.map((m) => m.n)).toEqual(['before', 'after']);
          expect(gotA.map((m) => m.n)).toEqual(['back']);
        } finally {
          await Promise.all(open.splice(0).map((bus) => bus.close()));
          await proxy?.close();
        }
      });
  });
}
