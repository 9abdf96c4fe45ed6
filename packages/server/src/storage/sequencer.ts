/**
 * Gives positions to the server's committed write transactions (see the header
 * of migrations.ts). Callers are coalesced: at most one sequencing statement is
 * in flight per process, and each covers every transaction committed before it
 * started, so under load one short serialized transaction sequences many
 * writes. A timer also sweeps transactions left unsequenced: SQL transactions
 * of other programs (since migration 4 they never sequence themselves, so
 * their commits wait for no lock), and whatever a crash left behind.
 *
 * `open_tx` is a queue (one row in and out per writing transaction): the
 * sweeper vacuums it once enough dead rows piled up, so sequencing stays as
 * fast with autovacuum off (or behind) as with it.
 */
import type { SqlQueryable } from './sql-client.js';

/** Dead rows of `open_tx` after which the sweeper vacuums it (~30 pages: a scan of them costs next to nothing). */
export const QUEUE_VACUUM_DEAD_ROWS = 5000;
/** How often the sweeper looks at the queue's dead rows (PostgreSQL's statistics are ~1 s behind anyway). */
const QUEUE_CHECK_MS = 1000;

interface Waiter {
  tx: string;
  resolve: (position: number) => void;
  reject: (err: unknown) => void;
}

export class Sequencer {
  private queue: Waiter[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** Told the last position each sequencing statement of this process assigned or found. */
  private readonly listeners = new Set<(position: number, origin: 'own' | 'swept') => void>();

  /** `own`: positions of this process's API commits (`positionOf`); `swept`: what a sweep sequenced. */
  onSequenced(listener: (position: number, origin: 'own' | 'swept') => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private sequenced(position: number, origin: 'own' | 'swept'): void {
    if (Number.isSafeInteger(position) && position > 0) for (const l of this.listeners) l(position, origin);
  }

  constructor(
    private readonly db: SqlQueryable,
    private readonly schema: string,
  ) {}

  /** Resolves with the last position of committed transaction `tx` once it is sequenced. */
  positionOf(tx: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ tx, resolve, reject });
      this.kick();
    });
  }

  /** Sequences anything pending now, then every `intervalMs`; keeps the marker queue vacuumed. */
  startSweeping(intervalMs: number): void {
    this.stopSweeping();
    let lastCheck = Date.now();
    this.timer = setInterval(() => {
      if (!this.maintaining && Date.now() - lastCheck >= QUEUE_CHECK_MS) {
        lastCheck = Date.now();
        this.maintaining = this.vacuumQueue()
          .catch(() => false)
          .finally(() => {
            this.maintaining = undefined;
          });
      }
      // A short interval must not pile sweeps up behind a slow one.
      if (this.running || this.sweepRunning) return;
      this.sweep().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  private maintaining: Promise<boolean> | undefined;

  /**
   * Vacuums `open_tx` when it holds more than `minDead` dead rows (by PostgreSQL's
   * statistics, which are kept with autovacuum off too). Without it every
   * sequencing pass scans more dead rows, and a planner that sees a big table
   * picks costlier plans (issue 14). SKIP_LOCKED: another instance doing it is as good.
   */
  async vacuumQueue(minDead = QUEUE_VACUUM_DEAD_ROWS): Promise<boolean> {
    const { rows } = await this.db.query<{ dead: string | number }>(
      `SELECT pg_stat_get_dead_tuples('${this.schema}.open_tx'::regclass) AS dead`,
    );
    if (Number(rows[0]?.dead ?? 0) < minDead) return false;
    await this.db.exec(`VACUUM (SKIP_LOCKED) ${this.schema}.open_tx`);
    return true;
  }

  stopSweeping(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private sweepRunning: Promise<void> | undefined;
  private sweepQueued: Promise<void> | undefined;

  /**
   * Sequences every transaction committed before the call. Concurrent callers
   * share sweeps: one runs, at most one more waits behind it for callers that
   * came after it started.
   */
  sweep(): Promise<void> {
    if (!this.sweepRunning) {
      this.sweepRunning = this.sweepOnce().finally(() => {
        this.sweepRunning = undefined;
      });
      return this.sweepRunning;
    }
    this.sweepQueued ??= this.sweepRunning
      .catch(() => {})
      .then(() => {
        this.sweepQueued = undefined;
        return this.sweep();
      });
    return this.sweepQueued;
  }

  private async sweepOnce(): Promise<void> {
    const { rows } = await this.db.query<{ pending: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${this.schema}.open_tx) AS pending`);
    if (!rows[0]?.pending) return;
    const done = await this.db.query<{ p: string | null }>(`SELECT ${this.schema}.sequence_pending() AS p`);
    const p = done.rows[0]?.p;
    if (p !== null && p !== undefined) this.sequenced(Number(p), 'swept');
  }

  private kick(): void {
    if (this.running || this.queue.length === 0) return;
    this.running = true;
    const batch = this.queue.splice(0);
    this.db
      .query<{ tx: string; last_position: number }>(`SELECT tx, last_position FROM ${this.schema}.sequence($1::xid8[])`, [
        batch.map((w) => w.tx),
      ])
      .then(
        ({ rows }) => {
          const positions = new Map(rows.map((r) => [r.tx, Number(r.last_position)]));
          this.sequenced(Math.max(0, ...positions.values()), 'own');
          for (const w of batch) {
            const p = positions.get(w.tx);
            if (p === undefined) w.reject(new Error(`transaction ${w.tx} was not sequenced`));
            else w.resolve(p);
          }
        },
        (err) => {
          for (const w of batch) w.reject(err);
        },
      )
      .finally(() => {
        this.running = false;
        this.kick();
      });
  }
}
