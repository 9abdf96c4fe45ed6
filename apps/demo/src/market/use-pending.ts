/**
 * The pending queue (local writes the server has not acknowledged yet), read from
 * the store itself, so after a reload it lists what the previous page left queued.
 * Re-read when the pending count or the data changes (a conflict resolution
 * replaces an entry without changing the count).
 */
import type { PendingOperation, SynclineClient } from '@syncline/client';
import { useEffect, useState } from 'react';

export interface PendingEntry {
  seq: number;
  type: string;
  collection: string;
  docId: string;
  data: Record<string, unknown> | undefined;
  /** The server's version of the document, when it has one (to name a pending delete). */
  baseName: string | undefined;
}

export function usePending(client: SynclineClient | null): PendingEntry[] {
  const [entries, setEntries] = useState<PendingEntry[]>([]);

  useEffect(() => {
    if (!client) return;
    setEntries([]);
    let live = true;
    let reading = false;
    let again = false;
    const read = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        const queue = await client.store.pending();
        const out = await Promise.all(queue.map((p) => describe(client, p)));
        if (live) setEntries(out);
      } catch {
        // The store closed under us (the client is being replaced): the next client reads again.
      } finally {
        reading = false;
        if (again && live) {
          again = false;
          void read();
        }
      }
    };
    void client.ready().then(read);
    const offStatus = client.on('status', () => void read());
    const offChange = client.on('change', () => void read());
    return () => {
      live = false;
      offStatus();
      offChange();
    };
  }, [client]);

  return entries;
}

async function describe(client: SynclineClient, p: PendingOperation): Promise<PendingEntry> {
  const op = p.operation;
  const docId = op.docId ?? '';
  const base = await client.store.get(op.collection, docId);
  const baseName = typeof base?.data.name === 'string' ? base.data.name : undefined;
  return { seq: p.seq, type: op.type, collection: op.collection, docId, data: op.data, baseName };
}
