/**
 * The admin API as the dashboard reads it (the contract in the README's admin API section,
 * served by packages/server/src/admin/). Declared here rather than imported so the page
 * depends only on the wire format. Times are ms since the epoch; a field a server version
 * may omit is optional.
 */

export type Millis = number;

export interface BusInfo {
  kind: string;
  name: string;
  /** up | down | connecting, or what the server reports when it runs without a bus. */
  state: string;
  shared: boolean;
  published: number;
  received: number;
  dropped: number;
}

export interface Overview {
  time: Millis;
  instance: { id: string; adapter: string; startedAt: Millis };
  position: number;
  horizon: number;
  totals: {
    operations: number;
    byStatus: { applied: number; conflict: number; rejected: number; duplicate: number };
    deliveries: number;
    actionsCommitted: number;
    actionsRolledBack: number;
  };
  rates: { operationsPerSec: number; deliveriesPerSec: number };
  clients: { connected: number; byNamespace: Record<string, number> };
  openActions: number;
  maxOpenActions: number;
  lag: { max: number; clients: number };
  bus: BusInfo | null;
}

export interface Sample {
  t: Millis;
  operationsPerSec: number;
  deliveriesPerSec: number;
  connected: number;
  position: number;
  maxLag: number;
  openActions: number;
  busUp: boolean | null;
}

export interface Series {
  intervalMs: number;
  samples: Sample[];
}

export interface ClientRow {
  clientId: string;
  namespace: string;
  userId: string | null;
  connected: boolean;
  address: string | null;
  position: number | null;
  lag: number | null;
  /** Local writes the client reported as not yet acknowledged; null if it never reported. */
  pending: number | null;
  lastSeen: Millis | null;
}

export interface OperationRow {
  time: Millis;
  via: 'rest' | 'sync' | 'sendActions';
  clientId: string | null;
  id: string | null;
  type: string;
  collection: string | null;
  docId: string | null;
  /** applied | conflict | rejected | duplicate; for /sendActions also committed | rolledBack. */
  status: string;
  code?: string;
  message?: string;
  position?: number;
}

export interface CollectionRow {
  name: string;
  documents: number;
  deleted: number;
  /** true: a table collection (rows of an application table); false: a document collection. */
  table: boolean;
}

export interface Collections {
  collections: CollectionRow[];
  position: number;
  horizon: number;
  totalOperations: number;
}

export interface CompactResult {
  message: string;
  deletedCount: number;
  deletedChanges: number;
  purgedTombstones: number;
  horizon: number;
}
