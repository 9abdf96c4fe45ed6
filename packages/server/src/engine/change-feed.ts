/**
 * Tails the change log in commit order for this server instance. The NOTIFY
 * from each sequencing transaction is only a hint that wakes it (and a timer
 * covers a lost one): it always reads "changes after my position" from the
 * database, so nothing is skipped and nothing is delivered twice.
 */
import { type Change, SynclineError } from '@syncline/protocol';
import type { Storage } from '../storage/storage.js';

const PAGE = 1000;
const POLL_MS = 1000;

export interface FeedBatch {
  /** Exclusive lower bound: the batch holds every change with from < position ≤ to. */
  from: number;
  to: number;
  changes: Change[];
}

export class ChangeFeed {
  private position = 0;
  private reading: Promise<void> | undefined;
  private again = false;
  private stopListening: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

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

  async start(): Promise<void> {
    this.position = await this.storage.currentPosition();
    this.stopListening = await this.storage.onCommit((p) => {
      if (p > this.position) this.poke();
    });
    this.timer = setInterval(() => this.poke(), POLL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.stopListening?.();
    await this.reading;
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
        if (this.again && !this.stopped) {
          this.again = false;
          void this.poke();
        }
      });
    return this.reading;
  }

  private async drain(): Promise<void> {
    // Nobody to deliver to: move to the head without reading (and parsing) the changes.
    if (this.wanted && !this.wanted()) {
      const head = await this.storage.currentPosition();
      if (head > this.position) {
        const from = this.position;
        this.position = head;
        this.onBatch({ from, to: head, changes: [] });
      }
      return;
    }
    for (;;) {
      let page: Awaited<ReturnType<Storage['getChanges']>>;
      try {
        page = await this.storage.getChanges({ since: this.position, limit: PAGE });
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
        this.onBatch({ from, to: page.checkpoint, changes: page.operations });
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
