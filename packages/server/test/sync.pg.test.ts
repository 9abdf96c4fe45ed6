import pg from 'pg';
import { describe } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { createServer } from '../src/server.js';
import { registerSyncTests } from './sync-suite.js';

if (await postgresAvailable()) {
  registerSyncTests('PostgreSQL', async (overrides) => {
    const schema = uniqueSchema('sync');
    const server = await createServer({
      databaseUrl: postgresUrl,
      schema,
      logLevel: 'silent',
      port: 0,
      host: '127.0.0.1',
      env: {},
      ...overrides,
    });
    const url = await server.listen();
    return {
      server,
      url,
      async cleanup() {
        await server.close();
        const c = new pg.Client({ connectionString: postgresUrl });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await c.end();
      },
    };
  });
} else describe.skip('/sync namespace: PostgreSQL (unreachable)', () => {});
