/** Seeds (app/seeds.ts) and the demo's seed, on a real server on embedded PGlite: rows written in SQL reach /sync subscribers. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { demoPaths } from '../src/app/demo.js';
import { runSeeds } from '../src/app/seeds.js';
import { startPgliteServer, type TestServer } from './server-harness.js';
import { Follower, until } from './sync-follower.js';

describe('seeds', () => {
  let t: TestServer;
  const dirs: string[] = [];
  beforeAll(async () => {
    // --demo: the demo's migrations run and its seed fills the empty tables at start.
    t = await startPgliteServer({ config: { demo: true } });
  });
  afterAll(async () => {
    await t?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const sql = () => t.server.storage.appSql();
  const count = async (table: string) => Number((await sql().query<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n);

  test('serve --demo creates the tables and seeds 8 categories and 60 deterministic products', async () => {
    expect([...t.server.storage.tableCollections].sort()).toEqual(['category', 'product']);
    expect(await count('category')).toBe(8);
    expect(await count('product')).toBe(60);
    const res = await fetch(`${t.url}/documents/product/00000000-0000-4000-8000-000000000009`);
    // Product 9 is the second of category 1, with the same name and price every time.
    expect(await res.json()).toMatchObject({ _id: '00000000-0000-4000-8000-000000000009', name: 'Bananas', category: 1 });
    const { rows } = await sql().query<{ name: string; ids: string }>(
      'SELECT c.name, count(p.id) AS ids FROM category c LEFT JOIN product p ON p.category = c.id GROUP BY c.id, c.name ORDER BY c.id',
    );
    expect(rows.map((r) => Number(r.ids))).toEqual([8, 8, 8, 8, 7, 7, 7, 7]);
  });

  test('a filled table is left alone; --reset with a count replaces it, and the SQL writes reach a /sync subscriber', async () => {
    const before = await sql().query<{ id: string; price: string }>('SELECT id, price::text FROM product ORDER BY id');
    const lines: string[] = [];
    await runSeeds(sql(), demoPaths.seeds, { log: (m) => lines.push(m) });
    expect(lines.join('\n')).toContain('left as they are');
    expect((await sql().query('SELECT id, price::text FROM product ORDER BY id')).rows).toEqual(before.rows);

    const f = new Follower(t.url);
    try {
      const sub = await f.subscribe({ collection: 'product' });
      expect(sub.ok).toBe(true);
      const ticks: number[] = [];
      await runSeeds(sql(), demoPaths.seeds, {
        reset: true,
        count: 1200,
        progress: () => ({ tick: (n = 1) => void ticks.push(n), done() {} }),
      });
      // Batches of 500: the bar moves three times.
      expect(ticks).toEqual([500, 500, 200]);
      expect(await count('product')).toBe(1200);
      // 60 deletes, then 1200 inserts, delivered by capture like any program's writes.
      await until(() => f.changes.filter((c) => c.type === 'insert').length === 1200, 15_000);
      expect(f.changes.filter((c) => c.type === 'delete')).toHaveLength(60);
      const last = f.changes.find((c) => c.docId === '00000000-0000-4000-8000-000000001200');
      expect(last).toMatchObject({ type: 'insert', collection: 'product' });
      expect(f.gaps).toBe(0);
    } finally {
      f.close();
    }
  });

  test('.sql seeds run in name order; a failing seed fails with SEED_FAILED naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'syncline-seeds-'));
    dirs.push(dir);
    writeFileSync(join(dir, '002_more.sql'), "INSERT INTO category (name) VALUES ('Second');");
    writeFileSync(join(dir, '001_first.sql'), "INSERT INTO category (name) VALUES ('First');");
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    expect(await runSeeds(sql(), dir)).toEqual(['001_first.sql', '002_more.sql']);
    const { rows } = await sql().query<{ id: number; name: string }>(
      "SELECT id, name FROM category WHERE name IN ('First', 'Second') ORDER BY id",
    );
    // The demo's seed moved the serial past its fixed ids 1..8.
    expect(rows.map((r) => [Number(r.id), r.name])).toEqual([
      [9, 'First'],
      [10, 'Second'],
    ]);

    // Seeds run every time: the same files again fail on the UNIQUE name.
    await expect(runSeeds(sql(), dir)).rejects.toMatchObject({ code: 'SEED_FAILED', details: { file: '001_first.sql' } });

    const bad = mkdtempSync(join(tmpdir(), 'syncline-seeds-'));
    dirs.push(bad);
    writeFileSync(join(bad, '001_bad.mjs'), 'export default async (ctx) => { await ctx.query("SELECT * FROM no_such_table"); };');
    const err = await runSeeds(sql(), bad).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SEED_FAILED', details: { file: '001_bad.mjs' } });
    expect((err as Error).message).toContain('no_such_table');
    writeFileSync(join(bad, '002_nodefault.mjs'), 'export const notDefault = 1;');
    rmSync(join(bad, '001_bad.mjs'));
    await expect(runSeeds(sql(), resolve(bad))).rejects.toMatchObject({ code: 'SEED_FAILED', details: { file: '002_nodefault.mjs' } });
  });
});
