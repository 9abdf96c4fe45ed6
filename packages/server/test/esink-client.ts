/** An esink-style client of the default namespace for tests: records every event it receives. */
import { io as connect, type Socket } from 'socket.io-client';
import type { EsinkPayload } from '../src/transport/esink-namespace.js';

export interface Connected {
  sessionId: string;
  userId: string | null;
  code: number;
  message: string;
}

export class EsinkClient {
  readonly socket: Socket;
  connected: Connected | undefined;
  readonly errors: { code: string; message: string }[] = [];
  /** `changes` events, in arrival order. */
  readonly changes: EsinkPayload[] = [];
  /** `<table>` events, in arrival order. */
  readonly tableEvents: { event: string; payload: EsinkPayload }[] = [];
  disconnectReason: string | undefined;
  private readonly settled: Promise<void>;

  constructor(url: string, token?: unknown, opts: Record<string, unknown> = {}) {
    this.socket = connect(url, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      ...(token === undefined ? {} : { auth: { token } }),
      ...opts,
    });
    this.settled = new Promise((resolve) => {
      this.socket.on('connected', (c: Connected) => {
        this.connected = c;
        resolve();
      });
      this.socket.on('disconnect', (reason) => {
        this.disconnectReason = reason;
        resolve();
      });
      this.socket.on('connect_error', () => resolve());
    });
    this.socket.on('error', (e: { code: string; message: string }) => this.errors.push(e));
    this.socket.on('changes', (p: EsinkPayload) => this.changes.push(p));
    this.socket.onAny((event: string, payload: EsinkPayload) => {
      if (!['connected', 'error', 'changes'].includes(event)) this.tableEvents.push({ event, payload });
    });
  }

  /** Resolves once `connected` arrived or the connection ended. */
  async ready(): Promise<this> {
    await this.settled;
    return this;
  }

  close(): void {
    this.socket.disconnect();
  }
}

export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for a condition');
    await wait(10);
  }
}

let markers = 0;

/**
 * Sends (through `send`) an event every client must receive, whose `data[field]` is a fresh marker,
 * and waits until each has it: every event sent before it has arrived by then. Then drops the
 * markers from the logs, and with `clear` everything else too.
 */
export async function barrier(
  clients: EsinkClient[],
  send: (marker: string) => Promise<unknown>,
  opts: { field?: string; clear?: boolean } = {},
): Promise<void> {
  const field = opts.field ?? 'marker';
  const marker = `marker-${process.pid}-${++markers}`;
  await send(marker);
  await until(() => clients.every((c) => c.changes.some((p) => p.data?.[field] === marker)));
  const keep = (p: EsinkPayload) => !opts.clear && !String(p.data?.[field]).startsWith('marker-');
  for (const c of clients) {
    c.changes.splice(0, c.changes.length, ...c.changes.filter(keep));
    c.tableEvents.splice(0, c.tableEvents.length, ...c.tableEvents.filter((e) => keep(e.payload)));
  }
}

/** Connects each client and waits until each one is connected (throws if one was refused). */
export async function connectAll<T extends unknown[]>(url: string, tokens: [...T]): Promise<{ [K in keyof T]: EsinkClient }> {
  const clients = tokens.map((t) => new EsinkClient(url, t));
  for (const c of clients) {
    await c.ready();
    if (!c.connected) throw new Error(`not connected: ${JSON.stringify(c.errors)}`);
  }
  return clients as { [K in keyof T]: EsinkClient };
}
