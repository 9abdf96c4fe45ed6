/**
 * Issue 14: capture and sequencing that cost other programs' writes nothing.
 * - A transaction of another program commits without waiting for the
 *   positions lock (or a NOTIFY): the server's sweep sequences it afterwards.
 * - A database created by an earlier release is upgraded in place (migration 4).
 * - Sequencing and the feed never JIT-compile, whatever the planner estimates.
 * - The marker queue `open_tx` is vacuumed by the server itself (this machine's
 *   PostgreSQL runs with autovacuum off).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { migrations } from '../src/storage/migrations.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { freshCollection, type Harness, limits, postgresHarness } from './harness.js';

const available = await postgresAvailable();

/** Resolves with fn's value, or rejects after ms (the operation may still be running). */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!available)('sequencing of other programs’ transactions (PostgreSQL)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await postgresHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  test('a transaction of another program commits while the positions lock is held, and is sequenced after it is released', async () => {
    const c = freshCollection();
    const holder = new pg.Client({ connectionString: postgresUrl });
    const writer = new pg.Client({ connectionString: postgresUrl });
    await holder.connect();
    await writer.connect();
    try {
      // A sequencing pass that takes long: it holds the lock every sequencer takes.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`${h.schema}.positions`]);
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${h.schema}.documents (collection, id, data) VALUES ($1, 'x', '{"a":1}')`, [c]);
      // Before migration 4 this COMMIT waited for the lock (and sent a NOTIFY inside the commit).
      await within(5_000, 'COMMIT of an external transaction', writer.query('COMMIT'));
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
      await writer.end();
    }
    const since = 0;
    const change = await until('the sweep to sequence the external commit', async () => {
      const page = await h.storage.getChanges({ since, limit: 1000 });
      return page.operations.find((o) => o.collection === c);
    });
    expect(change).toMatchObject({ docId: 'x', type: 'insert', source: 'database', data: { a: 1 } });
  });

  test('no trigger sequences at commit: open_tx has no trigger, and the upgraded schema records migration 4', async () => {
    const { rows } = await h.sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = '${h.schema}.open_tx'::regclass AND NOT tgisinternal`,
    );
    expect(rows[0]?.n).toBe(0);
  });

  test('sequencing and the feed never JIT-compile, even where the planner would (jit_above_cost = 0)', async () => {
    const c = freshCollection();
    await h.sql.query(`INSERT INTO ${h.schema}.documents (collection, id) SELECT $1, 'd' || g FROM generate_series(1, 5) g`, [c]);
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    const logs: string[] = [];
    client.on('notice', (n) => logs.push(n.message ?? ''));
    try {
      // auto_explain reports every nested statement's plan, with a "JIT:" section when it was compiled.
      await client.query(`LOAD 'auto_explain'`);
      await client.query(
        'SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET client_min_messages = log; SET jit_above_cost = 0; SET jit = on',
      );
      const top = [
        `SELECT ${h.schema}.sequence_pending()`,
        `SELECT * FROM ${h.schema}.sequence(ARRAY[]::xid8[])`,
        `SELECT * FROM ${h.schema}.changes_after(0, 100)`,
      ];
      for (const sql of top) await client.query(sql);
      const nested = logs.filter((l) => !top.some((t) => l.includes(`Query Text: ${t}`)));
      // The functions' statements were reported (auto_explain works here)...
      expect(nested.some((l) => l.includes('open_tx'))).toBe(true);
      expect(nested.some((l) => l.includes('changes'))).toBe(true);
      // ...and none was compiled.
      expect(nested.filter((l) => l.includes('JIT:'))).toEqual([]);
    } finally {
      await client.end();
    }
  });

  test('the server vacuums the marker queue itself when autovacuum is off', async () => {
    const t = `${h.schema}.open_tx`;
    await h.sql.exec(`ALTER TABLE ${t} SET (autovacuum_enabled = false)`);
    const vacuums = async () => {
      const { rows } = await h.sql.query<{ v: string }>(`SELECT pg_stat_get_vacuum_count('${t}'::regclass) AS v`);
      return Number(rows[0]?.v ?? 0);
    };
    const before = await vacuums();
    // A churned history: 20,000 markers in and out (ids far beyond any real transaction's).
    await h.sql.exec(`INSERT INTO ${t} (tx, api) SELECT (g + 4000000000000)::text::xid8, false FROM generate_series(1, 20000) g;
                      DELETE FROM ${t} WHERE tx >= '4000000000000'::xid8`);
    // (How many dead rows it can remove depends on the oldest snapshot of the whole server, not on us.)
    await until('the sweeper to vacuum open_tx', async () => (await vacuums()) > before, 20_000);
  }, 30_000);
});

describe.skipIf(!available)('upgrade in place to migration 4 (PostgreSQL)', () => {
  const schema = uniqueSchema('up');
  let sql: SqlClient;
  let storage: PostgresStorage | undefined;
  beforeAll(async () => {
    sql = await createPgClient({ connectionString: postgresUrl, poolSize: 4 });
  });
  afterAll(async () => {
    await storage?.close();
    await sql?.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sql?.close();
  });

  test('a database of migrations 1-2: the commit-time trigger goes, and external commits get positions from the server', async () => {
    // The schema as the first release left it.
    await sql.exec(`CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());`);
    for (const m of migrations.filter((x) => x.version <= 2)) {
      await sql.exec(m.sql(schema));
      await sql.query(`INSERT INTO ${schema}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
    }
    const triggers = async () =>
      (
        await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = '${schema}.open_tx'::regclass AND tgname = 'assign_positions'`,
        )
      ).rows[0]?.n;
    expect(await triggers()).toBe(1);
    storage = new PostgresStorage(await createPgClient({ connectionString: postgresUrl, poolSize: 4 }), schema, limits);
    const applied = await storage.migrate();
    expect(applied).toContain(4);
    expect(await triggers()).toBe(0);

    // After the upgrade, an external commit is sequenced by the server, not by itself.
    await sql.query(`INSERT INTO ${schema}.documents (collection, id, data) VALUES ('up', 'b', '{"n":2}')`);
    const page = await until('the external commit to be sequenced', async () => {
      const p = await storage?.getChanges({ since: 0, limit: 100 });
      return p?.operations.some((o) => o.docId === 'b') ? p : undefined;
    });
    expect(page.operations.filter((o) => o.collection === 'up').map((o) => o.docId)).toContain('b');
  });
});
