/** Reading and driving the market page by its data-testids (apps/demo/src/market/app.tsx lists them). */
import type { Page } from 'playwright-core';

const T = 20_000;

export interface Row {
  id: string;
  name: string;
  price: string;
}

export const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`);

/** The product list as the page shows it, sorted by id. */
export async function rows(page: Page): Promise<Row[]> {
  const list = await page.$$eval('[data-testid="product-row"]', (els) =>
    els.map((el) => ({
      id: el.getAttribute('data-product-id') ?? '',
      name: el.querySelector('[data-testid="product-name"]')?.textContent?.trim() ?? '',
      price: el.querySelector('[data-testid="product-price"]')?.textContent?.trim() ?? '',
    })),
  );
  return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export async function eventually<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeout = T): Promise<T> {
  const end = Date.now() + timeout;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await read();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 500)}`);
}

export const pending = async (page: Page) => Number((await byTestId(page, 'pending-count').textContent())?.trim());
export const state = async (page: Page) => (await byTestId(page, 'connection-state').textContent())?.trim() ?? '';
export const row = (page: Page, id: string) => page.locator(`[data-testid="product-row"][data-product-id="${id}"]`);

export async function edit(page: Page, id: string, fields: { name?: string; price?: string }): Promise<void> {
  const r = row(page, id);
  await r.locator('[data-testid="edit"]').click();
  if (fields.name !== undefined) await page.locator('[data-testid="edit-name"]').fill(fields.name);
  if (fields.price !== undefined) await page.locator('[data-testid="edit-price"]').fill(fields.price);
  await page.locator('[data-testid="edit-save"]').click();
}

export async function setOffline(page: Page, offline: boolean): Promise<void> {
  const toggle = byTestId(page, 'offline-toggle');
  if ((await toggle.isChecked()) !== offline) await toggle.click();
}

// Reconnects after a restart follow Socket.IO's backoff (up to ~15 s).
