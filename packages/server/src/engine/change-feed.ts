/**
 * Tails the change log in commit order for this server instance. The NOTIFY
 * from each sequencing transaction is only a hint that wakes it (and a timer
 * covers a lost one): it reads "changes after my position" from the database,
 * so nothing is skipped and nothing is delivered twice.
 *
 * With a bus (several instances), the instance that sequenced a change reads
 * it and publishes the batch `{from, to, changes}`; the others take batches that
 * continue their position straight from the bus, without a query. The bus is
 * a hint too: a batch that starts past an instance's position (a lost message)
 * makes it read the gap from the database, and a commit hint not followed by a
 * bus batch within `graceMs` does the same. While the bus is down every
 * instance reads the log on each hint, as with no bus.
 */
import { type Change, SynclineError } from '@syncline/protocol';
import type { EventBus } from '../bus/event-bus.js';
import type { BusMessage } from '../bus/serializer.js';
import type { Storage } from '../storage/storage.js';

const PAGE = 1000;
const POLL_MS = 1000;
/** Bus batches held while a database read runs (then applied or dropped as already seen); past it, the read covers them. */
const MAX_HELD = 1000;
/** Operation ids flagged `sync: false`, remembered this long (their changes are not sent to, or taken from, the bus). */
const OPT_OUT_MS = 60_000;
const MAX_OPT_OUT = 100_000;
/** A change this instance's sweep sequenced: read after this long unless the bus brought it (the writer publishes first). */
const SWEPT_DELAY_MS = 20;

/** An operation flagged `sync: false`: its id with the client that wrote it (the change log's `client_id`). */
export interface OptOutOp {
  clientId: string;
  opId: string;
}

/**
 * Opt-outs are keyed by (client id, operation id), never the operation id alone: one
 * caller's id flagged `sync: false` must not hold back another caller's change that
 * happens to use the same id (DESIGN invariant 3). A client id belongs to one user.
 */
const optOutKey = (clientId: string | null, opId: string) => `${clientId ?? ''}\u0000${opId}`;

export interface FeedBatch {
  /** Exclusive lower bound: the batch holds every change with from < position ≤ to. */
  from: number;
  to: number;
  changes: Change[];
}

export interface FeedBusOptions {
  bus: EventBus;
  /** How long a commit hint waits for the bus before the change log is read. Default 100 ms. */
  graceMs?: number;
}

export interface FeedStats {
  /** Batches read from the database, and those taken from the bus. */
  readBatches: number;
  busBatches: number;
  /** Bus batches that started past this instance's position (a lost message: the gap was read from the database). */
  busGaps: number;
}

const isBatch = (m: BusMessage): m is BusMessage & FeedBatch =>
  Number.isSafeInteger(m.from) && Number.isSafeInteger(m.to) && Array.isArray(m.changes);

export class ChangeFeed {
  private position = 0;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopListening: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private bus: EventBus | undefined;
  private graceMs = 100;
  private unsubscribe: (() => void) | undefined;
  private held: FeedBatch[] = [];
  /** The highest position a hint announced that the bus has not brought yet, and its timer. */
  private expected = 0;
  private graceTimer: NodeJS.Timeout | undefined;
  private graceDue = 0;
  /** Opted-out operation ids → when, and whether this instance applied them (then its own subscribers get them). */
  private readonly optedOut = new Map<string, { at: number; mine: boolean }>();
  readonly stats: FeedStats = { readBatches: 0, busBatches: 0, busGaps: 0 };

  constructor(
    private readonly storage: Storage,
    private readonly onBatch: (batch: FeedBatch) => void,
    private readonly onError: (err: unknown) => void,
    /** Compaction passed the feed: changes up to `horizon` are gone, subscribers must resync. */
    private readonly onResync: (horizon: number) => void = () => {},
    /** Whether anyone listens now; when not, the feed skips to the head without reading. */
    private readonly wanted?: () => boolean,
  ) {}

  /** The last position handed to `onBatch`. */
  get current(): number {
    return this.position;
  }

  /** Before `start`: share batches with other instances over `bus`. */
  useBus({ bus, graceMs = 100 }: FeedBusOptions): void {
    this.bus = bus;
    this.graceMs = graceMs;
    this.unsubscribe = bus.subscribe((m) => {
      if (m.kind === 'changes' && isBatch(m)) this.fromBus({ from: m.from, to: m.to, changes: m.changes });
      else if (m.kind === 'local' && Array.isArray(m.opIds)) {
        this.remember(
          m.opIds.filter((x): x is string => typeof x === 'string'),
          false,
        );
      }
    });
  }

  private busUp(): boolean {
    return this.bus?.state === 'up';
  }

  async start(): Promise<void> {
    this.position = await this.storage.currentPosition();
    this.stopListening = await this.storage.onCommit(
      (p, origin) => {
        if (p <= this.position) return;
        // This process's own commit at p (everything below it is visible): with nobody to
        // deliver to, move there without a query per write.
        if (origin === 'own' && this.idle()) this.skipTo(p);
        else if (origin === 'own' || !this.busUp()) void this.poke();
        // Swept here: perhaps another instance's API write, which that instance publishes (knowing its opt-outs).
        else if (origin === 'swept') this.expect(p, Math.min(SWEPT_DELAY_MS, this.graceMs));
        else this.expect(p, this.graceMs);
      },
      { local: this.bus !== undefined },
    );
    this.timer = setInterval(() => this.poke(), POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.unsubscribe?.();
    await this.stopListening?.();
    await this.reading;
  }

  /**
   * Operations flagged `sync: false` (before they are applied): their changes reach this
   * instance's subscribers and pulls, but no other instance. The others are told the ids too,
   * in case one of them sequences (and so publishes) the change: resolves once that is sent.
   */
  async optOut(ops: readonly OptOutOp[]): Promise<void> {
    if (ops.length === 0) return;
    const keys = ops.map((o) => optOutKey(o.clientId, o.opId));
    this.remember(keys, true);
    // Sent before the write, so it is ahead of any batch holding its changes (bounded by the bus's send timeout).
    if (this.busUp()) await this.bus?.publish({ kind: 'local', opIds: keys }).catch(() => {});
  }

  private remember(opIds: string[], mine: boolean): void {
    const now = Date.now();
    for (const [id, o] of this.optedOut) {
      if (now - o.at < OPT_OUT_MS && this.optedOut.size < MAX_OPT_OUT) break;
      this.optedOut.delete(id);
    }
    for (const id of opIds) {
      this.optedOut.delete(id);
      this.optedOut.set(id, { at: now, mine });
    }
  }

  /** May go over the bus (not opted out). */
  private shared(c: Change): boolean {
    return this.optedOut.size === 0 || !this.optedOut.has(optOutKey(c.clientId, c.id));
  }

  /** May reach this instance's subscribers (not opted out by another instance). */
  private here(c: Change): boolean {
    return this.optedOut.size === 0 || this.optedOut.get(optOutKey(c.clientId, c.id))?.mine !== false;
  }

  /** While the bus is up: give it `ms` to bring the batch up to `p`, then read the log. */
  private expect(p: number, ms: number): void {
    this.expected = Math.max(this.expected, p);
    const due = Date.now() + ms;
    if (this.graceTimer && due >= this.graceDue) return;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceDue = due;
    this.graceTimer = setTimeout(() => {
      this.graceTimer = undefined;
      if (this.position < this.expected) void this.poke();
    }, ms);
    this.graceTimer.unref();
  }

  private fromBus(batch: FeedBatch): void {
    if (this.stopped) return;
    if (this.reading) {
      if (this.held.length < MAX_HELD) this.held.push(batch);
      else this.again = true;
      return;
    }
    this.apply(batch);
  }

  private apply(batch: FeedBatch): void {
    if (batch.to <= this.position) return;
    if (batch.from > this.position) {
      // A message was lost (or is late): the log has the gap.
      this.stats.busGaps++;
      void this.poke();
      return;
    }
    const from = this.position;
    const changes = batch.changes.filter((c) => c.position > from && this.shared(c));
    this.position = batch.to;
    this.stats.busBatches++;
    this.onBatch({ from, to: batch.to, changes });
  }

  /** Reads until caught up; concurrent pokes fold into one more pass. */
  poke(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = this.drain()
      .catch(this.onError)
      .finally(() => {
        this.reading = undefined;
        const held = this.held;
        this.held = [];
        for (const b of held) this.apply(b);
        if (this.again && !this.stopped) {
          this.again = false;
          void this.poke();
        }
      });
    return this.reading;
  }

  /** Nobody to deliver to, and no other instance to tell. */
  private idle(): boolean {
    return this.wanted !== undefined && !this.wanted() && !this.busUp();
  }

  private skipTo(p: number): void {
    if (p <= this.position || this.stopped) return;
    const from = this.position;
    this.position = p;
    this.onBatch({ from, to: p, changes: [] });
  }

  private async drain(): Promise<void> {
    // Nobody to deliver to: move to the head without reading the changes.
    if (this.idle()) {
      this.skipTo(await this.storage.currentPosition());
      return;
    }
    for (;;) {
      let page: Awaited<ReturnType<Storage['getChanges']>>;
      try {
        // Woken by a commit or a sweep that sequenced some: no sweep of its own per read
        // (under capture load that doubled the sequencing transactions).
        page = await this.storage.getChanges({ since: this.position, limit: PAGE, sweep: false });
      } catch (err) {
        const horizon = err instanceof SynclineError && err.code === 'RESYNC_REQUIRED' ? Number(err.details?.horizon) : Number.NaN;
        if (!Number.isSafeInteger(horizon)) throw err;
        this.position = horizon;
        this.onResync(horizon);
        continue;
      }
      if (page.checkpoint > this.position) {
        const from = this.position;
        this.position = page.checkpoint;
        this.stats.readBatches++;
        const all = page.operations;
        if (this.busUp()) {
          const changes = this.optedOut.size === 0 ? all : all.filter((c) => this.shared(c));
          this.bus?.publish({ kind: 'changes', from, to: page.checkpoint, changes }).catch(() => {});
        }
        // This instance's subscribers get its own opted-out changes, not other instances'.
        this.onBatch({ from, to: page.checkpoint, changes: this.optedOut.size === 0 ? all : all.filter((c) => this.here(c)) });
      }
      if (!page.hasMore || this.stopped) return;
    }
  }
}

export interface FeedListener {
  batch(batch: FeedBatch): void;
  resync?(horizon: number): void;
  /** Whether this listener has anyone to deliver to now (default: yes). */
  wanted?(): boolean;
}

/** One feed per server instance, shared by every namespace that delivers changes. */
export class SharedFeed {
  readonly feed: ChangeFeed;
  private readonly listeners = new Set<FeedListener>();

  constructor(storage: Storage, onError: (err: unknown) => void) {
    this.feed = new ChangeFeed(
      storage,
      (b) => {
        for (const l of this.listeners) l.batch(b);
      },
      onError,
      (h) => {
        for (const l of this.listeners) l.resync?.(h);
      },
      () => {
        for (const l of this.listeners) if (l.wanted?.() ?? true) return true;
        return false;
      },
    );
  }

  /** The last position handed to listeners. */
  get current(): number {
    return this.feed.current;
  }

  listen(listener: FeedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
