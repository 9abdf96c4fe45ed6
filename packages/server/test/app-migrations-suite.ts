/**
 * Application migrations (SYNCLINE_MIGRATIONS_DIR) on every backend:
 * app-migrations.test.ts (PGlite), .pg.test.ts, .mysql.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SynclineError } from '@syncline/protocol';
import { afterAll, describe, expect, test } from 'vitest';
import { applyAppMigrations, rollbackAppMigrations } from '../src/app/app-migrations.js';
import type { Progress } from '../src/app/progress.js';
import { runSeeds } from '../src/app/seeds.js';
import type { Storage } from '../src/storage/storage.js';

export interface AppMigrationsBackend {
  dialect: 'postgres' | 'mysql';
  /** A storage on one database shared by every call (a new connection each time), not yet migrated. */
  open(tables?: string[]): Promise<Storage>;
  /** Drops what the tests created (Syncline's tables and the app tables named). */
  cleanup(appTables: string[]): Promise<void>;
}

const dirs: string[] = [];
export function migrationsDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-app-migrations-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Migrates with the application's migrations of `dir`; resolves with the names this call applied. */
export async function migrateApp(storage: Storage, dir: string, onTick?: (detail: string) => void): Promise<string[]> {
  let applied: string[] = [];
  const progress = (): Progress => ({ tick: (_n, detail) => onTick?.(detail ?? ''), done() {} });
  await storage.migrate({
    app: async (sql) => {
      applied = await applyAppMigrations(sql, dir, progress);
    },
  });
  return applied;
}

export function registerAppMigrationTests(name: string, backend: AppMigrationsBackend): void {
  const tag = `am${process.pid}${Math.random().toString(36).slice(2, 6)}`;
  const items = `${tag}_items`;
  const audit = `${tag}_audit`;
  const half = `${tag}_half`;
  const watched = `${tag}_watched`;
  const category = `${tag}_category`;
  const product = `${tag}_product`;
  const int = backend.dialect === 'mysql' ? 'INT' : 'integer';
  const opened: Storage[] = [];
  const open = async (tables?: string[]) => {
    const s = await backend.open(tables);
    opened.push(s);
    return s;
  };
  /** SQL on the newest storage (an embedded backend closes the previous one when it opens another). */
  const sql = () => (opened.at(-1) as Storage).appSql();

  // Each test opens its own storage (PGlite's WASM start takes tens of seconds on a loaded 2-core machine).
  describe(`Application migrations: ${name}`, { timeout: 120_000 }, () => {
    afterAll(async () => {
      for (const s of opened) await s.close().catch(() => {});
      await backend.cleanup([product, category, items, audit, half, watched]);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    test('applied in name order, each once, recorded in app_migrations; other files ignored', async () => {
      const dir = migrationsDir({
        // 002 needs 001's table and 010 comes after 002 (name order, not numeric guesswork).
        '010_more.sql': `INSERT INTO ${items} (id, label) VALUES (3, 'three');`,
        '002_rows.sql': `INSERT INTO ${items} (id, label) VALUES (1, 'one'); INSERT INTO ${items} (id, label) VALUES (2, 'two');`,
        '001_items.sql': `-- a comment; with a semicolon\nCREATE TABLE ${items} (id ${int} PRIMARY KEY, label VARCHAR(20) NOT NULL);`,
        'README.md': 'not a migration',
      });
      const storage = await open();
      const ticks: string[] = [];
      expect(await migrateApp(storage, dir, (d) => ticks.push(d))).toEqual(['001_items', '002_rows', '010_more']);
      expect(ticks).toEqual(['001_items.sql', '002_rows.sql', '010_more.sql']);
      const { rows } = await sql().query<{ name: string; file: string }>(
        `SELECT name, file FROM ${sql().table('app_migrations')} ORDER BY name`,
      );
      expect(rows.filter((r) => r.name.startsWith('0')).map((r) => r.file)).toEqual(['001_items.sql', '002_rows.sql', '010_more.sql']);

      // A restart applies nothing again.
      expect(await migrateApp(storage, dir)).toEqual([]);
      const again = await open();
      expect(await migrateApp(again, dir)).toEqual([]);
      const { rows: data } = await sql().query<{ id: number }>(`SELECT id FROM ${items} ORDER BY id`);
      expect(data.map((r) => Number(r.id))).toEqual([1, 2, 3]);
    });

    test('a failing migration fails with MIGRATION_FAILED naming the file, is not recorded, and is applied once fixed', async () => {
      const good = `CREATE TABLE ${audit} (id ${int} PRIMARY KEY);`;
      // The first statement would succeed; the second fails.
      const bad = `INSERT INTO ${audit} (id) VALUES (1); INSERT INTO ${tag}_no_such_table (id) VALUES (1);`;
      const dir = migrationsDir({ '001_audit.sql': good, '002_fill.sql': bad });
      const storage = await open();
      const err = await migrateApp(storage, dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SynclineError);
      expect(err).toMatchObject({ code: 'MIGRATION_FAILED', details: { file: '002_fill.sql' } });
      expect((err as Error).message).toContain('002_fill.sql');
      const names = async () =>
        (await sql().query<{ name: string }>(`SELECT name FROM ${sql().table('app_migrations')}`)).rows.map((r) => r.name);
      expect(await names()).toContain('001_audit');
      expect(await names()).not.toContain('002_fill');
      // Nothing half-applied: the INSERT before the failing statement rolled back with it.
      const count = async () => Number((await sql().query<{ n: number }>(`SELECT count(*) AS n FROM ${audit}`)).rows[0]?.n);
      expect(await count()).toBe(0);

      writeFileSync(join(dir, '002_fill.sql'), `INSERT INTO ${audit} (id) VALUES (1);`);
      expect(await migrateApp(await open(), dir)).toEqual(['002_fill']);
      expect(await count()).toBe(1);
    });

    if (backend.dialect === 'postgres') {
      test('PostgreSQL: DDL of a failing migration rolls back too', async () => {
        const dir = migrationsDir({ '001_half.sql': `CREATE TABLE ${half} (id integer); SELECT 1 / 0;` });
        const storage = await open();
        await expect(migrateApp(storage, dir)).rejects.toMatchObject({ code: 'MIGRATION_FAILED', details: { file: '001_half.sql' } });
        const { rows } = await storage.appSql().query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [half]);
        expect(rows[0]?.t).toBeNull();
      });
    }

    test('they run before capture is installed, so TABLE_NAMES may name a table they create', async () => {
      const dir = migrationsDir({ '001_watched.sql': `CREATE TABLE ${watched} (id ${int} PRIMARY KEY, v ${int} NOT NULL);` });
      const storage = await open([watched]);
      expect(await migrateApp(storage, dir)).toEqual(['001_watched']);
      expect([...storage.tableCollections]).toEqual([watched]);
      const before = await storage.currentPosition();
      await storage.appSql().query(`INSERT INTO ${watched} (id, v) VALUES ($1, $2)`, [1, 10]);
      let changes: { docId: string; type: string }[] = [];
      for (let i = 0; i < 100 && changes.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        changes = (await storage.getChanges({ since: before, limit: 10 })).operations.filter((c) => c.collection === watched);
      }
      expect(changes).toMatchObject([{ docId: '1', type: 'insert' }]);
    });

    // The reference sync server's project (reference 000): Knex migrations made by `knex migrate:make` (product,
    // category, then product_update adding the foreign key) and a categories seed, as CommonJS files.
    const knexProject = () => ({
      migrations: migrationsDir({
        '20200420163023_product.js': `exports.up = function (knex) {
  return knex.schema.createTable('${product}', function (table) {
    table.increments();
    table.string('name').notNullable();
    table.decimal('price', 10, 2);
  });
};
exports.down = function (knex) {
  return knex.schema.dropTable('${product}');
};
`,
        '20200420163030_category.js': `exports.up = function (knex) {
  return knex.schema.createTable('${category}', function (table) {
    table.increments();
    table.string('name').notNullable();
  });
};
exports.down = (knex) => knex.schema.dropTable('${category}');
`,
        '20200420170000_product_update.js': `exports.up = function (knex) {
  return knex.schema.table('${product}', function (table) {
    table.integer('category_id').unsigned().references('id').inTable('${category}');
  });
};
exports.down = function (knex) {
  return knex.schema.table('${product}', function (table) {
    table.dropForeign('category_id');
    table.dropColumn('category_id');
  });
};
`,
        'README.md': 'Knex migrations',
      }),
      seeds: migrationsDir({
        'seed_categories.js': `exports.seed = function (knex) {
  return knex('${category}').del().then(function () {
    return knex('${category}').insert([{ id: 1, name: 'Fruit' }, { id: 2, name: 'Vegetables' }, { id: 3, name: 'Dairy' }]);
  });
};
`,
      }),
    });

    test("Knex migrations and seeds (the reference's project) create and fill the tables, once, in order; rollback undoes the last", async () => {
      const { migrations, seeds } = knexProject();
      const storage = await open();
      expect(await migrateApp(storage, migrations)).toEqual([
        '20200420163023_product',
        '20200420163030_category',
        '20200420170000_product_update',
      ]);
      expect(await migrateApp(await open(), migrations)).toEqual([]);
      expect(await runSeeds(sql(), seeds)).toEqual(['seed_categories.js']);
      expect(await runSeeds(sql(), seeds)).toEqual(['seed_categories.js']);
      const names = (await sql().query<{ name: string }>(`SELECT name FROM ${category} ORDER BY id`)).rows.map((r) => r.name);
      expect(names).toEqual(['Fruit', 'Vegetables', 'Dairy']);
      // The foreign key holds: a product of category 2 is stored, one of a missing category is refused.
      await sql().query(`INSERT INTO ${product} (name, price, category_id) VALUES ($1, $2, $3)`, ['Carrot', 1.5, 2]);
      await expect(sql().query(`INSERT INTO ${product} (name, category_id) VALUES ($1, $2)`, ['Ghost', 99])).rejects.toThrow();

      // rollback: product_update's down drops the column; the next migrate applies it again.
      expect(await rollbackAppMigrations(sql(), migrations)).toEqual(['20200420170000_product_update']);
      await expect(sql().query(`SELECT category_id FROM ${product}`)).rejects.toThrow();
      expect(await migrateApp(await open(), migrations)).toEqual(['20200420170000_product_update']);
      const { rows } = await sql().query<{ n: number }>(`SELECT count(*) AS n FROM ${product} WHERE category_id IS NULL`);
      expect(Number(rows[0]?.n)).toBe(1);
    });

    test('a Knex file that cannot be run is an error naming it, never skipped', async () => {
      const noUp = migrationsDir({ '001_nothing.js': 'exports.down = () => {};' });
      await expect(migrateApp(await open(), noUp)).rejects.toMatchObject({
        code: 'MIGRATION_FAILED',
        message: expect.stringContaining('001_nothing.js exports no up(knex)'),
      });
      const ts = migrationsDir({ '001_typed.ts': 'export const up = () => {};' });
      await expect(migrateApp(await open(), ts)).rejects.toMatchObject({
        code: 'INVALID_CONFIG',
        message: expect.stringContaining('001_typed.ts'),
      });
      const noDown = migrationsDir({ '001_keep.sql': `CREATE TABLE ${tag}_keep (id ${int});` });
      expect(await migrateApp(await open(), noDown)).toEqual(['001_keep']);
      await expect(rollbackAppMigrations(sql(), noDown)).rejects.toMatchObject({
        code: 'MIGRATION_FAILED',
        message: expect.stringContaining('001_keep.sql has no 001_keep.down.sql'),
      });
      await sql().exec(`DROP TABLE ${tag}_keep`);
      const badSeed = migrationsDir({ 'seed.js': 'exports.nothing = 1;' });
      await expect(runSeeds(sql(), badSeed)).rejects.toMatchObject({
        code: 'SEED_FAILED',
        message: expect.stringContaining('seed.js exports neither'),
      });
    });

    test('a file not named NNN_name.sql is refused with INVALID_CONFIG', async () => {
      const dir = migrationsDir({ 'items.sql': 'SELECT 1;' });
      await expect(migrateApp(await open(), dir)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    });
  });
}
