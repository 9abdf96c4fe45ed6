import { describe, expect, test } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { runSeeds } from '../src/app/seeds.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import { migrateApp, migrationsDir, registerAppMigrationTests } from './app-migrations-suite.js';
import { limits } from './harness.js';

const schema = uniqueSchema('am');
const open = async (tables: string[] = [], s = schema) =>
  new PostgresStorage(await createPgClient({ connectionString: postgresUrl, poolSize: 4 }), s, limits, { names: tables, schema: 'public' });
const drop = async (names: string[]) => {
  const sql = await createPgClient({ connectionString: postgresUrl, poolSize: 1 });
  await sql.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  for (const t of names) await sql.exec(`DROP TABLE IF EXISTS public.${t} CASCADE`);
  await sql.close();
};

if (await postgresAvailable()) {
  registerAppMigrationTests('PostgreSQL', { dialect: 'postgres', open, cleanup: drop });

  describe('Application migrations: PostgreSQL instances starting at once', () => {
    test('four instances migrating at once apply each file once', async () => {
      const s = uniqueSchema('amc');
      const t = `${s}_runs`;
      const dir = migrationsDir({
        '001_runs.sql': `CREATE TABLE ${t} (n serial PRIMARY KEY, file text NOT NULL);`,
        // Slow enough that the instances really overlap.
        '002_a.sql': `SELECT pg_sleep(0.2); INSERT INTO ${t} (file) VALUES ('002');`,
        '003_b.sql': `INSERT INTO ${t} (file) VALUES ('003');`,
      });
      const storages = await Promise.all([1, 2, 3, 4].map(() => open([], s)));
      try {
        const applied = await Promise.all(storages.map((st) => migrateApp(st, dir)));
        expect(applied.flat().sort()).toEqual(['001_runs', '002_a', '003_b']);
        const { rows } = await storages[0]!.appSql().query<{ file: string }>(`SELECT file FROM ${t} ORDER BY n`);
        expect(rows.map((r) => r.file)).toEqual(['002', '003']);
      } finally {
        for (const st of storages) await st.close();
        const sql = await createPgClient({ connectionString: postgresUrl, poolSize: 1 });
        await sql.exec(`DROP SCHEMA IF EXISTS ${s} CASCADE; DROP TABLE IF EXISTS public.${t}`);
        await sql.close();
      }
    });
  });

  describe('Seeds: PostgreSQL instances seeding at once', () => {
    test('take turns under the lock: the second finds the rows and inserts nothing', async () => {
      const s = uniqueSchema('sdc');
      const t = `${s}_items`;
      const dir = migrationsDir({
        '001_fill.mjs': `export default async (ctx) => {
          const { rows } = await ctx.query('SELECT count(*) AS n FROM ${t}');
          if (Number(rows[0].n) > 0) return;
          await ctx.query('SELECT pg_sleep(0.2)');
          await ctx.query("INSERT INTO ${t} (id) SELECT g FROM generate_series(1, 10) g");
        };`,
      });
      const storages = await Promise.all([1, 2, 3].map(() => open([], s)));
      try {
        await storages[0]!.appSql().exec(`CREATE TABLE ${t} (id integer PRIMARY KEY)`);
        await Promise.all(storages.map((st) => runSeeds(st.appSql(), dir)));
        const { rows } = await storages[0]!.appSql().query<{ n: number }>(`SELECT count(*) AS n FROM ${t}`);
        expect(Number(rows[0]?.n)).toBe(10);
      } finally {
        for (const st of storages) await st.close();
        const sql = await createPgClient({ connectionString: postgresUrl, poolSize: 1 });
        await sql.exec(`DROP TABLE IF EXISTS public.${t}`);
        await sql.close();
      }
    });
  });
} else describe.skip('Application migrations: PostgreSQL (unreachable; see test/services.ts)', () => {});
