/** The pg SQL client's LISTEN connection survives its backend being killed (as in a PostgreSQL restart). */
import { describe, expect, test } from 'vitest';
import { postgresAvailable, postgresUrl } from '../../../test/services.js';
import { createPgClient } from '../src/storage/pg-client.js';

describe.skipIf(!(await postgresAvailable()))('pg client LISTEN (PostgreSQL)', () => {
  test('after its connection is terminated it reconnects and delivers notifications again', async () => {
    const channel = `listen_test_${process.pid}_${Date.now()}`;
    const client = await createPgClient({ connectionString: postgresUrl, poolSize: 2 });
    try {
      const got: string[] = [];
      await client.listen(channel, (p) => got.push(p));
      const notifyUntil = async (payload: string) => {
        for (let i = 0; i < 100 && !got.includes(payload); i++) {
          await client.query('SELECT pg_notify($1, $2)', [channel, payload]);
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(got).toContain(payload);
      };
      await notifyUntil('before');
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
        [`LISTEN%${channel}%`],
      );
      expect(rows[0]?.n).toBe(1);
      await notifyUntil('after');
    } finally {
      await client.close();
    }
  });
});
