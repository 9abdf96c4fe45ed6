import type { BusPayload, BusTransport, TransportOptions, TransportState } from './transport.js';

/** Every connected in-process transport, by bus name: buses with the same name in one process talk to each other. */
const hubs = new Map<string, Set<InProcessTransport>>();

/**
 * The default bus: one process, no backend. A payload is delivered to every
 * transport of the same name on a microtask (never inside the sender's call),
 * in the order sent. It is never down.
 */
export class InProcessTransport implements BusTransport {
  readonly kind = 'in-process';
  readonly #name: string;
  #deliver: (payload: BusPayload) => void = () => {};
  #connected = false;
  #closed = false;

  constructor(options: Pick<TransportOptions, 'name'>) {
    this.#name = options.name;
  }

  onMessage(callback: (payload: BusPayload) => void): void {
    this.#deliver = callback;
  }

  onState(_callback: (state: TransportState, error?: Error) => void): void {
    // Nothing to lose: it is up from connect() to close().
  }

  async connect(): Promise<void> {
    if (this.#closed) throw new Error('the in-process bus is closed');
    let hub = hubs.get(this.#name);
    if (!hub) {
      hub = new Set();
      hubs.set(this.#name, hub);
    }
    hub.add(this);
    this.#connected = true;
  }

  async send(payload: BusPayload): Promise<void> {
    if (!this.#connected) throw new Error('the in-process bus is closed');
    const members = [...(hubs.get(this.#name) ?? [])];
    queueMicrotask(() => {
      for (const member of members) if (member.#connected) member.#deliver(payload);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#connected = false;
    const hub = hubs.get(this.#name);
    hub?.delete(this);
    if (hub?.size === 0) hubs.delete(this.#name);
  }
}
