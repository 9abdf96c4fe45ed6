import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { registerEsinkTableTests, TABLES_SQL } from './esink-tables-suite.js';
import { limits } from './harness.js';
import { serveStorage } from './server-harness.js';

registerEsinkTableTests('PGlite', async () => {
  const sql = await createPgliteClient(undefined);
  // PGlite has one connection: the server's storage shares it and must not close it.
  const shared: SqlClient = { ...sql, close: async () => {} };
  const t = (n: string) => n;
  return {
    t,
    name: (n) => n,
    exec: (text) => sql.exec(text),
    createTables: () => sql.exec(TABLES_SQL(t)),
    async start(config) {
      const names = config.tableNames as string[];
      const storage = new PostgresStorage(shared, 'syncline', limits, { names, schema: 'public' });
      return serveStorage(storage, config);
    },
    close: () => sql.close(),
  };
});
