/**
 * Gives positions to the server's committed write transactions (see the header
 * of migrations.ts). Callers are coalesced: at most one sequencing statement is
 * in flight per process, and each covers every transaction committed before it
 * started, so under load one short serialized transaction sequences many
 * writes. A timer also sweeps transactions left unsequenced by a crash.
 */
import type { SqlQueryable } from './sql-client.js';

interface Waiter {
  tx: string;
  resolve: (position: number) => void;
  reject: (err: unknown) => void;
}

export class Sequencer {
  private queue: Waiter[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;

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

  /** Sequences anything pending now, then every `intervalMs`. */
  startSweeping(intervalMs: number): void {
    this.stopSweeping();
    this.timer = setInterval(() => {
      if (!this.running) this.sweep().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  stopSweeping(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async sweep(): Promise<void> {
    const { rows } = await this.db.query<{ pending: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${this.schema}.open_tx) AS pending`);
    if (rows[0]?.pending) await this.db.query(`SELECT ${this.schema}.sequence_pending()`);
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
