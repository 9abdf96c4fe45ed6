/**
 * Issue 14.2: one sequencing pass at a time per process serves every caller
 * that asked before it started. Writes awaiting their position, pulls and the
 * sweep used to run passes of their own, which queued on the positions lock
 * behind each other and committed once each (a second serialized transaction
 * per write). Here a pass is held in flight while more writes commit and ask
 * for positions and sweeps are asked for: exactly one more pass serves them all.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { Sequencer } from '../src/storage/sequencer.js';
import type { SqlQueryable } from '../src/storage/sql-client.js';
import { type Harness, postgresHarness } from './harness.js';

const available = await postgresAvailable();

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.skipIf(!available)('the sequencer shares one pass among writes and sweeps (PostgreSQL)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await postgresHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A transaction of "another program" writing one document; its xid8 as text. */
  const commitOne = (id: string) =>
    h.sql.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${h.schema}.documents (collection, id, data) VALUES ('share', $1, '{}')`, [id]);
      const { rows } = await tx.query<{ tx: string }>('SELECT pg_current_xact_id()::text AS tx');
      return rows[0]?.tx as string;
    });

  test('callers arriving while a pass is in flight are all served by the next single pass', async () => {
    let passes = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    // Counts sequencing statements; the first one waits at the gate (a pass in flight).
    const db: SqlQueryable = {
      async query<T>(sql: string, params?: unknown[]) {
        if (/\.sequence(_pending)?\(/.test(sql)) {
          passes++;
          if (passes === 1) await gate;
        }
        return h.sql.query<T>(sql, params);
      },
      exec: (sql: string) => h.sql.exec(sql),
    };
    const sequencer = new Sequencer(db, h.schema);

    const first = sequencer.positionOf(await commitOne('first'));
    await until('the first pass to start', () => passes === 1);

    const txs = [];
    for (let i = 0; i < 5; i++) txs.push(await commitOne(`later-${i}`));
    const later = txs.map((tx) => sequencer.positionOf(tx));
    const sweeps = [sequencer.sweep(), sequencer.sweep(), sequencer.sweep()];
    // Whatever the callers started is running or queued by now; give them a turn of the event loop.
    await new Promise((r) => setImmediate(r));
    release();

    const positions = await Promise.all([first, ...later]);
    await Promise.all(sweeps);
    expect(passes).toBe(2);
    expect(new Set(positions).size).toBe(positions.length);
    for (const p of positions) expect(p).toBeGreaterThan(0);
    // Each sweep resolved after a pass that covered the commits made before it was asked for.
    const { rows } = await h.sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${h.schema}.commits WHERE tx = ANY($1::xid8[])`, [
      txs,
    ]);
    expect(rows[0]?.n).toBe(txs.length);
  });
});
