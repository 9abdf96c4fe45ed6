/**
 * The market demo: products and categories (two SQL tables synced as table
 * collections) in a local IndexedDB replica per tab, edited offline or online.
 *
 * Stable selectors (data-testid) for the end-to-end tests:
 *
 *   connection-state     text: online | offline | syncing | reconnecting
 *                        (offline = the switch is on; reconnecting = switch off but no connection)
 *   pending-count        text: the number of local writes not yet acknowledged (rendered once the
 *                        replica is open, so it is never a provisional 0)
 *   position             text: the last change-log position applied
 *   offline-toggle       checkbox: checked = client paused (remembered across reloads of the tab)
 *   replica-id           text: this tab's replica id (IndexedDB `syncline-market-<id>`)
 *   client-id            text: the client id the server sees
 *   category-filter      select: '' = all, else a category id
 *   name-search          input: shows the products with a word starting with it (case and accents ignored)
 *   add-product          form: new-name, new-price, new-category (select: '' or id),
 *                        new-description, new-submit; errors: new-name-error, new-price-error
 *   product-list         ul of product-row, data-total=<products shown after filter and search>; above
 *                        100 products only the rows in view (and a few more) are in the DOM: scroll
 *                        product-scroll (the list's scroll area) to reach the others
 *   product-row          li, data-product-id=<uuid>, data-pending=true|false, data-rev=<_rev>,
 *                        data-editing=true while edited; inside: product-name, product-price
 *                        (text: two decimals, e.g. 2.49), pending-tag (when pending), edit, delete
 *   edit form            (inside the row being edited) edit-name, edit-price, edit-category,
 *                        edit-description, edit-save, edit-cancel; errors: edit-name-error, edit-price-error
 *   pending-list         ol of pending-entry (data-doc-id, data-type = insert|patch|delete)
 *   conflict-log         ul of conflict-entry (data-product-id, data-resolution = the SDK's resolution,
 *                        data-winner = server|client; conflict-resolution = that string as text)
 *                        and rejected-entry (data-product-id, data-code; rejected-code = the code as text)
 *   conflict-strategy    select: server-wins | client-wins (re-opens the client on the same replica)
 *   skip-validation      checkbox: send form values unchecked (the server answers, e.g. CONSTRAINT_VIOLATION)
 *   notice               a message about a write the client refused locally (e.g. QUEUE_FULL)
 *
 * <div class="page" data-ready="true"> once the replica is open and the client's status known.
 * <html data-sw="ready"> once the service worker is active (a reload with the network off then works).
 */
import { useEffect, useState } from 'react';
import { Market } from './market';
import { claimReplica, type TabReplica } from './tab-replica';

/** Claimed once per page (React may run effects twice in development). */
let claiming: Promise<TabReplica> | undefined;

export function App() {
  const [replica, setReplica] = useState<TabReplica | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    claiming ??= claimReplica();
    claiming.then(setReplica, (err: Error) => setError(err.message));
  }, []);
  if (error) return <p className="fatal">Could not open this tab's replica: {error}</p>;
  if (!replica) return <p className="empty">Opening this tab's replica…</p>;
  return <Market replica={replica} />;
}
