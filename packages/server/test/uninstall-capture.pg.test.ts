/**
 * `syncline uninstall-capture` (issue 14): the built CLI removes every trigger
 * and function Syncline installed on the application's tables — also those of a
 * table no longer in TABLE_NAMES — and the tables are then plain tables again.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { limits } from './harness.js';

const available = await postgresAvailable();
const cli = resolve(import.meta.dirname, '../dist/cli.js');

describe.skipIf(!available)('syncline uninstall-capture (PostgreSQL)', () => {
  const schema = uniqueSchema('un');
  const app = `${schema}_app`;
  let sql: SqlClient;
  beforeAll(async () => {
    sql = await createPgClient({ connectionString: postgresUrl, poolSize: 2 });
    await sql.exec(`CREATE SCHEMA ${app};
      CREATE TABLE ${app}.posts (id serial PRIMARY KEY, title text);
      CREATE TABLE ${app}.tags (id text PRIMARY KEY);`);
  });
  afterAll(async () => {
    await sql?.exec(`DROP SCHEMA IF EXISTS ${app} CASCADE; DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql?.close();
  });

  const installed = async () => {
    const { rows: triggers } = await sql.query<{ tgname: string }>(
      `SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND NOT t.tgisinternal`,
      [app],
    );
    const { rows: functions } = await sql.query<{ proname: string }>(
      `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname LIKE 'capture\\_insert\\_%'`,
      [schema],
    );
    return { triggers: triggers.length, functions: functions.map((f) => f.proname) };
  };

  test('removes the triggers and generated functions of every captured table, and writes are no longer captured', async () => {
    const storage = new PostgresStorage(await createPgClient({ connectionString: postgresUrl, poolSize: 2 }), schema, limits, {
      names: ['posts', 'tags'],
      schema: app,
    });
    await storage.migrate();
    await sql.query(`INSERT INTO ${app}.posts (title) VALUES ('kept')`);
    await storage.close();
    expect(await installed()).toEqual({ triggers: 8, functions: ['capture_insert_posts', 'capture_insert_tags'] });

    // TABLE_NAMES now lists only one of them: both are uninstalled anyway.
    const run = spawnSync(process.execPath, [cli, 'uninstall-capture'], {
      env: {
        ...process.env,
        DATABASE_URL: postgresUrl,
        SYNCLINE_SCHEMA: schema,
        TABLE_NAMES: 'posts',
        SYNCLINE_TABLE_SCHEMA: app,
        LOG_LEVEL: 'warn',
      },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(`dropped trigger ${schema}_capture_insert on ${app}.posts`);
    expect(run.stdout).toContain(`dropped trigger ${schema}_capture_truncate on ${app}.tags`);
    expect(run.stdout).toContain('removed 8 trigger(s) and 2 function(s)');
    expect(await installed()).toEqual({ triggers: 0, functions: [] });

    // The tables are plain tables again: data kept, writes not logged.
    const count = async (t: string) => (await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.${t}`)).rows[0]?.n;
    const before = { changes: await count('changes'), markers: await count('open_tx') };
    await sql.query(`INSERT INTO ${app}.posts (title) VALUES ('after')`);
    await sql.query(`UPDATE ${app}.posts SET title = 'x'`);
    await sql.query(`INSERT INTO ${app}.tags (id) VALUES ('t')`);
    expect({ changes: await count('changes'), markers: await count('open_tx') }).toEqual(before);
    const { rows } = await sql.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${app}.posts`);
    expect(rows[0]?.n).toBe(2);

    // Running it again finds nothing to remove.
    const again = spawnSync(process.execPath, [cli, 'uninstall-capture'], {
      env: { ...process.env, DATABASE_URL: postgresUrl, SYNCLINE_SCHEMA: schema, LOG_LEVEL: 'warn' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('removed 0 trigger(s) and 0 function(s)');
  }, 120_000);
});
