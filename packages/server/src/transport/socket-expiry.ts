/**
 * A credential that expires ends what it allowed, also on connections opened
 * before (DESIGN invariant 5): the one place every Socket.IO namespace (`/sync`,
 * `/sendActions`, the default `/`) goes through for it.
 *
 * At the socket identity's `expiresAt` (a JWT's `exp`):
 * - the socket leaves every room (no broadcast reaches it), the namespace ends
 *   what it holds (subscriptions, open actions: `hooks.expired`), and it gets
 *   `error` `{code: 'TOKEN_EXPIRED', message}`;
 * - every event it sends is refused with TOKEN_EXPIRED (through its ack, else an
 *   `error` event), except `auth`; decided by the clock when the event arrives,
 *   not only by the timer, and fan-out calls `sweep()` before emitting;
 * - after `reauthGraceMs` without a new token it is disconnected.
 *
 * Re-authentication without reconnecting, on every namespace:
 *   auth {token} → {ok: true, expiresAt?} | {ok: false, error}
 * A token of the same user replaces the identity (new claims, new deadline; an
 * expired socket becomes live again, with nothing held: subscribe again). A token
 * of another user is FORBIDDEN, a bad one UNAUTHORIZED (counted like any refused
 * authentication); the socket keeps what it had.
 */
import { SynclineError } from '@syncline/protocol';
import type { FastifyBaseLogger } from 'fastify';
import type { Socket } from 'socket.io';
import type { Access } from '../auth/access.js';
import type { Identity } from '../auth/authenticate.js';
import { toSynclineError } from './errors.js';

/** setTimeout's largest delay (~24.8 days): a later deadline is re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;
export const AUTH_EVENT = 'auth';

export interface ExpiryHooks {
  /** The token expired: end what the socket holds. It has already left every room. */
  expired(): void;
  /** `auth` replaced the identity (same user); `wasExpired`: the socket had expired and holds nothing now. */
  renewed?(previous: Identity, wasExpired: boolean): void;
}

interface Tracked {
  socket: Socket;
  hooks: ExpiryHooks;
  /** The identity's expiresAt when it was armed (undefined: never). */
  deadline: number | undefined;
  expired: boolean;
  timer?: NodeJS.Timeout;
  grace?: NodeJS.Timeout;
}

export interface SocketExpiryOptions {
  /** How long an expired socket waits for `auth` before it is disconnected (0: at once). */
  graceMs: number;
  log?: Pick<FastifyBaseLogger, 'error'>;
  now?: () => number;
}

const identityOf = (socket: Socket): Identity | undefined => socket.data.identity as Identity | undefined;

export class SocketExpiry {
  private readonly tracked = new Map<Socket, Tracked>();
  /** No tracked deadline is earlier than this: `sweep` is one comparison until then. */
  private next = Number.POSITIVE_INFINITY;
  private readonly now: () => number;

  constructor(
    private readonly access: Access,
    private readonly options: SocketExpiryOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Enforces the expiry of `socket.data.identity` from now on (call once, when the identity is set),
   * and answers its `auth` events. The namespace must list `auth` among the events it knows.
   */
  track(socket: Socket, hooks: ExpiryHooks): void {
    if (this.tracked.has(socket)) return;
    const t: Tracked = { socket, hooks, deadline: undefined, expired: false };
    this.tracked.set(socket, t);
    socket.once('disconnect', () => {
      clearTimeout(t.timer);
      clearTimeout(t.grace);
      this.tracked.delete(socket);
    });
    socket.use((packet, next) => {
      if (packet[0] === AUTH_EVENT) {
        void this.reauthenticate(t, packet.slice(1));
        return;
      }
      if (!this.isExpired(socket)) {
        next();
        return;
      }
      const e = new SynclineError('TOKEN_EXPIRED');
      const error = { code: e.code, message: e.message };
      const ack = packet[packet.length - 1];
      if (typeof ack === 'function') ack({ ok: false, error });
      else socket.emit('error', error);
    });
    this.arm(t);
  }

  /** Whether `socket`'s credential has expired, by the clock (the timer may not have fired yet: then it expires now). */
  isExpired(socket: Socket): boolean {
    const t = this.tracked.get(socket);
    if (!t) return false;
    if (!t.expired && t.deadline !== undefined && this.now() >= t.deadline) this.expire(t);
    return t.expired;
  }

  /** Expires every socket whose deadline passed; fan-out calls it before emitting. One comparison while none is due. */
  sweep(): void {
    const now = this.now();
    if (now < this.next) return;
    let next = Number.POSITIVE_INFINITY;
    for (const t of [...this.tracked.values()]) {
      if (t.expired || t.deadline === undefined) continue;
      if (now >= t.deadline) this.expire(t);
      else next = Math.min(next, t.deadline);
    }
    this.next = next;
  }

  private arm(t: Tracked): void {
    clearTimeout(t.timer);
    t.timer = undefined;
    const deadline = identityOf(t.socket)?.expiresAt;
    t.deadline = deadline;
    if (deadline === undefined) return;
    this.next = Math.min(this.next, deadline);
    const ms = Math.min(Math.max(0, deadline - this.now()), MAX_TIMER_MS);
    t.timer = setTimeout(() => {
      if (this.now() >= deadline) this.expire(t);
      else this.arm(t);
    }, ms);
    t.timer.unref();
  }

  private expire(t: Tracked): void {
    if (t.expired) return;
    t.expired = true;
    clearTimeout(t.timer);
    const { socket } = t;
    // Out of every room first: no broadcast reaches it, whatever the namespace still has to do.
    for (const room of [...socket.rooms]) if (room !== socket.id) socket.leave(room);
    const grace = this.options.graceMs;
    const e = new SynclineError(
      'TOKEN_EXPIRED',
      grace > 0
        ? `The token expired: this connection receives nothing and accepts nothing until a new token is sent with the \`auth\` event (within ${Math.ceil(grace / 1000)} s, then it is closed), or you reconnect with one.`
        : 'The token expired: reconnect with a new one.',
    );
    socket.emit('error', { code: e.code, message: e.message });
    try {
      t.hooks.expired();
    } catch (err) {
      this.options.log?.error({ err }, 'ending an expired socket failed');
    }
    if (grace === 0) socket.disconnect(true);
    else {
      t.grace = setTimeout(() => {
        if (t.expired) socket.disconnect(true);
      }, grace);
      t.grace.unref();
    }
  }

  private async reauthenticate(t: Tracked, args: unknown[]): Promise<void> {
    const { socket } = t;
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (r: unknown) => void) : undefined;
    const reply = (r: { ok: boolean; error?: unknown }) => {
      if (ack) ack(r);
      else if (!r.ok) socket.emit('error', r.error);
    };
    try {
      const payload = args[0];
      const raw = typeof payload === 'object' && payload !== null ? (payload as { token?: unknown }).token : payload;
      const token = typeof raw === 'string' ? raw : undefined;
      const who = await this.access.identify({
        token,
        headers: socket.handshake.headers,
        ip: socket.handshake.address,
        transport: 'socket',
      });
      const previous = identityOf(socket) ?? { userId: null, claims: {}, method: 'anonymous' };
      if (who.userId !== previous.userId) {
        throw new SynclineError(
          'FORBIDDEN',
          'This token is for another user: a connection keeps its user; open a new connection to change users.',
        );
      }
      if (!socket.connected || !this.tracked.has(socket)) return;
      socket.data.identity = who;
      const wasExpired = t.expired;
      t.expired = false;
      clearTimeout(t.grace);
      t.grace = undefined;
      this.arm(t);
      t.hooks.renewed?.(previous, wasExpired);
      reply({ ok: true, ...(who.expiresAt === undefined ? {} : { expiresAt: who.expiresAt }) });
    } catch (err) {
      const e = toSynclineError(err);
      if (e.status >= 500) this.options.log?.error({ err }, 'socket re-authentication failed');
      reply({ ok: false, error: { code: e.code, message: e.message } });
    }
  }
}
