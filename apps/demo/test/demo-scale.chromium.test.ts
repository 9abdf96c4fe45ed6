/**
 * The market demo with 20,000 products in real Chromium: the first rows show,
 * the list stays windowed (a bounded number of rows in the DOM, also after
 * scrolling to the end), and an edit in one page reaches the other page.
 * Timings are measured in `npm run bench -- --only=demo-scale`, not here.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumAvailable } from '../../../test/services.js';
import { DemoServer, launchChromium, screenshot } from './browser.js';
import { byTestId, edit, eventually, row, rows } from './market-page.js';

const run = chromiumAvailable();
const PRODUCTS = 20_000;
/** The visible rows plus the overscan, far below the product count. */
const MAX_DOM_ROWS = 200;
// A loaded 2-core machine syncs 20,000 documents into IndexedDB slowly: generous, but each wait ends on its condition.
const LONG = 240_000;

const total = async (page: Page) => Number(await byTestId(page, 'product-list').getAttribute('data-total'));
const domRows = (page: Page) => page.locator('[data-testid="product-row"]').count();

describe.runIf(run)('the market demo at 20,000 products in Chromium', { timeout: 600_000 }, () => {
  let server: DemoServer;
  let browser: Browser;
  let a: Page;
  let b: Page;

  beforeAll(async () => {
    // The demo's seed reads SEED_PRODUCTS while the server starts.
    const before = process.env.SEED_PRODUCTS;
    process.env.SEED_PRODUCTS = String(PRODUCTS);
    try {
      server = await DemoServer.start();
    } finally {
      if (before === undefined) delete process.env.SEED_PRODUCTS;
      else process.env.SEED_PRODUCTS = before;
    }
    browser = await launchChromium();
    a = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    b = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await Promise.all([a.goto(`${server.url}/`), b.goto(`${server.url}/`)]);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('first rows show, the DOM stays bounded, an edit in A appears in B', async () => {
    for (const page of [a, b]) {
      await eventually(
        'the first rows',
        () => rows(page),
        (r) => r.length > 0,
        LONG,
      );
      await eventually(
        'every product synced',
        () => total(page),
        (n) => n === PRODUCTS,
        LONG,
      );
      const n = await domRows(page);
      expect(n).toBeGreaterThan(5);
      expect(n).toBeLessThan(MAX_DOM_ROWS);
    }

    // The first row in name order is the same product in both pages.
    const first = await a.locator('[data-testid="product-row"]').first().getAttribute('data-product-id');
    expect(first).toBeTruthy();
    const id = first as string;
    await row(b, id).waitFor({ timeout: LONG });
    await edit(a, id, { price: '12.34' });
    await eventually(
      'A’s edit in B, live',
      async () => (await rows(b)).find((r) => r.id === id)?.price,
      (p) => p === '12.34',
      LONG,
    );
    expect(await domRows(b)).toBeLessThan(MAX_DOM_ROWS);

    // Scrolled to the end, the page shows the last products, still windowed.
    const top = (await rows(a)).map((r) => r.id);
    await byTestId(a, 'product-scroll').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    const end = await eventually(
      'the last rows after scrolling to the end',
      () => rows(a),
      (r) => r.length > 0 && r.every((x) => !top.includes(x.id)),
      LONG,
    );
    expect(end.length).toBeLessThan(MAX_DOM_ROWS);
    await screenshot(a, 'market-20000-end');
  });
});
