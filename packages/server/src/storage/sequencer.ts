/**
 * Gives positions to committed write transactions that did not sequence
 * themselves (see the header of migrations.ts): the server's writes made in
 * longer transactions (a locking attempt, table rows, /sendActions), and
 * other programs' transactions. One sequencing pass at a time per process serves every
 * caller that asked before it started: writes awaiting their position, pulls,
 * and the timer's sweep share it (they used to run their own passes, which
 * queued on the positions lock behind each other and committed once each), so
 * under load one short serialized transaction sequences many writes. The
 * timer sweeps transactions left unsequenced: SQL transactions
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

/** Sweeps find nothing for this long: the sweeper slows down to one every SWEEP_IDLE_MS, until one finds something. */
const SWEEP_IDLE_AFTER_MS = 1000;
const SWEEP_IDLE_MS = 50;

/** A caller waiting for the next sequencing pass: with `tx`, for that transaction's position. */
interface Request {
  tx?: string;
  resolve: (position: number | undefined) => void;
  reject: (err: unknown) => void;
}

export class Sequencer {
  /** Callers waiting for the next pass: it starts after they asked, so it covers their commits. */
  private next: Request[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** When a pass last found other programs' transactions to sequence. */
  private lastFound = Date.now();
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

  /** A write of this process that sequenced itself at commit (write_batch, migration 5) got `position`. */
  ownCommit(position: number): void {
    this.sequenced(position, 'own');
  }

  /** Resolves with the last position of committed transaction `tx` once it is sequenced. */
  positionOf(tx: string): Promise<number> {
    return new Promise<number | undefined>((resolve, reject) => {
      this.next.push({ tx, resolve, reject });
      this.schedule();
    }).then((p) => p as number);
  }

  /**
   * Sequences anything pending now, then every `intervalMs` (at most every
   * SWEEP_IDLE_MS once nothing was found for SWEEP_IDLE_AFTER_MS); keeps the
   * marker queue vacuumed.
   */
  startSweeping(intervalMs: number): void {
    this.stopSweeping();
    let lastCheck = Date.now();
    let lastSweep = 0;
    this.timer = setInterval(() => {
      if (!this.maintaining && Date.now() - lastCheck >= QUEUE_CHECK_MS) {
        lastCheck = Date.now();
        this.maintaining = this.vacuumQueue()
          .catch(() => false)
          .finally(() => {
            this.maintaining = undefined;
          });
      }
      // A short interval must not pile sweeps up behind a slow one; a pass in
      // flight or asked for sweeps anyway.
      if (this.running || this.next.length > 0) return;
      // Idle (the server's own writes sequence themselves): a query every SWEEP_IDLE_MS, not
      // every interval, which cost an idle server ~7% of a core on the 2-core test machine.
      const now = Date.now();
      if (now - this.lastFound > SWEEP_IDLE_AFTER_MS && now - lastSweep < SWEEP_IDLE_MS) return;
      lastSweep = now;
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

  /**
   * Sequences every transaction committed before the call: resolves after the
   * next pass, which also serves every write waiting for its position.
   */
  sweep(): Promise<void> {
    return new Promise<number | undefined>((resolve, reject) => {
      this.next.push({ resolve, reject });
      this.schedule();
    }).then(() => undefined);
  }

  /**
   * One pass at a time per process, for everyone who asked before it started:
   * the timer's sweep, pulls, and every write awaiting its position share it.
   * A second pass of our own would only queue on the positions lock behind the
   * first (and commit once more), so callers arriving meanwhile wait for the
   * next one, which takes them all.
   */
  private schedule(): void {
    if (this.running || this.next.length === 0) return;
    this.running = true;
    const batch = this.next.splice(0);
    this.pass(batch)
      .then(
        (positions) => {
          for (const r of batch) {
            if (r.tx === undefined) r.resolve(undefined);
            else {
              const p = positions.get(r.tx);
              if (p === undefined) r.reject(new Error(`transaction ${r.tx} was not sequenced`));
              else r.resolve(p);
            }
          }
        },
        (err) => {
          for (const r of batch) r.reject(err);
        },
      )
      .finally(() => {
        this.running = false;
        this.schedule();
      });
  }

  /** Sequences everything committed so far; the positions of the batch's transactions. */
  private async pass(batch: Request[]): Promise<Map<string, number>> {
    const txs = batch.flatMap((r) => (r.tx === undefined ? [] : [r.tx]));
    if (txs.length === 0) {
      // Only sweeps: take the positions lock (and write, and commit) only if something is
      // pending, in one round trip; with nothing pending the statement is read-only.
      const { rows } = await this.db.query<{ pending: boolean; p: string | null }>(
        `SELECT pending, CASE WHEN pending THEN ${this.schema}.sequence_pending() END AS p
         FROM (SELECT EXISTS (SELECT 1 FROM ${this.schema}.open_tx) AS pending) q`,
      );
      if (rows[0]?.pending) this.lastFound = Date.now();
      const p = rows[0]?.p;
      if (p !== null && p !== undefined) this.sequenced(Number(p), 'swept');
      return new Map();
    }
    const { rows } = await this.db.query<{ tx: string; last_position: number }>(
      `SELECT tx, last_position FROM ${this.schema}.sequence($1::xid8[])`,
      [txs],
    );
    const positions = new Map(rows.map((r) => [r.tx, Number(r.last_position)]));
    this.sequenced(Math.max(0, ...positions.values()), 'own');
    return positions;
  }
}
