/**
 * The market demo in Chromium at 20,000 products vs 60 (issue 15.4), in the same run.
 *
 *   demo-scale  Two demo servers in this process (`serve --demo` on embedded PGlite, each in its own temporary
 *           folder, seeded with 60 and 20,000 products), Debian's Chromium through playwright-core
 *           (1280×800 pages, each in a fresh browser context: an empty IndexedDB replica). Measured per size:
 *           - first rows: navigation start → the first product row in the DOM (median of `loads` fresh pages);
 *           - usable page: navigation start → the first rows shown and a click on the first row's Edit opened
 *             its form (the page answers while the initial sync still runs; median of the same loads);
 *           - every product synced (information: the initial sync's time grows with the data, see client-sync):
 *             navigation start → the list's data-total is the product count and the connection online;
 *           - edit A → B: two pages open on the same server; A opens a row's edit form, types a price, and the
 *             time from the Save click to B showing the new price (polled every 5 ms), p50 and p99 of `edits`;
 *             the edit form's opening and A showing its own saved price are in the details.
 *           The loads and the edits alternate between the sizes, so background load hits both alike.
 *           Target each figure at 20,000 ≤ 1.5× the same figure at 60.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type SynclineServer } from '@syncline/server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { freePort, now, ROOT, round } from './harness.js';
import { failed, type Result, result } from './report.js';

export interface DemoScaleConfig {
  small: number;
  large: number;
  /** Fresh page loads per size. */
  loads: number;
  /** Edits per size. */
  edits: number;
  timeoutMs: number;
  log: (msg: string) => void;
}

const TARGET = 1.5;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const VIEWPORT = { width: 1280, height: 800 };

const median = (xs: number[]) => percentile(xs, 0.5);
/** Nearest rank. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)] as number;
}

interface Demo {
  n: number;
  server: SynclineServer;
  dir: string;
  url: string;
}

async function startDemo(n: number): Promise<Demo> {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-bench-demo-'));
  const port = await freePort();
  // The demo's seed reads SEED_PRODUCTS while the server starts.
  const before = process.env.SEED_PRODUCTS;
  process.env.SEED_PRODUCTS = String(n);
  try {
    const server = await createServer({ demo: true, dataDir: dir, port, host: '127.0.0.1', logLevel: 'warn', env: {} });
    await server.listen();
    return { n, server, dir, url: `http://127.0.0.1:${port}` };
  } finally {
    if (before === undefined) delete process.env.SEED_PRODUCTS;
    else process.env.SEED_PRODUCTS = before;
  }
}

async function stopDemo(d: Demo | undefined): Promise<void> {
  if (!d) return;
  await d.server.close();
  rmSync(d.dir, { recursive: true, force: true });
}

/** Every product synced, the connection online. */
function waitSynced(page: Page, n: number, timeout: number) {
  return page.waitForFunction(
    (n) => {
      const list = document.querySelector('[data-testid="product-list"]') as HTMLElement | null;
      const state = document.querySelector('[data-testid="connection-state"]')?.textContent?.trim();
      return list !== null && Number(list.dataset.total) === n && state === 'online';
    },
    n,
    { timeout, polling: 20 },
  );
}

const firstRow = (page: Page) => page.locator('[data-testid="product-row"]').first();

/** Clicks Edit on the first row and waits for its form; returns the ms it took. */
async function openEdit(page: Page, timeout: number): Promise<{ id: string; ms: number }> {
  const row = firstRow(page);
  const id = (await row.getAttribute('data-product-id')) as string;
  const t0 = now();
  await row.locator('[data-testid="edit"]').click({ timeout });
  await page.locator('[data-testid="edit-price"]').waitFor({ timeout });
  return { id, ms: now() - t0 };
}

interface Load {
  first: number;
  usable: number;
  synced: number;
}

/** One fresh page: navigation → first rows → usable (the edit form opens) → every product synced. */
async function load(browser: Browser, d: Demo, timeout: number): Promise<Load> {
  const ctx = await browser.newContext({ viewport: VIEWPORT });
  try {
    const page = await ctx.newPage();
    const t0 = now();
    await page.goto(`${d.url}/`, { waitUntil: 'commit', timeout });
    await page.waitForSelector('[data-testid="product-row"]', { timeout });
    const first = now() - t0;
    await openEdit(page, timeout);
    const usable = now() - t0;
    await waitSynced(page, d.n, timeout);
    const synced = now() - t0;
    return { first, usable, synced };
  } finally {
    await ctx.close();
  }
}

interface Pair {
  d: Demo;
  a: Page;
  b: Page;
  close(): Promise<void>;
}

async function openPair(browser: Browser, d: Demo, timeout: number): Promise<Pair> {
  const ca = await browser.newContext({ viewport: VIEWPORT });
  const cb = await browser.newContext({ viewport: VIEWPORT });
  const a = await ca.newPage();
  const b = await cb.newPage();
  await Promise.all([a.goto(`${d.url}/`, { timeout }), b.goto(`${d.url}/`, { timeout })]);
  await Promise.all([waitSynced(a, d.n, timeout), waitSynced(b, d.n, timeout)]);
  const close = async () => {
    await ca.close();
    await cb.close();
  };
  return { d, a, b, close };
}

const priceIs = (page: Page, id: string, price: string, timeout: number) =>
  page.waitForFunction(
    ([id, price]) =>
      document.querySelector(`[data-testid="product-row"][data-product-id="${id}"] [data-testid="product-price"]`)?.textContent === price,
    [id, price] as const,
    { timeout, polling: 5 },
  );

/** A edits the first row's price; ms to open the form, to see it in A, and in B (both from the Save click). */
async function editOnce(p: Pair, i: number, timeout: number): Promise<{ open: number; local: number; remote: number }> {
  const { id, ms: open } = await openEdit(p.a, timeout);
  // A price no earlier edit set (seeded prices are below 50).
  const price = (100 + i * 0.01).toFixed(2);
  await p.a.locator('[data-testid="edit-price"]').fill(price, { timeout });
  const t0 = now();
  await p.a.locator('[data-testid="edit-save"]').click({ timeout });
  const remote = priceIs(p.b, id, price, timeout).then(() => now() - t0);
  await priceIs(p.a, id, price, timeout);
  const local = now() - t0;
  return { open, local, remote: await remote };
}

export async function demoScale(cfg: DemoScaleConfig): Promise<Result[]> {
  const k = (n: number) => (n >= 1000 ? `${n / 1000}k` : String(n));
  const vs = `${k(cfg.large)} vs ${k(cfg.small)} products`;
  const names = {
    first: `demo-scale time to first rows, ${vs}`,
    usable: `demo-scale time to a usable page, ${vs}`,
    p50: `demo-scale edit in A → visible in B p50, ${vs}`,
    p99: `demo-scale edit in A → visible in B p99, ${vs}`,
    open: `demo-scale open the edit form p50, ${vs}`,
    synced: `demo-scale every product synced (info), ${vs}`,
  };
  const withTarget = (r: Result): Result => ({ ...r, target: TARGET, targetLabel: `≤ ${TARGET.toFixed(1)}×`, pass: r.ratio <= TARGET });
  let small: Demo | undefined;
  let large: Demo | undefined;
  let browser: Browser | undefined;
  try {
    if (!existsSync(join(ROOT, 'apps/demo/dist/index.html'))) throw new Error('apps/demo/dist is missing: run `npm run build` first');
    if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (CHROMIUM_PATH)`);
    cfg.log(`demo-scale: seeding demo servers with ${cfg.small} and ${cfg.large.toLocaleString('en-US')} products (PGlite)`);
    small = await startDemo(cfg.small);
    large = await startDemo(cfg.large);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const demos = [small, large] as const;

    // Warm-up: one load each (the server's first requests, Chromium's code cache for the bundle).
    for (const d of demos) await load(browser, d, cfg.timeoutMs);
    const loads = new Map<number, Load[]>(demos.map((d) => [d.n, []]));
    for (let r = 0; r < cfg.loads; r++) {
      for (const d of r % 2 === 0 ? demos : [...demos].reverse()) {
        const l = await load(browser, d, cfg.timeoutMs);
        loads.get(d.n)?.push(l);
        cfg.log(
          `  load ${r + 1}/${cfg.loads}, ${k(d.n)}: first rows ${l.first.toFixed(0)} ms, usable ${l.usable.toFixed(0)} ms, ` +
            `synced ${l.synced.toFixed(0)} ms`,
        );
      }
    }

    const pairs = [await openPair(browser, small, cfg.timeoutMs), await openPair(browser, large, cfg.timeoutMs)];
    const edits = new Map<number, { open: number; local: number; remote: number }[]>(demos.map((d) => [d.n, []]));
    try {
      for (const p of pairs) await editOnce(p, 0, cfg.timeoutMs); // warm-up
      for (let i = 1; i <= cfg.edits; i++) {
        for (const p of i % 2 === 0 ? pairs : [...pairs].reverse()) edits.get(p.d.n)?.push(await editOnce(p, i, cfg.timeoutMs));
      }
    } finally {
      for (const p of pairs) await p.close();
    }

    const of = <T>(m: Map<number, T[]>, n: number) => m.get(n) ?? [];
    const pick = <T>(xs: T[], f: (x: T) => number) => xs.map(f);
    const ls = of(loads, cfg.small);
    const ll = of(loads, cfg.large);
    const es = of(edits, cfg.small);
    const el = of(edits, cfg.large);
    const details = (f: (x: { open: number; local: number; remote: number }) => number) => ({
      small: cfg.small,
      large: cfg.large,
      edits: cfg.edits,
      smallMs: pick(es, f).map((x) => round(x, 1)),
      largeMs: pick(el, f).map((x) => round(x, 1)),
    });
    const loadDetails = (f: (x: Load) => number) => ({
      small: cfg.small,
      large: cfg.large,
      loads: cfg.loads,
      smallMs: pick(ls, f).map((x) => round(x, 1)),
      largeMs: pick(ll, f).map((x) => round(x, 1)),
    });
    const first = (x: { first: number }) => x.first;
    const usable = (x: { usable: number }) => x.usable;
    const synced = (x: { synced: number }) => x.synced;
    const remote = (x: { remote: number }) => x.remote;
    const open = (x: { open: number }) => x.open;
    const local = (x: { local: number }) => x.local;
    cfg.log(
      `  edits (${cfg.edits} each), p50 ${k(cfg.small)} / ${k(cfg.large)}: open form ${median(pick(es, open)).toFixed(1)} / ${median(pick(el, open)).toFixed(1)} ms; ` +
        `in A ${median(pick(es, local)).toFixed(1)} / ${median(pick(el, local)).toFixed(1)} ms; ` +
        `in B ${median(pick(es, remote)).toFixed(1)} / ${median(pick(el, remote)).toFixed(1)} ms`,
    );
    return [
      withTarget(result(names.first, median(pick(ll, first)), 'ms', median(pick(ls, first)), 'ms', null, loadDetails(first))),
      withTarget(result(names.usable, median(pick(ll, usable)), 'ms', median(pick(ls, usable)), 'ms', null, loadDetails(usable))),
      result(names.synced, median(pick(ll, synced)), 'ms', median(pick(ls, synced)), 'ms', null, loadDetails(synced)),
      withTarget(
        result(names.p50, median(pick(el, remote)), 'ms', median(pick(es, remote)), 'ms', null, {
          ...details(remote),
          localP50: { small: round(median(pick(es, local)), 1), large: round(median(pick(el, local)), 1) },
        }),
      ),
      withTarget(
        result(names.p99, percentile(pick(el, remote), 0.99), 'ms', percentile(pick(es, remote), 0.99), 'ms', null, details(remote)),
      ),
      withTarget(result(names.open, median(pick(el, open)), 'ms', median(pick(es, open)), 'ms', null, details(open))),
    ];
  } catch (err) {
    cfg.log(`  demo-scale: ${(err as Error).stack ?? String(err)}`);
    return Object.entries(names).map(([key, name]) =>
      key === 'synced'
        ? failed(name, 'ms', 'ms', null, err)
        : { ...failed(name, 'ms', 'ms', TARGET, err), targetLabel: `≤ ${TARGET.toFixed(1)}×` },
    );
  } finally {
    await browser?.close();
    await stopDemo(small);
    await stopDemo(large);
  }
}
