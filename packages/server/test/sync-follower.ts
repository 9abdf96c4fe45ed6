/** A `/sync` client for tests that follows the documented protocol (keeps `last`, skips duplicates, counts gaps). */
import type { Change } from '@syncline/protocol';
import { io as connect, type Socket } from 'socket.io-client';

interface Frame {
  subscriptionId: string;
  changes: Change[];
  from: number;
  position: number;
}

/** A client that follows the documented protocol: keep `last`, skip duplicates, count gaps. */
export class Follower {
  readonly socket: Socket;
  last = 0;
  gaps = 0;
  readonly changes: Change[] = [];
  readonly errors: unknown[] = [];
  /** Positions of `caughtUp` events for the current subscription. */
  readonly caughtUp: number[] = [];
  readonly subErrors: { subscriptionId: string; error: { code: string } }[] = [];
  subscriptionId: string | undefined;

  constructor(url: string, opts: Record<string, unknown> = {}) {
    this.socket = connect(`${url}/sync`, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
    this.socket.on('changes', (f: Frame) => {
      if (f.subscriptionId !== this.subscriptionId) return;
      if (f.from > this.last) this.gaps++;
      this.take(f.changes);
      this.last = Math.max(this.last, f.position);
    });
    this.socket.on('caughtUp', (e: { subscriptionId: string; position: number }) => {
      if (e.subscriptionId === this.subscriptionId) this.caughtUp.push(e.position);
    });
    this.socket.on('error', (e: unknown) => this.errors.push(e));
    this.socket.on('subscriptionError', (e: { subscriptionId: string; error: { code: string } }) => this.subErrors.push(e));
  }

  private take(changes: Change[]) {
    for (const c of changes) if (c.position > this.last) this.changes.push(c);
  }

  /**
   * The ack is handled in its callback, synchronously in packet order: frames that
   * follow it on the wire must find the subscription id already set (a promise
   * continuation would run after them).
   */
  subscribe(
    payload: Record<string, unknown>,
  ): Promise<{ ok: boolean; subscriptionId: string; position: number; error?: { code: string } }> {
    return new Promise((resolve, reject) => {
      this.socket
        .timeout(10_000)
        .emit(
          'subscribe',
          payload,
          (err: unknown, reply: { ok: boolean; subscriptionId: string; position: number; changes?: Change[] }) => {
            if (err) return reject(err);
            if (reply.ok) {
              this.subscriptionId = reply.subscriptionId;
              this.take(reply.changes ?? []);
              this.last = Math.max(this.last, reply.position);
            }
            resolve(reply);
          },
        );
    });
  }

  close() {
    this.socket.disconnect();
  }
}

export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await wait(10);
  }
}
