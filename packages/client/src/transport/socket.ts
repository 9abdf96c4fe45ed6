/** The Socket.IO transport: `/sync` subscriptions and push; reconnects with backoff and jitter (Socket.IO's own). */
import {
  DEFAULT_SERVER_LIMITS,
  type Filter,
  type Operation,
  type PushResponse,
  parseServerLimits,
  type QueryResponse,
  type ServerLimits,
} from '@syncline/protocol';
import { io, type Socket } from 'socket.io-client';
import {
  type Frame,
  jwtExpiry,
  type PushLimits,
  rest,
  type StatusReport,
  type SubscriptionHandlers,
  type TokenSource,
  type Transport,
  TransportError,
  type TransportEvents,
  tokenOf,
} from './transport.js';

const ACK_TIMEOUT_MS = 30_000;
/** `clientStatus` is sent at most this often. */
const STATUS_INTERVAL_MS = 1000;
/** How long a push waits for the connection's `limits` (sent right after connecting; a server without it never sends it). */
const LIMITS_WAIT_MS = 2000;
/** Socket.IO's framing around the push's JSON: `42/sync,<ack id>["push",` … `]`. */
const FRAME_OVERHEAD = 64;
/** How long an `auth` (re-authentication) waits for its answer before the client reconnects instead. */
const AUTH_TIMEOUT_MS = 10_000;
/** At most this long before a token's expiry the client renews it (less for short-lived tokens: a tenth of what is left). */
const MAX_REFRESH_LEAD_MS = 60_000;

export interface SocketTransportOptions {
  url: string;
  token?: TokenSource;
  fetch?: typeof fetch;
  /** Passed to Socket.IO's `io()` (e.g. `transports: ['websocket']`). */
  socketOptions?: Record<string, unknown>;
  /**
   * How long before a JWT's `exp` (read from the token, or the server's `expiresAt`) the token function is
   * asked for a new token, sent with `auth` without reconnecting. Default: a tenth of the time left, at most
   * 60 s. 0: only when the server says TOKEN_EXPIRED.
   */
  refreshBeforeExpiryMs?: number;
}

export class SocketTransport implements Transport {
  readonly kind = 'socket' as const;
  private socket: Socket | undefined;
  private readonly subs = new Map<string, SubscriptionHandlers>();
  /** Requests waiting for an ack: a lost connection fails them at once (the queue retries after reconnecting). */
  private readonly inFlight = new Map<(err: Error) => void, string>();
  private status: StatusReport | undefined;
  private statusSentAt = 0;
  private statusTimer: ReturnType<typeof setTimeout> | undefined;
  /** The server's limits, as last announced (kept across reconnects as the best guess). */
  private limits: ServerLimits | undefined;
  /** This connection's announcement arrived (or will not: waited long enough). */
  private limitsHeard = false;
  private readonly limitsWaiters = new Set<() => void>();
  /** The token this connection is authenticated with (the handshake's, then each accepted `auth`). */
  private token: string | undefined;
  /** The server said TOKEN_EXPIRED: the connection carries nothing until a new token is accepted. */
  private expired = false;
  private renewing: Promise<void> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Handshakes refused TOKEN_EXPIRED in a row (the token function returned a stale token). */
  private expiredHandshakes = 0;
  private events: TransportEvents | undefined;

  constructor(private readonly opts: SocketTransportOptions) {}

  get connected(): boolean {
    return (this.socket?.connected ?? false) && !this.expired;
  }

  connect(events: TransportEvents): void {
    if (this.socket) return;
    this.events = events;
    const token = this.opts.token;
    const socket = io(`${this.opts.url}/sync`, {
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 10_000,
      randomizationFactor: 0.5,
      // Asked on every (re)connection, so a refreshed token is used.
      auth: (cb: (data: object) => void) => {
        Promise.resolve(typeof token === 'function' ? token() : token).then(
          (t) => {
            this.token = t;
            cb(t ? { token: t } : {});
          },
          () => cb({}),
        );
      },
      ...this.opts.socketOptions,
    });
    this.socket = socket;
    socket.on('connect', () => {
      this.expired = false;
      this.expiredHandshakes = 0;
      this.scheduleRefresh(events, jwtExpiry(this.token));
      events.online();
      this.sendStatusSoon();
    });
    // The token expired: subscriptions ended and nothing is accepted until `auth` with a new one (or a reconnect).
    socket.on('error', (e: { code?: string } | undefined) => {
      if (e?.code === 'TOKEN_EXPIRED') this.onExpired(events);
    });
    socket.on('limits', (l: unknown) => {
      const limits = parseServerLimits(l);
      if (limits) this.limits = limits;
      this.limitsHeard = true;
      this.wakeLimitsWaiters();
    });
    socket.on('disconnect', (reason, details) => {
      this.limitsHeard = false;
      this.wakeLimitsWaiters();
      this.subs.clear();
      clearTimeout(this.refreshTimer);
      this.expired = false;
      this.failInFlight(`connection lost (${reason})`, closedForSize(details));
      events.offline(reason);
      // The server closed it on purpose (e.g. token expired): Socket.IO does not retry that one.
      if (reason === 'io server disconnect') socket.connect();
    });
    socket.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
      const code = err.data?.code;
      // A stale token from the token function: ask it once more (a middleware refusal is not retried by Socket.IO).
      if (code === 'TOKEN_EXPIRED' && typeof token === 'function' && this.expiredHandshakes++ === 0) {
        socket.connect();
        return;
      }
      if (code === 'UNAUTHORIZED' || code === 'FORBIDDEN' || code === 'TOKEN_EXPIRED') {
        events.refused(code, err.data?.message ?? err.message);
        socket.disconnect();
      }
    });
    socket.on('changes', (f: Frame & { subscriptionId: string }) => this.subs.get(f.subscriptionId)?.changes(f));
    socket.on('caughtUp', (e: { subscriptionId: string; position: number }) => this.subs.get(e.subscriptionId)?.caughtUp(e.position));
    socket.on('subscriptionError', (e: { subscriptionId: string; error: { code: string } }) => {
      const h = this.subs.get(e.subscriptionId);
      this.subs.delete(e.subscriptionId);
      h?.ended(e.error.code);
    });
  }

  /** The server ended what the token allowed: offline until a new token is accepted. */
  private onExpired(events: TransportEvents): void {
    if (!this.expired) {
      this.expired = true;
      clearTimeout(this.refreshTimer);
      this.subs.clear();
      events.offline('token expired');
    }
    void this.renew(events);
  }

  /**
   * Asks the token function for a new token and sends it with `auth` (no reconnection). Before expiry nothing
   * is interrupted; after it, the client follows its collections again from its positions (`online`). If the
   * server does not take it, a reconnection asks the token function again in the handshake.
   */
  private renew(events: TransportEvents): Promise<void> {
    this.renewing ??= (async () => {
      const socket = this.socket;
      const source = this.opts.token;
      if (!socket) return;
      if (typeof source !== 'function') {
        // A fixed token cannot be renewed.
        if (this.expired) {
          events.refused(
            'TOKEN_EXPIRED',
            'The token expired and the client was given a fixed token: pass a function that returns a fresh one.',
          );
          socket.disconnect();
        }
        return;
      }
      try {
        const t = await tokenOf(source);
        const reply = (await socket.timeout(AUTH_TIMEOUT_MS).emitWithAck('auth', { token: t })) as {
          ok: boolean;
          expiresAt?: number;
          error?: { code: string; message: string };
        };
        if (!reply.ok) throw new TransportError(reply.error?.code ?? 'UNAUTHORIZED', reply.error?.message ?? 'auth refused');
        this.token = t;
        this.scheduleRefresh(events, reply.expiresAt ?? jwtExpiry(t));
        if (this.expired) {
          this.expired = false;
          events.online();
          this.sendStatusSoon();
        }
      } catch {
        // Not taken (a server without `auth`, a refused token, no answer): once expired, reconnect; the handshake asks again.
        if (this.expired && this.socket === socket) {
          socket.disconnect();
          socket.connect();
        }
      }
    })().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private scheduleRefresh(events: TransportEvents, expiresAt: number | undefined): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    const before = this.opts.refreshBeforeExpiryMs;
    if (expiresAt === undefined || before === 0 || typeof this.opts.token !== 'function') return;
    const left = expiresAt - Date.now();
    const lead = before ?? Math.min(MAX_REFRESH_LEAD_MS, left / 10);
    // setTimeout's largest delay is ~24.8 days: a later expiry is renewed by the server's TOKEN_EXPIRED instead.
    const wait = Math.min(Math.max(0, left - lead), 2 ** 31 - 1);
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      if (this.connected) void this.renew(events);
    }, wait);
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }

  disconnect(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    this.expired = false;
    this.events = undefined;
    clearTimeout(this.statusTimer);
    this.statusTimer = undefined;
    this.socket?.removeAllListeners();
    this.socket?.disconnect();
    this.socket = undefined;
    this.subs.clear();
    this.failInFlight('disconnected');
    this.limitsHeard = false;
    this.wakeLimitsWaiters();
  }

  private wakeLimitsWaiters(): void {
    for (const wake of [...this.limitsWaiters]) wake();
  }

  /** Waits (briefly) for this connection's `limits`: a message over the socket limit would close the connection. */
  async pushLimits(): Promise<PushLimits> {
    if (!this.limitsHeard && this.socket?.connected) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          // A server that does not announce its limits: assume its defaults for this connection.
          if (this.socket?.connected) this.limitsHeard = true;
          done();
        }, LIMITS_WAIT_MS);
        const done = () => {
          clearTimeout(timer);
          this.limitsWaiters.delete(done);
          resolve();
        };
        this.limitsWaiters.add(done);
      });
    }
    const l = this.limits ?? DEFAULT_SERVER_LIMITS;
    return {
      maxBytes: l.socketMaxMessageBytes - FRAME_OVERHEAD,
      maxOperations: l.maxOperations,
      setting: 'SYNCLINE_SOCKET_MAX_MESSAGE_BYTES',
    };
  }

  /** `tooLarge`: the server closed the connection for a message over its limit, which can only be the push in flight. */
  private failInFlight(reason: string, tooLarge = false): void {
    const waiting = [...this.inFlight];
    this.inFlight.clear();
    for (const [fail, event] of waiting) {
      fail(
        tooLarge && event === 'push'
          ? new TransportError(
              'PAYLOAD_TOO_LARGE',
              'The server closed the connection: this push exceeds its message limit (SYNCLINE_SOCKET_MAX_MESSAGE_BYTES).',
              413,
            )
          : new Error(reason),
      );
    }
  }

  private async ack<T>(event: string, payload: unknown): Promise<T> {
    const socket = this.socket;
    if (!socket || !this.connected) throw new TransportError('NETWORK', 'Not connected.');
    let reply: { ok: boolean; error?: { code: string; message: string } } & T;
    let fail: ((err: Error) => void) | undefined;
    try {
      const lost = new Promise<never>((_, reject) => {
        fail = reject;
        this.inFlight.set(reject, event);
      });
      reply = await Promise.race([socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload), lost]);
    } catch (err) {
      if (err instanceof TransportError) throw err;
      throw new TransportError('NETWORK', `No answer to ${event}: ${(err as Error).message}`);
    } finally {
      if (fail) this.inFlight.delete(fail);
    }
    if (!reply.ok) {
      // Refused for an expired token (the `error` event says so too; either may come first).
      if (reply.error?.code === 'TOKEN_EXPIRED' && this.events) this.onExpired(this.events);
      throw new TransportError(reply.error?.code ?? 'INTERNAL', reply.error?.message ?? `${event} failed`);
    }
    return reply;
  }

  push(clientId: string, operations: Operation[]): Promise<PushResponse> {
    return this.ack<PushResponse>('push', { clientId, operations });
  }

  subscribe(collection: string, since: number, handlers: SubscriptionHandlers, filter?: Filter): Promise<Frame> {
    const socket = this.socket;
    if (!socket || !this.connected) return Promise.reject(new TransportError('NETWORK', 'Not connected.'));
    // The ack must register the handlers synchronously: frames that follow it on the wire are dispatched right after.
    return new Promise((resolve, reject) => {
      // A lost connection fails it at once (the client subscribes again when it is back).
      const lost = (err: Error) => reject(new TransportError('NETWORK', `No answer to subscribe: ${err.message}`));
      this.inFlight.set(lost, 'subscribe');
      socket.timeout(ACK_TIMEOUT_MS).emit(
        'subscribe',
        { collection, since, ...(filter ? { filter } : {}) },
        (
          err: Error | null,
          reply: {
            ok: boolean;
            subscriptionId: string;
            position: number;
            changes?: Frame['changes'];
            error?: { code: string; message: string };
          },
        ) => {
          this.inFlight.delete(lost);
          if (err) return reject(new TransportError('NETWORK', `No answer to subscribe: ${err.message}`));
          if (!reply.ok) {
            if (reply.error?.code === 'TOKEN_EXPIRED' && this.events) this.onExpired(this.events);
            return reject(new TransportError(reply.error?.code ?? 'INTERNAL', reply.error?.message ?? 'subscribe failed'));
          }
          this.subs.set(reply.subscriptionId, handlers);
          // Handled here, not after `await`: the frames behind it are dispatched before a promise continuation would run.
          const first = { changes: reply.changes ?? [], from: since, position: reply.position, subscriptionId: reply.subscriptionId };
          handlers.changes(first);
          resolve(first);
        },
      );
    });
  }

  reportStatus(status: StatusReport): void {
    const changed = this.status?.pending !== status.pending;
    this.status = status;
    if (changed) this.sendStatusSoon();
  }

  /** Sends the latest status now, or once a second has passed since the last one (the timer sends the newest). */
  private sendStatusSoon(): void {
    if (this.statusTimer || !this.status) return;
    const wait = this.statusSentAt + STATUS_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.sendStatus();
      return;
    }
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.sendStatus();
    }, wait);
    (this.statusTimer as { unref?: () => void }).unref?.();
  }

  private sendStatus(): void {
    const socket = this.socket;
    if (!socket || !this.connected || !this.status) return;
    // No ack: a server without the event ignores it (or answers an `error` event nobody needs).
    try {
      socket.emit('clientStatus', this.status);
      this.statusSentAt = Date.now();
    } catch {
      // A report is never worth failing the client over.
    }
  }

  /** Ends a subscription (its frames stop); a lost connection has ended it anyway. */
  unsubscribe(subscriptionId: string): void {
    this.subs.delete(subscriptionId);
    if (!this.socket || !this.connected) return;
    try {
      this.socket.emit('unsubscribe', { subscriptionId }, () => {});
    } catch {
      // Not worth failing over: the next reconnection ends it.
    }
  }

  query(collection: string, cursor: string | undefined, limit: number, filter?: Filter): Promise<QueryResponse> {
    return rest<QueryResponse>(
      this.opts.fetch ?? fetch,
      this.opts.url,
      `/documents/${encodeURIComponent(collection)}/query`,
      { limit, ...(cursor ? { cursor } : {}), ...(filter ? { filter } : {}) },
      this.opts.token,
    );
  }
}

/**
 * Socket.IO closes a connection whose message exceeds maxHttpBufferSize: over WebSocket with close code 1009
 * (message too big), over long-polling by answering the POST 413.
 */
function closedForSize(details: unknown): boolean {
  const d = details as { description?: unknown; context?: { code?: unknown; status?: unknown } } | undefined;
  return d?.context?.code === 1009 || d?.description === 413 || d?.context?.status === 413;
}
