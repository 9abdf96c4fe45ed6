/**
 * NATS bus (core NATS, the `nats` package): every instance subscribes to the
 * subject named after the bus and publishes to it. At-most-once, like every bus
 * here; JetStream is not used.
 *
 * nats.js reconnects by itself (forever, every 250 ms plus jitter) and sends
 * its subscriptions again; the bus reports `down` on a disconnect and `up` once
 * the server has confirmed the resubscription (a flush round trip). The
 * server's `max_payload` (1 MiB by default) bounds a message.
 */
import type { NatsConnection, Subscription } from 'nats';
import type { BusPayload, BusTransport, TransportOptions, TransportState } from './transport.js';

export class NatsTransport implements BusTransport {
  readonly kind = 'nats';
  readonly #url: string;
  readonly #name: string;
  readonly #clientName: string;
  #nc: NatsConnection | undefined;
  #sub: Subscription | undefined;
  #closed = false;
  #onMessage: (payload: BusPayload) => void = () => {};
  #onState: (state: TransportState, error?: Error) => void = () => {};

  readonly #extra: Record<string, unknown>;

  constructor(options: TransportOptions & { url: string }) {
    this.#url = options.url;
    this.#extra = options.connectionOptions ?? {};
    this.#name = options.name;
    this.#clientName = `syncline-bus-${options.instanceId}`;
  }

  get maxPayloadBytes(): number | undefined {
    return this.#nc?.info?.max_payload;
  }

  onMessage(callback: (payload: BusPayload) => void): void {
    this.#onMessage = callback;
  }

  onState(callback: (state: TransportState, error?: Error) => void): void {
    this.#onState = callback;
  }

  async connect(): Promise<void> {
    const { connect, Events } = await import('nats');
    if (this.#closed) throw new Error('closed');
    const url = new URL(this.#url);
    const auth: { user?: string; pass?: string; token?: string } = {};
    if (url.username && url.password) {
      auth.user = decodeURIComponent(url.username);
      auth.pass = decodeURIComponent(url.password);
    } else if (url.username) {
      auth.token = decodeURIComponent(url.username);
    }
    const nc = await connect({
      servers: `${url.hostname}:${url.port || 4222}`,
      ...auth,
      name: this.#clientName,
      timeout: 5000,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: false,
      pingInterval: 10_000,
      maxPingOut: 2,
      ...this.#extra,
    });
    this.#nc = nc;
    if (this.#closed) {
      await nc.close().catch(() => {});
      throw new Error('closed');
    }
    this.#sub = nc.subscribe(this.#name, {
      callback: (err, msg) => {
        if (!err && !this.#closed) this.#onMessage(msg.data);
      },
    });
    await nc.flush();
    void (async () => {
      for await (const status of nc.status()) {
        if (this.#closed) return;
        if (status.type === Events.Disconnect) {
          this.#onState('down', new Error(`disconnected from NATS ${String(status.data)}`));
        } else if (status.type === Events.Reconnect) {
          // `up` once the server has our subscription again.
          nc.flush().then(
            () => {
              if (!this.#closed && !nc.isClosed()) this.#onState('up');
            },
            () => {},
          );
        }
      }
    })().catch(() => {});
  }

  async send(payload: BusPayload): Promise<void> {
    const nc = this.#nc;
    if (!nc || this.#closed || nc.isClosed()) throw new Error('the NATS bus is not connected');
    nc.publish(this.#name, payload);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub?.unsubscribe();
    await this.#nc?.close().catch(() => {});
  }
}
