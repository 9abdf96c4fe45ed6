/**
 * One Syncline client per tab, on the tab's IndexedDB replica.
 *
 * The conflict strategy is a client option, so choosing another one closes the
 * client and opens a new one on the same replica (the queue and positions are in
 * IndexedDB: nothing is lost; queued writes are replayed with their ids, which
 * the server applies once). A new client is opened only after the previous one
 * has closed, so two never push the same queue at once.
 */
import { type ConflictStrategy, createClient, IndexedDBStore, type SynclineClient } from '@syncline/client';
import { useEffect, useRef, useState } from 'react';
import { categorySchema, productCollectionSchema } from './schemas';
import type { TabReplica } from './tab-replica';

let previousClose: Promise<void> = Promise.resolve();

export function useMarketClient(replica: TabReplica, strategy: ConflictStrategy, offline: boolean): SynclineClient | null {
  const [client, setClient] = useState<SynclineClient | null>(null);
  // Read when a client is made: toggling offline pauses the live client instead of making a new one.
  const offlineRef = useRef(offline);
  offlineRef.current = offline;

  useEffect(() => {
    let cancelled = false;
    let made: SynclineClient | undefined;
    void previousClose.then(() => {
      if (cancelled) return;
      made = createClient({
        url: location.origin,
        store: new IndexedDBStore({
          name: replica.dbName,
          // Another tab upgraded or deleted this database: this replica is gone; start over.
          onVersionChange: () => location.reload(),
        }),
        conflict: strategy,
        paused: offlineRef.current,
      });
      // Schemas first: `collection()` starts following the collection.
      made.collection('category', { schema: categorySchema });
      made.collection('product', { schema: productCollectionSchema });
      setClient(made);
    });
    return () => {
      cancelled = true;
      setClient(null);
      if (made) previousClose = made.close().catch(() => {});
    };
  }, [replica.dbName, strategy]);

  useEffect(() => {
    if (!client) return;
    if (offline) client.pause();
    else client.resume();
  }, [client, offline]);

  return client;
}
