import pg from 'pg';
import { describe } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { startPostgresServer } from './server-harness.js';
import { registerTableActionTests } from './table-actions-suite.js';

if (await postgresAvailable()) {
  registerTableActionTests('PostgreSQL (held)', async () => {
    const app = uniqueSchema('tapp');
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`CREATE SCHEMA ${app};
      CREATE TABLE ${app}.category (id serial PRIMARY KEY, name text);
      CREATE TABLE ${app}.product (id serial PRIMARY KEY, name text, category integer REFERENCES ${app}.category(id));`);
    const t = await startPostgresServer('tact', { config: { poolSize: 4, tableNames: ['category', 'product'], tableSchema: app } });
    return {
      url: t.url,
      sql: {
        query: async (text, params) => {
          const r = await client.query(text, params);
          return { rows: r.rows, affectedRows: r.rowCount ?? 0 };
        },
        exec: async (text) => {
          await client.query(text);
        },
      },
      table: (n) => `${app}.${n}`,
      collection: (n) => n,
      keysBeforeAck: true,
      async close() {
        await t.close();
        await client.query(`DROP SCHEMA ${app} CASCADE`);
        await client.end();
      },
    };
  });
} else describe.skip('/sendActions on tables: PostgreSQL (unreachable; see test/services.ts)', () => {});
