/**
 * The market demo and the admin dashboard in real Chromium (Debian's, driven
 * by playwright-core) against `serve --demo` on embedded PGlite:
 * - two browsers edit products; one goes offline, edits, comes back; both
 *   converge with each other and with the server (and the conflict shows);
 * - a reload while offline keeps the pending edits (IndexedDB), also with the
 *   network really down (the service worker serves the page);
 * - the server restarting under a page loses nothing;
 * - the dashboard shows the operations, and compaction asks first.
 * Screenshots land in test-results/screenshots/.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chromiumAvailable } from '../../../test/services.js';
import { DemoServer, launchChromium, screenshot } from './browser.js';
import { byTestId, edit, eventually, pending, rows, setOffline, state } from './market-page.js';

const run = chromiumAvailable();
const T = 20_000;

describe.runIf(run)('market demo and dashboard in Chromium', { timeout: 90_000 }, () => {
  let server: DemoServer;
  let browser: Browser;
  let ctxA: BrowserContext;
  let ctxB: BrowserContext;
  let a: Page;
  let b: Page;
  let ids: string[];

  const serverProduct = async (id: string) => {
    const res = await fetch(`${server.url}/documents/product/${id}`);
    return (await res.json()) as Record<string, unknown>;
  };

  beforeAll(async () => {
    server = await DemoServer.start();
    browser = await launchChromium();
    ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    ctxB = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    a = await ctxA.newPage();
    b = await ctxB.newPage();
    await Promise.all([a.goto(`${server.url}/`), b.goto(`${server.url}/`)]);
    const seeded = await eventually(
      'the seeded products in page A',
      () => rows(a),
      (r) => r.length >= 10,
    );
    ids = seeded.map((r) => r.id);
    await eventually(
      'page B to show what page A shows',
      () => rows(b),
      (r) => JSON.stringify(r) === JSON.stringify(seeded),
    );
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('two pages edit, one offline; both converge with each other and the server, and the conflict shows', async () => {
    const [p1, p2] = ids as [string, string];
    await edit(a, p1, { price: '11.11' });
    await eventually(
      'A’s edit in B, live',
      () => rows(b),
      (r) => r.find((x) => x.id === p1)?.price.includes('11.11') ?? false,
    );

    await setOffline(b, true);
    await eventually(
      'B offline',
      () => state(b),
      (s) => s === 'offline',
    );
    await edit(b, p1, { name: 'Renamed while offline' });
    await edit(b, p2, { price: '7.50' });
    await eventually(
      'two pending changes in B',
      () => pending(b),
      (n) => n === 2,
    );
    // Meanwhile A changes the product B edited: B's edit is now based on an old version.
    await edit(a, p1, { price: '22.22' });
    await eventually(
      'A’s write on the server',
      () => serverProduct(p1),
      (d) => Number(d.price) === 22.22,
    );
    expect(Number((await serverProduct(p2)).price)).not.toBe(7.5);
    await screenshot(b, 'market-offline-pending');

    await setOffline(b, false);
    await eventually(
      'B’s queue drained',
      () => pending(b),
      (n) => n === 0,
    );
    const final = await eventually(
      'A and B to converge',
      async () => [await rows(a), await rows(b)] as const,
      ([ra, rb]) => JSON.stringify(ra) === JSON.stringify(rb) && (ra.find((x) => x.id === p2)?.price.includes('7.5') ?? false),
    );
    // Server-wins (the default): the conflicting rename was dropped, the server's price kept.
    const s1 = await serverProduct(p1);
    expect(Number(s1.price)).toBe(22.22);
    expect(final[0].find((x) => x.id === p1)?.name).toBe(s1.name);
    expect(Number((await serverProduct(p2)).price)).toBe(7.5);
    const conflict = byTestId(b, 'conflict-entry').first();
    await conflict.waitFor({ timeout: T });
    expect(await conflict.textContent()).toMatch(/server-wins/);
    await screenshot(b, 'market-conflict');
  });

  test('a product added offline reaches the other page; a delete and the category filter work', async () => {
    await setOffline(b, true);
    await byTestId(b, 'new-name').fill('Made offline');
    await byTestId(b, 'new-price').fill('3.21');
    await byTestId(b, 'new-category').selectOption('2');
    await byTestId(b, 'new-submit').click();
    await eventually(
      'the insert pending in B',
      () => pending(b),
      (n) => n === 1,
    );
    const made = (await rows(b)).find((r) => r.name === 'Made offline');
    expect(made?.price).toContain('3.21');
    expect((await rows(a)).some((r) => r.name === 'Made offline')).toBe(false);
    await setOffline(b, false);
    await eventually(
      'A gets B’s product',
      () => rows(a),
      (r) => r.some((x) => x.id === made?.id && x.price.includes('3.21')),
    );
    expect((await serverProduct(made?.id as string)).category).toBe(2);

    await a.locator(`[data-testid="product-row"][data-product-id="${made?.id}"] [data-testid="delete"]`).click();
    await eventually(
      'the delete in B',
      () => rows(b),
      (r) => !r.some((x) => x.id === made?.id),
    );
    expect((await fetch(`${server.url}/documents/product/${made?.id}`)).status).toBe(404);

    // The filter shows exactly the products of one category (checked against the server's rows).
    const query = await fetch(`${server.url}/documents/product/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ filter: { category: 3 }, limit: 1000 }),
    });
    const inCategory = ((await query.json()) as { documents: { _id: string }[] }).documents.map((d) => d._id).sort();
    expect(inCategory.length).toBeGreaterThan(0);
    await byTestId(a, 'category-filter').selectOption('3');
    await eventually(
      'only category 3 in A',
      async () => (await rows(a)).map((r) => r.id),
      (ids) => JSON.stringify(ids) === JSON.stringify(inCategory),
    );
    await byTestId(a, 'category-filter').selectOption('');
    await eventually(
      'every product again',
      () => rows(a),
      (r) => r.length === ids.length,
    );
  });

  test('a reload while offline keeps the pending edits, also with the network down', async () => {
    const p3 = ids[2] as string;
    await setOffline(b, true);
    await edit(b, p3, { price: '33.33' });
    await eventually(
      'one pending change',
      () => pending(b),
      (n) => n === 1,
    );
    await b.reload();
    await eventually(
      'still offline after reload, edit pending',
      () => pending(b),
      (n) => n === 1,
    );
    expect(await byTestId(b, 'offline-toggle').isChecked()).toBe(true);
    expect((await rows(b)).find((x) => x.id === p3)?.price).toContain('33.33');
    expect(Number((await serverProduct(p3)).price)).not.toBe(33.33);

    // The network itself down: the service worker serves the page, IndexedDB the replica and the queue.
    // (once the service worker has cached the shell and controls the page)
    await b.locator('html[data-sw="ready"]').waitFor({ state: 'attached', timeout: T });
    await ctxB.setOffline(true);
    await b.reload();
    await eventually(
      'the page from the service worker with its pending edit',
      () => pending(b),
      (n) => n === 1,
    );
    expect((await rows(b)).find((x) => x.id === p3)?.price).toContain('33.33');
    await screenshot(b, 'market-reloaded-offline');
    await ctxB.setOffline(false);

    await setOffline(b, false);
    await eventually(
      'the edit on the server',
      () => serverProduct(p3),
      (d) => Number(d.price) === 33.33,
    );
    await eventually(
      'A sees it',
      () => rows(a),
      (r) => r.find((x) => x.id === p3)?.price.includes('33.33') ?? false,
    );
  });

  test('the server restarts under the pages: nothing is lost', async () => {
    const p4 = ids[3] as string;
    await server.down();
    await eventually(
      'A notices',
      () => state(a),
      (s) => s !== 'online',
    );
    await edit(a, p4, { price: '44.44' });
    await eventually(
      'A queues it',
      () => pending(a),
      (n) => n === 1,
    );
    await server.up();
    await eventually(
      'A’s edit on the restarted server',
      () => serverProduct(p4),
      (d) => Number(d.price) === 44.44,
      40_000,
    );
    await eventually(
      'A drained',
      () => pending(a),
      (n) => n === 0,
    );
    await eventually(
      'B sees it',
      () => rows(b),
      (r) => r.find((x) => x.id === p4)?.price.includes('44.44') ?? false,
      40_000,
    );
  });

  test('the dashboard shows the operations, clients and charts; compaction asks first', async () => {
    const page = await ctxA.newPage();
    await page.goto(`${server.url}/admin`);
    await byTestId(page, 'overview-position').waitFor({ timeout: T });
    // Write something now and see it arrive (the list is in memory: the restart above emptied it).
    await edit(a, ids[4] as string, { price: '55.55' });
    await eventually(
      'the new operation, applied, naming its product',
      () => page.locator('[data-testid="operation-row"][data-status="applied"]', { hasText: ids[4] as string }).count(),
      (n) => n === 1,
    );
    await eventually(
      'two connected clients',
      () => page.locator('[data-testid="client-row"]').count(),
      (n) => n >= 2,
    );
    for (const chart of ['chart-operations', 'chart-clients', 'chart-position', 'chart-lag', 'chart-actions']) {
      expect(await byTestId(page, chart).locator('canvas').count()).toBe(1);
    }
    await eventually(
      'collections with counts',
      () => page.locator('[data-testid="collection-row"][data-collection="product"]').textContent(),
      (t) => /\d/.test(t ?? ''),
    );
    await screenshot(page, 'dashboard');
    await byTestId(page, 'compact-button').click();
    await byTestId(page, 'compact-confirm').waitFor({ timeout: T });
    await byTestId(page, 'compact-confirm').click();
    await eventually(
      'the compaction result',
      () => byTestId(page, 'compact-result').textContent(),
      (t) => /horizon/i.test(t ?? ''),
    );
    await page.close();
  });
});

describe.runIf(run)('the dashboard behind ADMIN_TOKEN in Chromium', { timeout: 90_000 }, () => {
  const adminToken = 'dashboard-admin-token-for-tests';
  let server: DemoServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await DemoServer.start({ jwtSecret: 'a-jwt-secret-of-the-dashboard-test-0123456789', adminToken });
    browser = await launchChromium();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  test('asks for the token, refuses a wrong one, shows the data with the right one', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const answers: number[] = [];
    page.on('response', (r) => {
      if (r.url().includes('/admin/api/')) answers.push(r.status());
    });
    await page.goto(`${server.url}/admin`);
    await byTestId(page, 'token-form').waitFor({ timeout: T });
    // Nothing of the server's data was shown before a token: every admin call was refused.
    expect(await page.locator('[data-testid="collection-row"]').count()).toBe(0);
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((s) => s === 401)).toBe(true);

    await byTestId(page, 'token-input').fill('not-the-admin-token');
    await byTestId(page, 'token-submit').click();
    await eventually(
      'the wrong token refused',
      async () => answers.at(-1),
      (s) => s === 403,
    );
    await byTestId(page, 'token-form').waitFor({ timeout: T });
    expect(await page.locator('[data-testid="collection-row"]').count()).toBe(0);

    await byTestId(page, 'token-input').fill(adminToken);
    await byTestId(page, 'token-submit').click();
    await eventually(
      'the collections with the right token',
      () => page.locator('[data-testid="collection-row"][data-collection="product"]').count(),
      (n) => n === 1,
    );
    expect(await byTestId(page, 'token-form').count()).toBe(0);
    // The token stays in this tab's session: a reload does not ask again.
    await page.reload();
    await page.locator('[data-testid="collection-row"]').first().waitFor({ timeout: T });
    await ctx.close();
  });
});
