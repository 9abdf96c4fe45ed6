/** A live query on the local replica (base + pending writes): re-runs after every local or remote change. */
import type { Doc, SynclineClient } from '@syncline/client';
import { useEffect, useState } from 'react';

type Filter = Parameters<ReturnType<SynclineClient['collection']>['subscribe']>[0];

/** `null` until the replica answered the first time. */
export function useLiveQuery<T>(client: SynclineClient | null, collection: string, filter: Filter, deps: readonly unknown[]): T[] | null {
  const [docs, setDocs] = useState<T[] | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the filter is rebuilt each render; `deps` says when it changes
  useEffect(() => {
    if (!client) return;
    const stop = client.collection(collection).subscribe(filter, (d: Doc[]) => setDocs(d as unknown as T[]));
    return stop;
  }, [client, collection, ...deps]);
  return docs;
}
