/**
 * EventBus: what the server uses to tell the other instances something
 * (committed change batches with their positions, /publish events, …). It is a
 * hint, never the truth: a message may be lost while the backend is down, and
 * instances catch up from positions in the change log.
 *
 *   connecting ──connected──► up ◄──reconnected── down
 *       │                      └──connection lost──►  │
 *       └─ start failed ─┐                            │
 *   (any) ── close() ────┴──────► closed ◄────────────┘
 *
 * - `ready` resolves on the first `up`; it rejects (BUS_UNAVAILABLE) when the
 *   first connection fails or takes longer than `connectTimeoutMs`, and when
 *   `close()` comes first. After a failed start the bus is `closed`.
 * - `publish` never throws synchronously and settles quickly: it rejects with
 *   BUS_UNAVAILABLE when the bus is not `up`, when `maxInFlight` sends are
 *   already pending, or when the transport fails or takes longer than
 *   `sendTimeoutMs`; with BUS_MESSAGE_TOO_LARGE when the payload exceeds the
 *   limit. Nothing is queued while down: dropped messages are counted in `stats()`.
 * - An instance never receives its own messages (the bus stamps `origin`).
 * - Handlers run synchronously as messages arrive; a handler that throws is
 *   reported to `onError` listeners and does not stop the others.
 */
import { SynclineError } from '@syncline/protocol';
import type { BusMessage, Serializer, SerializerOption } from './serializer.js';
import { resolveSerializer } from './serializer.js';
import type { BusPayload, BusTransport, TransportState } from './transport.js';

export type BusState = 'connecting' | 'up' | 'down' | 'closed';

export interface EventBusOptions {
  transport: BusTransport;
  name: string;
  instanceId: string;
  serializer?: SerializerOption;
  /** Sends handed to the transport and not yet settled; past it, publish drops. Default 1000. */
  maxInFlight?: number;
  /** A send not settled by then rejects (and counts as dropped). Default 5000 ms. */
  sendTimeoutMs?: number;
  /** Largest serialized message, in bytes (also bounded by the backend's own limit). Default 8 MiB. */
  maxMessageBytes?: number;
  /** `ready` rejects if the first connection takes longer. Default 10000 ms. */
  connectTimeoutMs?: number;
}

export interface BusStats {
  kind: string;
  name: string;
  state: BusState;
  /** Messages handed to the backend. */
  published: number;
  /** Messages not sent: bus not up, too many in flight, send failed or timed out, too large. */
  dropped: number;
  /** Messages from other instances delivered to the handlers. */
  received: number;
  /** Payloads that could not be deserialized or were not messages. */
  invalid: number;
  /** Calls of a handler that threw. */
  handlerErrors: number;
  /** Sends pending now. */
  inFlight: number;
}

export type BusHandler = (message: BusMessage) => void;
export type BusStateListener = (state: BusState, error?: Error) => void;

export class EventBus {
  readonly kind: string;
  readonly name: string;
  readonly instanceId: string;
  /** Resolves when connected; rejects with BUS_UNAVAILABLE if the start failed. */
  readonly ready: Promise<void>;

  readonly #transport: BusTransport;
  readonly #maxInFlight: number;
  readonly #sendTimeoutMs: number;
  readonly #maxMessageBytes: number;
  #serializer: Serializer | undefined;
  #state: BusState = 'connecting';
  #closing: Promise<void> | undefined;
  readonly #handlers = new Set<BusHandler>();
  readonly #stateListeners = new Set<BusStateListener>();
  readonly #errorListeners = new Set<(error: Error) => void>();
  readonly #stats = { published: 0, dropped: 0, received: 0, invalid: 0, handlerErrors: 0, inFlight: 0 };

  constructor(options: EventBusOptions) {
    this.#transport = options.transport;
    this.kind = options.transport.kind;
    this.name = options.name;
    this.instanceId = options.instanceId;
    this.#maxInFlight = options.maxInFlight ?? 1000;
    this.#sendTimeoutMs = options.sendTimeoutMs ?? 5000;
    this.#maxMessageBytes = options.maxMessageBytes ?? 8 * 1024 * 1024;
    this.ready = this.#start(options.serializer, options.connectTimeoutMs ?? 10_000);
    // Nobody has to await `ready`; a failed start must not be an unhandled rejection.
    this.ready.catch(() => {});
  }

  get state(): BusState {
    return this.#state;
  }

  stats(): BusStats {
    return { kind: this.kind, name: this.name, state: this.#state, ...this.#stats };
  }

  /** Sends a message to every other instance on this bus name. See the file comment for how it fails. */
  publish(message: BusMessage): Promise<void> {
    if (this.#state !== 'up' || this.#serializer === undefined) return this.#drop(`The event bus is ${this.#state}.`);
    if (this.#stats.inFlight >= this.#maxInFlight) return this.#drop(`${this.#stats.inFlight} bus messages are still being sent.`);
    let payload: BusPayload;
    try {
      payload = this.#serializer.serialize({ ...message, origin: this.instanceId });
    } catch (err) {
      this.#stats.dropped++;
      return Promise.reject(
        new SynclineError('INTERNAL', `Cannot serialize a bus message: ${(err as Error).message}`, undefined, { cause: err }),
      );
    }
    const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
    const limit = Math.min(this.#maxMessageBytes, this.#transport.maxPayloadBytes ?? Number.POSITIVE_INFINITY);
    if (bytes > limit) {
      this.#stats.dropped++;
      return Promise.reject(new SynclineError('BUS_MESSAGE_TOO_LARGE', undefined, { bytes, limit, kind: message.kind }));
    }
    this.#stats.inFlight++;
    let sending: Promise<void>;
    try {
      sending = this.#transport.send(payload);
    } catch (err) {
      sending = Promise.reject(err);
    }
    const settled = sending.finally(() => this.#stats.inFlight--);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer from the backend within ${this.#sendTimeoutMs} ms`)), this.#sendTimeoutMs);
      timer.unref();
    });
    return Promise.race([settled, timeout]).then(
      () => {
        clearTimeout(timer);
        this.#stats.published++;
      },
      (err: Error) => {
        clearTimeout(timer);
        settled.catch(() => {});
        this.#stats.dropped++;
        throw new SynclineError('BUS_UNAVAILABLE', `Cannot send on the ${this.kind} event bus: ${err.message}`, this.#details(), {
          cause: err,
        });
      },
    );
  }

  /** Calls `handler` for each message from another instance, until the returned function is called. */
  subscribe(handler: BusHandler): () => void {
    const h = (m: BusMessage) => handler(m);
    this.#handlers.add(h);
    return () => {
      this.#handlers.delete(h);
    };
  }

  /** Calls `listener` on every state change (with the error that caused a `down` or `closed`, if any). */
  onStateChange(listener: BusStateListener): () => void {
    this.#stateListeners.add(listener);
    return () => {
      this.#stateListeners.delete(listener);
    };
  }

  /** Errors that are not any caller's: a handler threw, a payload could not be read. */
  onError(listener: (error: Error) => void): () => void {
    this.#errorListeners.add(listener);
    return () => {
      this.#errorListeners.delete(listener);
    };
  }

  /** Stops delivery at once and releases the connection. Idempotent. */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#setState('closed');
    this.#handlers.clear();
    this.#closing = this.#transport.close().catch((err: Error) => this.#reportError(err));
    return this.#closing;
  }

  async #start(serializer: SerializerOption | undefined, connectTimeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      this.#serializer = await resolveSerializer(serializer);
      if ((this.#state as BusState) === 'closed') throw new Error('closed');
      this.#transport.onMessage((payload) => this.#receive(payload));
      this.#transport.onState((state, error) => this.#transportState(state, error));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not connected within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      });
      await Promise.race([this.#transport.connect(), timeout]);
    } catch (err) {
      const error = err as Error;
      const closedFirst = this.#state === 'closed';
      if (!closedFirst) {
        this.#setState('closed', error);
        this.#closing = this.#transport.close().catch(() => {});
      }
      throw new SynclineError(
        'BUS_UNAVAILABLE',
        closedFirst ? 'The event bus was closed before it connected.' : `Cannot connect the ${this.kind} event bus: ${error.message}`,
        this.#details(),
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
    if (this.#state === 'closed')
      throw new SynclineError('BUS_UNAVAILABLE', 'The event bus was closed before it connected.', this.#details());
    this.#setState('up');
  }

  #transportState(state: TransportState, error?: Error): void {
    // Before the first connection the start decides; after close nothing changes.
    if (this.#state === 'connecting' || this.#state === 'closed') return;
    this.#setState(state, error);
  }

  #receive(payload: BusPayload): void {
    if (this.#state === 'closed' || this.#serializer === undefined) return;
    let message: unknown;
    try {
      message = this.#serializer.deserialize(payload);
    } catch (err) {
      this.#stats.invalid++;
      this.#reportError(new Error(`Unreadable bus message: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (!isBusMessage(message)) {
      this.#stats.invalid++;
      this.#reportError(new Error('A bus message is not an object with a string kind; dropped.'));
      return;
    }
    if (message.origin === this.instanceId) return;
    this.#stats.received++;
    for (const handler of this.#handlers) {
      try {
        handler(message);
      } catch (err) {
        this.#stats.handlerErrors++;
        this.#reportError(err as Error);
      }
    }
  }

  #setState(state: BusState, error?: Error): void {
    if (this.#state === state) return;
    this.#state = state;
    for (const listener of this.#stateListeners) {
      try {
        listener(state, error);
      } catch (err) {
        this.#reportError(err as Error);
      }
    }
  }

  #drop(reason: string): Promise<never> {
    this.#stats.dropped++;
    return Promise.reject(new SynclineError('BUS_UNAVAILABLE', `${reason} The message was dropped.`, this.#details()));
  }

  #details(): Record<string, unknown> {
    return { bus: this.kind, name: this.name, state: this.#state, dropped: this.#stats.dropped };
  }

  #reportError(error: Error): void {
    for (const listener of this.#errorListeners) {
      try {
        listener(error);
      } catch {
        // An error listener that throws has nobody left to tell.
      }
    }
  }
}

function isBusMessage(value: unknown): value is BusMessage {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}
