/**
 * Redis pub/sub bus (ioredis): one connection publishes, one subscribes to the
 * channel named after the bus (a subscribed connection can do nothing else).
 *
 * ioredis reconnects both with backoff. The bus is `up` only while both are
 * ready and the subscriber has confirmed its SUBSCRIBE again, so `up` means
 * delivery works. The publisher has no offline queue: a send while it is
 * disconnected fails at once instead of piling up.
 */
import type { Redis, RedisOptions } from 'ioredis';
import type { BusPayload, BusTransport, TransportOptions, TransportState } from './transport.js';
import { reconnectDelayMs } from './transport.js';

export class RedisTransport implements BusTransport {
  readonly kind = 'redis';
  readonly #url: string;
  readonly #name: string;
  readonly #connectionName: string;
  #pub: Redis | undefined;
  #sub: Redis | undefined;
  #subscribed = false;
  #up = false;
  #closed = false;
  #lastError: Error | undefined;
  #onMessage: (payload: BusPayload) => void = () => {};
  #onState: (state: TransportState, error?: Error) => void = () => {};

  readonly #extra: Record<string, unknown>;

  constructor(options: TransportOptions & { url: string }) {
    this.#url = options.url;
    this.#extra = options.connectionOptions ?? {};
    this.#name = options.name;
    // Redis client names may not contain spaces or newlines.
    this.#connectionName = `syncline-bus-${options.instanceId}`.replace(/[^\w.:-]/g, '_');
  }

  onMessage(callback: (payload: BusPayload) => void): void {
    this.#onMessage = callback;
  }

  onState(callback: (state: TransportState, error?: Error) => void): void {
    this.#onState = callback;
  }

  async connect(): Promise<void> {
    const { Redis } = await import('ioredis');
    if (this.#closed) throw new Error('closed');
    const options: RedisOptions = {
      connectTimeout: 5000,
      maxRetriesPerRequest: 1,
      retryStrategy: (attempt) => reconnectDelayMs(attempt),
      ...(this.#extra as RedisOptions),
      lazyConnect: true,
      // We subscribe again ourselves, so that `up` waits for the confirmation.
      autoResubscribe: false,
    };
    const pub = new Redis(this.#url, { ...options, connectionName: `${this.#connectionName}-pub`, enableOfflineQueue: false });
    const sub = new Redis(this.#url, { ...options, connectionName: `${this.#connectionName}-sub` });
    this.#pub = pub;
    this.#sub = sub;
    for (const client of [pub, sub]) {
      client.on('error', (err: Error) => {
        this.#lastError = err;
      });
    }
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (!this.#closed && channel.toString() === this.#name) this.#onMessage(message);
    });
    try {
      await Promise.all([pub.connect(), sub.connect()]);
      await sub.subscribe(this.#name);
    } catch (err) {
      pub.disconnect();
      sub.disconnect();
      throw this.#lastError ?? err;
    }
    if (this.#closed) throw new Error('closed');
    this.#subscribed = true;
    this.#up = true;
    sub.on('close', () => {
      this.#subscribed = false;
    });
    for (const client of [pub, sub]) client.on('close', () => this.#update());
    pub.on('ready', () => this.#update());
    sub.on('ready', () => {
      sub.subscribe(this.#name).then(
        () => {
          this.#subscribed = true;
          this.#update();
        },
        // A failed SUBSCRIBE: drop the connection, ioredis reconnects and we try again.
        () => sub.disconnect(true),
      );
    });
  }

  async send(payload: BusPayload): Promise<void> {
    const pub = this.#pub;
    if (!pub || this.#closed) throw new Error('the Redis bus is not connected');
    await pub.publish(
      this.#name,
      typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pub?.disconnect();
    this.#sub?.disconnect();
  }

  #update(): void {
    if (this.#closed) return;
    const up = this.#pub?.status === 'ready' && this.#sub?.status === 'ready' && this.#subscribed;
    if (up === this.#up) return;
    this.#up = up;
    this.#onState(up ? 'up' : 'down', up ? undefined : (this.#lastError ?? new Error('the Redis connection was lost')));
  }
}
