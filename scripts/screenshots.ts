/**
 * The README's screenshots (docs/screenshots/): the market demo in two
 * browsers with a conflict resolved, and the dashboard after a minute of
 * traffic (REST writes, a /sendActions action awaiting its FIN, live pages).
 * `npm run screenshots` (needs Debian's chromium).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';
import { DemoServer, launchChromium } from '../apps/demo/test/browser.js';
import { edit, eventually, pending, rows, setOffline } from '../apps/demo/test/market-page.js';

const out = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
mkdirSync(out, { recursive: true });
const seconds = Number(process.env.TRAFFIC_SECONDS ?? 45);

const server = await DemoServer.start();
const browser = await launchChromium();
try {
  const view = { viewport: { width: 1280, height: 860 } };
  const [ctxA, ctxB] = [await browser.newContext(view), await browser.newContext(view)];
  const [a, b] = [await ctxA.newPage(), await ctxB.newPage()];
  await Promise.all([a.goto(`${server.url}/`), b.goto(`${server.url}/`)]);
  const seeded = await eventually(
    'seeded products',
    () => rows(a),
    (r) => r.length >= 10,
  );
  const ids = seeded.map((r) => r.id);
  await eventually(
    'B in sync',
    () => rows(b),
    (r) => r.length === ids.length,
  );

  // Traffic for the charts: a REST writer changing prices, a burst now and then.
  let stop = false;
  const writer = (async () => {
    for (let i = 0; !stop; i++) {
      const n = 1 + (i % 10 === 0 ? 8 : i % 3);
      const operations = Array.from({ length: n }, (_, k) => ({
        id: `shot-${i}-${k}`,
        type: 'patch',
        collection: 'product',
        docId: ids[(i * 7 + k) % ids.length],
        data: { price: Number((1 + ((i + k) % 40) * 0.75).toFixed(2)) },
      }));
      await fetch(`${server.url}/operations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ clientId: 'price-bot', operations }),
      }).catch(() => {});
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  // One reference-style action held open, so the dashboard shows an open FIN transaction.
  const actions = io(`${server.url}/sendActions`, { auth: { clientId: 'warehouse' }, transports: ['websocket'] });
  actions.emit('sendActions', [{ id: 'restock-1', type: 'UPDATE', collection: 'category', data: { id: 3, name: 'Bakery & bread' } }]);

  // A conflict in B: an offline edit of a product A changes meanwhile.
  const p = ids[1] as string;
  await setOffline(b, true);
  await edit(b, p, { name: `${seeded[1]?.name} (renamed offline)` });
  await edit(a, p, { price: '2.95' });
  await eventually(
    'B has a pending edit',
    () => pending(b),
    (n) => n >= 1,
  );
  const top = () => b.evaluate(() => window.scrollTo(0, 0));
  await top();
  await b.screenshot({ path: `${out}market-offline.png` });
  await setOffline(b, false);
  await b.locator('[data-testid="conflict-entry"]').first().waitFor({ timeout: 20_000 });
  await top();
  await b.screenshot({ path: `${out}market.png` });

  await new Promise((r) => setTimeout(r, seconds * 1000));
  const admin = await ctxA.newPage();
  await admin.setViewportSize({ width: 1280, height: 1000 });
  await admin.goto(`${server.url}/admin`);
  await admin.locator('[data-testid="operation-row"]').first().waitFor({ timeout: 20_000 });
  await new Promise((r) => setTimeout(r, 3000));
  await admin.screenshot({ path: `${out}dashboard.png`, fullPage: true });
  stop = true;
  await writer;
  actions.close();
  process.stdout.write(`screenshots in ${out}\n`);
} finally {
  await browser.close();
  await server.close();
}
