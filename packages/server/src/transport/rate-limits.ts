/**
 * Abuse limits per caller (invariant 6), keyed by who the caller is:
 * `u:<userId>` once authenticated, else `ip:<address>` (IPv4-mapped IPv6 folded
 * to IPv4, IPv6 grouped by /64, as @fastify/rate-limit does).
 *
 * - REST: `rateLimitPerMinute` requests per key per fixed minute (@fastify/rate-limit,
 *   LRU-bounded). Over it: 429 RATE_LIMITED `{details: {retryAfterMs}}` and Retry-After.
 *   `GET /health` and `GET /ping` are exempt (load balancers poll them).
 * - Sockets (a namespace middleware, after the auth middleware):
 *   `maxSocketsPerUser` connected sockets per key over all namespaces, else
 *   `connect_error` with `data: {code: 'TOO_MANY_CONNECTIONS', message}`;
 *   `socketEventsPerMinute` incoming events per key (all its sockets) per fixed
 *   minute, else the event is dropped and answered RATE_LIMITED (through its ack
 *   when it has one, else an `error` event).
 * Both read the identity set before them: `request.identity` / `socket.data.identity`.
 */
import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import { ErrorCodes, SynclineError } from '@syncline/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Socket } from 'socket.io';
import type { Config } from '../config/options.js';

const WINDOW_MS = 60_000;
/** REST counters kept (least recently used evicted): one per active user or address. */
const REST_KEYS = 20_000;
const EXEMPT = new Set(['/health', '/ping']);

/** The limit key of a caller; `identity` is whatever the auth step stored (`{userId}` or null/undefined). */
export function limitKey(identity: unknown, ip: string): string {
  const userId = (identity as { userId?: unknown } | null | undefined)?.userId;
  return typeof userId === 'string' ? `u:${userId}` : `ip:${normalizeIP(ip)}`;
}

export async function registerRestRateLimit(app: FastifyInstance, config: Pick<Config, 'rateLimitPerMinute'>): Promise<void> {
  const max = config.rateLimitPerMinute;
  if (max === 0) return;
  await app.register(rateLimit, {
    max,
    timeWindow: WINDOW_MS,
    cache: REST_KEYS,
    // Route-level hook: runs after the app's onRequest hooks, so request.identity is set.
    hook: 'onRequest',
    keyGenerator: (req: FastifyRequest) => limitKey((req as { identity?: unknown }).identity, req.ip),
    allowList: (req: FastifyRequest) => (req.method === 'GET' || req.method === 'HEAD') && EXEMPT.has(req.routeOptions.url ?? ''),
    errorResponseBuilder: (_req, ctx) =>
      new SynclineError(
        'RATE_LIMITED',
        `Too many requests: at most ${max} per minute for this user (or address); retry in ${Math.ceil(ctx.ttl / 1000)} s.`,
        { retryAfterMs: ctx.ttl },
      ),
  });
}

type ExtendedError = Error & { data?: unknown };

export interface SocketLimits {
  /** For `nsp.use(...)` on every namespace, after the auth middleware. */
  middleware(socket: Socket, next: (err?: ExtendedError) => void): void;
  /**
   * For a namespace that authenticates after connecting (the default one): moves the socket from
   * its address's budget to its user's. False (the socket is not counted) when that user already
   * has `maxSocketsPerUser` sockets: the caller refuses it with TOO_MANY_CONNECTIONS.
   */
  identified(socket: Socket): boolean;
  /** How many keys are tracked now (bounded: keys with sockets, plus idle keys whose event window has not ended). */
  size(): number;
}

export const tooManyConnections = (max: number) =>
  `${ErrorCodes.TOO_MANY_CONNECTIONS.message} At most ${max} per user (or address), all namespaces together.`;

interface KeyState {
  sockets: Set<Socket>;
  /** Start of the current fixed event window, and the events counted in it. */
  windowStart: number;
  events: number;
}

export interface SocketLimitsOptions {
  /** The clock of the event windows (tests move it). Default: Date.now. */
  now?: () => number;
  /** A socket this middleware let through that is still not connected after this long frees its slot. Default: 30 s. */
  pendingMs?: number;
}

/** Connection and event limits shared by every namespace the middleware is used on. */
export function socketLimits(
  config: Pick<Config, 'maxSocketsPerUser' | 'socketEventsPerMinute'>,
  { now = Date.now, pendingMs = 30_000 }: SocketLimitsOptions = {},
): SocketLimits {
  const maxSockets = config.maxSocketsPerUser;
  const maxEvents = config.socketEventsPerMinute;
  const keys = new Map<string, KeyState>();
  /** Keys without sockets whose event window was still running, by the time they went idle (oldest first). */
  const idle = new Map<string, number>();

  const sweep = (t: number): void => {
    for (const [key, since] of idle) {
      if (t - since < WINDOW_MS) break;
      idle.delete(key);
      if (keys.get(key)?.sockets.size === 0) keys.delete(key);
    }
  };

  const release = (key: string, socket: Socket): void => {
    const s = keys.get(key);
    if (!s?.sockets.delete(socket) || s.sockets.size > 0) return;
    const t = now();
    // Keep the counter of a key that used its window, so reconnecting does not reset it.
    if (s.events === 0 || t - s.windowStart >= WINDOW_MS) keys.delete(key);
    else idle.set(key, t);
    sweep(t);
  };

  const countEvent = (s: KeyState, t: number): boolean => {
    if (t - s.windowStart >= WINDOW_MS) {
      s.windowStart = t;
      s.events = 0;
    }
    if (s.events >= maxEvents) return false;
    s.events++;
    return true;
  };

  /** The key a socket is counted under now (its address until the default namespace identifies it). */
  const keyOf = new WeakMap<Socket, string>();

  /** Counts `socket` under `key`; false when that key is full. */
  const admit = (key: string, socket: Socket, t: number): boolean => {
    let s = keys.get(key);
    if (s && s.sockets.size >= maxSockets) return false;
    if (!s) {
      s = { sockets: new Set(), windowStart: t, events: 0 };
      keys.set(key, s);
    }
    idle.delete(key);
    s.sockets.add(socket);
    keyOf.set(socket, key);
    return true;
  };

  return {
    size: () => keys.size,
    identified(socket) {
      const from = keyOf.get(socket);
      const to = limitKey(socket.data?.identity, socket.handshake.address);
      if (from === undefined || from === to) return true;
      if (!admit(to, socket, now())) return false;
      release(from, socket);
      return true;
    },
    middleware(socket, next) {
      const t = now();
      sweep(t);
      const key = limitKey(socket.data?.identity, socket.handshake.address);
      if (!admit(key, socket, t)) {
        const message = tooManyConnections(maxSockets);
        const err: ExtendedError = new Error(message);
        err.data = { code: 'TOO_MANY_CONNECTIONS', message };
        next(err);
        return;
      }
      // Read at disconnect and per event: `identified` may move the socket to its user's key.
      const current = () => keys.get(keyOf.get(socket) ?? key);
      socket.once('disconnect', () => release(keyOf.get(socket) ?? key, socket));
      // A later middleware may refuse the socket, or its client may leave first: no disconnect follows, so free the slot.
      const pending = setTimeout(() => {
        if (!socket.connected) release(keyOf.get(socket) ?? key, socket);
      }, pendingMs);
      pending.unref();
      socket.once('disconnect', () => clearTimeout(pending));

      if (maxEvents > 0) {
        socket.use((packet, nextPacket) => {
          const at = now();
          const state = current();
          if (!state || countEvent(state, at)) {
            nextPacket();
            return;
          }
          const retryAfterMs = Math.max(0, state.windowStart + WINDOW_MS - at);
          const message = `Too many events: at most ${maxEvents} per minute per user (or address), all sockets together; retry in ${Math.ceil(retryAfterMs / 1000)} s.`;
          const ack = packet[packet.length - 1];
          if (typeof ack === 'function') ack({ ok: false, error: { code: 'RATE_LIMITED', message, retryAfterMs } });
          else socket.emit('error', { code: 'RATE_LIMITED', message, retryAfterMs });
        });
      }
      next();
    },
  };
}
