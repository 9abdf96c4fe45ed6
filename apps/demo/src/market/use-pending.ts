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

/** Entries described (named) for the panel; the queue may hold up to maxPending (10,000). */
const DESCRIBED = 100;

export interface PendingQueue {
  /** The first DESCRIBED entries, in queue order. */
  entries: PendingEntry[];
  total: number;
  /** Every document with a pending write, as `collection/id`. */
  keys: ReadonlySet<string>;
}

const EMPTY: PendingQueue = { entries: [], total: 0, keys: new Set() };

export function usePending(client: SynclineClient | null): PendingQueue {
  const [queue, setQueue] = useState<PendingQueue>(EMPTY);

  useEffect(() => {
    if (!client) return;
    setQueue(EMPTY);
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
        const all = await client.store.pending();
        const entries = await Promise.all(all.slice(0, DESCRIBED).map((p) => describe(client, p)));
        const keys = new Set(all.map((p) => `${p.operation.collection}/${p.operation.docId}`));
        if (live) setQueue({ entries, total: all.length, keys });
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

  return queue;
}

async function describe(client: SynclineClient, p: PendingOperation): Promise<PendingEntry> {
  const op = p.operation;
  const docId = op.docId ?? '';
  const base = await client.store.get(op.collection, docId);
  const baseName = typeof base?.data.name === 'string' ? base.data.name : undefined;
  return { seq: p.seq, type: op.type, collection: op.collection, docId, data: op.data, baseName };
}
