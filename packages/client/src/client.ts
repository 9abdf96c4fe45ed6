/**
 * The Syncline client: a local replica (base records from the server + the
 * pending queue of local writes, both in a Store) that converges with the
 * server.
 *
 * - Writes apply to the replica at once (the app sees base + pending) and are
 *   queued; the queue is pushed in order, each operation with its id (the
 *   server applies an id once), so replaying after a crash, a reload or a lost
 *   answer is safe.
 * - A rejected operation leaves the queue and its promise rejects; later
 *   operations go on (no head-of-line stall), except those on a document whose
 *   insert was rejected: they are rejected with it (DEPENDENCY_REJECTED).
 * - A conflict is resolved by the configured strategy (server-wins by default,
 *   client-wins, merge by field clocks, or a function); a resolution is sent as
 *   a new operation based on the server's version, so the server and every
 *   replica end with the same document.
 * - Changes come from `/sync` subscriptions (socket) or `POST /changes` polling
 *   (http), after an initial sync by query pages; they move the base records.
 */

import {
  type Change,
  canonical,
  DEFAULT_SERVER_LIMITS,
  type Filter,
  matchFilter,
  type Operation,
  type OperationResult,
  parseFilter,
  type WireDocument,
} from '@syncline/protocol';
import { Emitter } from './emitter.js';
import { ConflictError, RejectedError, SyncError, ValidationError } from './errors.js';
import { HybridClock } from './hlc.js';
import { isTooLarge, planBatch } from './push-batch.js';
import { type CompiledQuery, compileQuery, type Query } from './query.js';
import { SortedList } from './sorted-list.js';
import type { BaseRecord, PendingOperation, Store } from './store/store.js';
import { HttpTransport } from './transport/http.js';
import { SocketTransport } from './transport/socket.js';
import { type Frame, type PushLimits, type TokenSource, type Transport, TransportError } from './transport/transport.js';
import type { DocOf, InferSchema, TypedFilter, TypedQuery } from './typed.js';

/** Field clocks of a document under the `merge` strategy (kept in the document, hidden from reads). */
const CLOCKS = '_hlc';
const PUSH_BATCH = 200;
const MAX_RESOLUTIONS = 5;
const RETRY_MS = [250, 1000, 3000, 10_000];

export type Doc = { _id: string; _rev?: number } & Record<string, unknown>;

/** What a custom resolver sees; it returns the document's fields to keep (null: take the server's). */
export interface ConflictContext {
  collection: string;
  id: string;
  /** The document as this client wanted it (null: it wanted it deleted). */
  local: Record<string, unknown> | null;
  /** The server's document (null: it does not exist there). */
  server: WireDocument | null;
  operation: Operation;
}
export type ConflictResolver = (c: ConflictContext) => Record<string, unknown> | null | Promise<Record<string, unknown> | null>;
export type ConflictStrategy = 'server-wins' | 'client-wins' | 'merge' | ConflictResolver;

/** Anything with zod's `safeParse` (a zod schema, or your own). */
export interface Schema {
  safeParse(value: unknown): { success: true } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

export interface ClientOptions {
  /** The server, e.g. `http://localhost:3000`. */
  url: string;
  store: Store;
  /**
   * A token, or a function returning one: asked on every connection, and again when the token expires
   * (shortly before a JWT's `exp`, or when the server says TOKEN_EXPIRED) to carry on without reconnecting.
   * `refreshBeforeExpiryMs`: how long before `exp` (default a tenth of the time left, at most 60 s; 0: only
   * on TOKEN_EXPIRED).
   */
  auth?: TokenSource | { token?: TokenSource; refreshBeforeExpiryMs?: number };
  /** Default: kept in the store (generated on first use). */
  clientId?: string;
  /** `socket` (default: live) or `http` (polling every `syncInterval`). */
  transport?: 'socket' | 'http' | Transport;
  /** http: poll period in ms (default 1000). socket: how often a stalled queue is retried. */
  syncInterval?: number;
  conflict?: ConflictStrategy;
  /** Rows per initial-sync page (default 500). */
  pageSize?: number;
  /** Local writes waiting at most (default 10,000): past it writes are refused with QUEUE_FULL. */
  maxPending?: number;
  /** Start offline (call `resume()`); default false. */
  paused?: boolean;
  fetch?: typeof fetch;
  socketOptions?: Record<string, unknown>;
}

export interface ClientStatus {
  state: 'online' | 'offline' | 'syncing';
  /** Local writes not yet acknowledged. */
  pending: number;
  /** The highest change position applied (socket: over all collections). */
  position: number;
  /** When the client was last fully synced (ms), or null. */
  lastSyncedAt: number | null;
  /** Set when the server refused the connection (e.g. UNAUTHORIZED). */
  error?: { code: string; message: string };
}

export interface WriteOutcome {
  status: 'applied';
  document: Doc | null;
  /** Set when a conflict was resolved on the way: the strategy that did it. */
  resolution?: string;
}

export interface ClientEvents extends Record<string, unknown> {
  status: ClientStatus;
  /** A collection's visible data changed (local write or remote change). */
  change: { collection: string; ids: string[]; origin: 'local' | 'remote' };
  conflict: { collection: string; id: string; resolution: string; code: string; serverDocument: WireDocument | null; operation: Operation };
  rejected: { collection: string; id: string; code: string; message: string; operation: Operation };
  /** Initial sync progress of a collection. */
  progress: { collection: string; received: number; total: number | null; done: boolean };
  /** A record from the server failed the collection's schema: hidden from reads, reported here. */
  quarantine: { collection: string; id: string; path: string; message: string };
  /** A background failure (network, store) the client will retry. */
  error: { code: string; message: string };
}

interface Waiter {
  resolve(o: WriteOutcome): void;
  reject(e: Error): void;
  resolution?: string;
}

interface CollectionState {
  name: string;
  schema?: Schema;
  /** Socket: the subscription is live (catch-up done). */
  caughtUp: boolean;
  syncing: Promise<void> | undefined;
  /** Bumped on every (re)subscription, so frames of an older one are ignored. */
  epoch: number;
  /** Open live queries: each keeps its whole result in order, updated per changed document. */
  views: Set<LiveView>;
  /** Materialized documents (base + pending, validated, frozen) by id, reused until the document changes. */
  docs: Map<string, Materialized>;
  /** View loads and updates run one after another, in the order of the changes. */
  chain: Promise<void>;
  /** A handle without `where` asked for the whole collection. */
  whole: boolean;
  /** Scopes (`where` filters) by canonical JSON: the replica holds their union. */
  scopes: Map<string, Filter>;
  /** The current subscription (socket), ended when the scopes change. */
  subscriptionId: string | undefined;
}

/** What a collection syncs: everything (`filter` undefined, key ['*']), the union of its scopes, or nothing. */
interface Scope {
  keys: string[];
  filter: Filter | undefined;
  none: boolean;
}

interface Materialized {
  /** The base's version (-1: no base). */
  version: number;
  /** Ids of the pending operations applied on it. */
  ops: string;
  doc: Doc | undefined;
}

/** What a live query's callback gets besides the documents. */
export interface LiveQueryInfo {
  /** Documents matching the filter (before offset/after/limit). */
  total: number;
}

interface LiveView {
  query: Query;
  compiled: CompiledQuery;
  list: SortedList<Doc>;
  byId: Map<string, Doc>;
  callback: (docs: readonly Doc[], info: LiveQueryInfo) => void;
  last: readonly Doc[] | undefined;
  lastTotal: number;
  loaded: boolean;
  dirty: boolean;
}

const posKey = (collection: string) => `pos:${collection}`;
/** The scopes (canonical filters, or ['*']) the replica of a collection holds. */
const scopeKey = (collection: string) => `scope:${collection}`;
const GLOBAL = '*';

export class SynclineClient extends Emitter<ClientEvents> {
  readonly store: Store;
  private readonly transport: Transport;
  private readonly strategy: ConflictStrategy;
  private clientIdValue = '';
  private clock!: HybridClock;
  private queue: PendingOperation[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private readonly collections = new Map<string, CollectionState>();
  private readonly opened: Promise<void>;
  private paused: boolean;
  private closed = false;
  private pushing: Promise<void> | undefined;
  private pushAgain = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private retries = 0;
  /** Push sizes that 413 answers taught (limits lower than announced), kept across reconnects: a socket closed for size reconnects. */
  private learnedMaxOps = Number.POSITIVE_INFINITY;
  private learnedMaxBytes = Number.POSITIVE_INFINITY;
  private pollTimer: ReturnType<typeof setInterval> | undefined;
  private polling: Promise<void> | undefined;
  private httpCaughtUp = false;
  private position = 0;
  private lastSyncedAt: number | null = null;
  private refused: { code: string; message: string } | undefined;
  private lastStatus = '';
  private syncedWaiters: (() => void)[] = [];

  constructor(private readonly options: ClientOptions) {
    super();
    this.store = options.store;
    this.strategy = options.conflict ?? 'server-wins';
    const auth = options.auth;
    const token: TokenSource = typeof auth === 'object' && auth !== null ? auth.token : auth;
    const refresh = typeof auth === 'object' && auth !== null ? auth.refreshBeforeExpiryMs : undefined;
    const url = options.url.replace(/\/+$/, '');
    const t = options.transport ?? 'socket';
    this.transport =
      typeof t === 'object'
        ? t
        : t === 'http'
          ? new HttpTransport({ url, token, ...(options.fetch ? { fetch: options.fetch } : {}) })
          : new SocketTransport({
              url,
              token,
              ...(refresh === undefined ? {} : { refreshBeforeExpiryMs: refresh }),
              ...(options.fetch ? { fetch: options.fetch } : {}),
              ...(options.socketOptions ? { socketOptions: options.socketOptions } : {}),
            });
    this.paused = options.paused ?? false;
    this.opened = this.open();
    this.opened.catch((err) => this.emit('error', { code: 'STORE', message: (err as Error).message }));
  }

  private async open(): Promise<void> {
    await this.store.open();
    let id = this.options.clientId ?? (await this.store.getMeta<string>('clientId'));
    if (!id) id = randomId();
    this.clientIdValue = id;
    this.clock = new HybridClock(id);
    const [queue, position] = await Promise.all([this.store.pending(), this.store.getMeta<number>('position')]);
    this.queue = queue;
    this.queueChanged();
    this.position = position ?? 0;
    await this.store.write({ meta: { clientId: id } });
    for (const p of queue) for (const s of Object.values(clocksOf(p.operation.data))) this.clock.observe(s);
    if (!this.paused) this.connect();
    this.publishStatus();
  }

  /** Resolves once the store is open and the client id known. */
  ready(): Promise<void> {
    return this.opened;
  }

  get clientId(): string {
    return this.clientIdValue;
  }

  get status(): ClientStatus {
    const connected = !this.paused && this.transport.connected;
    const caughtUp = this.transport.kind === 'http' ? this.httpCaughtUp : [...this.collections.values()].every((c) => c.caughtUp);
    const state = !connected ? 'offline' : this.queue.length === 0 && caughtUp && !this.pushing ? 'online' : 'syncing';
    return {
      state,
      pending: this.queue.length,
      position: this.position,
      lastSyncedAt: this.lastSyncedAt,
      ...(this.refused ? { error: this.refused } : {}),
    };
  }

  /**
   * A collection of the replica. `where`: sync only the documents matching this filter (the server filters
   * the subscription and the initial pages); several scopes of one collection sync their union, and a handle
   * without `where` syncs the whole collection. Documents that stop matching every scope leave the replica.
   */
  collection<S extends Schema>(name: string, options: { schema: S; where?: TypedFilter<InferSchema<S>> }): Collection<InferSchema<S>>;
  collection<T extends object = Record<string, unknown>>(name: string, options?: { where?: NoInfer<TypedFilter<T>> }): Collection<T>;
  collection<T extends object>(name: string, options: { schema?: Schema; where?: object } = {}): Collection<T> {
    const where = options.where === undefined || Object.keys(options.where).length === 0 ? undefined : parseFilter(options.where);
    const key = where ? canonical(where) : undefined;
    let c = this.collections.get(name);
    if (!c) {
      c = {
        name,
        caughtUp: false,
        syncing: undefined,
        epoch: 0,
        views: new Set(),
        docs: new Map(),
        chain: Promise.resolve(),
        whole: !where,
        scopes: new Map(where && key ? [[key, where]] : []),
        subscriptionId: undefined,
      };
      if (options.schema) c.schema = options.schema;
      this.collections.set(name, c);
      void this.opened.then(() => this.follow(c as CollectionState));
    } else if ((where && key && !c.scopes.has(key) && !c.whole) || (!where && !c.whole)) {
      if (where && key) c.scopes.set(key, where);
      else c.whole = true;
      this.rescope(c);
    }
    if (options.schema && options.schema !== c.schema) {
      const state = c;
      state.schema = options.schema;
      // Documents were validated against another schema: validate again, and reload open queries.
      state.docs.clear();
      for (const v of state.views) this.schedule(state, () => this.loadView(state, v));
    }
    return new Collection(this, c, key);
  }

  /** Ends a scope (`Collection.release`): documents matching no remaining scope leave the replica. */
  releaseScope(c: CollectionState, key: string): void {
    if (!c.scopes.delete(key) || c.whole) return;
    this.rescope(c);
  }

  private scopeOf(c: CollectionState): Scope {
    if (c.whole) return { keys: ['*'], filter: undefined, none: false };
    const filters = [...c.scopes.values()];
    const keys = [...c.scopes.keys()].sort();
    if (filters.length === 0) return { keys: [], filter: undefined, none: true };
    return { keys, filter: union(filters), none: false };
  }

  /** Follows again with the new scopes, once the current subscription attempt is over. */
  private rescope(c: CollectionState): void {
    const wait = c.syncing ?? Promise.resolve();
    void Promise.all([this.opened, wait.catch(() => {})]).then(() => {
      c.caughtUp = false;
      c.epoch++;
      c.syncing = undefined;
      if (this.transport.kind === 'http') void this.exclusive(() => this.rescopeHttp(c));
      else void this.follow(c);
      this.publishStatus();
    });
  }

  /** Goes offline (as if the network went away): writes keep queueing. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.disconnect();
    this.publishStatus();
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    this.refused = undefined;
    void this.opened.then(() => this.connect());
    this.publishStatus();
  }

  /** Resolves when the queue is empty and every collection has caught up with the server. */
  async whenSynced(): Promise<void> {
    await this.opened;
    if (this.status.state === 'online') return;
    await new Promise<void>((resolve) => this.syncedWaiters.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.disconnect();
    for (const [, w] of this.waiters)
      w.reject(new SyncError('CLIENT_CLOSED', 'The client was closed before the server answered; the write stays queued.'));
    this.waiters.clear();
    await this.opened.catch(() => {});
    await this.pushing?.catch(() => {});
    await this.store.close();
  }

  // ---- connection -------------------------------------------------------

  private connect(): void {
    if (this.paused || this.closed) return;
    this.transport.connect({
      online: () => {
        this.refused = undefined;
        this.retries = 0;
        for (const c of this.collections.values()) {
          c.caughtUp = false;
          // A subscription of the previous connection is dead (its epoch moved on): start a new one.
          c.syncing = undefined;
          void this.follow(c);
        }
        if (this.transport.kind === 'http') this.startPolling();
        this.kickPush();
        this.publishStatus();
      },
      offline: () => {
        for (const c of this.collections.values()) {
          c.caughtUp = false;
          c.epoch++;
        }
        this.publishStatus();
      },
      refused: (code, message) => {
        this.refused = { code, message };
        this.emit('error', { code, message });
        this.publishStatus();
      },
    });
  }

  private disconnect(): void {
    this.transport.disconnect();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.httpCaughtUp = false;
    for (const c of this.collections.values()) {
      c.caughtUp = false;
      c.epoch++;
    }
  }

  private online(): boolean {
    return !this.paused && !this.closed && this.transport.connected;
  }

  // ---- reads -----------------------------------------------------------

  /** Pending operations by `collection/id`, in queue order (rebuilt after the queue changed). */
  private pendingIndex: Map<string, PendingOperation[]> | undefined;

  private queueChanged(): void {
    this.pendingIndex = undefined;
  }

  private pendingOf(collection: string, id: string): PendingOperation[] {
    if (!this.pendingIndex) {
      const index = new Map<string, PendingOperation[]>();
      for (const p of this.queue) {
        if (p.operation.docId === undefined) continue;
        const key = `${p.operation.collection}/${p.operation.docId}`;
        const list = index.get(key);
        if (list) list.push(p);
        else index.set(key, [p]);
      }
      this.pendingIndex = index;
    }
    return this.pendingIndex.get(`${collection}/${id}`) ?? [];
  }

  /** Ids of a collection's documents with pending operations. */
  private pendingIds(collection: string): Set<string> {
    const ids = new Set<string>();
    for (const p of this.queue) if (p.operation.collection === collection && p.operation.docId !== undefined) ids.add(p.operation.docId);
    return ids;
  }

  /**
   * The visible document (base + pending writes, validated, clocks hidden, frozen): the same object as long
   * as its base version and pending operations are the same, so it is validated once per version.
   */
  private materialize(c: CollectionState, id: string, base: BaseRecord | undefined, ops: PendingOperation[]): Doc | undefined {
    const version = base ? base.version : -1;
    const opIds = ops.length === 0 ? '' : ops.map((p) => p.operation.id).join(' ');
    const hit = c.docs.get(id);
    if (hit && hit.version === version && hit.ops === opIds) return hit.doc;
    let doc: Doc | null = base ? toDoc(base) : null;
    for (const p of ops) doc = applyOp(doc, p.operation);
    const v = doc ? this.visible(c, doc) : undefined;
    const frozen = v ? Object.freeze(v) : undefined;
    if (frozen) c.docs.set(id, { version, ops: opIds, doc: frozen });
    else c.docs.delete(id);
    return frozen;
  }

  /** The visible document: base + pending writes, validated, clocks hidden. */
  async read(c: CollectionState, id: string): Promise<Doc | undefined> {
    await this.opened;
    return this.materialize(c, id, await this.store.get(c.name, id), this.pendingOf(c.name, id));
  }

  async findAll(c: CollectionState, filter?: Filter): Promise<Doc[]> {
    return this.runQuery(c, filter === undefined ? {} : { filter });
  }

  /** A one-shot query: the store's indexes narrow the base records, pending writes are applied on top. */
  async runQuery(c: CollectionState, query: Query): Promise<Doc[]> {
    const compiled = compileQuery(query);
    await this.opened;
    const docs = await this.matching(c, query, compiled, compiled.after ? Number.POSITIVE_INFINITY : compiled.offset + compiled.limit);
    return windowOf(docs, compiled);
  }

  /** At least the first `want` visible documents matching the query (all when fewer match), in its order. */
  private async matching(c: CollectionState, query: Query, compiled: CompiledQuery, want: number): Promise<Doc[]> {
    const touched = this.pendingIds(c.name);
    const storeQuery = { ...(query.filter ? { filter: query.filter } : {}), ...(query.sort ? { sort: query.sort } : {}) };
    // Ask for more than wanted: documents with pending writes are taken from their own read, and invalid ones drop out.
    let extra = touched.size;
    for (;;) {
      const limit = want + extra;
      const rows = await this.store.query(c.name, Number.isFinite(limit) ? { ...storeQuery, limit } : storeQuery);
      const docs: Doc[] = [];
      for (const r of rows) {
        if (touched.has(r.id)) continue;
        const d = this.materialize(c, r.id, r, []);
        if (d) docs.push(d);
      }
      const kept = docs.length;
      if (touched.size > 0) {
        const ids = [...touched];
        const bases = await this.store.getMany(c.name, ids);
        ids.forEach((id, i) => {
          const d = this.materialize(c, id, bases[i], this.pendingOf(c.name, id));
          if (d && compiled.matches(d)) docs.push(d);
        });
        docs.sort(compiled.compare);
      }
      if (!Number.isFinite(limit) || rows.length < limit || kept >= want) return docs;
      extra = extra * 2 + 16;
    }
  }

  /** A live query: `callback` gets the window now and whenever a document in it changed. */
  liveQuery(c: CollectionState, query: Query, callback: (docs: readonly Doc[], info: LiveQueryInfo) => void): () => void {
    const compiled = compileQuery(query);
    const view: LiveView = {
      query,
      compiled,
      list: new SortedList<Doc>(compiled.compare),
      byId: new Map(),
      callback,
      last: undefined,
      lastTotal: -1,
      loaded: false,
      dirty: false,
    };
    c.views.add(view);
    this.schedule(c, () => this.loadView(c, view));
    return () => {
      c.views.delete(view);
    };
  }

  /** The former API: documents matching `filter`, in id order. */
  subscribeQuery(c: CollectionState, filter: Filter | undefined, callback: (docs: Doc[]) => void): () => void {
    return this.liveQuery(c, filter === undefined ? {} : { filter }, (docs) => callback(docs as Doc[]));
  }

  private schedule(c: CollectionState, task: () => Promise<void>): void {
    c.chain = c.chain
      .then(async () => {
        await this.opened;
        await task();
      })
      .catch((err) => {
        if (!this.closed) this.emit('error', { code: (err as SyncError).code ?? 'INTERNAL', message: (err as Error).message });
      });
  }

  private async loadView(c: CollectionState, view: LiveView): Promise<void> {
    if (!c.views.has(view)) return;
    const docs = await this.matching(c, view.query, view.compiled, Number.POSITIVE_INFINITY);
    view.list.load(docs);
    view.byId = new Map(docs.map((d) => [d._id, d]));
    view.loaded = true;
    this.emitView(view, true);
  }

  /** Moves the changed documents in every loaded view: O(log n) each, then one window per view that changed. */
  private async refreshViews(c: CollectionState, ids: string[]): Promise<void> {
    if (c.views.size === 0) return;
    const bases = await this.store.getMany(c.name, ids);
    const docs = ids.map((id, i) => this.materialize(c, id, bases[i], this.pendingOf(c.name, id)));
    for (const view of c.views) {
      if (!view.loaded) continue;
      ids.forEach((id, i) => {
        const d = docs[i];
        const old = view.byId.get(id);
        const match = d !== undefined && view.compiled.matches(d);
        if (old === d && match) return;
        if (old) {
          view.list.remove(old);
          view.byId.delete(id);
          view.dirty = true;
        }
        if (match) {
          view.list.insert(d);
          view.byId.set(id, d);
          view.dirty = true;
        }
      });
      if (view.dirty) this.emitView(view, false);
    }
  }

  /** Calls back with the window when it differs (by reference) from the last one sent. */
  private emitView(view: LiveView, always: boolean): void {
    view.dirty = false;
    const { compiled, list } = view;
    let start = compiled.after ? list.rankOf(compiled.after as Doc, true) : 0;
    start += compiled.offset;
    const end = Number.isFinite(compiled.limit) ? start + compiled.limit : list.size;
    const docs = list.slice(start, end);
    const last = view.last;
    if (!always && last && last.length === docs.length && view.lastTotal === list.size && docs.every((d, i) => d === last[i])) return;
    view.last = Object.freeze(docs);
    view.lastTotal = list.size;
    try {
      view.callback(view.last, { total: list.size });
    } catch (err) {
      this.emit('error', { code: 'INTERNAL', message: `a live query's callback threw: ${(err as Error).message}` });
    }
  }

  private readonly quarantined = new Set<string>();

  private visible(c: CollectionState, doc: Doc): Doc | undefined {
    const rest = stripClocks(doc) as Doc;
    if (!c.schema) return rest;
    const { _id, _rev, ...fields } = rest;
    const r = c.schema.safeParse(fields);
    if (r.success) return rest;
    const key = `${c.name}/${_id}/${_rev}`;
    if (!this.quarantined.has(key)) {
      this.quarantined.add(key);
      const issue = r.error.issues[0];
      this.emit('quarantine', {
        collection: c.name,
        id: String(_id),
        path: (issue?.path ?? []).map(String).join('.'),
        message: issue?.message ?? 'invalid',
      });
    }
    return undefined;
  }

  private changed(collection: string, ids: string[], origin: 'local' | 'remote'): void {
    if (ids.length === 0) return;
    this.emit('change', { collection, ids, origin });
    const c = this.collections.get(collection);
    if (c && c.views.size > 0) this.schedule(c, () => this.refreshViews(c, ids));
  }

  // ---- writes ----------------------------------------------------------

  write(c: CollectionState, op: Omit<Operation, 'id' | 'collection'>): Promise<WriteOutcome> {
    const p = this.enqueue(c, op);
    // A write nobody awaits must not end the process when it is refused: the events report it.
    p.catch(() => {});
    return p;
  }

  private async enqueue(c: CollectionState, op: Omit<Operation, 'id' | 'collection'>): Promise<WriteOutcome> {
    await this.opened;
    if (this.closed) throw new SyncError('CLIENT_CLOSED', 'The client is closed.');
    if (this.queue.length >= (this.options.maxPending ?? 10_000)) {
      throw new SyncError('QUEUE_FULL', `${this.queue.length} writes are waiting for the server; try again once some are synced.`);
    }
    const operation = { ...op, id: randomId(), collection: c.name } as Operation;
    if (operation.docId === undefined) throw new SyncError('VALIDATION_FAILED', 'A document id is needed.');
    if (c.schema && operation.type !== 'delete') {
      const current = await this.read(c, operation.docId);
      const next = applyOp(current ?? null, operation);
      const { _id, _rev, [CLOCKS]: _h, ...fields } = (next ?? {}) as Doc;
      const r = c.schema.safeParse(fields);
      if (!r.success) {
        const issue = r.error.issues[0];
        const path = (issue?.path ?? []).map(String).join('.');
        throw new ValidationError(`${c.name}/${operation.docId}: ${path ? `${path}: ` : ''}${issue?.message ?? 'invalid'}`, path);
      }
    }
    if (this.strategy === 'merge' && operation.data) {
      // Each written field gets a clock stamp; a conflict keeps, per field, the later stamp.
      const prev = clocksOf((await this.store.get(c.name, operation.docId))?.data);
      const stamps: Record<string, string> = { ...prev };
      for (const f of Object.keys(operation.data)) if (f !== CLOCKS) stamps[f] = this.clock.tick();
      operation.data = { ...operation.data, [CLOCKS]: stamps };
    }
    const [seq] = await this.store.write({ enqueue: [{ operation }] });
    if (this.closed) throw new SyncError('CLIENT_CLOSED', 'The client was closed before the server answered; the write stays queued.');
    const entry: PendingOperation = { seq: seq as number, operation };
    this.queue.push(entry);
    this.queueChanged();
    const promise = new Promise<WriteOutcome>((resolve, reject) => this.waiters.set(entry.seq, { resolve, reject }));
    promise.catch(() => {});
    this.changed(c.name, [operation.docId], 'local');
    this.publishStatus();
    this.kickPush();
    return promise;
  }

  private kickPush(): void {
    if (!this.online() || this.queue.length === 0) return;
    if (this.pushing) {
      this.pushAgain = true;
      return;
    }
    this.pushing = this.pushLoop()
      .catch((err) => this.backgroundError(err))
      .finally(() => {
        this.pushing = undefined;
        this.publishStatus();
        if (this.pushAgain) {
          this.pushAgain = false;
          this.kickPush();
        }
      });
  }

  private backgroundError(err: unknown): void {
    const code = err instanceof TransportError || err instanceof SyncError ? err.code : 'INTERNAL';
    this.emit('error', { code, message: (err as Error).message });
    if (this.closed || this.paused) return;
    // Retry with backoff; a reconnection retries at once.
    const delay = RETRY_MS[Math.min(this.retries++, RETRY_MS.length - 1)] as number;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.kickPush();
      },
      delay * (0.5 + Math.random()),
    );
  }

  /**
   * Pushes the queue in batches that fit the server's limits (bytes and operations), so no push is one the
   * server refuses for its size: a write that cannot fit alone is refused here and the queue goes on.
   */
  private async pushLoop(): Promise<void> {
    while (this.online() && this.queue.length > 0) {
      const limits: PushLimits = (await this.transport.pushLimits?.()) ?? {
        maxBytes: DEFAULT_SERVER_LIMITS.bodyLimit,
        maxOperations: DEFAULT_SERVER_LIMITS.maxOperations,
        setting: 'SYNCLINE_BODY_LIMIT',
      };
      const window = this.queue.slice(0, Math.max(1, Math.min(PUSH_BATCH, limits.maxOperations, this.learnedMaxOps)));
      const ops = await this.withBaseVersions(window);
      const plan = planBatch(this.clientIdValue, ops, limits.maxBytes, this.learnedMaxBytes);
      if (plan.count === 0) {
        const op = ops[0] as Operation;
        await this.refuseTooLarge(
          window[0] as PendingOperation,
          op,
          `${op.type} ${op.collection}/${op.docId} is ${plan.bytes} bytes encoded; the server takes at most ${limits.maxBytes} in one request (${limits.setting}). It was not sent: store less in one document.`,
        );
        continue;
      }
      const batch = window.slice(0, plan.count);
      const sent = ops.slice(0, plan.count);
      let res: Awaited<ReturnType<Transport['push']>>;
      try {
        res = await this.transport.push(this.clientIdValue, sent);
      } catch (err) {
        if (!isTooLarge(err)) throw err;
        // The server's limits are lower than we knew (not announced, or a proxy's): bisect, never resend as is.
        if (batch.length === 1) {
          const op = sent[0] as Operation;
          await this.refuseTooLarge(batch[0] as PendingOperation, op, `${op.type} ${op.collection}/${op.docId}: ${err.message}`);
        } else if (err.code === 'TOO_MANY_OPERATIONS') this.learnedMaxOps = Math.max(1, Math.floor(batch.length / 2));
        else this.learnedMaxBytes = Math.floor(plan.bytes / 2);
        continue;
      }
      this.retries = 0;
      await this.settle(batch, sent, res.results);
    }
  }

  /** A write no push can carry: rejected like a server rejection (it leaves the queue, its local effect is undone). */
  private refuseTooLarge(entry: PendingOperation, op: Operation, message: string): Promise<void> {
    const result: OperationResult = {
      id: op.id,
      status: 'rejected',
      collection: op.collection,
      docId: op.docId as string,
      error: { code: 'PAYLOAD_TOO_LARGE', message },
    };
    return this.settle([entry], [op], [result]);
  }

  /** Each operation states the version it expects: the base's, plus one per earlier queued write of that document. */
  private async withBaseVersions(batch: PendingOperation[]): Promise<Operation[]> {
    const expected = new Map<string, number>();
    const out: Operation[] = [];
    for (const p of batch) {
      const op = p.operation;
      const key = `${op.collection}/${op.docId}`;
      let v = expected.get(key);
      if (v === undefined) v = (await this.store.get(op.collection, op.docId as string))?.version ?? 0;
      // An insert needs none (an existing document is DOCUMENT_EXISTS); neither does an upsert of a document not held.
      const withBase: Operation = { ...op };
      delete withBase.baseVersion;
      if (op.type !== 'insert' && !(op.type === 'upsert' && v === 0)) withBase.baseVersion = v;
      out.push(withBase);
      expected.set(key, v + 1);
    }
    return out;
  }

  private async settle(batch: PendingOperation[], sent: Operation[], results: OperationResult[]): Promise<void> {
    /** The base each document ends with after this batch (later results win; null: gone). */
    const bases = new Map<string, { collection: string; id: string; record: BaseRecord | null; position: number }>();
    /** An applied write's result, at its commit position: newer than the base unless the subscription already passed it. */
    const setBase = (collection: string, id: string, record: BaseRecord | null, position: number | undefined) => {
      if (position === undefined) return;
      const key = `${collection}/${id}`;
      const have = bases.get(key);
      if (have && have.position > position) return;
      bases.set(key, { collection, id, record, position });
    };
    const dequeue: number[] = [];
    const update: PendingOperation[] = [];
    const settled: (() => void)[] = [];
    /** Documents whose insert was rejected in this batch: their later writes go with it. */
    const dead = new Set<string>();
    const touched = new Map<string, Set<string>>();
    const touch = (collection: string, id: string) => {
      const s = touched.get(collection) ?? new Set<string>();
      touched.set(collection, s);
      s.add(id);
    };

    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i] as PendingOperation;
      const op = sent[i] as Operation;
      const r = results[i];
      const key = `${op.collection}/${op.docId}`;
      if (!r) break; // the server answered fewer: the rest stay queued
      const waiter = this.waiters.get(entry.seq);
      const status = r.status === 'duplicate' ? (r.originalStatus ?? 'applied') : r.status;
      touch(op.collection, op.docId as string);
      if (dead.has(key)) {
        dequeue.push(entry.seq);
        const e = new RejectedError('DEPENDENCY_REJECTED', `Rejected with the earlier insert of ${key}.`, entry.operation, null);
        settled.push(() => this.refuse(op, waiter, e));
        continue;
      }
      if (status === 'applied') {
        dequeue.push(entry.seq);
        const doc = r.document;
        if (doc)
          setBase(
            op.collection,
            doc._id,
            { collection: op.collection, id: doc._id, data: stripWire(doc), version: doc._rev, position: r.position ?? 0 },
            r.position,
          );
        else if (doc === null) setBase(op.collection, op.docId as string, null, r.position);
        const outcome: WriteOutcome = { status: 'applied', document: doc ? (stripClocks(doc) as Doc) : null };
        if (waiter?.resolution) outcome.resolution = waiter.resolution;
        settled.push(() => {
          this.waiters.delete(entry.seq);
          waiter?.resolve(outcome);
        });
        continue;
      }
      const code = r.error?.code ?? (status === 'conflict' ? 'CONFLICT' : 'REJECTED');
      const server = r.serverDocument ?? null;
      if (status === 'rejected') {
        dequeue.push(entry.seq);
        if (op.type === 'insert' || (op.type === 'upsert' && !server)) dead.add(key);
        const e = new RejectedError(code, r.error?.message ?? `The server rejected ${op.type} ${key}.`, entry.operation, server);
        settled.push(() => this.refuse(op, waiter, e));
        continue;
      }
      // Conflict: the server's document is the new base; the strategy decides what is sent next.
      // The base is left to the subscription (the truth, in order): a server document seen here may
      // already be older than what it applied.
      const attempts = Number(entry.meta?.resolutions ?? 0);
      const next = attempts < MAX_RESOLUTIONS ? await this.resolve(entry.operation, server) : null;
      const resolution = next ? this.strategyName() : 'server-wins';
      const event = {
        collection: op.collection,
        id: op.docId as string,
        resolution,
        code,
        serverDocument: server,
        operation: entry.operation,
      };
      if (next) {
        update.push({ seq: entry.seq, operation: next, meta: { ...entry.meta, resolutions: attempts + 1 } });
        if (waiter) waiter.resolution = resolution;
        settled.push(() => this.emit('conflict', event));
      } else {
        dequeue.push(entry.seq);
        const e = new ConflictError(
          code,
          r.error?.message ?? `${key} changed on the server; the server's version was kept.`,
          entry.operation,
          server,
          resolution,
        );
        settled.push(() => {
          this.waiters.delete(entry.seq);
          waiter?.reject(e);
          this.emit('conflict', event);
        });
      }
    }
    // Writes queued later (not in this batch) on a document whose insert was rejected go too.
    for (const p of this.queue) {
      if (batch.includes(p)) continue;
      const key = `${p.operation.collection}/${p.operation.docId}`;
      if (!dead.has(key)) continue;
      dequeue.push(p.seq);
      const e = new RejectedError('DEPENDENCY_REJECTED', `Rejected with the earlier insert of ${key}.`, p.operation, null);
      settled.push(() => this.refuse(p.operation, this.waiters.get(p.seq), e, p.seq));
    }
    // Read the applied positions and write under the base lock, so no change lands in between.
    await this.exclusive(async () => {
      const final: { collection: string; id: string; record: BaseRecord | null }[] = [];
      const followed = new Map<string, number>();
      for (const b of bases.values()) {
        const key = this.transport.kind === 'http' ? GLOBAL : b.collection;
        if (!followed.has(key)) followed.set(key, (await this.store.getMeta<number>(posKey(key))) ?? 0);
        if (b.position > (followed.get(key) as number)) final.push(b);
      }
      // A document written outside every scope of its collection is the server's now, not this replica's.
      for (const b of final) if (b.record && !inScope(this.scopeFilter(b.collection), b.record)) b.record = null;
      await this.store.write({
        put: final.flatMap((b) => (b.record ? [b.record] : [])),
        delete: final.filter((b) => !b.record).map(({ collection, id }) => ({ collection, id })),
        dequeue,
        update,
      });
    });
    const gone = new Set(dequeue);
    const replaced = new Map(update.map((u) => [u.seq, u]));
    this.queue = this.queue.filter((p) => !gone.has(p.seq)).map((p) => replaced.get(p.seq) ?? p);
    this.queueChanged();
    for (const s of settled) s();
    for (const [collection, ids] of touched) this.changed(collection, [...ids], 'remote');
  }

  private refuse(op: Operation, waiter: Waiter | undefined, e: RejectedError, seq?: number): void {
    for (const [s, w] of this.waiters) if (w === waiter || s === seq) this.waiters.delete(s);
    waiter?.reject(e);
    this.emit('rejected', { collection: op.collection, id: op.docId as string, code: e.code, message: e.message, operation: op });
  }

  private strategyName(): string {
    return typeof this.strategy === 'function' ? 'custom' : this.strategy;
  }

  /** The operation that carries the strategy's resolution (based on the server's version), or null for "keep the server's". */
  private async resolve(op: Operation, server: WireDocument | null): Promise<Operation | null> {
    if (this.strategy === 'server-wins') return null;
    const id = `${op.id.split('~')[0]}~${randomId().slice(0, 8)}`;
    const baseVersion = server?._rev ?? 0;
    const serverData = server ? stripWire(server) : null;
    const intended = op.type === 'delete' ? null : op.type === 'patch' ? { ...(serverData ?? {}), ...op.data } : { ...op.data };
    let data: Record<string, unknown> | null;
    if (this.strategy === 'client-wins') data = intended;
    else if (this.strategy === 'merge') {
      if (intended === null || serverData === null) data = intended;
      else {
        // Per field, the later clock stamp wins (fields only one side has are kept).
        const mine = clocksOf(op.data);
        const theirs = clocksOf(serverData);
        for (const s of Object.values(theirs)) this.clock.observe(s);
        const merged: Record<string, unknown> = { ...serverData };
        const stamps: Record<string, string> = { ...theirs };
        for (const [f, v] of Object.entries(op.data ?? {})) {
          if (f === CLOCKS) continue;
          const a = mine[f] ?? '';
          const b = theirs[f] ?? '';
          if (a > b) {
            merged[f] = v;
            stamps[f] = a;
          }
        }
        merged[CLOCKS] = stamps;
        data = merged;
      }
    } else {
      const local = intended ? stripClocks(intended) : null;
      data = await this.strategy({ collection: op.collection, id: op.docId as string, local, server, operation: op });
      if (data === null) return null;
    }
    const base = { id, collection: op.collection, docId: op.docId as string, baseVersion } as Operation;
    if (data === null) return server ? { ...base, type: 'delete' } : null;
    if (server) return { ...base, type: 'update', data };
    const { baseVersion: _b, ...insert } = base;
    return { ...insert, type: 'insert', data } as Operation;
  }

  // ---- following the server -------------------------------------------

  private follow(c: CollectionState): Promise<void> {
    if (!this.online()) return Promise.resolve();
    if (this.transport.kind === 'http') {
      void this.poll();
      return Promise.resolve();
    }
    c.syncing ??= this.subscribe(c)
      .catch((err) => {
        if (err instanceof TransportError && err.code === 'NETWORK') return; // reconnecting follows again
        this.emit('error', { code: err instanceof TransportError ? err.code : 'INTERNAL', message: (err as Error).message });
      })
      .finally(() => {
        c.syncing = undefined;
      });
    return c.syncing;
  }

  private async subscribe(c: CollectionState): Promise<void> {
    const subscribe = this.transport.subscribe?.bind(this.transport);
    if (!subscribe) return;
    const epoch = ++c.epoch;
    if (c.subscriptionId) this.transport.unsubscribe?.(c.subscriptionId);
    c.subscriptionId = undefined;
    const scope = this.scopeOf(c);
    if (scope.none) {
      await this.exclusive(() => this.leaveAll(c));
      c.caughtUp = true;
      this.publishStatus();
      return;
    }
    let since = await this.store.getMeta<number>(posKey(c.name));
    if (since !== undefined) since = await this.applyScope(c, epoch, scope, since);
    if (epoch !== c.epoch) return;
    if (since === undefined) since = await this.initialSync(c, epoch);
    if (since === undefined || epoch !== c.epoch) return;
    let last = since;
    // Frames may arrive while an earlier one is still being written: apply them in order.
    let chain = Promise.resolve();
    const apply = (f: Frame) => {
      chain = chain
        .then(async () => {
          if (epoch !== c.epoch || f.position <= last) return;
          if (f.from > last) {
            // Missed something: follow again from what we have.
            c.epoch++;
            void this.follow(c);
            return;
          }
          await this.applyChanges(c.name, f.changes, f.position);
          last = f.position;
        })
        .catch((err) => {
          // The store failed (or closed): nothing was applied; follow again from what is stored.
          if (this.closed || epoch !== c.epoch) return;
          this.emit('error', { code: (err as SyncError).code ?? 'STORE', message: (err as Error).message });
          c.caughtUp = false;
          c.epoch++;
          setTimeout(() => void this.follow(c), 1000);
        });
      return chain;
    };
    try {
      const first = await subscribe(
        c.name,
        since,
        {
          changes: (f) => void apply(f),
          caughtUp: () => {
            void chain.then(() => {
              if (epoch !== c.epoch) return;
              c.caughtUp = true;
              this.publishStatus();
            });
          },
          ended: (code) => {
            if (epoch !== c.epoch) return;
            c.caughtUp = false;
            c.epoch++;
            void (code === 'RESYNC_REQUIRED' ? this.resync(c) : this.follow(c));
          },
        },
        scope.filter,
      );
      if (epoch === c.epoch) c.subscriptionId = first.subscriptionId;
      else if (first.subscriptionId) this.transport.unsubscribe?.(first.subscriptionId);
      await chain;
    } catch (err) {
      if (err instanceof TransportError && err.code === 'RESYNC_REQUIRED') {
        await this.resync(c);
        return;
      }
      throw err;
    }
  }

  /**
   * The replica holds another set of scopes than the collection now has: documents outside the new union leave,
   * the documents of added scopes are loaded (query pages, filtered by the server), and the subscription
   * follows the union from the old position (its catch-up brings what changed meanwhile). Returns the position
   * to follow from, or undefined for a full initial sync (widened to the whole collection).
   */
  private async applyScope(c: CollectionState, epoch: number, scope: Scope, since: number): Promise<number | undefined> {
    const held = (await this.store.getMeta<string[]>(scopeKey(c.name))) ?? ['*'];
    if (sameKeys(held, scope.keys)) return since;
    if (scope.keys.includes('*')) return undefined;
    const size = this.options.pageSize ?? 500;
    const added = held.includes('*') ? [] : scope.keys.filter((k) => !held.includes(k));
    for (const key of added) {
      const filter = c.scopes.get(key);
      if (!filter) continue;
      let cursor: string | undefined;
      for (;;) {
        const page = await this.transport.query(c.name, cursor, size, filter);
        if (epoch !== c.epoch) return since;
        // An older version than the one held (a change applied meanwhile) is not put back.
        await this.exclusive(async () => {
          const have = await this.store.getMany(
            c.name,
            page.documents.map((d) => d._id),
          );
          const put = page.documents.filter((d, i) => !have[i] || have[i].version <= d._rev).map((d) => baseOf(c.name, d));
          await this.store.write({ put });
        });
        this.changed(
          c.name,
          page.documents.map((d) => d._id),
          'remote',
        );
        if (!page.nextCursor) break;
        cursor = page.nextCursor;
      }
    }
    await this.exclusive(async () => {
      const gone = (await this.store.find(c.name)).filter((r) => !inScope(scope.filter, r));
      await this.store.write({ delete: gone.map((r) => ({ collection: c.name, id: r.id })), meta: { [scopeKey(c.name)]: scope.keys } });
      this.changed(
        c.name,
        gone.map((r) => r.id),
        'remote',
      );
    });
    return since;
  }

  /** No scope left: the collection's documents leave the replica (pending writes stay queued). */
  private async leaveAll(c: CollectionState): Promise<void> {
    const gone = await this.store.find(c.name);
    await this.store.write({ clear: [c.name], meta: { [posKey(c.name)]: undefined, [scopeKey(c.name)]: undefined } });
    this.changed(
      c.name,
      gone.map((r) => r.id),
      'remote',
    );
  }

  /** HTTP polling (changes are filtered here): a new set of scopes reloads the collection by filtered pages. */
  private async rescopeHttp(c: CollectionState): Promise<void> {
    const scope = this.scopeOf(c);
    if (scope.none) return this.leaveAll(c);
    const held = (await this.store.getMeta<string[]>(scopeKey(c.name))) ?? ['*'];
    if (sameKeys(held, scope.keys)) return;
    // Not under the base lock: initialSync takes it per page.
    void this.initialSync(c, c.epoch).then(() => this.publishStatus());
  }

  /** The scope filter of a collection's replica (undefined: everything). */
  private scopeFilter(collection: string): Filter | undefined {
    const c = this.collections.get(collection);
    if (!c) return undefined;
    const s = this.scopeOf(c);
    return s.none ? { _id: { $in: [] } } : s.filter;
  }

  /** The log was compacted past our position: reload the collection (pending writes stay queued). */
  private async resync(c: CollectionState): Promise<void> {
    await this.store.write({ meta: { [posKey(c.name)]: undefined } });
    c.epoch++;
    c.syncing = undefined;
    await this.follow(c);
  }

  /** Loads a collection page by page (constant memory); returns the position to follow from. */
  private async initialSync(c: CollectionState, epoch: number): Promise<number | undefined> {
    let received = 0;
    let from: number | undefined;
    let first = true;
    const size = this.options.pageSize ?? 500;
    const scope = this.scopeOf(c);
    const fetchPage = (after: string | undefined) => {
      const p = this.transport.query(c.name, after, size, scope.filter);
      p.catch(() => {}); // awaited below; a page fetched ahead and then not needed must not be an unhandled rejection
      return p;
    };
    let next = fetchPage(undefined);
    for (;;) {
      const page = await next;
      if (epoch !== c.epoch) return undefined;
      // The next page is fetched while this one is written: the store's work overlaps the network's.
      if (page.nextCursor) next = fetchPage(page.nextCursor);
      from ??= page.position;
      received += page.documents.length;
      const done = !page.nextCursor;
      const upTo = from;
      await this.exclusive(() =>
        this.store.write({
          ...(first ? { clear: [c.name] } : {}),
          put: page.documents.map((d) => baseOf(c.name, d)),
          ...(done
            ? { meta: { [posKey(c.name)]: upTo, [scopeKey(c.name)]: scope.keys, ...(upTo > this.position ? { position: upTo } : {}) } }
            : {}),
        }),
      );
      if (done && from > this.position) this.position = from;
      // The clear removed documents no page will name: open queries start over from the store.
      if (first) for (const v of c.views) this.schedule(c, () => this.loadView(c, v));
      first = false;
      const total = typeof (page as { total?: unknown }).total === 'number' ? (page as unknown as { total: number }).total : null;
      this.emit('progress', { collection: c.name, received, total, done });
      this.changed(
        c.name,
        page.documents.map((d) => d._id),
        'remote',
      );
      if (done) return from;
    }
  }

  /** Applies changes in order to the base records and moves the position, atomically. */
  /** Base records change in read-then-write steps (push results, changes, sync pages): one at a time. */
  private baseLock: Promise<unknown> = Promise.resolve();

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.baseLock.then(fn, fn);
    this.baseLock = run.catch(() => {});
    return run;
  }

  private applyChanges(collection: string | null, changes: Change[], position: number): Promise<void> {
    return this.exclusive(() => this.applyChangesNow(collection, changes, position));
  }

  private async applyChangesNow(collection: string | null, changes: Change[], position: number): Promise<void> {
    const put = new Map<string, BaseRecord>();
    const del = new Map<string, { collection: string; id: string }>();
    const ids = new Map<string, Set<string>>();
    const scopes = new Map<string, Filter | undefined>();
    for (const ch0 of changes) {
      let ch = ch0;
      if (collection !== null && ch.collection !== collection) continue;
      if (!scopes.has(ch.collection)) scopes.set(ch.collection, this.scopeFilter(ch.collection));
      const scope = scopes.get(ch.collection);
      // Outside every scope (HTTP polling gets all changes): it leaves the replica, like the server's filtered subscription says.
      if (scope && ch.data && !matchFilter(scope, { ...ch.data, _id: ch.docId, _rev: ch.version }))
        ch = { ...ch, type: 'delete', data: null };
      const key = `${ch.collection}/${ch.docId}`;
      const have = put.get(key) ?? (del.has(key) ? undefined : await this.store.get(ch.collection, ch.docId));
      // An older version than the one held (e.g. already in the initial-sync page) changes nothing.
      if (have && have.version > ch.version && ch.type !== 'delete') continue;
      if (ch.type === 'delete' || ch.data === null) {
        put.delete(key);
        del.set(key, { collection: ch.collection, id: ch.docId });
      } else {
        del.delete(key);
        put.set(key, { collection: ch.collection, id: ch.docId, data: ch.data, version: ch.version, position: ch.position });
      }
      for (const s of Object.values(clocksOf(ch.data ?? undefined))) this.clock.observe(s);
      const s = ids.get(ch.collection) ?? new Set<string>();
      ids.set(ch.collection, s);
      s.add(ch.docId);
    }
    const meta: Record<string, unknown> = { [posKey(collection ?? GLOBAL)]: position };
    if (position > this.position) {
      this.position = position;
      meta.position = position;
    }
    await this.store.write({ put: [...put.values()], delete: [...del.values()], meta });
    this.lastSyncedAt = Date.now();
    for (const [col, set] of ids) this.changed(col, [...set], 'remote');
    this.publishStatus();
  }

  // ---- http polling ------------------------------------------------------

  private startPolling(): void {
    if (this.pollTimer) return;
    this.pollTimer = setInterval(() => void this.poll(), this.options.syncInterval ?? 1000);
    void this.poll();
  }

  /** Pulls everything after the stored position (resyncing every known collection when the log was compacted). */
  poll(): Promise<void> {
    if (!this.online() || !this.transport.pull) return Promise.resolve();
    this.polling ??= (async () => {
      const pull = this.transport.pull?.bind(this.transport);
      if (!pull) return;
      try {
        let since = (await this.store.getMeta<number>(posKey(GLOBAL))) ?? 0;
        for (;;) {
          let page: Awaited<ReturnType<typeof pull>>;
          try {
            page = await pull(since, 500);
          } catch (err) {
            if (!(err instanceof TransportError) || err.code !== 'RESYNC_REQUIRED') throw err;
            since = await this.reloadAll();
            continue;
          }
          await this.applyChanges(null, page.changes, page.checkpoint);
          since = page.checkpoint;
          if (!page.hasMore) break;
        }
        this.httpCaughtUp = true;
        this.kickPush();
      } catch (err) {
        this.httpCaughtUp = false;
        if (!(err instanceof TransportError && err.code === 'NETWORK'))
          this.emit('error', { code: (err as SyncError).code ?? 'INTERNAL', message: (err as Error).message });
      } finally {
        this.polling = undefined;
        this.publishStatus();
      }
    })();
    return this.polling;
  }

  private async reloadAll(): Promise<number> {
    let position = Number.POSITIVE_INFINITY;
    for (const c of this.collections.values()) {
      const p = await this.initialSync(c, c.epoch);
      if (p !== undefined) position = Math.min(position, p);
    }
    const since = Number.isFinite(position) ? position : 0;
    await this.store.write({ meta: { [posKey(GLOBAL)]: since } });
    return since;
  }

  // ---- status -------------------------------------------------------------

  private publishStatus(): void {
    const s = this.status;
    if (this.clientIdValue) this.transport.reportStatus?.({ clientId: this.clientIdValue, pending: s.pending, position: s.position });
    if (s.state === 'online') {
      this.lastSyncedAt = Date.now();
      const waiters = this.syncedWaiters;
      this.syncedWaiters = [];
      for (const w of waiters) w();
    }
    const key = `${s.state}|${s.pending}|${s.position}|${s.error?.code ?? ''}`;
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.emit('status', s);
  }
}

/**
 * A collection of the replica, typed by its documents' fields `T` (see `SynclineClient.collection`): writes,
 * reads, queries and filters are checked against `T` at compile time. Untyped: `Record<string, unknown>`.
 */
export class Collection<T extends object = Record<string, unknown>> {
  constructor(
    private readonly client: SynclineClient,
    private readonly state: CollectionState,
    private readonly scopeKey?: string,
  ) {}

  /**
   * Stops syncing this handle's `where` scope: documents matching no remaining scope leave the replica
   * (pending writes stay queued). No effect on a handle without `where`.
   */
  release(): void {
    if (this.scopeKey !== undefined) this.client.releaseScope(this.state, this.scopeKey);
  }

  get name(): string {
    return this.state.name;
  }

  /** Inserts `doc` (`_id` optional: a random one is made). Resolves once the server applied it. */
  insert(doc: T & { _id?: string; _rev?: number }): Promise<WriteOutcome> {
    const { _id, _rev, ...data } = doc as Record<string, unknown>;
    return this.client.write(this.state, { type: 'insert', docId: typeof _id === 'string' ? _id : randomId(), data });
  }

  /** Changes the given fields of document `id`. */
  update(id: string, patch: Partial<T> & { _id?: string; _rev?: number }): Promise<WriteOutcome> {
    const { _id, _rev, ...data } = patch as Record<string, unknown>;
    return this.client.write(this.state, { type: 'patch', docId: id, data });
  }

  /** Inserts or replaces the whole document. */
  upsert(doc: T & { _id: string; _rev?: number }): Promise<WriteOutcome> {
    const { _id, _rev, ...data } = doc as Record<string, unknown> & { _id: string };
    return this.client.write(this.state, { type: 'upsert', docId: _id, data });
  }

  delete(id: string): Promise<WriteOutcome> {
    return this.client.write(this.state, { type: 'delete', docId: id });
  }

  get(id: string): Promise<DocOf<T> | undefined> {
    return this.client.read(this.state, id) as Promise<DocOf<T> | undefined>;
  }

  /** Documents matching `filter` (the server's filter language), in id order. */
  find(filter?: TypedFilter<T>): Promise<DocOf<T>[]> {
    return this.client.findAll(this.state, filter as Filter | undefined) as Promise<DocOf<T>[]>;
  }

  /** Documents matching `query.filter`, in `query.sort` order, windowed by `offset`/`after` and `limit`. */
  query(query: TypedQuery<T> = {}): Promise<DocOf<T>[]> {
    return this.client.runQuery(this.state, query as Query) as Promise<DocOf<T>[]>;
  }

  /**
   * A live query: `callback` gets the window now and again whenever it changed. Documents are frozen and keep
   * their identity until they change; each change costs O(log n) per open query, not a re-read.
   * Returns the function that ends it.
   */
  live(query: TypedQuery<T>, callback: (docs: readonly DocOf<T>[], info: LiveQueryInfo) => void): () => void {
    return this.client.liveQuery(this.state, query as Query, callback as (docs: readonly Doc[], info: LiveQueryInfo) => void);
  }

  /** A live query on `filter` (id order): `callback` gets the matching documents now and after every change. */
  subscribe(filter: TypedFilter<T> | undefined, callback: (docs: DocOf<T>[]) => void): () => void {
    return this.client.subscribeQuery(this.state, filter as Filter | undefined, callback as (docs: Doc[]) => void);
  }
}

export function createClient(options: ClientOptions): SynclineClient {
  return new SynclineClient(options);
}

// ---- helpers ------------------------------------------------------------

const sameKeys = (a: string[], b: string[]) => a.length === b.length && a.every((k, i) => k === b[i]);

/** The union of scopes; equalities on one field become one `$in` (which the server indexes). */
function union(filters: Filter[]): Filter {
  if (filters.length === 1) return filters[0] as Filter;
  const prim = (v: unknown) => v !== null && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean');
  const field = Object.keys(filters[0] as Filter)[0] as string;
  if (
    !field.startsWith('$') &&
    filters.every((f) => Object.keys(f).length === 1 && Object.keys(f)[0] === field && prim(f[field])) &&
    filters.length <= 1000
  ) {
    return { [field]: { $in: filters.map((f) => f[field] as string | number | boolean) } };
  }
  return { $or: filters };
}

function inScope(filter: Filter | undefined, r: BaseRecord): boolean {
  return !filter || matchFilter(filter, { ...r.data, _id: r.id, _rev: r.version });
}

/** The part of a query's ordered result its `after`, `offset` and `limit` select. */
function windowOf(docs: Doc[], q: CompiledQuery): Doc[] {
  let start = 0;
  if (q.after) {
    const after = q.after;
    while (start < docs.length && q.compare(docs[start] as Doc, after) <= 0) start++;
  }
  start += q.offset;
  return docs.slice(start, Number.isFinite(q.limit) ? start + q.limit : undefined);
}

function randomId(): string {
  return globalThis.crypto.randomUUID();
}

function toDoc(r: BaseRecord): Doc {
  return { ...r.data, _id: r.id, _rev: r.version };
}

function stripWire(doc: WireDocument): Record<string, unknown> {
  const { _id, _rev, ...data } = doc;
  return data;
}

/** Without the merge strategy's field clocks (never shown to the app). */
function stripClocks(data: Record<string, unknown>): Record<string, unknown> {
  const { [CLOCKS]: _c, ...rest } = data;
  return rest;
}

function baseOf(collection: string, doc: WireDocument): BaseRecord {
  return { collection, id: doc._id, data: stripWire(doc), version: doc._rev, position: 0 };
}

function clocksOf(data: Record<string, unknown> | undefined | null): Record<string, string> {
  const c = data?.[CLOCKS];
  if (!c || typeof c !== 'object' || Array.isArray(c)) return {};
  return Object.fromEntries(Object.entries(c).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** What a queued operation does to the visible document. */
function applyOp(doc: Doc | null, op: Operation): Doc | null {
  const id = op.docId as string;
  switch (op.type) {
    case 'delete':
      return null;
    case 'patch':
      return doc ? { ...doc, ...op.data, _id: id } : null;
    case 'update':
      return doc ? { ...op.data, _id: id, _rev: doc._rev } : null;
    case 'insert':
      return doc ?? { ...op.data, _id: id };
    case 'upsert':
      return { ...op.data, _id: id, ...(doc?._rev !== undefined ? { _rev: doc._rev } : {}) };
  }
}
