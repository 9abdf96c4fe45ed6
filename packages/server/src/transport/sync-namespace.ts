/**
 * Namespace `/sync`: live subscriptions with gap-free catch-up, and push.
 *
 * Client → server (each with an acknowledgement callback):
 *   subscribe   {collection, filter?, since?} → {ok: true, subscriptionId, position, changes?} | {ok: false, error}
 *   unsubscribe {subscriptionId}              → {ok: true} | {ok: false, error}
 *   push        {clientId, operations}        → {ok: true, accepted, conflicts, results} | {ok: false, error}
 *   clientStatus {clientId, pending, position}  (no ack) what the client reports for the admin API
 * Server → client:
 *   limits            {bodyLimit, socketMaxMessageBytes, maxOperations}: sent first on every
 *                     connection, so the client never sends a message the server closes it for.
 *   changes           {subscriptionId, changes, from, position}: every change of the
 *                     subscription with from < change.position ≤ position, in commit order.
 *   subscriptionError {subscriptionId, error}: the subscription ended (SLOW_CONSUMER).
 *   caughtUp          {subscriptionId, position}: the catch-up is complete; frames from
 *                     here on are live (sent once per subscribe, after its last catch-up frame).
 *   error             {code, message}: an event this namespace does not know, or a bad payload without ack;
 *                     TOKEN_EXPIRED: every subscription ended, every event is refused until `auth` (socket-expiry.ts).
 *   auth {token}       → {ok: true, expiresAt?} | {ok: false, error}: a new token of the same user (socket-expiry.ts).
 *
 * Ordering: a subscription's acknowledgement, then its catch-up frames (when
 * `since` is given), then live frames, all on one socket, so they arrive in
 * that order. A client keeps `last` (the ack's `position`, then each frame's
 * `position`); a frame with `from > last` means it missed something: subscribe
 * again with `since: last`. Changes at or below `last` are duplicates to skip.
 */
import {
  type Change,
  ClientIdSchema,
  ClientStatusSchema,
  CollectionNameSchema,
  type Filter,
  FilterError,
  issueCode,
  PositionSchema,
  parseFilter,
  SynclineError,
} from '@syncline/protocol';
import type { Server, Socket } from 'socket.io';
import { z } from 'zod';
import { withRule } from '../auth/policy.js';
import { publicChange } from '../auth/public-storage.js';
import type { FeedBatch } from '../engine/change-feed.js';
import { changeFor, type Group, groupId, SubscriptionIndex } from '../engine/subscription-index.js';
import { toSynclineError } from './errors.js';
import { serverLimits } from './server-limits.js';
import { type SocketDeps, type StopNamespace, socketIdentity } from './socket-deps.js';
import { AUTH_EVENT } from './socket-expiry.js';

const CATCH_UP_PAGE = 1000;
/** While a socket catches up, its live changes wait in memory: at most this many per allowed frame. */
const JOINING_CHANGES_PER_FRAME = 10;

const SubscribeSchema = z.object({
  collection: CollectionNameSchema,
  filter: z.unknown().optional(),
  since: PositionSchema.optional(),
});
const UnsubscribeSchema = z.object({ subscriptionId: z.string().max(64) });
const PushSchema = z.object({ clientId: ClientIdSchema, operations: z.array(z.unknown()) });

type Ack = (reply: unknown) => void;

/** A socket that is reading its catch-up: live changes for it wait here. */
interface Joining {
  socket: Socket;
  buffer: Change[];
  bufferedTo: number;
  overflow: boolean;
  /** The position the client has been told it is complete up to (admin API: its position). */
  told: number;
}

interface SocketState {
  active: Map<string, Group>;
  joining: Map<string, Joining>;
  /** Whose subscriptions these are: the user id, or the IP when anonymous. */
  user: string;
  /** The read rule (as JSON) each subscription was made under: a new token with other claims may change it. */
  rules: Map<string, string>;
}

const room = (g: Group) => `sub:${g.id}`;
/** Packets the transport has not written yet (engine.io keeps them in a private buffer). */
const queued = (socket: Socket) => (socket.conn as unknown as { writeBuffer: unknown[] }).writeBuffer.length;
/** How long a catch-up waits for a full socket to drain before giving up with SLOW_CONSUMER. */
const CATCH_UP_DRAIN_MS = 30_000;

/**
 * Catch-up reads the log at its own pace, so a socket with a full buffer (a slow link, or a
 * polling client between requests) is waited for rather than dropped. True once below `limit`.
 */
function drained(socket: Socket, limit: number, timeoutMs: number): Promise<boolean> {
  if (queued(socket) < limit) return Promise.resolve(true);
  return new Promise((resolve) => {
    const conn = socket.conn;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      conn.off('drain', check);
      conn.off('close', closed);
      resolve(ok);
    };
    const check = () => {
      if (queued(socket) < limit) done(true);
    };
    const closed = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    conn.on('drain', check);
    conn.on('close', closed);
  });
}
const fail = (e: unknown) => {
  const err = toSynclineError(e);
  return { ok: false, error: { code: err.code, message: err.message } };
};

function parse<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = ['payload', ...(issue?.path ?? [])].join('.');
  const code = issueCode(issue) ?? (issue?.path[0] === 'collection' ? 'INVALID_COLLECTION' : 'VALIDATION_FAILED');
  throw new SynclineError(code, `${path}: ${issue?.message ?? 'invalid'}`, { path });
}

function filterOf(raw: unknown): Filter {
  try {
    return parseFilter(raw ?? {});
  } catch (err) {
    if (err instanceof FilterError) throw new SynclineError(err.reason, `filter: ${err.message}`, { path: err.path });
    throw err;
  }
}

export async function registerSyncNamespace(io: Server, deps: SocketDeps): Promise<StopNamespace> {
  const { storage, raw, config, log, feed, filters, policy, metrics } = deps;
  const nsp = io.of('/sync');
  const index = new SubscriptionIndex();
  const joiningByGroup = new Map<string, Set<Joining>>();
  const states = new Map<string, SocketState>();
  /** Every socket state of a user, for the per-user subscription bound. */
  const byUser = new Map<string, Set<SocketState>>();
  const dirty = new Set<Group>();
  let flushScheduled = false;

  if (metrics) {
    // A live subscription is complete up to what the feed has read; one catching up, up to its last frame.
    metrics.sources.syncPosition = (socketId) => {
      const state = states.get(socketId);
      if (!state) return null;
      let p: number | null = state.active.size > 0 ? feed.current : null;
      for (const j of state.joining.values()) p = p === null ? j.told : Math.min(p, j.told);
      return p;
    };
  }

  const stopListening = feed.listen({
    batch: onBatch,
    wanted: () => nsp.sockets.size > 0,
    resync(horizon) {
      log.warn({ horizon }, 'compaction passed the change feed; every subscription must resync');
      for (const socket of nsp.sockets.values()) {
        const state = states.get(socket.id);
        for (const g of [...(state?.active.values() ?? [])]) endSubscription(socket, g, 'RESYNC_REQUIRED');
      }
    },
  });

  function onBatch(batch: FeedBatch): void {
    for (const change of batch.changes) {
      // Most groups see the change itself: redact it once; a group it entered or left gets its own view.
      let shared: Change | undefined;
      for (const [g, view] of index.match(change)) {
        if (view === change) shared ??= publicChange(change, filters);
        g.pending.push(view === change ? (shared as Change) : publicChange(view, filters));
        dirty.add(g);
      }
    }
    if (dirty.size > 0 && !flushScheduled) {
      flushScheduled = true;
      // Coalesce: everything the feed read this turn goes out as one frame per group.
      setImmediate(flush);
    }
  }

  function flush(): void {
    flushScheduled = false;
    // Sockets whose token expired leave their rooms before anything is sent (their timer may not have fired yet).
    deps.expiry.sweep();
    const position = feed.current;
    for (const g of dirty) {
      const frame = { subscriptionId: g.id, changes: g.pending, from: g.lastSent, position };
      dropSlowConsumers(g);
      // One encoding for every member of the room (Socket.IO broadcasts encode once).
      nsp.to(room(g)).emit('changes', frame);
      metrics?.delivered('/sync', g.pending.length * (nsp.adapter.rooms.get(room(g))?.size ?? 0));
      for (const j of joiningByGroup.get(g.id) ?? []) {
        j.buffer.push(...g.pending);
        j.bufferedTo = position;
        if (j.buffer.length > config.socketBufferLimit * JOINING_CHANGES_PER_FRAME) j.overflow = true;
      }
      g.lastSent = position;
      g.pending = [];
    }
    dirty.clear();
  }

  /** Sockets whose unsent frames exceed the bound lose the subscription and must catch up by `since`. */
  function dropSlowConsumers(g: Group): void {
    const members = nsp.adapter.rooms.get(room(g));
    if (!members) return;
    const slow: Socket[] = [];
    for (const sid of members) {
      const socket = nsp.sockets.get(sid);
      if (socket && queued(socket) >= config.socketBufferLimit) slow.push(socket);
    }
    // Leaving the room changes `members`, so only after the scan.
    for (const socket of slow) endSubscription(socket, g, 'SLOW_CONSUMER');
  }

  function endSubscription(socket: Socket, g: Group, code: 'SLOW_CONSUMER' | 'RESYNC_REQUIRED', message?: string): void {
    const state = states.get(socket.id);
    if (!state?.active.delete(g.id)) return;
    state.rules.delete(g.id);
    socket.leave(room(g));
    index.leave(g);
    const err = new SynclineError(code, message);
    socket.emit('subscriptionError', { subscriptionId: g.id, error: { code, message: err.message } });
  }

  function unsubscribe(socket: Socket, state: SocketState, id: string): boolean {
    state.rules.delete(id);
    const g = state.active.get(id);
    if (g) {
      state.active.delete(id);
      socket.leave(room(g));
      index.leave(g);
      return true;
    }
    const j = state.joining.get(id);
    if (j) {
      state.joining.delete(id);
      joiningByGroup.get(id)?.delete(j);
      const group = index.get(id);
      if (group) index.leave(group);
      return true;
    }
    return false;
  }

  /** Replies through `reply` itself: the ack must leave before the catch-up frames that follow it. */
  async function subscribe(socket: Socket, state: SocketState, payload: unknown, reply: (r: unknown) => void): Promise<void> {
    const { collection, filter: rawFilter, since } = parse(SubscribeSchema, payload);
    // The caller's read rule is part of the subscription's filter (and of its group).
    const rule = policy.readFilter(collection, socketIdentity(socket));
    const ruled = Object.keys(rule).length > 0;
    const own = filterOf(rawFilter);
    // No filter on hidden fields: which changes arrive would reveal their values.
    policy.checkQuery(collection, { filter: own });
    const filter = ruled ? withRule(own, rule) : own;
    const id = groupId(collection, filter);
    unsubscribe(socket, state, id); // subscribing again restarts from the given `since`
    const ruleKey = JSON.stringify(rule);
    if (state.active.size + state.joining.size >= config.maxSubscriptionsPerSocket) {
      throw new SynclineError('TOO_MANY_SUBSCRIPTIONS', undefined, { limit: config.maxSubscriptionsPerSocket });
    }
    let held = 0;
    for (const s of byUser.get(state.user) ?? []) held += s.active.size + s.joining.size;
    if (held >= config.maxSubscriptionsPerUser) {
      throw new SynclineError(
        'TOO_MANY_SUBSCRIPTIONS',
        `This user holds ${held} subscriptions on /sync, the most allowed (SYNCLINE_MAX_SUBSCRIPTIONS_PER_USER).`,
        {
          limit: config.maxSubscriptionsPerUser,
        },
      );
    }
    const g = index.join(collection, filter, feed.current, ruled);
    state.rules.set(g.id, ruleKey);
    if (since === undefined) {
      socket.join(room(g));
      state.active.set(g.id, g);
      reply({ ok: true, subscriptionId: g.id, position: feed.current });
      return;
    }

    // Catch-up: (since, start] from the change log; live changes after `start` are buffered meanwhile.
    const start = feed.current;
    const joining: Joining = { socket, buffer: [], bufferedTo: start, overflow: false, told: since };
    state.joining.set(g.id, joining);
    let set = joiningByGroup.get(g.id);
    if (!set) {
      set = new Set();
      joiningByGroup.set(g.id, set);
    }
    set.add(joining);
    const stillJoining = () => state.joining.get(g.id) === joining;
    const leaveJoining = () => {
      state.joining.delete(g.id);
      set.delete(joining);
      if (set.size === 0) joiningByGroup.delete(g.id);
    };
    let acked = false;
    /** Ended from outside (unsubscribe, disconnect, expiry): an unanswered subscribe of an expired socket is told why. */
    const endedEarly = () => {
      if (!acked && deps.expiry.isExpired(socket)) reply(fail(new SynclineError('TOKEN_EXPIRED')));
    };
    // The position the client has been told it is complete up to (ack, then each frame).
    let told = since;
    try {
      let cursor = since;
      do {
        // The raw log: old values decide whether a change left the subscription; redacted below.
        const page = await raw.getChanges({ since: cursor, limit: CATCH_UP_PAGE });
        if (!stillJoining()) return endedEarly(); // unsubscribed, disconnected or expired meanwhile
        if (!joining.overflow && !(await drained(socket, config.socketBufferLimit, CATCH_UP_DRAIN_MS))) {
          joining.overflow = true;
        }
        // An expired token ends the catch-up too (the sweep unsubscribes it), before anything more is sent.
        deps.expiry.sweep();
        if (!stillJoining()) return endedEarly();
        if (joining.overflow) throw new SynclineError('SLOW_CONSUMER');
        const upTo = Math.max(cursor, Math.min(page.checkpoint, start));
        const changes: Change[] = [];
        for (const c of page.operations) {
          const view = c.position <= start ? changeFor(collection, filter, ruled, c) : null;
          if (view) changes.push(publicChange(view, filters));
        }
        if (!acked) {
          reply({ ok: true, subscriptionId: g.id, position: upTo, changes });
          acked = true;
          told = upTo;
        } else if (changes.length > 0) {
          socket.emit('changes', { subscriptionId: g.id, changes, from: told, position: upTo });
          told = upTo;
        }
        joining.told = told;
        metrics?.delivered('/sync', changes.length);
        if (!page.hasMore || page.checkpoint >= start) break;
        cursor = upTo;
      } while (cursor < start);
      // No await from here on, so no flush can slip between the buffered tail and joining the room.
      leaveJoining();
      state.active.set(g.id, g);
      socket.join(room(g));
      // Close the catch-up at `start` (or the buffered live tail), so the next room frame finds no false gap.
      const end = Math.max(start, joining.bufferedTo);
      if (told < end || joining.buffer.length > 0) {
        socket.emit('changes', { subscriptionId: g.id, changes: joining.buffer, from: told, position: end });
        metrics?.delivered('/sync', joining.buffer.length);
      }
      socket.emit('caughtUp', { subscriptionId: g.id, position: Math.max(told, end) });
    } catch (err) {
      if (stillJoining()) leaveJoining();
      index.leave(g);
      if (!acked) throw err;
      const e = toSynclineError(err);
      socket.emit('subscriptionError', { subscriptionId: g.id, error: { code: e.code, message: e.message } });
    }
  }

  const limits = serverLimits(config);
  nsp.on('connection', (socket) => {
    // Before anything else: a message over socketMaxMessageBytes closes the connection, so the client sizes its pushes by it.
    socket.emit('limits', limits);
    const who = socketIdentity(socket);
    const state: SocketState = {
      active: new Map(),
      joining: new Map(),
      user: who.userId !== null ? `u:${who.userId}` : `ip:${socket.handshake.address}`,
      rules: new Map(),
    };
    states.set(socket.id, state);
    const mine = byUser.get(state.user) ?? new Set<SocketState>();
    mine.add(state);
    byUser.set(state.user, mine);
    /** Runs a handler; its result (or error) goes to the ack, or to an `error` event when there is none. */
    const handle = (event: string, run: (payload: unknown, reply: (r: unknown) => void) => Promise<unknown> | unknown) => {
      socket.on(event, async (payload: unknown, ack?: Ack) => {
        const reply = (r: unknown) => {
          if (typeof ack === 'function') ack(r);
          else if ((r as { ok?: boolean }).ok === false) socket.emit('error', (r as { error: unknown }).error);
        };
        try {
          const r = await run(payload, reply);
          if (r !== undefined) reply(r);
        } catch (err) {
          if (toSynclineError(err).status >= 500) log.error({ err }, `/sync ${event} failed`);
          reply(fail(err));
        }
      });
    };
    // subscribe replies itself: its ack must leave before the catch-up frames.
    handle('subscribe', (p, reply) => subscribe(socket, state, p, reply));
    handle('unsubscribe', (p) => {
      const { subscriptionId } = parse(UnsubscribeSchema, p);
      if (!unsubscribe(socket, state, subscriptionId)) throw new SynclineError('SUBSCRIPTION_NOT_FOUND');
      return { ok: true };
    });
    handle('push', async (p) => {
      const { clientId, operations } = parse(PushSchema, p);
      if (operations.length > config.maxOperations) {
        throw new SynclineError('TOO_MANY_OPERATIONS', `${operations.length} operations; the limit is ${config.maxOperations}.`);
      }
      const who = socketIdentity(socket);
      const res = await storage.applyOperations(
        { clientId, userId: who.userId },
        deps.policy.prepare(operations, who),
        deps.policy.authorizer(who),
      );
      return { ok: true, ...deps.policy.guardPush(res, who) };
    });
    // Admin API only: what the client says about itself (no ack needed; a bad one gets an `error` event and changes nothing).
    handle('clientStatus', (p) => {
      const status = parse(ClientStatusSchema, p);
      metrics?.clientStatus(socket, status);
      return { ok: true };
    });
    deps.expiry.track(socket, {
      // The token expired: every subscription ends (the client subscribes again with `since` after `auth`).
      expired: () => {
        for (const id of [...state.active.keys(), ...state.joining.keys()]) unsubscribe(socket, state, id);
      },
      // A new token may carry other claims: a subscription whose read rule changed must be reloaded.
      renewed: () => {
        const who = socketIdentity(socket);
        const message = 'The new token reads this collection under another rule: reload it with a query, then subscribe from its position.';
        for (const [id, key] of [...state.rules]) {
          const g = state.active.get(id) ?? index.get(id);
          if (!g || JSON.stringify(policy.readFilter(g.collection, who)) === key) continue;
          if (state.active.has(id)) endSubscription(socket, g, 'RESYNC_REQUIRED', message);
          else if (unsubscribe(socket, state, id)) {
            socket.emit('subscriptionError', { subscriptionId: id, error: { code: 'RESYNC_REQUIRED', message } });
          }
        }
      },
    });
    socket.onAny((event: string) => {
      if (!['subscribe', 'unsubscribe', 'push', 'clientStatus', AUTH_EVENT].includes(event)) {
        socket.emit('error', { code: 'UNKNOWN_EVENT', message: `Unknown event ${JSON.stringify(String(event).slice(0, 64))} on /sync.` });
      }
    });
    socket.on('disconnect', () => {
      for (const id of [...state.active.keys(), ...state.joining.keys()]) unsubscribe(socket, state, id);
      states.delete(socket.id);
      mine.delete(state);
      if (mine.size === 0) byUser.delete(state.user);
    });
  });

  return async () => {
    stopListening();
  };
}
