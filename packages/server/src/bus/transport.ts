/**
 * BusTransport: the custom-adapter interface of the event bus. A transport
 * moves opaque payloads between the server instances that use the same bus
 * name; the EventBus on top of it does serialization, origin filtering, state,
 * limits and errors. The built-in transports (in-process, PostgreSQL, Redis,
 * NATS, AMQP) are written on it; a custom one is passed as
 * `createBus({ transport })`.
 *
 * Contract:
 * - `onMessage` and `onState` are called once each, before `connect()`.
 * - `connect()` connects and subscribes, and resolves once a payload sent by any
 *   instance from now on will be delivered. It rejects if the first connection
 *   fails; it does not retry at start (the bus then reports the error).
 * - After `connect()` resolved, the transport keeps itself connected until
 *   `close()`: when it loses the backend it calls `onState('down', error)` once
 *   and reconnects in the background with a bounded backoff; once connected and
 *   subscribed again it calls `onState('up')`. Payloads sent meanwhile may be lost
 *   (the change log is the truth; instances catch up from positions).
 * - `send(payload)` hands one payload to the backend. It rejects when it cannot
 *   (not connected, backend refused, backpressure); it never queues without bound.
 *   Payloads sent by one transport are delivered to every transport of the same
 *   name, itself included, in the order they were sent.
 * - A payload arrives as the bytes that were sent: a string may arrive as its
 *   UTF-8 bytes, binary arrives as binary.
 * - `close()` is idempotent, may be called at any time (also while `connect()`
 *   is pending), stops reconnecting and delivery, and releases every resource.
 */
export type BusPayload = Uint8Array | string;

export type TransportState = 'up' | 'down';

export interface BusTransport {
  /** Short name of the backend for logs and /health: 'in-process', 'postgres', 'redis', 'nats', 'amqp', or a custom one. */
  readonly kind: string;
  connect(): Promise<void>;
  send(payload: BusPayload): Promise<void>;
  onMessage(callback: (payload: BusPayload) => void): void;
  onState(callback: (state: TransportState, error?: Error) => void): void;
  /** Largest payload the backend accepts, in bytes, if it has a limit (known after `connect()`). */
  readonly maxPayloadBytes?: number;
  close(): Promise<void>;
}

/** What every built-in transport is created with. */
export interface TransportOptions {
  /** The key, channel, subject or exchange that instances share. */
  name: string;
  /** This instance's id: names its connections so that operators (and tests) can find them. */
  instanceId: string;
  /**
   * The driver's own connection options (TLS, credentials, reconnect settings), as feathers-sync takes them
   * (`redisOptions`, `natsConnectionOptions`, `amqpConnectionOptions`): merged over Syncline's defaults.
   */
  connectionOptions?: Record<string, unknown>;
}

/** Delay before reconnect attempt `attempt` (1, 2, …): 100 ms doubling up to 2 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(2000, 100 * 2 ** Math.max(0, attempt - 1));
}
