/**
 * Moves captured rows from the target table into the ordered change log
 * (see the header of mysql-migrations.ts). One pass, in one READ COMMITTED
 * transaction: lock meta 'head' (one consumer at a time, across instances),
 * take the committed target rows in id order (at most `batch`), give them
 * positions head+1.., copy them into `changes`, delete exactly those target
 * rows, advance head; commit.
 *
 * Callers are coalesced: at most one drain runs per process; a caller that
 * arrives while one runs shares the next one (which starts after its commit,
 * so it sees the caller's rows). A timer polls every `intervalMs`.
 */
import type { MysqlClient } from './mysql-client.js';
import { type MysqlNames, quoteId, tableOf } from './mysql-migrations.js';

/** ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK: another consumer held the head row; try again. */
const RETRYABLE = new Set([1205, 1213]);
const MAX_PASSES_PER_DRAIN = 100;
const MAX_LOOKUPS = 20;

export class ChangeConsumer {
  private readonly listeners = new Set<(position: number, origin: 'own' | 'swept' | 'hint') => void>();
  /** A timer poll is draining (what it moves is `swept`, not this instance's own write). */
  private polling = false;
  /** True while another instance polls for everyone (bus up, lease elsewhere): this one's timer rests. */
  follow: () => boolean = () => false;
  private lastNotified = 0;
  private current: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private readonly t: (name: string) => string;
  private readonly target: string;

  constructor(
    private readonly db: MysqlClient,
    names: MysqlNames,
    /** Rows per pass: bounds one transaction's size. */
    private readonly batch = 500,
  ) {
    this.t = (name) => tableOf(names.prefix, name);
    this.target = quoteId(names.target);
  }

  /** Resolves once every target row committed before the call has a position. */
  catchUp(): Promise<void> {
    if (!this.current) {
      this.current = this.drain().finally(() => {
        this.current = undefined;
      });
      return this.current;
    }
    // The running drain may have read the target before the caller's commit: share the next one.
    this.next ??= this.current
      .catch(() => {})
      .then(() => {
        this.next = undefined;
        return this.catchUp();
      });
    return this.next;
  }

  /** The position of the change with target id `srcId` (a write of this session), once consumed. */
  async positionOf(srcId: number): Promise<number> {
    for (let i = 0; i < MAX_LOOKUPS; i++) {
      await this.catchUp();
      const { rows } = await this.db.query<{ position: number }>(
        `SELECT position FROM ${this.t('changes')} WHERE src_id = ? ORDER BY position DESC LIMIT 1`,
        [srcId],
      );
      if (rows[0]) {
        const position = Number(rows[0].position);
        // This instance's own write: whoever's drain moved it, this instance publishes it (with a bus).
        for (const l of this.listeners) l(position, 'own');
        return position;
      }
    }
    throw new Error(`change ${srcId} was not consumed`);
  }

  onCommit(listener: (position: number, origin: 'own' | 'swept' | 'hint') => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Polls every `intervalMs`; also notices positions other instances assigned. */
  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => {
      if (this.ticking) return;
      this.ticking = true;
      this.tick()
        .catch(() => {})
        .finally(() => {
          this.ticking = false;
        });
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.follow()) return;
    this.polling = true;
    try {
      await this.catchUp();
    } finally {
      this.polling = false;
    }
    if (this.listeners.size === 0) return;
    const { rows } = await this.db.query<{ value: number }>(`SELECT value FROM ${this.t('meta')} WHERE name = 'head'`);
    this.notify(Number(rows[0]?.value ?? 0), 'hint');
  }

  private notify(head: number, origin: 'own' | 'swept' | 'hint'): void {
    if (head <= this.lastNotified) return;
    this.lastNotified = head;
    for (const l of this.listeners) l(head, origin);
  }

  private async drain(): Promise<void> {
    for (let i = 0, failures = 0; i < MAX_PASSES_PER_DRAIN; i++) {
      // Cheap look first: an empty target costs one indexed read, no lock.
      const { rows } = await this.db.query(`SELECT id FROM ${this.target} ORDER BY id LIMIT 1`);
      if (rows.length === 0) return;
      let moved: number;
      try {
        moved = await this.pass();
      } catch (err) {
        const code = (err as { errno?: number }).errno;
        if (code === undefined || !RETRYABLE.has(code) || ++failures > 5) throw err;
        continue;
      }
      if (moved < this.batch) return;
    }
  }

  /** One pass; returns how many rows it moved. */
  private async pass(): Promise<number> {
    const t = this.t;
    const out = await this.db.transaction(async (tx) => {
      const { rows: h } = await tx.query<{ value: number }>(`SELECT value FROM ${t('meta')} WHERE name = 'head' FOR UPDATE`);
      const head = Number(h[0]?.value ?? 0);
      // Under the lock, a plain (consistent, READ COMMITTED) read sees every committed row.
      const { rows } = await tx.query<{ id: number }>(`SELECT id FROM ${this.target} ORDER BY id LIMIT ?`, [this.batch]);
      if (rows.length === 0) return { moved: 0, head };
      const ids = rows.map((r) => Number(r.id));
      const ins = await tx.query(
        `INSERT INTO ${t('changes')}
           (position, src_id, collection, doc_id, type, data, old, version, vclock, op_id, client_id, source, committed_ms)
         SELECT ? + ROW_NUMBER() OVER (ORDER BY id), id, collection, doc_id, type, data, old, version, vclock,
                op_id, client_id, source, ROUND(UNIX_TIMESTAMP(NOW(3)) * 1000)
         FROM ${this.target} WHERE id IN (?)`,
        [head, ids],
      );
      // Exactly those rows, never a range: a row with a lower id may still be uncommitted.
      const del = await tx.query(`DELETE FROM ${this.target} WHERE id IN (?)`, [ids]);
      if (ins.affectedRows !== ids.length || del.affectedRows !== ids.length) {
        throw new Error(`change consumer: ${ids.length} rows read, ${ins.affectedRows} copied, ${del.affectedRows} deleted`);
      }
      await tx.query(`UPDATE ${t('meta')} SET value = ? WHERE name = 'head'`, [head + ids.length]);
      return { moved: ids.length, head: head + ids.length };
    });
    if (out.moved > 0) this.notify(out.head, this.polling ? 'swept' : 'own');
    return out.moved;
  }
}
