import { describe } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { openTableStorage, registerTableCaptureTests } from './table-capture-suite.js';

const available = await postgresAvailable();

describe.skipIf(!available)('PostgreSQL', () => {
  registerTableCaptureTests('PostgreSQL', async () => {
    const schema = uniqueSchema('tc');
    const appSchema = uniqueSchema('app');
    const sql = await createPgClient({ connectionString: postgresUrl, poolSize: 4 });
    await sql.exec(`CREATE SCHEMA ${appSchema}`);
    return {
      sql,
      appSchema,
      open: async (tables) =>
        openTableStorage(await createPgClient({ connectionString: postgresUrl, poolSize: 4 }), schema, appSchema, tables),
      async close() {
        await sql.exec(`DROP SCHEMA IF EXISTS ${appSchema} CASCADE; DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await sql.close();
      },
    };
  });
});
