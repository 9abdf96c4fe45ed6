/**
 * The client's `conflict` and `rejected` events, newest first, at most MAX_ENTRIES.
 * Kept in memory for the page's life (a new client for another strategy keeps them).
 */
import type { ClientEvents, SynclineClient } from '@syncline/client';
import { useCallback, useEffect, useState } from 'react';

const MAX_ENTRIES = 50;

export type LogEntry =
  | ({ kind: 'conflict'; key: number; time: number } & ClientEvents['conflict'])
  | ({ kind: 'rejected'; key: number; time: number } & ClientEvents['rejected']);

let nextKey = 1;

export function useSyncLog(client: SynclineClient | null): { entries: LogEntry[]; clear: () => void } {
  const [entries, setEntries] = useState<LogEntry[]>([]);

  useEffect(() => {
    if (!client) return;
    const add = (e: LogEntry) => setEntries((prev) => [e, ...prev].slice(0, MAX_ENTRIES));
    const offConflict = client.on('conflict', (c) => add({ kind: 'conflict', key: nextKey++, time: Date.now(), ...c }));
    const offRejected = client.on('rejected', (r) => add({ kind: 'rejected', key: nextKey++, time: Date.now(), ...r }));
    return () => {
      offConflict();
      offRejected();
    };
  }, [client]);

  const clear = useCallback(() => setEntries([]), []);
  return { entries, clear };
}
