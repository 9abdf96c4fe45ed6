/** A recording Socket.IO client of `/sendActions` for tests: every event is kept, waits look back and forward. */
import { io, type Socket } from 'socket.io-client';

// biome-ignore lint/suspicious/noExplicitAny: test payloads are inspected loosely
export type Payload = any;
export interface Received {
  event: string;
  payload: Payload;
  at: number;
}

export class ActionsClient {
  readonly received: Received[] = [];
  private waiters = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    socket.onAny((event: string, payload: Payload) => {
      this.received.push({ event, payload, at: Date.now() });
      for (const w of [...this.waiters]) w();
    });
  }

  static async connect(url: string, auth?: Record<string, unknown>): Promise<ActionsClient> {
    const socket = io(`${url}/sendActions`, { transports: ['websocket'], forceNew: true, reconnection: false, ...(auth ? { auth } : {}) });
    const c = new ActionsClient(socket);
    await c.next('connected');
    return c;
  }

  /** The first event named `event` matching `pred`, already received or still to come. */
  next(event: string, pred: (p: Payload) => boolean = () => true, timeoutMs = 5000): Promise<Payload> {
    const find = () => this.received.find((r) => r.event === event && pred(r.payload));
    const hit = find();
    if (hit) return Promise.resolve(hit.payload);
    return new Promise((resolve, reject) => {
      const check = () => {
        const r = find();
        if (!r) return;
        cleanup();
        resolve(r.payload);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no ${event} event matching the predicate within ${timeoutMs} ms; received: ${JSON.stringify(this.received).slice(-1500)}`,
          ),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** The reply to action `id` (`actionResult`, or `productActionResult` for the compat event). */
  result(id: unknown, event = 'actionResult', timeoutMs?: number): Promise<Payload> {
    return this.next(event, (p) => p?.id === id, timeoutMs);
  }

  committed(id: unknown, timeoutMs?: number): Promise<Payload> {
    return this.next('actionCommitted', (p) => p?.id === id, timeoutMs);
  }

  rolledBack(id: unknown, timeoutMs?: number): Promise<Payload> {
    return this.next('actionRolledBack', (p) => p?.id === id, timeoutMs);
  }

  /** Every event named `event` (matching `pred`) received so far. */
  all(event: string, pred: (p: Payload) => boolean = () => true): Payload[] {
    return this.received.filter((r) => r.event === event && pred(r.payload)).map((r) => r.payload);
  }

  send(actions: unknown): void {
    this.socket.emit('sendActions', actions);
  }

  fin(id?: unknown): void {
    if (id === undefined) this.socket.emit('clientFin');
    else this.socket.emit('clientFin', { id });
  }

  close(): void {
    this.socket.disconnect();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
