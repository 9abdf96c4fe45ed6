/**
 * Migration 3 upgrades an existing database in place: operations logged before it
 * (ids were global then) get the scope of the client that wrote them, so their
 * retries from that client are still duplicates, and another client may now use the id.
 */
import { describe, expect, test } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { migrations } from '../src/storage/migrations.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { limits } from './harness.js';

async function upgradeCase(db: SqlClient, schema: string): Promise<void> {
  // The schema as migrations 1 and 2 left it, with an operation logged by the code of then.
  await db.exec(`CREATE SCHEMA ${schema};
    CREATE TABLE ${schema}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
  for (const m of migrations.filter((x) => x.version <= 2)) {
    await db.exec(m.sql(schema));
    await db.query(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
  }
  const old = new PostgresStorage(db, schema, limits);
  const op = { id: 'legacy-1', type: 'insert', collection: 'legacy', docId: 'd', data: { v: 1 } };
  await db.query(
    `INSERT INTO ${schema}.operations (id, client_id, collection, doc_id, type, status, result)
     VALUES ($1, 'old-client', 'legacy', 'd', 'insert', 'applied', $2::jsonb)`,
    ['legacy-1', JSON.stringify({ id: 'legacy-1', status: 'applied', collection: 'legacy', docId: 'd', version: 1 })],
  );
  expect(await old.migrate()).toEqual(migrations.filter((x) => x.version > 2).map((x) => x.version));
  const { rows } = await db.query<{ scope: string; fingerprint: string | null }>(
    `SELECT scope, fingerprint FROM ${schema}.operations WHERE id = 'legacy-1'`,
  );
  expect(rows).toEqual([{ scope: 'c:old-client', fingerprint: null }]);
  // Its writer's retry is a duplicate (a row from before has no fingerprint to compare); another client's is its own.
  expect((await old.applyOperations('old-client', [op])).results[0]).toMatchObject({ status: 'duplicate', originalStatus: 'applied' });
  expect((await old.applyOperations('new-client', [{ ...op, docId: 'e' }])).results[0]).toMatchObject({ status: 'applied', docId: 'e' });
  await old.close();
}

const withPostgres = await postgresAvailable();

describe('migration 3 upgrades an existing operation log in place', { timeout: 120_000 }, () => {
  test('PGlite', async () => {
    await upgradeCase(await createPgliteClient(), 'upgraded');
  });
  test.skipIf(!withPostgres)('PostgreSQL', async () => {
    const schema = uniqueSchema('up');
    const admin = await createPgClient({ connectionString: postgresUrl, poolSize: 1 });
    try {
      await upgradeCase(await createPgClient({ connectionString: postgresUrl, poolSize: 4 }), schema);
    } finally {
      await admin.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.close();
    }
  });
});
