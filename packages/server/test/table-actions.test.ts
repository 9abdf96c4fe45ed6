import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import { limits } from './harness.js';
import { serveStorage } from './server-harness.js';
import { registerTableActionTests } from './table-actions-suite.js';

registerTableActionTests('PGlite (staged)', async () => {
  const sql = await createPgliteClient(undefined);
  await sql.exec(`CREATE TABLE category (id serial PRIMARY KEY, name text);
    CREATE TABLE product (id serial PRIMARY KEY, name text, category integer REFERENCES category(id));`);
  const storage = new PostgresStorage(sql, 'syncline', limits, { names: ['category', 'product'], schema: 'public' });
  const t = await serveStorage(storage, { tableNames: ['category', 'product'] });
  return { url: t.url, sql, table: (n) => n, collection: (n) => n, keysBeforeAck: true, close: t.close };
});
