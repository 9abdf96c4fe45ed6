/** The market page on one tab's replica: header with the connection, products, and the side panels. */
import { ConflictError, RejectedError, SyncError } from '@syncline/client';
import { useQuery } from '@syncline/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { AddProductForm } from './add-product-form';
import { CategoryFilter } from './category-filter';
import { ConflictLog } from './conflict-log';
import { Header } from './header';
import { nameMatches } from './names';
import { PendingPanel } from './pending-panel';
import { ProductList } from './product-list';
import type { Category, Product, ProductInput } from './schemas';
import { loadSettings, type MarketSettings, saveSettings } from './settings';
import { SettingsPanel } from './settings-panel';
import type { TabReplica } from './tab-replica';
import { useMarketClient } from './use-market-client';
import { usePending } from './use-pending';
import { useSyncLog } from './use-sync-log';
import { useSyncStatus } from './use-sync-status';

export function Market({ replica }: { replica: TabReplica }) {
  const [settings, setSettings] = useState<MarketSettings>(() => {
    const s = loadSettings(replica.id);
    // A closed tab's replica starts online in its new tab (its queue is sent).
    return replica.adopted ? { ...s, offline: false } : s;
  });
  useEffect(() => saveSettings(replica.id, settings), [replica.id, settings]);

  const client = useMarketClient(replica, settings.strategy, settings.offline);
  const { status, progress, connectedOnce } = useSyncStatus(client);
  const pending = usePending(client);
  const log = useSyncLog(client);
  const [filter, setFilter] = useState('');
  const [editingId, setEditingId] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  // Live queries on the replica (@syncline/react); null while the client is (re)opened: loading.
  const categoryCol = useMemo(() => client?.collection<Category>('category') ?? null, [client]);
  const productCol = useMemo(() => client?.collection<Product>('product') ?? null, [client]);
  const categoryQuery = useQuery<Category>(categoryCol);
  // Filtered and sorted by the SDK's live query, kept up to date per change (not re-sorted per render).
  const productQuery = useQuery<Product>(
    productCol,
    filter === '' ? { sort: { name: 'asc' } } : { filter: { category: Number(filter) }, sort: { name: 'asc' } },
  );
  const [search, setSearch] = useState('');
  const categories = categoryQuery.loading ? null : categoryQuery.docs;
  const all = productQuery.loading ? null : productQuery.docs;
  const products = useMemo(() => (all && search.trim() !== '' ? all.filter((p) => nameMatches(p.name, search)) : all), [all, search]);
  const sortedCategories = useMemo(() => [...(categories ?? [])].sort((a, b) => a.id - b.id), [categories]);
  const categoryNames = useMemo(() => new Map(sortedCategories.map((c) => [c.id, c.name])), [sortedCategories]);
  const pendingIds = useMemo(
    () => new Set([...pending.keys].filter((k) => k.startsWith('product/')).map((k) => k.slice('product/'.length))),
    [pending],
  );

  const col = client?.collection('product');
  // Writes apply locally at once; their promises settle when the server answers. Conflicts and
  // rejections are shown from the client's events; anything else refused the write locally.
  const report = (err: unknown) => {
    if (err instanceof ConflictError || err instanceof RejectedError) return;
    if (err instanceof SyncError && err.code === 'CLIENT_CLOSED') return; // still queued: the next client sends it
    setNotice(`Not saved: ${(err as Error).message}`);
  };

  const add = (input: ProductInput) => {
    if (!col) return;
    setNotice(null);
    const id = crypto.randomUUID();
    col.insert({ _id: id, id, ...input, lastUpdate: new Date().toISOString() }).catch(report);
  };

  const save = (id: string, input: ProductInput, original: Product) => {
    setEditingId(null);
    if (!col) return;
    setNotice(null);
    // Only the fields this edit changed: client-wins then keeps other tabs' changes to the rest.
    const before: ProductInput = {
      name: original.name,
      price: original.price,
      description: original.description ?? '',
      category: original.category ?? null,
    };
    const changed = Object.fromEntries(Object.entries(input).filter(([k, v]) => !Object.is(v, before[k as keyof ProductInput])));
    if (Object.keys(changed).length === 0) return;
    col.update(id, { ...changed, lastUpdate: new Date().toISOString() }).catch(report);
  };

  const remove = (id: string) => {
    if (editingId === id) setEditingId(null);
    col?.delete(id).catch(report);
  };
  // One function each for every row (reading the latest render's state), so memoised rows skip re-renders.
  const latest = useRef({ save, remove });
  latest.current = { save, remove };
  const onSave = useCallback((id: string, input: ProductInput, original: Product) => latest.current.save(id, input, original), []);
  const onDelete = useCallback((id: string) => latest.current.remove(id), []);

  // Names of products seen, so a log entry can name a product that is gone since.
  const names = useRef(new Map<string, string>());
  useEffect(() => {
    for (const p of all ?? []) names.current.set(p._id, p.name);
  }, [all]);
  for (const p of pending.entries) if (p.baseName) names.current.set(p.docId, p.baseName);
  const nameOf = (id: string) => names.current.get(id);

  return (
    <div className="page" data-ready={status ? 'true' : 'false'}>
      <Header
        replica={replica}
        clientId={client && status ? client.clientId : ''}
        status={status}
        progress={progress}
        connectedOnce={connectedOnce}
        offline={settings.offline}
        onOffline={(offline) => setSettings((s) => ({ ...s, offline }))}
      />
      {notice ? (
        <div className="notice" role="alert" data-testid="notice">
          {notice}
          <button type="button" className="link" onClick={() => setNotice(null)}>
            Dismiss
          </button>
        </div>
      ) : null}
      <main className="layout">
        <div className="main-col">
          <AddProductForm categories={sortedCategories} defaultCategory={filter} onAdd={add} />
          <div className="toolbar">
            <CategoryFilter categories={sortedCategories} value={filter} onChange={setFilter} />
            <label className="field inline">
              <span>Name</span>
              <input
                type="search"
                data-testid="name-search"
                placeholder="Search names"
                value={search}
                onChange={(e) => setSearch(e.target.value)}
              />
            </label>
            <span className="muted">
              {products ? `${products.length} product${products.length === 1 ? '' : 's'}` : ''}
              {pendingIds.size > 0 ? ` · ${pendingIds.size} with pending changes` : ''}
            </span>
          </div>
          <ProductList
            products={products}
            categories={sortedCategories}
            categoryNames={categoryNames}
            pendingIds={pendingIds}
            editingId={editingId}
            onEdit={setEditingId}
            onSave={onSave}
            onDelete={onDelete}
          />
        </div>
        <aside className="side-col">
          <PendingPanel queue={pending} offline={settings.offline} categories={categoryNames} />
          <ConflictLog entries={log.entries} nameOf={nameOf} categories={categoryNames} onClear={log.clear} />
          <SettingsPanel strategy={settings.strategy} onStrategy={(strategy) => setSettings((s) => ({ ...s, strategy }))} />
        </aside>
      </main>
      <footer className="footer">
        Open this page in{' '}
        <a href="/" target="_blank" rel="noopener">
          another tab
        </a>{' '}
        (or another browser) and edit the same products: changes arrive live. Each tab keeps its own replica in IndexedDB. The{' '}
        <a href="/admin/">admin dashboard</a> shows the server side.
      </footer>
    </div>
  );
}
