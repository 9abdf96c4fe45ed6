/**
 * The write paths that go through `Storage.applyOperations` (REST `/operations`
 * and the `/sync` push) report each operation's result to the admin metrics,
 * labelled with the path they came by. One view per path: the storage itself
 * cannot tell who called it.
 */
import { asCaller } from '../storage/operation-scope.js';
import type { Storage } from '../storage/storage.js';
import { storageView } from '../storage/storage-view.js';
import { toSynclineError } from '../transport/errors.js';
import type { AdminMetrics, Via } from './admin-metrics.js';

export function recordingStorage(storage: Storage, metrics: AdminMetrics, via: Via): Storage {
  const applyOperations: Storage['applyOperations'] = async (caller, operations, authorize) => {
    const { clientId } = asCaller(caller);
    try {
      const res = await storage.applyOperations(caller, operations, authorize);
      metrics.recordResults(via, clientId, operations, res);
      return res;
    } catch (err) {
      const e = toSynclineError(err);
      metrics.recordFailure(via, clientId, operations, e.code, e.message);
      throw err;
    }
  };
  return storageView(storage, { applyOperations });
}
