/**
 * The sweeper (sequencer.ts) looks for other programs' commits every interval
 * while it finds some, and slows down to one sweep per SWEEP_IDLE_MS once it
 * found none for a second (the server's own writes sequence themselves, so an
 * idle server would otherwise query 100 times a second). On a fake clock.
 */
import { afterEach, describe, expect, test, vi } from 'vitest';
import { Sequencer } from '../src/storage/sequencer.js';
import type { SqlQueryable } from '../src/storage/sql-client.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('the sweeper', () => {
  test('sweeps every interval while it finds commits, every 50 ms after a second without any, and speeds up again', async () => {
    vi.useFakeTimers();
    let pending = true;
    let sweeps = 0;
    const db: SqlQueryable = {
      async query<T>(sql: string) {
        if (sql.includes('pg_stat_get_dead_tuples')) return { rows: [{ dead: 0 }] as T[], affectedRows: 0 };
        sweeps++;
        return { rows: [{ pending, p: pending ? String(sweeps) : null }] as T[], affectedRows: 0 };
      },
      exec: async () => {},
    };
    const sequencer = new Sequencer(db, 'syncline');
    sequencer.startSweeping(10);
    try {
      const during = async (ms: number) => {
        const before = sweeps;
        await vi.advanceTimersByTimeAsync(ms);
        return sweeps - before;
      };
      // Busy: a sweep per 10 ms tick.
      expect(await during(500)).toBeGreaterThanOrEqual(45);
      pending = false;
      // Nothing found for a second: then one sweep per 50 ms.
      await during(1200);
      expect(await during(1000)).toBeLessThanOrEqual(21);
      // A sweep finds a commit again: back to every tick.
      pending = true;
      await during(60);
      expect(await during(500)).toBeGreaterThanOrEqual(45);
    } finally {
      sequencer.stopSweeping();
    }
  });
});
