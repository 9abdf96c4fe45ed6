/** Migration 3 on MySQL/MariaDB upgrades an existing operation log in place (see operation-scope-upgrade.test.ts). */
import { describe, expect, test } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { migrateMysql, migrations, tableOf } from '../src/storage/mysql/mysql-migrations.js';
import { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import { limits } from './harness.js';
import { dropPrefixed, openMysqlClient } from './mysql-harness.js';

describe.skipIf(!(await mysqlAvailable()))('migration 3 upgrades an existing operation log in place: MariaDB', () => {
  test('rows logged before get their client scope; the migration can run again after a crash', async () => {
    const prefix = uniqueSchema('up');
    const names = { prefix, target: `${prefix}_pubsub` };
    const raw = await openMysqlClient();
    try {
      const t = (n: string) => tableOf(prefix, n);
      await raw.query(`CREATE TABLE ${t('migrations')} (version INT NOT NULL PRIMARY KEY, name VARCHAR(200) NOT NULL,
        applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`);
      for (const m of migrations.filter((x) => x.version <= 2)) {
        for (const sql of m.statements({ ...names, flavor: raw.flavor })) await raw.query(sql);
        await raw.query(`INSERT INTO ${t('migrations')} (version, name) VALUES (?, ?)`, [m.version, m.name]);
      }
      await raw.query(
        `INSERT INTO ${t('operations')} (id, client_id, collection, doc_id, type, status, result) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          'legacy-1',
          'old-client',
          'legacy',
          'd',
          'insert',
          'applied',
          JSON.stringify({ id: 'legacy-1', status: 'applied', collection: 'legacy', docId: 'd', version: 1 }),
        ],
      );
      // A run that crashed after its first statements: the next run completes it.
      const v3 = migrations.find((x) => x.version === 3);
      for (const sql of v3?.statements({ ...names, flavor: raw.flavor }).slice(0, 4) ?? []) await raw.query(sql);
      expect(await migrateMysql(raw, names)).toEqual(migrations.filter((x) => x.version > 2).map((x) => x.version));
      const { rows } = await raw.query<{ scope: string; fingerprint: string | null }>(
        `SELECT scope, fingerprint FROM ${t('operations')} WHERE id = 'legacy-1'`,
      );
      expect(rows).toEqual([{ scope: 'c:old-client', fingerprint: null }]);
      const storage = new MysqlStorage(await openMysqlClient(), { names, limits, pollIntervalMs: 250 });
      await storage.migrate();
      try {
        const op = { id: 'legacy-1', type: 'insert', collection: 'legacy', docId: 'd', data: { v: 1 } };
        expect((await storage.applyOperations('old-client', [op])).results[0]).toMatchObject({ status: 'duplicate' });
        expect((await storage.applyOperations('new-client', [{ ...op, docId: 'e' }])).results[0]).toMatchObject({
          status: 'applied',
          docId: 'e',
        });
      } finally {
        await storage.close();
      }
    } finally {
      await dropPrefixed(raw, prefix);
      await raw.close();
    }
  });
});
