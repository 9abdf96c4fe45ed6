/**
 * `syncline serve --demo` as `npm start` runs it, on a fresh data folder: the
 * demo's tables are created and seeded, browsers get the market page at `/`
 * and the dashboard at `/admin`, other callers the JSON index; the pages need
 * no token even with authentication configured. Needs apps/demo/dist (built by
 * `npm run build`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from '../../../test/free-port.js';
import { demoPaths } from '../src/app/demo.js';
import { registerStaticRoutes, sendIndexPage } from '../src/transport/static-routes.js';

const cli = resolve(import.meta.dirname, '../dist/cli.js');
describe('serve --demo', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'syncline-demo-'));
  let child: ChildProcess;
  let url: string;
  let log = '';
  let startedIn = 0;
  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    child = spawn(process.execPath, [cli, 'serve', '--demo'], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        SYNCLINE_DATA_DIR: dataDir,
        DATABASE_URL: '',
        POSTGRES_DATABASE_URL: '',
        POSTGRES_CONNECTION_STRING: '',
        // With authentication configured, the pages still need no token.
        JWT_SECRET: 'demo-serve-test-secret',
        ADMIN_TOKEN: 'demo-serve-admin-token',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (d) => {
      log += d;
    });
    child.stderr?.on('data', (d) => {
      log += d;
    });
    for (let i = 0; ; i++) {
      if (child.exitCode !== null || i > 600) throw new Error(`server did not start:\n${log}`);
      const ok = await fetch(`${url}/`, { headers: { accept: 'text/html' } }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    startedIn = Date.now() - t0;
  }, 120_000);
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.on('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  // How fast is a bench matter (startup figures), not a timed assertion: the load of the machine decides it here.
  test('a fresh folder is migrated and seeded, and the page is served', async () => {
    expect(startedIn).toBeGreaterThan(0);
    expect(log).toContain('migrations: 3/3 (100%) 003_product_update.sql');
    expect(log).toContain('for the demo,');
    expect(log).toContain('/admin for the dashboard');
    // The pages are public; the data behind them is not (no token: 401).
    const query = await fetch(`${url}/documents/product/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(query.status).toBe(401);
  });

  test('a second process on the same embedded data folder is refused (PGlite would be corrupted), naming the server', () => {
    const env = { ...process.env, SYNCLINE_DATA_DIR: dataDir, DATABASE_URL: '', POSTGRES_DATABASE_URL: '', POSTGRES_CONNECTION_STRING: '' };
    const r = spawnSync(process.execPath, [cli, 'seed', '--demo', '--reset'], { env, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`is in use by process ${child.pid}`);
  });

  test('/ is the market page for browsers and the JSON index for everyone else', async () => {
    const page = await fetch(`${url}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toContain('<div id="root">');
    const json = await fetch(`${url}/`);
    expect(json.headers.get('content-type')).toContain('application/json');
    expect(await json.json()).toMatchObject({ name: 'Syncline', adapter: 'pglite' });
  });

  test('/admin and /admin/ are the dashboard; hashed assets are cached for a year; sw.js is revalidated', async () => {
    for (const path of ['/admin', '/admin/']) {
      const r = await fetch(`${url}${path}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain('text/html');
      expect(await r.text()).toContain('/assets/');
    }
    const page = await (await fetch(`${url}/`, { headers: { accept: 'text/html' } })).text();
    const asset = /\/assets\/[^"]+\.js/.exec(page)?.[0] as string;
    expect(asset).toBeDefined();
    const a = await fetch(`${url}${asset}`);
    expect(a.status).toBe(200);
    expect(a.headers.get('content-type')).toContain('javascript');
    expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    if (existsSync(join(demoPaths.dist, 'sw.js'))) {
      const sw = await fetch(`${url}/sw.js`);
      expect(sw.status).toBe(200);
      expect(sw.headers.get('cache-control')).toBe('no-cache');
    }
    // Admin data still needs the admin token; a missing file is a plain 404.
    expect((await fetch(`${url}/stats`)).status).toBe(401);
    expect((await fetch(`${url}/assets/missing-file.js`)).status).toBe(404);
  });
});

describe('pages not built', () => {
  const empty = mkdtempSync(join(tmpdir(), 'syncline-nodist-'));
  afterAll(() => rmSync(empty, { recursive: true, force: true }));

  test('/admin and / (for browsers) say to run npm run build instead of failing', async () => {
    expect(readdirSync(empty)).toEqual([]);
    const app = Fastify();
    await registerStaticRoutes(app, { staticDir: empty }, empty);
    app.get('/', async (req, reply) => (sendIndexPage(req, reply, { staticDir: empty, demo: true }) ? reply : { json: true }));
    for (const [path, accept] of [
      ['/admin', '*/*'],
      ['/admin/', 'text/html'],
      ['/', 'text/html'],
    ] as const) {
      const r = await app.inject({ url: path, headers: { accept } });
      expect(r.statusCode).toBe(503);
      expect(r.headers['content-type']).toContain('text/html');
      expect(r.body).toContain('npm run build');
    }
    expect((await app.inject({ url: '/' })).json()).toEqual({ json: true });
    await app.close();
  });
});
