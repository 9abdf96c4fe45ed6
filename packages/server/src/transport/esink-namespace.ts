/**
 * The default namespace `/`: esink-compatible change events.
 *
 * Connect with `io(url, {auth: {token}})`. Server → client:
 *   connected   {sessionId, userId, code: 200, message}   once, after authentication
 *   error       {code, message}   UNAUTHORIZED (then disconnect), VALIDATION_FAILED or FORBIDDEN
 *               for a client `publish`, SLOW_CONSUMER (then disconnect: more than
 *               SYNCLINE_ESINK_BUFFER_BYTES of events waiting unsent), TOKEN_EXPIRED (nothing more
 *               is delivered; `auth` with a new token resumes, else disconnect: socket-expiry.ts)
 *   <table>     {table, type, data, source, timestamp, version, position}   per change the user
 *               may see (`position`: its place in the change log; published events have none)
 *   changes     the same payload, for every table
 * Client → server:
 *   publish     {table, type, data, userId?, source?, timestamp?, version?}: only with
 *               ALLOW_REPUBLISHING (alias `event`, the name esink's code listens to)
 *
 * Each change of a routed collection is routed per user (auth/routing.ts), its
 * FILTERS columns removed, and emitted once per audience: a Socket.IO room per
 * user id (`u:<id>`) and one for everyone (`all`), so a payload is encoded once
 * for all its recipients. Events are in commit order.
 *
 * Resume: a client that reconnects with the `position` of the last change event
 * it received (`auth: {token, since}` or `?since=` in the handshake) first gets
 * every change after it from the change log, decided for it exactly as live
 * delivery decides (one `plan` of each change serves both), then live events,
 * with nothing missed or repeated between the two. Published events are not in
 * the log and are not replayed. A `since` below the compaction horizon gets
 * RESYNC_REQUIRED and continues from the horizon. A replay reads pages and
 * waits for the socket to drain between them, so it stays within the buffer bound.
 */
import { type Change, type ChangeType, CollectionNameSchema, SynclineError } from '@syncline/protocol';
import type { Server, Socket } from 'socket.io';
import { z } from 'zod';
import type { Identity } from '../auth/authenticate.js';
import { NOTHING } from '../auth/policy.js';
import { changeRows, type Delivery, publishedRows, type Row, type Rule, route } from '../auth/routing.js';
import { toSynclineError } from './errors.js';
import { tooManyConnections } from './rate-limits.js';
import { socketToken } from './socket-auth.js';
import type { SocketDeps, StopNamespace } from './socket-deps.js';

const ALL = 'all';
const userRoom = (id: string) => `u:${id}`;
/** Names Socket.IO refuses to emit, and our own events: such a table gets only `changes` events. */
const RESERVED = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
  'changes',
  'connected',
  'error',
]);
/** The table of the sample event the TEST user gets on connect. */
export const SAMPLE_TABLE = 'sample';

/** An event published by `POST /publish` or, with ALLOW_REPUBLISHING, by a client. */
export const EsinkEventSchema = z.object({
  table: CollectionNameSchema,
  type: z.enum(['insert', 'update', 'delete']),
  data: z.custom<Row>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { message: 'expected a JSON object' }),
  /** Narrows delivery to this user (`'*'` or absent: everyone the routing allows). */
  userId: z
    .union([z.string().min(1).max(256), z.number()])
    .transform(String)
    .optional(),
  source: z.string().min(1).max(64).nullish(),
  timestamp: z.number().nullish(),
  version: z.number().nullish(),
  /** false: delivered by this instance only, not sent to the other instances over the bus. */
  sync: z.boolean().optional(),
});
export type EsinkEvent = z.output<typeof EsinkEventSchema>;

export interface EsinkPayload {
  table: string;
  type: ChangeType;
  data: Row | null;
  source: string;
  timestamp: number;
  version: number;
  /** Of a change (its place in the change log, to resume from); published events have none. */
  position?: number;
}

type Meta = { source: string; timestamp: number; version: number; position?: number };

/** What one change becomes: routed rows per audience room, or a view per identity (rule 'each'). */
type ChangePlan =
  | { table: string; meta: Meta; deliveries: Delivery[] }
  | { table: string; meta: Meta; view: (who: Identity) => { type: ChangeType; row: Row | null } | null };

/** The `since` of a resuming handshake: undefined (not resuming), a position, or null (invalid). */
export function resumeSince(socket: Pick<Socket, 'handshake'>): number | undefined | null {
  const auth = socket.handshake.auth as Record<string, unknown> | undefined;
  const raw = auth?.since ?? socket.handshake.query?.since;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^[0-9]{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Changes read per page of a replay. */
const REPLAY_PAGE = 500;

export interface EsinkNamespace {
  /** Routes, filters and emits a published event here, and (unless `sync: false`) on the other instances. */
  publish(event: EsinkEvent): void;
  stop: StopNamespace;
}

/** Emitted events between two scans for slow consumers within one long batch. */
const SCAN_EVERY_EVENTS = 1000;

type EnginePacket = { data?: unknown };
const packetBytes = (p: EnginePacket) =>
  typeof p.data === 'string' ? p.data.length : p.data instanceof ArrayBuffer || ArrayBuffer.isView(p.data) ? p.data.byteLength : 0;

/**
 * Bytes of packets the connection has not handed to its transport yet (engine.io's
 * write buffer; a websocket takes more only once it wrote the previous send),
 * counted as they are queued and flushed, so reading it costs nothing.
 */
function trackQueuedBytes(socket: Socket): () => number {
  const conn = socket.conn as unknown as {
    on(event: 'packetCreate', fn: (p: EnginePacket) => void): void;
    on(event: 'flush', fn: (buf: EnginePacket[]) => void): void;
  };
  let bytes = 0;
  conn.on('packetCreate', (p) => {
    bytes += packetBytes(p);
  });
  conn.on('flush', (buf) => {
    for (const p of buf) bytes -= packetBytes(p);
  });
  return () => bytes;
}
const queuedBytes = (socket: Socket): number => (socket.data.queuedBytes as (() => number) | undefined)?.() ?? 0;

export async function registerEsinkNamespace(io: Server, deps: SocketDeps): Promise<EsinkNamespace> {
  const { storage, raw, config, log, feed, filters, access, policy, metrics } = deps;
  const nsp = io.of('/');
  const routing = config.tableAuthColumnRouting;

  /**
   * How a collection's changes are routed. In open mode, by TABLE_AUTH_COLUMN_ROUTING
   * alone (as esink). With authentication, by the read rules (which include that
   * routing): "*" and column rules by rooms (one encoding per audience); any other
   * rule ('each') is evaluated for every connected socket.
   */
  const ruleOf = (collection: string): Rule | 'each' | undefined => {
    if (access.open) return routing[collection];
    const r = policy.readRule(collection);
    if (r === undefined || r === false) return undefined;
    if (r === '*' || r === true) return '*';
    if (typeof r === 'object' && 'fields' in r) return r.fields;
    if (typeof r === 'object' && 'field' in r && r.inClaim === undefined) return [r.field];
    return 'each';
  };

  /**
   * Rule 'each' (claim rules): callers whose read filter for a collection is the same see the
   * same rows, so each distinct filter is an audience with its own room, joined once when a
   * socket is identified. A change costs one evaluation per audience, not per socket.
   */
  const eachCollections = access.open ? [] : policy.collections().filter((c) => ruleOf(c) === 'each');
  const nothing = JSON.stringify(NOTHING);
  /** collection → filter key → room and one identity holding that filter. */
  const audiences = new Map<string, Map<string, { room: string; who: Identity }>>();
  let audienceSeq = 0;
  function joinAudiences(socket: Socket, who: Identity): void {
    for (const collection of eachCollections) {
      const key = JSON.stringify(policy.readFilter(collection, who));
      if (key === nothing) continue;
      let byKey = audiences.get(collection);
      if (!byKey) {
        byKey = new Map();
        audiences.set(collection, byKey);
      }
      let a = byKey.get(key);
      // Socket.IO drops a room with its last member: a stale entry is replaced.
      if (!a || !nsp.adapter.rooms.has(a.room)) {
        a = { room: `a:${audienceSeq++}`, who };
        byKey.set(key, a);
      }
      socket.join(a.room);
    }
  }

  function deliverEach(
    table: string,
    view: (who: Identity) => { type: ChangeType; row: Row | null } | null,
    meta: Meta,
    onlyUser?: string,
  ): void {
    // Sockets whose token expired leave their rooms first (their timer may not have fired yet).
    deps.expiry.sweep();
    const emit = (to: { emit(event: string, payload: EsinkPayload): unknown }, v: { type: ChangeType; row: Row | null }) => {
      const payload: EsinkPayload = { table, type: v.type, data: filters.redact(table, v.row), ...meta };
      if (!RESERVED.has(table)) to.emit(table, payload);
      to.emit('changes', payload);
    };
    if (onlyUser !== undefined) {
      // A publish for one user: that user's few sockets, each checked.
      for (const sid of nsp.adapter.rooms.get(userRoom(onlyUser)) ?? []) {
        const socket = nsp.sockets.get(sid);
        const who = socket?.data.identity as Identity | undefined;
        const v = who && view(who);
        if (socket && v) {
          emit(socket, v);
          metrics?.delivered('/', 1);
        }
      }
    } else {
      const byKey = audiences.get(table);
      for (const [key, a] of byKey ?? []) {
        if (!nsp.adapter.rooms.has(a.room)) {
          byKey?.delete(key);
          continue;
        }
        const v = view(a.who);
        if (v) {
          emit(nsp.to(a.room), v);
          metrics?.delivered('/', nsp.adapter.rooms.get(a.room)?.size ?? 0);
        }
      }
    }
    scheduleScan();
  }

  if (access.open) {
    log.warn(
      'No authentication configured (AUTH_TABLE/AUTH_COLUMN, JWT_SECRET, JWT_PUBLIC_KEY or JWKS_URL): default-namespace connections are anonymous and receive only tables routed "*".',
    );
  }
  if (access.authenticator.testTokenAllowed)
    log.warn('ALLOW_TEST_TOKEN is on: anyone can connect with the token TEST as user -1. Never in production.');
  for (const table of config.tableNames) {
    if (!Object.hasOwn(routing, table)) {
      log.warn({ table }, `TABLE_NAMES table ${table} has no TABLE_AUTH_COLUMN_ROUTING entry: its changes are delivered to no one.`);
    }
  }
  for (const table of Object.keys(routing)) {
    // Routing a table nobody watches is legal (POST /publish events for it), but usually a typo.
    if (config.tableNames.length > 0 && table !== '*' && !config.tableNames.includes(table)) {
      log.warn(
        { table },
        `TABLE_AUTH_COLUMN_ROUTING names table "${table}", which is not in TABLE_NAMES (${config.tableNames.join(', ')}): only events published for it through POST /publish are routed. Check the spelling, or add it to TABLE_NAMES to capture its changes.`,
      );
    }
    if (RESERVED.has(table)) log.warn({ table }, `table ${table} is a reserved event name: its changes are emitted as "changes" only.`);
  }

  /**
   * Sockets with `esinkBufferBytes` of unsent events or more are told SLOW_CONSUMER and disconnected
   * (which takes them out of every room). A scan runs after each batch, and within a long batch
   * every SCAN_EVERY_EVENTS emitted events, so no buffer grows past the limit by more than that.
   * The bound is in bytes and generous: a burst of many small captured rows is absorbed (a count
   * of packets dropped listeners that were keeping up, issue 14), a reader that stopped is not.
   */
  let scanScheduled = false;
  let emittedSinceScan = 0;
  const scan = () => {
    emittedSinceScan = 0;
    const slow = [...nsp.sockets.values()].filter((s) => queuedBytes(s) >= config.esinkBufferBytes);
    for (const socket of slow) {
      socket.emit('error', { code: 'SLOW_CONSUMER', message: 'Events arrived faster than this connection read them; reconnect.' });
      socket.disconnect(true);
    }
  };
  const scheduleScan = () => {
    if (scanScheduled) return;
    scanScheduled = true;
    setImmediate(() => {
      scanScheduled = false;
      scan();
    });
  };

  function deliver(table: string, deliveries: Delivery[], meta: Meta): void {
    if (nsp.sockets.size === 0) return;
    deps.expiry.sweep();
    for (const d of deliveries) {
      let rooms: string[] = [ALL];
      if (d.to !== '*') {
        rooms = [];
        for (const id of d.to) if (nsp.adapter.rooms.has(userRoom(id))) rooms.push(userRoom(id));
        if (rooms.length === 0) continue;
      }
      const payload: EsinkPayload = { table, type: d.type, data: filters.redact(table, d.row), ...meta };
      const to = nsp.to(rooms);
      if (!RESERVED.has(table)) to.emit(table, payload);
      to.emit('changes', payload);
      if (metrics) {
        // A socket is in one user room at most, so the rooms' sizes add up to the sockets reached.
        let n = 0;
        for (const r of rooms) n += nsp.adapter.rooms.get(r)?.size ?? 0;
        metrics.delivered('/', n);
      }
      emittedSinceScan += 2;
      if (emittedSinceScan >= SCAN_EVERY_EVENTS) scan();
    }
    scheduleScan();
  }

  /** Events published on other instances reach this one's sockets (bus hints: a lost one is lost, like any emit). */
  const stopBus = deps.bus?.subscribe((m) => {
    if (m.kind !== 'publish') return;
    const r = EsinkEventSchema.safeParse(m.event);
    if (r.success) deliverPublished(r.data);
    else log.warn({ origin: m.origin }, 'bus: a published event from another instance is not valid; dropped');
  });

  function publish(e: EsinkEvent): void {
    deliverPublished(e);
    if (e.sync !== false && deps.bus?.state === 'up') {
      deps.bus.publish({ kind: 'publish', event: e }).catch((err) => log.warn({ err }, 'bus: could not send a published event'));
    }
  }

  function deliverPublished(e: EsinkEvent): void {
    const meta = { source: e.source ?? config.defaultSource, timestamp: e.timestamp ?? Date.now(), version: e.version ?? 1 };
    const rule = ruleOf(e.table);
    if (rule === 'each') {
      const doc = { ...e.data, _id: String(e.data.id ?? e.data._id ?? ''), _rev: meta.version };
      deliverEach(
        e.table,
        (who) => (policy.canRead(e.table, who, doc) ? { type: e.type, row: e.data } : null),
        meta,
        e.userId === undefined || e.userId === '*' ? undefined : e.userId,
      );
      return;
    }
    let deliveries = route(rule, publishedRows(e.type, e.data));
    if (e.userId !== undefined && e.userId !== '*') {
      const only = e.userId;
      deliveries = deliveries.flatMap((d) => (d.to === '*' || d.to.includes(only) ? [{ ...d, to: [only] }] : []));
    }
    deliver(e.table, deliveries, {
      source: e.source ?? config.defaultSource,
      timestamp: e.timestamp ?? Date.now(),
      version: e.version ?? 1,
    });
  }

  /** How a change is delivered: the one decision live delivery and resume share. */
  function plan(c: Change): ChangePlan | undefined {
    const rule = ruleOf(c.collection);
    if (rule === undefined) return undefined;
    const rows = changeRows(c, storage.tableCollections.has(c.collection));
    const meta: Meta = { source: c.source, timestamp: c.timestamp, version: c.version, position: c.position };
    if (rule === 'each') {
      return {
        table: c.collection,
        meta,
        view: (who) => {
          const v = policy.visibleChange(c, who);
          if (!v) return null;
          return { type: v.type, row: v.type === 'delete' ? (rows.before ?? null) : rows.after };
        },
      };
    }
    return { table: c.collection, meta, deliveries: route(rule, rows) };
  }

  /** A planned change to one socket, as its rooms would have had it. */
  function deliverTo(socket: Socket, who: Identity, p: ChangePlan): void {
    const emit = (type: ChangeType, row: Row | null) => {
      const payload: EsinkPayload = { table: p.table, type, data: filters.redact(p.table, row), ...p.meta };
      if (!RESERVED.has(p.table)) socket.emit(p.table, payload);
      socket.emit('changes', payload);
      metrics?.delivered('/', 1);
    };
    if ('view' in p) {
      const v = p.view(who);
      if (v) emit(v.type, v.row);
      return;
    }
    for (const d of p.deliveries) {
      if (d.to === '*' || (who.userId !== null && d.to.includes(who.userId))) emit(d.type, d.row);
    }
  }

  /** Resuming sockets whose replay went past what the feed has delivered: the position they reached. */
  const replayedTo = new Map<Socket, number>();

  const stopListening = feed.listen({
    wanted: () => nsp.sockets.size > 0,
    batch(b) {
      for (const c of b.changes) {
        const p = plan(c);
        if (!p) continue;
        if ('view' in p) deliverEach(p.table, p.view, p.meta);
        else deliver(p.table, p.deliveries, p.meta);
      }
      // A resuming socket joins live delivery once the feed reaches its replay; the
      // part of this batch it has not had yet goes to it alone first.
      for (const [socket, upTo] of replayedTo) {
        if (b.to < upTo) continue;
        replayedTo.delete(socket);
        if (deps.expiry.isExpired(socket)) continue;
        const who = socket.data.identity as Identity;
        for (const c of b.changes) {
          const p = c.position > upTo ? plan(c) : undefined;
          if (p) deliverTo(socket, who, p);
        }
        goLive(socket, who);
      }
    },
  });

  function goLive(socket: Socket, who: Identity): void {
    if (!socket.connected) return;
    socket.data.live = true;
    socket.join(ALL);
    if (who.userId !== null) socket.join(userRoom(who.userId));
    joinAudiences(socket, who);
  }

  /** Waits until the socket's unsent events are below half the bound (or it is gone). */
  const drained = (socket: Socket) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!socket.connected || queuedBytes(socket) < config.esinkBufferBytes / 2) {
          socket.conn.off('drain', check);
          socket.off('disconnect', check);
          resolve();
        }
      };
      socket.conn.on('drain', check);
      socket.on('disconnect', check);
      check();
    });

  /**
   * Replays the changes after `since` to the socket, then makes it live. It joins the rooms in
   * the same tick as it finds its replay equal to what the feed delivered; a replay that read
   * further waits (in replayedTo) for the feed's batch that reaches it.
   */
  async function resume(socket: Socket, since: number): Promise<void> {
    let cursor = since;
    for (;;) {
      // An expired token ends the replay: the socket gets nothing more until `auth` renews it.
      if (!socket.connected || deps.expiry.isExpired(socket)) return;
      // The identity may have been renewed (`auth`) meanwhile.
      const who = socket.data.identity as Identity;
      const delivered = feed.current;
      if (cursor === delivered) return goLive(socket, who);
      if (cursor > delivered) {
        replayedTo.set(socket, cursor);
        return;
      }
      let page: Awaited<ReturnType<typeof raw.getChanges>>;
      try {
        // The raw log, as the feed reads it: routing needs old rows and every column (redacted at emit).
        page = await raw.getChanges({ since: cursor, limit: REPLAY_PAGE });
      } catch (err) {
        const e = toSynclineError(err);
        if (e.code !== 'RESYNC_REQUIRED') throw err;
        const horizon = Number(e.details?.horizon);
        socket.emit('error', { code: e.code, message: e.message, horizon });
        if (!(Number.isSafeInteger(horizon) && horizon > cursor)) throw err;
        cursor = horizon;
        continue;
      }
      if (!socket.connected || deps.expiry.isExpired(socket)) return;
      for (const c of page.operations) {
        const p = c.position > cursor ? plan(c) : undefined;
        if (p) deliverTo(socket, who, p);
      }
      cursor = Math.max(cursor, page.checkpoint);
      scheduleScan();
      await drained(socket);
    }
  }

  nsp.on('connection', async (socket) => {
    socket.data.queuedBytes = trackQueuedBytes(socket);
    let identity: Identity;
    try {
      identity = await access.identify({
        token: socketToken(socket),
        headers: socket.handshake.headers,
        ip: socket.handshake.address,
        transport: 'socket',
      });
    } catch (err) {
      const e = toSynclineError(err);
      if (e.status >= 500) log.error({ err: e.cause ?? err }, 'default namespace: authentication failed');
      socket.emit('error', { code: e.code, message: e.message });
      socket.disconnect(true);
      return;
    }
    if (!socket.connected) return;
    socket.data.identity = identity;
    if (deps.limits && !deps.limits.identified(socket)) {
      socket.emit('error', { code: 'TOO_MANY_CONNECTIONS', message: tooManyConnections(config.maxSocketsPerUser) });
      socket.disconnect(true);
      return;
    }
    // A token stops being valid at its expiry: so does what this connection receives (it leaves
    // its rooms; a replay in progress stops).
    deps.expiry.track(socket, {
      expired: () => {
        replayedTo.delete(socket);
      },
      // A new token may carry other claims: the audiences are those of the new identity. A socket
      // still replaying joins them when its replay meets the feed.
      renewed: (_previous, wasExpired) => {
        if (!socket.data.live && !wasExpired) return;
        for (const r of [...socket.rooms]) if (r !== socket.id) socket.leave(r);
        goLive(socket, socket.data.identity as Identity);
      },
    });
    const since = resumeSince(socket);
    if (since === null) {
      socket.emit('error', {
        code: 'VALIDATION_FAILED',
        message: 'since: expected the position of the last change event received (an integer ≥ 0)',
      });
      socket.disconnect(true);
      return;
    }
    socket.once('disconnect', () => replayedTo.delete(socket));
    if (since === undefined) goLive(socket, identity);

    const onPublish = (payload: unknown) => {
      if (!config.allowRepublishing) {
        socket.emit('error', { code: 'FORBIDDEN', message: 'Clients may not publish: the server runs with ALLOW_REPUBLISHING off.' });
        return;
      }
      const r = EsinkEventSchema.safeParse(payload);
      if (!r.success) {
        const issue = r.error.issues[0];
        const path = ['payload', ...(issue?.path ?? [])].join('.');
        socket.emit('error', { code: 'VALIDATION_FAILED', message: `${path}: ${issue?.message ?? 'invalid'}` });
        return;
      }
      try {
        publish(r.data);
      } catch (err) {
        log.error({ err }, 'default namespace: client publish failed');
        const e = new SynclineError('INTERNAL');
        socket.emit('error', { code: e.code, message: e.message });
      }
    };
    socket.on('publish', onPublish);
    socket.on('event', onPublish);

    socket.emit('connected', { sessionId: socket.id, userId: identity.userId, code: 200, message: 'Successfully connected.' });
    if (identity.method === 'test') {
      // esink's TEST token "returns sample data": one event of the shape every change has.
      const sample: EsinkPayload = {
        table: SAMPLE_TABLE,
        type: 'insert',
        data: filters.redact(SAMPLE_TABLE, { id: 1, userId: identity.userId, title: 'A sample row: every change event has this shape.' }),
        source: 'database',
        timestamp: Date.now(),
        version: 1,
      };
      socket.emit(SAMPLE_TABLE, sample);
      socket.emit('changes', sample);
    }
    if (since !== undefined) {
      resume(socket, since).catch((err) => {
        log.error({ err }, 'default namespace: resume failed');
        const e = toSynclineError(err);
        socket.emit('error', { code: e.code, message: e.message });
        socket.disconnect(true);
      });
    }
  });

  return {
    publish,
    async stop() {
      stopListening();
      stopBus?.();
    },
  };
}
