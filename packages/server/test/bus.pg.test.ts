/** EventBus over PostgreSQL LISTEN/NOTIFY; the drop test terminates the LISTEN backend. */
import pg from 'pg';
import { describe, expect } from 'vitest';
import { postgresAvailable, postgresUrl } from '../../../test/services.js';
import { registerBusTests } from './bus-conformance.js';

describe.skipIf(!(await postgresAvailable()))('PostgreSQL bus', () => {
  registerBusTests({
    label: 'PostgreSQL',
    url: postgresUrl,
    unreachableUrl: 'postgres://postgres@127.0.0.1:1/test',
    async kill(bus) {
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: number }>(
          'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [`syncline-bus-${bus.instanceId}`],
        );
        expect(rows[0]?.n).toBe(1);
      } finally {
        await client.end();
      }
    },
  });
});
