import { resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { mysqlAvailable, mysqlConfig, uniqueSchema } from '../../../test/services.js';
import { runSeeds } from '../src/app/seeds.js';
import { createMysqlClient } from '../src/storage/mysql/mysql-client.js';
import { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import { migrateApp, migrationsDir, registerAppMigrationTests } from './app-migrations-suite.js';
import { limits } from './harness.js';
import { dropPrefixed, openMysqlClient } from './mysql-harness.js';

const prefix = uniqueSchema('am');
const open = async (tables: string[] = [], database = mysqlConfig.database) =>
  new MysqlStorage(await createMysqlClient({ ...mysqlConfig, database, poolSize: 4 }), {
    names: { prefix, target: `${prefix}_pubsub` },
    limits,
    pollIntervalMs: 50,
    tables,
  });

if (await mysqlAvailable()) {
  registerAppMigrationTests('MySQL/MariaDB', {
    dialect: 'mysql',
    open,
    async cleanup(names) {
      const raw = await openMysqlClient();
      await dropPrefixed(raw, prefix);
      for (const t of names) await raw.query(`DROP TABLE IF EXISTS \`${t}\``);
      await raw.close();
    },
  });

  describe('Application migrations: MySQL variants', () => {
    const variantTable = `${prefix}_variant`;
    afterAll(async () => {
      const raw = await openMysqlClient();
      await raw.query(`DROP TABLE IF EXISTS \`${variantTable}\``);
      await raw.close();
    });

    test('NNN_name.mysql.sql replaces NNN_name.sql (which would not parse on MySQL), DELIMITER blocks included', async () => {
      const dir = migrationsDir({
        '001_variant.sql': `CREATE TABLE ${variantTable} (id serial PRIMARY KEY, tags text[] NOT NULL DEFAULT '{}');`,
        '001_variant.mysql.sql': `CREATE TABLE ${variantTable} (id INT AUTO_INCREMENT PRIMARY KEY, tags VARCHAR(50) NOT NULL DEFAULT '');
DELIMITER //
CREATE TRIGGER ${variantTable}_tag BEFORE INSERT ON ${variantTable} FOR EACH ROW BEGIN
  IF NEW.tags = '' THEN SET NEW.tags = 'untagged'; END IF;
END//
DELIMITER ;
INSERT INTO ${variantTable} (tags) VALUES ('');`,
      });
      const storage = await open();
      try {
        expect(await migrateApp(storage, dir)).toEqual(['001_variant']);
        const sql = storage.appSql();
        const { rows } = await sql.query<{ file: string }>(`SELECT file FROM ${sql.table('app_migrations')} WHERE name = $1`, [
          '001_variant',
        ]);
        expect(rows).toEqual([{ file: '001_variant.mysql.sql' }]);
        const { rows: data } = await sql.query<{ tags: string }>(`SELECT tags FROM ${variantTable}`);
        expect(data).toEqual([{ tags: 'untagged' }]);
      } finally {
        await storage.close();
      }
    });

    test("the demo's migrations and seed on MariaDB: tables, 8 categories, 60 products, captured", async () => {
      // A database of its own: the demo's table names are fixed.
      const database = `demo_${process.pid}_${Math.random().toString(36).slice(2, 6)}`;
      const raw = await openMysqlClient();
      await raw.query(`CREATE DATABASE \`${database}\``);
      const storage = await open(['category', 'product'], database);
      try {
        const demo = resolve(import.meta.dirname, '../../../apps/demo');
        expect(await migrateApp(storage, `${demo}/migrations`)).toEqual(['001_product', '002_category', '003_product_update']);
        expect([...storage.tableCollections].sort()).toEqual(['category', 'product']);
        const sql = storage.appSql();
        const { rows: files } = await sql.query<{ file: string }>(`SELECT file FROM ${sql.table('app_migrations')} ORDER BY name`);
        expect(files.map((f) => f.file)).toEqual(['001_product.mysql.sql', '002_category.mysql.sql', '003_product_update.mysql.sql']);
        await runSeeds(sql, `${demo}/seeds`);
        const count = async (t: string) => Number((await sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0]?.n);
        expect(await count('category')).toBe(8);
        expect(await count('product')).toBe(60);
        const { rows } = await sql.query<{ id: string; price: string; category: number }>(
          'SELECT id, price, category FROM product WHERE id = $1',
          ['00000000-0000-4000-8000-000000000001'],
        );
        expect(rows[0]).toMatchObject({ category: 1 });
        expect(Number(rows[0]?.price)).toBeGreaterThan(0);
        // The seeded rows reach the change log through capture.
        const page = await storage.getChanges({ since: 0, limit: 1000 });
        expect(page.operations.filter((c) => c.collection === 'product')).toHaveLength(60);
        // Filled: a second run leaves it alone.
        await runSeeds(sql, `${demo}/seeds`);
        expect(await count('product')).toBe(60);
      } finally {
        await storage.close();
        await raw.query(`DROP DATABASE \`${database}\``);
        await raw.close();
      }
    });
  });
} else describe.skip('Application migrations: MySQL/MariaDB (unreachable; see test/services.ts)', () => {});
