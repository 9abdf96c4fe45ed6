/** The built CLI as a user runs it: `syncline serve` (graceful SIGTERM), `syncline migrate`, bad config. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { freePort } from '../../../test/free-port.js';

const cli = resolve(import.meta.dirname, '../dist/cli.js');
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'syncline-cli-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function waitForHealth(url: string, child: ChildProcess): Promise<Response> {
  for (let i = 0; i < 900; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    try {
      return await fetch(`${url}/health`);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('server did not start');
}

describe('syncline CLI', () => {
  test('serve starts on embedded storage, persists to SYNCLINE_DATA_DIR, and stops cleanly on SIGTERM', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const env = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      SYNCLINE_DATA_DIR: dataDir,
      DATABASE_URL: '',
      POSTGRES_DATABASE_URL: '',
      POSTGRES_CONNECTION_STRING: '',
      LOG_LEVEL: 'info',
    };
    const url = `http://127.0.0.1:${port}`;
    const start = () => spawn(process.execPath, [cli, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });

    let child = start();
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    const health = await waitForHealth(url, child);
    expect(await health.json()).toMatchObject({ status: 'ok', adapter: 'pglite' });
    const push = await fetch(`${url}/operations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'cli',
        operations: [{ id: 'cli-op-1', type: 'insert', collection: 'notes', docId: 'n1', data: { text: 'hi' } }],
      }),
    });
    expect(push.status).toBe(200);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('SIGTERM: shutting down');

    child = start();
    await waitForHealth(url, child);
    const doc = await fetch(`${url}/documents/notes/n1`);
    expect(await doc.json()).toEqual({ _id: 'n1', _rev: 1, text: 'hi' });
    const exited2 = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited2).toBe(0);
  }, 180_000);

  test('migrate applies the schema once', () => {
    const dataDir = tempDir();
    const env = { ...process.env, SYNCLINE_DATA_DIR: dataDir, DATABASE_URL: '', POSTGRES_DATABASE_URL: '', POSTGRES_CONNECTION_STRING: '' };
    const first = spawnSync(process.execPath, [cli, 'migrate'], { env, encoding: 'utf8' });
    expect(first.status).toBe(0);
    expect(first.stdout).toContain('applied migrations: 1');
    const second = spawnSync(process.execPath, [cli, 'migrate'], { env, encoding: 'utf8' });
    expect(second.stdout).toContain('schema is up to date');
  }, 120_000);

  test("migrate, seed and rollback a Knex project (the reference's migrations/ and seeds/)", () => {
    const dataDir = tempDir();
    const project = tempDir();
    const file = (path: string, text: string) => {
      mkdirSync(join(project, path, '..'), { recursive: true });
      writeFileSync(join(project, path), text);
    };
    file(
      'migrations/20200420163023_product.js',
      "exports.up = (knex) => knex.schema.createTable('product', (t) => { t.increments(); t.string('name').notNullable(); });\nexports.down = (knex) => knex.schema.dropTable('product');\n",
    );
    file(
      'migrations/20200420163030_category.js',
      "exports.up = (knex) => knex.schema.createTable('category', (t) => { t.increments(); t.string('name'); });\nexports.down = (knex) => knex.schema.dropTable('category');\n",
    );
    file(
      'migrations/20200420170000_product_update.js',
      "exports.up = (knex) => knex.schema.table('product', (t) => { t.integer('category_id').unsigned().references('id').inTable('category'); });\nexports.down = (knex) => knex.schema.table('product', (t) => { t.dropForeign('category_id'); t.dropColumn('category_id'); });\n",
    );
    file(
      'seeds/seed_categories.js',
      "exports.seed = (knex) => knex('category').del().then(() => knex('category').insert([{ id: 1, name: 'Fruit' }, { id: 2, name: 'Vegetables' }]));\n",
    );
    const env = {
      ...process.env,
      SYNCLINE_DATA_DIR: dataDir,
      SYNCLINE_MIGRATIONS_DIR: join(project, 'migrations'),
      SYNCLINE_SEEDS_DIR: join(project, 'seeds'),
      DATABASE_URL: '',
      POSTGRES_DATABASE_URL: '',
      POSTGRES_CONNECTION_STRING: '',
    };
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', cwd: project });
    const migrate = run('migrate');
    expect(migrate.status, migrate.stderr).toBe(0);
    expect(migrate.stdout).toContain(
      'applied application migrations: 20200420163023_product, 20200420163030_category, 20200420170000_product_update',
    );
    const seed = run('seed');
    expect(seed.status, seed.stderr).toBe(0);
    expect(seed.stdout).toContain('ran seeds: seed_categories.js');
    const back = run('rollback', '--steps', '2');
    expect(back.status, back.stderr).toBe(0);
    expect(back.stdout).toContain('rolled back: 20200420170000_product_update, 20200420163030_category');
    const again = run('migrate');
    expect(again.stdout).toContain('applied application migrations: 20200420163030_category, 20200420170000_product_update');
    const bad = run('rollback', '--steps', 'all');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--steps');
  }, 180_000);

  test('seed --demo migrates and seeds with progress lines (not a terminal), leaves a filled table alone; compact reports progress', () => {
    const dataDir = tempDir();
    const env = { ...process.env, SYNCLINE_DATA_DIR: dataDir, DATABASE_URL: '', POSTGRES_DATABASE_URL: '', POSTGRES_CONNECTION_STRING: '' };
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
    const seed = run('seed', '--demo', '--count', '3000');
    expect(seed.status, seed.stderr).toBe(0);
    expect(seed.stdout).toContain('ran seeds: 001_market.mjs');
    // A line per migration, naming it, then the seed's bar about every 10% (batches of 500) and at the end.
    expect(seed.stderr).toContain('migrations: 1/3 (33%) 001_product.sql');
    expect(seed.stderr).toContain('migrations: 3/3 (100%) 003_product_update.sql');
    const bar = seed.stderr.split('\n').filter((l) => l.startsWith('seed 001_market.mjs:'));
    expect(bar).toEqual([
      'seed 001_market.mjs: 500/3000 (16%)',
      'seed 001_market.mjs: 1000/3000 (33%)',
      'seed 001_market.mjs: 1500/3000 (50%)',
      'seed 001_market.mjs: 2000/3000 (66%)',
      'seed 001_market.mjs: 2500/3000 (83%)',
      'seed 001_market.mjs: 3000/3000 (100%) done',
    ]);
    expect(seed.stderr).toContain('seeded 8 categories and 3000 products');

    const again = run('seed', '--demo');
    expect(again.status).toBe(0);
    expect(again.stderr).toContain('product has 3000 rows: left as they are');
    expect(again.stderr).not.toContain('migrations:');

    const compact = run('compact', '--older-than-days', '0');
    expect(compact.status, compact.stderr).toBe(0);
    const result = JSON.parse(compact.stdout) as { message: string; deletedChanges: number; horizon: number };
    expect(result.message).toBe('Compaction completed');
    // The categories' insert, the six product batches: one change row per statement.
    expect(result.deletedChanges).toBeGreaterThanOrEqual(7);
    expect(compact.stderr).toMatch(/^compact: \d+\/\d+ \(100%\) done$/m);

    const bad = run('compact', '--older-than-days', 'soon');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('--older-than-days');
  }, 180_000);

  test('invalid configuration fails at start with every problem named', () => {
    const r = spawnSync(process.execPath, [cli, 'serve', '--port', 'abc'], {
      env: { ...process.env, SYNCLINE_MAX_OPERATIONS: '0', DATABASE_URL: 'mysql://nope' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Invalid configuration');
    expect(r.stderr).toContain('--port="abc": expected a whole number from 0 to 65535');
    expect(r.stderr).toContain('SYNCLINE_MAX_OPERATIONS="0"');
    expect(r.stderr).toContain('DATABASE_URL="mysql://nope"');
  });
});
