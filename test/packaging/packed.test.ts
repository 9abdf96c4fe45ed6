/**
 * The SDK as a front-end developer installs it (issue 16.1): `npm pack` of
 * @syncline/protocol, @syncline/client and @syncline/react, then `npm install` of the tarballs
 * into an empty project in the system's temp folder, outside this repository.
 * In that project, against a live server:
 * - a Node script imports both packages by name and syncs through the server;
 * - TypeScript compiles a file that uses their types (NodeNext and bundler
 *   resolution; `@ts-expect-error` lines prove the types are not `any`);
 * - a page bundled by esbuild from the installed packages syncs in Chromium;
 * - a page with no bundler maps `@syncline/client` to the package's browser
 *   build (`@syncline/client/browser`) with an import map and syncs too;
 * - a React page bundled from the installed packages shows the data through
 *   @syncline/react's hooks.
 *
 * Offline: our packages come only from their tarballs (a missing dependency of
 * ours would send npm to the registry, which `--offline` refuses), third-party
 * dependencies are linked from this repository's node_modules.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startPgliteServer, type TestServer } from '../../packages/server/test/server-harness.js';
import { chromiumAvailable, chromiumPath } from '../services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGES = ['@syncline/protocol', '@syncline/client', '@syncline/react'];
/** What the test project itself uses besides our packages and their (peer) dependencies. */
const APP_EXTRAS = ['react-dom', '@types/react'];

/** Runs a command asynchronously (the server under test lives in this process); rejects with its output on failure. */
function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 90_000): Promise<string> {
  // npm run sets npm_* variables (npm_config_local_prefix...) that would point a nested npm at this repository.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_')));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}:\n${out}`)),
    );
  });
}

const NODE_SCRIPT = `
import { createClient, MemoryStore } from '@syncline/client';
import { parseFilter } from '@syncline/protocol';

const url = process.env.SYNCLINE_URL;
const writer = createClient({ url, store: new MemoryStore() });
const reader = createClient({ url, store: new MemoryStore() });
await writer.collection('packed').insert({ _id: 'node', title: 'from node' });
await writer.whenSynced();
const seen = await new Promise((resolve) => {
  const stop = reader.collection('packed').subscribe(undefined, (docs) => {
    if (docs.some((d) => d._id === 'node')) {
      stop();
      resolve(docs.map((d) => d._id));
    }
  });
});
let reason;
try {
  parseFilter({ title: { $regex: 'x' } });
} catch (e) {
  reason = e.reason;
}
await writer.close();
await reader.close();
console.log(JSON.stringify({
  client: import.meta.resolve('@syncline/client'),
  protocol: import.meta.resolve('@syncline/protocol'),
  seen,
  reason,
}));
`;

const TYPES_FILE = `
import { createClient, type Doc, MemoryStore, type SynclineClient } from '@syncline/client';
import { createClient as createBrowserClient } from '@syncline/client/browser';
import { type Filter, parseFilter } from '@syncline/protocol';
import { type QueryResult, SynclineProvider, useDocument, useQuery, useSyncStatus } from '@syncline/react';
import { createElement } from 'react';

const client: SynclineClient = createClient({ url: 'http://localhost:3000', store: new MemoryStore() });
const filter: Filter = parseFilter({ done: false });
export const found: Promise<Doc[]> = client.collection('todos').find(filter);
export const browser: SynclineClient = createBrowserClient({ url: 'http://localhost:3000', store: new MemoryStore() });
// @ts-expect-error the options need a url and a store
createClient({});
// @ts-expect-error subscribe's callback gets documents, not a number
client.collection('todos').subscribe(undefined, (n: number) => n);
export function Todos() {
  const list: QueryResult<{ title: string }> = useQuery<{ title: string }>('todos', { filter, sort: { title: 'asc' }, limit: 10 });
  const one = useDocument<{ title: string }>('todos', 't1');
  const state: 'online' | 'offline' | 'syncing' = useSyncStatus().state;
  // @ts-expect-error a sort direction is 1, -1, 'asc' or 'desc'
  useQuery('todos', { sort: { title: 'up' } });
  const titles: string[] = list.docs.map((d) => d.title);
  return createElement(SynclineProvider, { client }, [state, one.doc?.title, ...titles].join());
}
// @ts-expect-error no such export
import { notAnExport } from '@syncline/client';
export { notAnExport };
`;

/** The page's code: syncs collection `packed` and shows it as window.ids; `window.write(id)` inserts and waits until synced. */
const pageScript = (specifier: string) => `
import { createClient, IndexedDBStore } from '${specifier}';
const client = createClient({ url: location.origin, store: new IndexedDBStore({ name: 'packed-' + location.pathname }) });
const packed = client.collection('packed');
window.ids = [];
packed.subscribe(undefined, (docs) => { window.ids = docs.map((d) => d._id); });
window.write = async (id) => { await packed.insert({ _id: id, title: 'from ' + location.pathname }); await client.whenSynced(); };
`;

/** A React app on @syncline/react: the ids as list items (window.ids reads them from the DOM), the sync state. */
const REACT_PAGE = `
import { createClient, MemoryStore } from '@syncline/client';
import { SynclineProvider, useQuery, useSyncStatus } from '@syncline/react';
import { createElement as h } from 'react';
import { createRoot } from 'react-dom/client';

const client = createClient({ url: location.origin, store: new MemoryStore() });
function App() {
  const { docs, loading } = useQuery('packed', { sort: { _id: 'desc' } });
  const status = useSyncStatus();
  if (loading) return h('p', null, 'loading');
  return h('div', null, h('p', { id: 'status' }, status.state), h('ul', null, docs.map((d) => h('li', { key: d._id }, d._id))));
}
createRoot(document.getElementById('root')).render(h(SynclineProvider, { client }, h(App)));
Object.defineProperty(window, 'ids', {
  get: () => (document.querySelector('ul') ? [...document.querySelectorAll('li')].map((li) => li.textContent) : undefined),
});
window.write = async (id) => { await client.collection('packed').insert({ _id: id }); await client.whenSynced(); };
`;

const html = (head: string, body: string) => `<!doctype html><html><head><meta charset="utf-8">${head}</head><body>${body}</body></html>`;

const run_ = chromiumAvailable();

describe.runIf(run_)('the packed packages, installed outside the repository', () => {
  let work: string;
  let app: string;
  let srv: TestServer;
  let browser: Browser | undefined;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'syncline-packed-'));
    app = join(work, 'app');
    mkdirSync(app);
    const workspaces = PACKAGES.flatMap((p) => ['-w', p]);
    const packed = JSON.parse(
      await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work, ...workspaces], root),
    ) as { name: string; filename: string; files: { path: string }[] }[];
    const dependencies: Record<string, string> = {};
    const external = new Set(APP_EXTRAS);
    for (const p of packed) {
      dependencies[p.name] = `file:../${p.filename}`;
      const manifest = JSON.parse(readFileSync(join(root, 'node_modules', p.name, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
      };
      for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies })) {
        if (!dep.startsWith('@syncline/')) external.add(dep);
      }
    }
    for (const dep of external) dependencies[dep] = `file:${join(root, 'node_modules', dep)}`;
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'packed-app', private: true, type: 'module', dependencies }));
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', '--loglevel=error'], app);
    srv = await startPgliteServer();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('each tarball holds its build and types, not the build info', () => {
    for (const name of PACKAGES) {
      const dir = join(app, 'node_modules', name);
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, { types: string }> };
      for (const entry of Object.values(manifest.exports)) expect(readFileSync(join(dir, entry.types), 'utf8')).toContain('export');
      expect(() => readFileSync(join(dir, 'dist/.tsbuildinfo'))).toThrow();
    }
  });

  test('a Node script imports them by name from the install and syncs through the server', async () => {
    const script = join(app, 'node-check.mjs');
    writeFileSync(script, NODE_SCRIPT);
    const out = JSON.parse(await run(process.execPath, [script], app, { SYNCLINE_URL: srv.url }, 60_000)) as Record<string, unknown>;
    // Resolved inside the temporary project, never from this repository's workspace.
    expect(out.client).toBe(`file://${app}/node_modules/@syncline/client/dist/index.js`);
    expect(out.protocol).toBe(`file://${app}/node_modules/@syncline/protocol/dist/index.js`);
    expect(out.seen).toContain('node');
    expect(out.reason).toBe('UNKNOWN_OPERATOR');
  }, 90_000);

  test.each(['NodeNext', 'Bundler'])(
    'TypeScript (%s resolution) compiles against the installed types',
    async (resolution) => {
      writeFileSync(join(app, 'check.ts'), TYPES_FILE);
      const tsconfig = join(app, `tsconfig.${resolution}.json`);
      const module = resolution === 'NodeNext' ? 'NodeNext' : 'ESNext';
      writeFileSync(
        tsconfig,
        JSON.stringify({
          compilerOptions: {
            module,
            moduleResolution: resolution,
            target: 'ES2022',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: [],
          },
          files: ['check.ts'],
        }),
      );
      await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], app);
    },
    90_000,
  );

  describe('in Chromium', () => {
    let files: Record<string, { body: string; type: string }>;

    beforeAll(async () => {
      // A page bundled from the installed packages, as an app's bundler would.
      const bundled = await build({
        stdin: { contents: pageScript('@syncline/client'), resolveDir: app, sourcefile: 'page.js', loader: 'js' },
        absWorkingDir: app,
        bundle: true,
        write: false,
        platform: 'browser',
        format: 'esm',
        logLevel: 'silent',
      });
      const react = await build({
        stdin: { contents: REACT_PAGE, resolveDir: app, sourcefile: 'react-page.js', loader: 'js' },
        absWorkingDir: app,
        bundle: true,
        write: false,
        platform: 'browser',
        format: 'esm',
        define: { 'process.env.NODE_ENV': '"production"' },
        logLevel: 'silent',
      });
      const browserBuild = readFileSync(join(app, 'node_modules/@syncline/client/dist/browser/syncline-client.js'), 'utf8');
      const js = 'text/javascript';
      files = {
        '/packed/bundled.html': { body: html('<script type="module" src="/packed/bundled.js"></script>', ''), type: 'text/html' },
        '/packed/bundled.js': { body: bundled.outputFiles[0]!.text, type: js },
        '/packed/importmap.html': {
          body: html(
            '<script type="importmap">{"imports": {"@syncline/client": "/packed/syncline-client.js"}}</script>' +
              `<script type="module">${pageScript('@syncline/client')}</script>`,
            '',
          ),
          type: 'text/html',
        },
        '/packed/syncline-client.js': { body: browserBuild, type: js },
        '/packed/react.html': {
          body: html('<script type="module" src="/packed/react.js"></script>', '<div id="root"></div>'),
          type: 'text/html',
        },
        '/packed/react.js': { body: react.outputFiles[0]!.text, type: js },
      };
      browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
      });
    }, 60_000);

    /** Opens one of the pages on the server's origin (served by the test, so no CORS is involved). */
    async function open(path: string): Promise<Page> {
      const page = await browser!.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.route(`${srv.url}/packed/**`, (route) => {
        const file = files[new URL(route.request().url()).pathname];
        return file ? route.fulfill({ body: file.body, contentType: file.type }) : route.fulfill({ status: 404 });
      });
      await page.goto(`${srv.url}${path}`);
      await page
        .waitForFunction(() => Array.isArray((window as { ids?: unknown }).ids), undefined, { timeout: 45_000 })
        .catch(() => {
          throw new Error(`the page did not start: ${errors.join('; ') || 'no page error'}`);
        });
      return page;
    }

    const sees = (page: Page, ids: string[]) =>
      page.waitForFunction((want) => want.every((id) => (window as unknown as { ids: string[] }).ids.includes(id)), ids, {
        timeout: 45_000,
      });

    test('a bundled page, an import-map page (no bundler) and a React page sync with the server and each other', async () => {
      const bundled = await open('/packed/bundled.html');
      await sees(bundled, ['node']);
      await bundled.evaluate(() => (window as unknown as { write(id: string): Promise<void> }).write('bundled'));

      const mapped = await open('/packed/importmap.html');
      await sees(mapped, ['node', 'bundled']);
      await mapped.evaluate(() => (window as unknown as { write(id: string): Promise<void> }).write('importmap'));
      await sees(bundled, ['importmap']);

      // React: the hooks render the live list (newest id first) and follow a write from another page.
      const reactPage = await open('/packed/react.html');
      await sees(reactPage, ['node', 'bundled', 'importmap']);
      await reactPage.evaluate(() => (window as unknown as { write(id: string): Promise<void> }).write('react'));
      await sees(bundled, ['react']);
      await bundled.evaluate(() => (window as unknown as { write(id: string): Promise<void> }).write('zz-last'));
      await reactPage.waitForFunction(() => document.querySelector('li')?.textContent === 'zz-last', undefined, { timeout: 45_000 });
      expect(await reactPage.locator('#status').textContent()).toMatch(/online|syncing/);

      const res = await fetch(`${srv.url}/documents/packed/importmap`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ _id: 'importmap', title: 'from /packed/importmap.html' });
    });
  });
});
