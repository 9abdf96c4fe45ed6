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
  /** This client has been connected at least once (so "offline" now means the connection was lost). */
  connectedOnce: boolean;
} {
  const [status, setStatus] = useState<ClientStatus | null>(null);
  const [progress, setProgress] = useState<Record<string, SyncProgress>>({});
  const [connectedOnce, setConnectedOnce] = useState(false);

  useEffect(() => {
    if (!client) return;
    setStatus(null);
    setProgress({});
    setConnectedOnce(false);
    let live = true;
    void client.ready().then(() => live && setStatus(client.status));
    const offStatus = client.on('status', (s) => {
      setStatus(s);
      if (s.state !== 'offline') setConnectedOnce(true);
    });
    const offProgress = client.on('progress', (p) =>
      setProgress((prev) => ({ ...prev, [p.collection]: { received: p.received, done: p.done } })),
    );
    return () => {
      live = false;
      offStatus();
      offProgress();
    };
  }, [client]);

  return { status, progress, connectedOnce };
}
