/**
 * AMQP 0-9-1 bus (RabbitMQ, amqplib): a fanout exchange named after the bus;
 * each instance binds its own exclusive, auto-delete queue (at most 10,000
 * waiting messages, the oldest dropped first) and consumes it without acks.
 *
 * amqplib's connection recovery reconnects with backoff after the connection
 * is lost (broker restart, network, a forced close) and runs the setup again:
 * exchange, a new queue, its binding and the consumer; the bus reports `down`
 * on the loss and `up` once the setup is done. A channel closed by the broker
 * while the connection stays up closes the connection, so the same recovery
 * applies. Sends fail while the socket buffer is full or the broker has blocked
 * the connection (a resource alarm).
 */
import type { Channel, ChannelModel, RecoveringChannelModel } from 'amqplib';
import type { BusPayload, BusTransport, TransportOptions, TransportState } from './transport.js';
import { reconnectDelayMs } from './transport.js';

export class AmqpTransport implements BusTransport {
  readonly kind = 'amqp';
  readonly #url: string;
  readonly #name: string;
  readonly #connectionName: string;
  #connection: RecoveringChannelModel | undefined;
  #channel: Channel | undefined;
  #draining = false;
  #brokerBlocked = false;
  #connected = false;
  #closed = false;
  #onMessage: (payload: BusPayload) => void = () => {};
  #onState: (state: TransportState, error?: Error) => void = () => {};

  readonly #extra: Record<string, unknown>;

  constructor(options: TransportOptions & { url: string }) {
    this.#url = options.url;
    this.#extra = options.connectionOptions ?? {};
    this.#name = options.name;
    this.#connectionName = `syncline-bus-${options.instanceId}`;
  }

  onMessage(callback: (payload: BusPayload) => void): void {
    this.#onMessage = callback;
  }

  onState(callback: (state: TransportState, error?: Error) => void): void {
    this.#onState = callback;
  }

  async connect(): Promise<void> {
    const amqp = await import('amqplib');
    if (this.#closed) throw new Error('closed');
    const url = new URL(this.#url);
    // Notice a dead peer within ~20 s unless the URL says otherwise.
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', '10');
    const connection = await amqp.connect(url.toString(), {
      timeout: 5000,
      keepAlive: true,
      // amqplib leaves Nagle on: small publishes would wait for delayed ACKs (~20-40 ms per message).
      noDelay: true,
      // The user's socket options (TLS cert/key/ca, credentials...); the recovery below stays Syncline's.
      ...this.#extra,
      clientProperties: { ...(this.#extra.clientProperties as object | undefined), connection_name: this.#connectionName },
      recovery: {
        waitForConnect: false,
        initialMaxRetries: 0,
        maxRetries: Number.POSITIVE_INFINITY,
        calculateDelay: reconnectDelayMs,
        setup: (model: ChannelModel) => this.#setup(model),
      },
    });
    this.#connection = connection;
    connection.on('error', () => {});
    connection.on('blocked', () => {
      this.#brokerBlocked = true;
    });
    connection.on('unblocked', () => {
      this.#brokerBlocked = false;
    });
    connection.on('disconnect', (err: Error) => {
      this.#channel = undefined;
      this.#brokerBlocked = false;
      if (this.#connected && !this.#closed) this.#onState('down', err);
    });
    connection.on('connect', () => {
      if (this.#connected && !this.#closed) this.#onState('up');
    });
    try {
      await connection.waitForConnect();
    } catch (err) {
      await connection.close().catch(() => {});
      throw err;
    }
    if (this.#closed) throw new Error('closed');
    this.#connected = true;
  }

  async send(payload: BusPayload): Promise<void> {
    const channel = this.#channel;
    if (!channel || this.#closed) throw new Error('the AMQP bus is not connected');
    if (this.#brokerBlocked) throw new Error('the broker has blocked publishing (resource alarm)');
    if (this.#draining) throw new Error('the AMQP socket buffer is full');
    const content =
      typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    if (!channel.publish(this.#name, '', content)) {
      this.#draining = true;
      channel.once('drain', () => {
        this.#draining = false;
      });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel = undefined;
    await this.#connection?.close().catch(() => {});
  }

  /** Runs after every (re)connection, before it counts as connected. */
  async #setup(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    channel.on('error', () => {});
    channel.on('close', () => {
      if (this.#channel !== channel) return;
      this.#channel = undefined;
      // The connection may still be open: close it so that recovery starts over.
      model.close().catch(() => {});
    });
    await channel.assertExchange(this.#name, 'fanout', { durable: false });
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true, maxLength: 10_000 });
    await channel.bindQueue(queue, this.#name, '');
    await channel.consume(
      queue,
      (msg) => {
        if (msg && !this.#closed) this.#onMessage(msg.content);
      },
      { noAck: true },
    );
    this.#draining = false;
    this.#channel = channel;
  }
}
