/** The client's `status` and initial-sync `progress` events as React state. */
import type { ClientStatus, SynclineClient } from '@syncline/client';
import { useEffect, useState } from 'react';

export interface SyncProgress {
  received: number;
  done: boolean;
}

export function useSyncStatus(client: SynclineClient | null): {
  status: ClientStatus | null;
  progress: Record<string, SyncProgress>;
} {
  const [status, setStatus] = useState<ClientStatus | null>(null);
  const [progress, setProgress] = useState<Record<string, SyncProgress>>({});

  useEffect(() => {
    if (!client) return;
    setStatus(null);
    setProgress({});
    let live = true;
    void client.ready().then(() => live && setStatus(client.status));
    const offStatus = client.on('status', (s) => setStatus(s));
    const offProgress = client.on('progress', (p) =>
      setProgress((prev) => ({ ...prev, [p.collection]: { received: p.received, done: p.done } })),
    );
    return () => {
      live = false;
      offStatus();
      offProgress();
    };
  }, [client]);

  return { status, progress };
}
