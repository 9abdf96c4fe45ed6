import { describe } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { registerEsinkTableTests, TABLES_SQL } from './esink-tables-suite.js';
import { startPostgresServer } from './server-harness.js';

if (await postgresAvailable()) {
  registerEsinkTableTests('PostgreSQL', async () => {
    const appSchema = uniqueSchema('esapp');
    // Another program: its own pool, writing the application's schema.
    const sql = await createPgClient({ connectionString: postgresUrl, poolSize: 2 });
    const t = (n: string) => `${appSchema}.${n}`;
    return {
      t,
      name: (n) => n,
      exec: (text) => sql.exec(text),
      createTables: () => sql.exec(`CREATE SCHEMA ${appSchema}; ${TABLES_SQL(t)}`),
      start: (config) => startPostgresServer('esink', { config: { ...config, tableSchema: appSchema } }),
      async close() {
        await sql.exec(`DROP SCHEMA IF EXISTS ${appSchema} CASCADE`);
        await sql.close();
      },
    };
  });
} else describe.skip('default namespace on table collections: PostgreSQL (unreachable)', () => {});
