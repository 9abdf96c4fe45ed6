/**
 * Responses of the admin API (`/admin/api/*`, README "Admin API and metrics"):
 * served by packages/server/src/admin, read by the dashboard (apps/demo/src/admin).
 * Server → client only, so plain types (no runtime schema). Times are ms since the epoch.
 */

/** The bus as the instance sees it (kind `none`, state `closed` before one is wired in). */
export interface AdminBus {
  kind: string;
  /** up | down | connecting | closed */
  state: string;
  name: string;
  /** Other instances depend on it (so down = degraded). */
  shared: boolean;
  published: number;
  received: number;
  dropped: number;
}

/** The final status of an operation: a push result's, and for /sendActions also committed | rolledBack. */
export type AdminOperationStatus = 'applied' | 'conflict' | 'rejected' | 'duplicate' | 'committed' | 'rolledBack';

/** `GET /admin/api/overview` */
export interface AdminOverview {
  time: number;
  instance: { id: string; adapter: string; startedAt: number };
  position: number;
  horizon: number;
  totals: {
    operations: number;
    byStatus: Record<AdminOperationStatus, number>;
    deliveries: number;
    actionsCommitted: number;
    actionsRolledBack: number;
  };
  rates: { operationsPerSec: number; deliveriesPerSec: number };
  clients: { connected: number; byNamespace: Record<string, number> };
  /** Open /sendActions actions (awaiting their FIN) and the server's limit. */
  openActions: number;
  maxOpenActions: number;
  /** Over connected /sync clients: the largest lag, and how many are behind. */
  lag: { max: number; clients: number };
  bus: AdminBus;
}

/** One second of `GET /admin/api/series`. */
export interface AdminSample {
  t: number;
  operationsPerSec: number;
  deliveriesPerSec: number;
  connected: number;
  position: number;
  maxLag: number;
  openActions: number;
  busUp: boolean;
}

/** `GET /admin/api/series`: the last samples, oldest first (at most 600). */
export interface AdminSeries {
  intervalMs: number;
  samples: AdminSample[];
}

/** A row of `GET /admin/api/clients`. */
export interface AdminClient {
  clientId: string;
  namespace: string;
  userId: string | null;
  connected: boolean;
  address: string | null;
  position: number | null;
  /** Head position − the client's position (null where unknown). */
  lag: number | null;
  /** Local writes the client reported as not yet acknowledged; null if it never reported. */
  pending: number | null;
  lastSeen: number | null;
}

/** A row of `GET /admin/api/operations` (newest first, at most 500 kept). */
export interface AdminOperation {
  time: number;
  via: 'rest' | 'sync' | 'sendActions';
  clientId: string | null;
  id: string | null;
  type: string;
  collection: string | null;
  docId: string | null;
  status: AdminOperationStatus;
  code?: string;
  message?: string;
  position?: number;
}

/** `GET /admin/api/collections` */
export interface AdminCollections {
  /** `table`: a table collection (rows of an application table), else a document collection. */
  collections: { name: string; documents: number; deleted: number; table: boolean }[];
  position: number;
  horizon: number;
  totalOperations: number;
}
