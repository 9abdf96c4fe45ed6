/**
 * PostgreSQL LISTEN/NOTIFY bus. One connection LISTENs on the bus name; sends go
 * through a one-connection pool, so one instance's NOTIFYs commit in the order
 * sent. Payloads over NOTIFY's 8000-byte limit are chunked (notify-frames.ts).
 *
 * When the LISTEN connection drops (PostgreSQL restart, backend terminated,
 * network) it reports `down`, reconnects with backoff, LISTENs again and reports
 * `up`. Notifications sent while it was away are lost (the change log has them).
 * The send pool replaces a broken connection by itself on the next send.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { encodeFrames, FrameAssembler } from './notify-frames.js';
import type { BusPayload, BusTransport, TransportOptions, TransportState } from './transport.js';
import { reconnectDelayMs } from './transport.js';

type Pg = typeof pg;

export class PostgresTransport implements BusTransport {
  readonly kind = 'postgres';
  readonly #url: string;
  readonly #name: string;
  readonly #appName: string;
  readonly #idPrefix = randomBytes(4).toString('hex');
  readonly #frames = new FrameAssembler();
  #counter = 0;
  #pg: Pg | undefined;
  #pool: pg.Pool | undefined;
  #listener: pg.Client | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;
  #onMessage: (payload: BusPayload) => void = () => {};
  #onState: (state: TransportState, error?: Error) => void = () => {};

  constructor(options: TransportOptions & { url: string }) {
    this.#url = options.url;
    this.#name = options.name;
    this.#appName = `syncline-bus-${options.instanceId}`.slice(0, 63);
  }

  onMessage(callback: (payload: BusPayload) => void): void {
    this.#onMessage = callback;
  }

  onState(callback: (state: TransportState, error?: Error) => void): void {
    this.#onState = callback;
  }

  async connect(): Promise<void> {
    const { default: pgModule } = await import('pg');
    this.#pg = pgModule;
    if (this.#closed) throw new Error('closed');
    this.#pool = new pgModule.Pool({
      connectionString: this.#url,
      max: 1,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30_000,
      application_name: `${this.#appName}-send`.slice(0, 63),
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // An idle send connection that drops is replaced on the next send.
    this.#pool.on('error', () => {});
    await this.#listen();
  }

  async send(payload: BusPayload): Promise<void> {
    const pool = this.#pool;
    if (!pool || this.#closed) throw new Error('the PostgreSQL bus is not connected');
    const frames = encodeFrames(payload, `${this.#idPrefix}${(this.#counter++).toString(36)}`);
    if (frames.length === 1) {
      await pool.query('SELECT pg_notify($1, $2)', [this.#name, frames[0]]);
    } else {
      // One statement: every chunk commits, and arrives, together.
      await pool.query('SELECT pg_notify($1, f) FROM unnest($2::text[]) AS f', [this.#name, frames]);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retry);
    const listener = this.#listener;
    this.#listener = undefined;
    this.#frames.clear();
    await Promise.all([listener?.end().catch(() => {}), this.#pool?.end().catch(() => {})]);
  }

  /** Opens the LISTEN connection; rejects if it cannot. */
  async #listen(): Promise<void> {
    const pgModule = this.#pg as Pg;
    const client = new pgModule.Client({
      connectionString: this.#url,
      connectionTimeoutMillis: 5000,
      application_name: this.#appName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    const lost = (err?: Error) => {
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.#frames.clear();
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#onState('down', err ?? new Error('the LISTEN connection ended'));
      this.#reconnect(1);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (n.channel !== this.#name || this.#listener !== client) return;
      let payload: BusPayload | undefined;
      try {
        payload = this.#frames.push(n.payload ?? '');
      } catch {
        return; // Someone else's NOTIFY on this channel: not ours to read.
      }
      if (payload !== undefined) this.#onMessage(payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${pgModule.escapeIdentifier(this.#name)}`);
    } catch (err) {
      client.end().catch(() => {});
      throw err;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      throw new Error('closed');
    }
    this.#listener = client;
  }

  #reconnect(attempt: number): void {
    this.#retry = setTimeout(() => {
      if (this.#closed) return;
      this.#listen().then(
        () => this.#onState('up'),
        () => {
          if (!this.#closed) this.#reconnect(attempt + 1);
        },
      );
    }, reconnectDelayMs(attempt));
    this.#retry.unref();
  }
}
