/**
 * The in-process bus (the conformance suite), EventBus's own rules on a
 * transport the test controls, createBus's configuration errors, and the
 * PostgreSQL NOTIFY framing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isSynclineError } from '@syncline/protocol';
import fc from 'fast-check';
import { describe, expect, test, vi } from 'vitest';
import { createBus } from '../src/bus/create-bus.js';
import type { BusState } from '../src/bus/event-bus.js';
import { encodeFrames, FrameAssembler } from '../src/bus/notify-frames.js';
import type { BusPayload, BusTransport, TransportState } from '../src/bus/transport.js';
import { registerBusTests, waitFor } from './bus-conformance.js';

registerBusTests({ label: 'in-process' });

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
}

function deferred<T = void>(): Deferred<T> {
  const d = {} as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => Object.assign(d, { resolve, reject }));
  return d;
}

/** A transport whose connection and sends the test settles by hand. */
class ManualTransport implements BusTransport {
  readonly kind = 'manual';
  maxPayloadBytes: number | undefined;
  deliver: (payload: BusPayload) => void = () => {};
  setState: (state: TransportState, error?: Error) => void = () => {};
  connected = deferred();
  sends: { payload: BusPayload; done: Deferred<void> }[] = [];
  closed = 0;
  onMessage(cb: (payload: BusPayload) => void) {
    this.deliver = cb;
  }
  onState(cb: (state: TransportState, error?: Error) => void) {
    this.setState = cb;
  }
  connect() {
    return this.connected.promise;
  }
  send(payload: BusPayload) {
    const done = deferred();
    this.sends.push({ payload, done });
    return done.promise;
  }
  async close() {
    this.closed++;
  }
}

async function upBus(options: Parameters<typeof createBus>[0] = {}) {
  const transport = new ManualTransport();
  const bus = createBus({ transport, instanceId: 'me', ...options });
  transport.connected.resolve();
  await bus.ready;
  return { bus, transport };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e: unknown) => (isSynclineError(e) ? e.code : String(e)),
  );

describe('EventBus', () => {
  test('state follows the transport: connecting, up, down, up, closed', async () => {
    const transport = new ManualTransport();
    const bus = createBus({ transport });
    const states: BusState[] = [];
    bus.onStateChange((s) => states.push(s));
    expect(bus.state).toBe('connecting');
    await expect(codeOf(bus.publish({ kind: 'x' }))).resolves.toBe('BUS_UNAVAILABLE');
    transport.connected.resolve();
    await bus.ready;
    transport.setState('down', new Error('lost'));
    transport.setState('up');
    await bus.close();
    await bus.close();
    expect(states).toEqual(['up', 'down', 'up', 'closed']);
    expect(transport.closed).toBe(1);
  });

  test('publishing while down settles at once with BUS_UNAVAILABLE and counts the drop; nothing is queued', async () => {
    const { bus, transport } = await upBus();
    transport.setState('down');
    const results = await Promise.all(Array.from({ length: 5 }, () => codeOf(bus.publish({ kind: 'x' }))));
    expect(results).toEqual(Array(5).fill('BUS_UNAVAILABLE'));
    expect(transport.sends).toHaveLength(0);
    expect(bus.stats()).toMatchObject({ state: 'down', dropped: 5, published: 0 });
    transport.setState('up');
    const sent = bus.publish({ kind: 'x' });
    transport.sends[0]?.done.resolve();
    await sent;
    expect(bus.stats()).toMatchObject({ published: 1, dropped: 5 });
  });

  test('sends in flight are bounded: past maxInFlight a publish drops at once', async () => {
    const { bus, transport } = await upBus({ maxInFlight: 3 });
    const pending = [1, 2, 3].map(() => bus.publish({ kind: 'x' }));
    await expect(codeOf(bus.publish({ kind: 'x' }))).resolves.toBe('BUS_UNAVAILABLE');
    expect(transport.sends).toHaveLength(3);
    expect(bus.stats().inFlight).toBe(3);
    for (const s of transport.sends) s.done.resolve();
    await Promise.all(pending);
    expect(bus.stats()).toMatchObject({ inFlight: 0, published: 3, dropped: 1 });
  });

  test('a send that fails or hangs rejects with BUS_UNAVAILABLE', async () => {
    const { bus, transport } = await upBus({ sendTimeoutMs: 50 });
    const failing = codeOf(bus.publish({ kind: 'x' }));
    transport.sends[0]?.done.reject(new Error('refused'));
    expect(await failing).toBe('BUS_UNAVAILABLE');
    // A send that never answers: rejected when sendTimeoutMs has passed, not before (a fake clock, so exactly).
    vi.useFakeTimers();
    try {
      let hung: string | undefined;
      void codeOf(bus.publish({ kind: 'x' })).then((code) => {
        hung = code;
      });
      await vi.advanceTimersByTimeAsync(49);
      expect(hung).toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      expect(hung).toBe('BUS_UNAVAILABLE');
    } finally {
      vi.useRealTimers();
    }
    expect(bus.stats()).toMatchObject({ dropped: 2, inFlight: 1 });
  });

  test('a message over the limit (the bus’s or the backend’s) rejects with BUS_MESSAGE_TOO_LARGE', async () => {
    const { bus, transport } = await upBus({ maxMessageBytes: 1000 });
    await expect(codeOf(bus.publish({ kind: 'x', s: 'y'.repeat(1000) }))).resolves.toBe('BUS_MESSAGE_TOO_LARGE');
    transport.maxPayloadBytes = 50;
    await expect(codeOf(bus.publish({ kind: 'x', s: 'y'.repeat(60) }))).resolves.toBe('BUS_MESSAGE_TOO_LARGE');
    expect(transport.sends).toHaveLength(0);
  });

  test('stamps origin, skips its own messages, counts unreadable ones, survives a throwing handler', async () => {
    const { bus, transport } = await upBus();
    const errors: Error[] = [];
    bus.onError((e) => errors.push(e));
    const got: unknown[] = [];
    bus.subscribe(() => {
      throw new Error('handler bug');
    });
    bus.subscribe((m) => got.push(m));
    void bus.publish({ kind: 'x', origin: 'forged', n: 1 });
    expect(JSON.parse(transport.sends[0]?.payload as string)).toEqual({ kind: 'x', origin: 'me', n: 1 });
    transport.deliver(transport.sends[0]?.payload as string);
    transport.deliver('{"kind":"y","origin":"other"}');
    transport.deliver(new TextEncoder().encode('{"kind":"z","origin":"other"}'));
    transport.deliver('not json');
    transport.deliver('[1,2]');
    transport.deliver('{"kind":7}');
    expect(got).toEqual([
      { kind: 'y', origin: 'other' },
      { kind: 'z', origin: 'other' },
    ]);
    expect(bus.stats()).toMatchObject({ received: 2, invalid: 3, handlerErrors: 2 });
    expect(errors.map((e) => e.message)).toContain('handler bug');
  });

  test('ready rejects when the first connection fails or takes too long, and the bus is closed', async () => {
    const failing = new ManualTransport();
    const bus = createBus({ transport: failing });
    failing.connected.reject(new Error('ECONNREFUSED'));
    await expect(bus.ready).rejects.toMatchObject({ code: 'BUS_UNAVAILABLE' });
    expect(bus.state).toBe('closed');
    expect(failing.closed).toBe(1);

    const slow = new ManualTransport();
    const slowBus = createBus({ transport: slow, connectTimeoutMs: 50 });
    await expect(slowBus.ready).rejects.toMatchObject({ code: 'BUS_UNAVAILABLE', message: expect.stringContaining('50 ms') });
    expect(slowBus.state).toBe('closed');
  });

  test('close() while connecting rejects ready and closes the transport', async () => {
    const transport = new ManualTransport();
    const bus = createBus({ transport });
    await bus.close();
    transport.connected.resolve();
    await expect(bus.ready).rejects.toMatchObject({ code: 'BUS_UNAVAILABLE' });
    expect(bus.state).toBe('closed');
    expect(transport.closed).toBe(1);
  });

  test('a bus nobody awaits does not leave an unhandled rejection', async () => {
    const transport = new ManualTransport();
    createBus({ transport });
    transport.connected.reject(new Error('down'));
    await new Promise((r) => setTimeout(r, 10));
  });

  test('in-process buses: same name talk, delivery is never inside the publisher’s call', async () => {
    const name = `inproc_${Math.random().toString(36).slice(2)}`;
    const a = createBus({ name });
    const b = createBus({ name });
    await Promise.all([a.ready, b.ready]);
    expect(a.kind).toBe('in-process');
    const got: unknown[] = [];
    b.subscribe((m) => got.push(m.n));
    const p = a.publish({ kind: 'x', n: 1 });
    expect(got).toEqual([]);
    await p;
    await waitFor(() => got.length === 1, 'delivery');
    await Promise.all([a.close(), b.close()]);
  });
});

describe('createBus configuration', () => {
  test('backend drivers are imported only inside connect() (no static value import in src/bus)', () => {
    const dir = resolve(import.meta.dirname, '../src/bus');
    for (const file of readdirSync(dir)) {
      const source = readFileSync(resolve(dir, file), 'utf8');
      expect(source, file).not.toMatch(/^import (?!type )[^;]*from '(pg|ioredis|nats|amqplib|@msgpack\/msgpack)'/m);
    }
  });

  test.each([
    ['mqtt://127.0.0.1:1883', 'INVALID_CONFIG'],
    ['http://example.com', 'INVALID_CONFIG'],
    ['not a url', 'INVALID_CONFIG'],
  ])('url %s → %s', (url, code) => {
    expect(() => createBus({ url })).toThrow(expect.objectContaining({ code }));
  });

  test.each(['', 'has space', 'a*b', 'x'.repeat(64)])('name %j is refused', (name) => {
    expect(() => createBus({ name })).toThrow(expect.objectContaining({ code: 'INVALID_CONFIG' }));
  });

  test.each([
    ['redis://127.0.0.1:1', 'redis'],
    ['rediss://127.0.0.1:1', 'redis'],
    ['nats://127.0.0.1:1', 'nats'],
    ['amqp://127.0.0.1:1', 'amqp'],
    ['amqps://127.0.0.1:1', 'amqp'],
    ['postgres://127.0.0.1:1/x', 'postgres'],
    ['postgresql://127.0.0.1:1/x', 'postgres'],
    [undefined, 'in-process'],
  ])('url %s selects %s', async (url, kind) => {
    const bus = createBus(url ? { url, connectTimeoutMs: 3000 } : {});
    expect(bus.kind).toBe(kind);
    expect(bus.name).toBe('syncline');
    await bus.close();
    await bus.ready.catch(() => {});
  });
});

describe('PostgreSQL NOTIFY framing', () => {
  const roundTrip = (payload: BusPayload, max: number) => {
    const frames = encodeFrames(payload, 'abc1', max);
    const assembler = new FrameAssembler();
    const out: BusPayload[] = [];
    for (const f of frames) {
      const p = assembler.push(f);
      if (p !== undefined) out.push(p);
    }
    return { frames, out, pending: assembler.pendingCount };
  };

  test('every frame fits the limit; text and binary come back whole', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 300 }), fc.uint8Array({ maxLength: 300 })),
        fc.integer({ min: 8, max: 64 }),
        (payload, max) => {
          const { frames, out, pending } = roundTrip(payload, max);
          for (const f of frames) expect(Buffer.byteLength(f.slice(f.indexOf('|') + 1))).toBeLessThanOrEqual(max);
          expect(out).toHaveLength(1);
          expect(pending).toBe(0);
          if (typeof payload === 'string') expect(out[0]).toBe(payload);
          else expect([...(out[0] as Uint8Array)]).toEqual([...payload]);
        },
      ),
    );
  });

  test('a small payload is one frame; interleaved chunked payloads reassemble; foreign NOTIFYs throw', () => {
    expect(encodeFrames('{"kind":"x"}', 'id')).toEqual(['s|{"kind":"x"}']);
    const a = encodeFrames('a'.repeat(30), 'A', 10);
    const b = encodeFrames('b'.repeat(30), 'B', 10);
    const assembler = new FrameAssembler();
    const out: BusPayload[] = [];
    for (let i = 0; i < 3; i++) {
      for (const f of [a[i], b[i]]) {
        const p = assembler.push(f as string);
        if (p !== undefined) out.push(p);
      }
    }
    expect(out).toEqual(['a'.repeat(30), 'b'.repeat(30)]);
    expect(() => assembler.push('hello')).toThrow();
    expect(() => assembler.push('sX:5/3|x')).toThrow();
  });

  test('incomplete payloads are bounded', () => {
    const assembler = new FrameAssembler({ maxPending: 2, maxPendingBytes: 1000, maxChunks: 10 });
    for (let i = 0; i < 5; i++) assembler.push(`sid${i}:0/2|x`);
    expect(assembler.pendingCount).toBe(2);
    expect(() => assembler.push('sbig:0/11|x')).toThrow();
  });
});
