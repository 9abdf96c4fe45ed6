/**
 * The Storage seam: everything the engine and transports need from a database.
 * Implementations: PostgresStorage on PGlite (embedded default) or a `pg` pool.
 * One conformance suite (`test/storage-conformance.ts`) runs against each.
 *
 * Contract:
 * - `applyOperations` validates each operation on its own, applies the valid
 *   ones in request order in one transaction, and resolves only after commit
 *   (acknowledged = durable). Operation ids are applied at most once per
 *   caller: they are scoped to the caller's user (or, anonymous, its client id),
 *   and a repeat with a different body is IDEMPOTENCY_KEY_REUSED (operation-scope.ts).
 * - `getChanges(since)` returns changes with position > since in position
 *   order, never skipping one that commits later; `checkpoint` is safe to pass
 *   as the next `since`. Throws RESYNC_REQUIRED if `since` is below the horizon.
 * - `onCommit` is a hint (a position at least as high as the newest commit);
 *   readers must still read the change log. Its `origin` says who gave the
 *   positions: `own` — this instance, for its own API writes; `swept` — this
 *   instance's background sweep or poll (external SQL writes, or other
 *   instances' commits it happened to sequence); `hint` — someone else. With a
 *   bus, `own` reads and publishes at once, `swept` a moment later (so the
 *   instance that made a write publishes it), `hint` waits for the bus.
 */
import type {
  ChangesResponse,
  CompactResponse,
  PushResponse,
  QueryRequest,
  QueryResponse,
  StatsResponse,
  WireDocument,
} from '@syncline/protocol';
import type { Authorize } from '../engine/plan-operations.js';
import type { ActionRunner, ActionRunnerOptions } from './action-runner.js';
import type { AppSql } from './app-sql.js';
import type { CallerLike } from './operation-scope.js';

export type CommitOrigin = 'own' | 'swept' | 'hint';

/** What `uninstallCapture` removed (qualified names as the database prints them). */
export interface UninstalledCapture {
  triggers: { table: string; trigger: string }[];
  functions: string[];
}

export interface Storage {
  readonly adapter: 'pglite' | 'postgres' | 'mysql';
  /** Names of the collections that are SQL tables (TABLE_NAMES), known after `migrate()`. */
  readonly tableCollections: ReadonlySet<string>;
  /** Syncline's own migrations, then `options.app` (the application's), then capture of the TABLE_NAMES tables. */
  migrate(options?: MigrateOptions): Promise<number[]>;
  /**
   * `syncline uninstall-capture`: removes every trigger and function this schema installed on the
   * application's tables (whatever TABLE_NAMES says now), and returns their names. Its own
   * tables stay. Called instead of `migrate()`, with no server running on the schema.
   */
  uninstallCapture?(): Promise<UninstalledCapture>;
  /** SQL in this database for the application's migrations and seeds (app-sql.ts). */
  appSql(): AppSql;
  /**
   * `caller`: who writes (a bare client id: an anonymous caller); throws CLIENT_ID_TAKEN when its client id
   * belongs to another user. `authorize` (write rules) is asked about each write; a refused one is rejected with FORBIDDEN.
   */
  applyOperations(caller: CallerLike, operations: unknown[], authorize?: Authorize): Promise<PushResponse>;
  getChanges(req: ChangesQuery): Promise<ChangesResponse>;
  /** The same page, already serialized as the `POST /changes` response body. */
  getChangesJson(req: ChangesQuery): Promise<string>;
  getDocument(collection: string, id: string): Promise<WireDocument | null>;
  queryDocuments(collection: string, req: QueryRequest): Promise<QueryResponse>;
  getStats(): Promise<StatsResponse>;
  /**
   * Raises the horizon first (its own transaction: a pull below it gets RESYNC_REQUIRED and nobody
   * reads the rows under it), then deletes them in chunks of `chunkSize` rows, reporting progress.
   */
  compact(olderThanDays: number, options?: CompactOptions): Promise<CompactResponse>;
  currentPosition(): Promise<number>;
  /** The `since` that serves every change committed at or after `ms` (ms since epoch): the position before the first. */
  positionAtTime(ms: number): Promise<number>;
  /**
   * `options.local`: also tell this instance's own sequencing (`own`/`swept`). Off by default where the
   * NOTIFY already covers them (PostgreSQL): a reader without a bus needs one signal per commit, not two.
   */
  onCommit(listener: (position: number, origin: CommitOrigin) => void, options?: { local?: boolean }): Promise<() => Promise<void>>;
  /**
   * Several instances with a bus: `follow()` true means another instance's
   * capture reaches this one over the bus, so only one instance polls the
   * database for captured changes (MySQL: a lease). Optional.
   */
  pollWhen?(follow: () => boolean): void;
  /**
   * The transaction seam of `/sendActions` (see action-runner.ts). Optional:
   * a storage without it answers write actions with a NACK.
   */
  createActionRunner?(options: ActionRunnerOptions): Promise<ActionRunner>;
  /**
   * Token authentication (AUTH_TABLE/AUTH_COLUMN): the first row of `table`
   * whose `column` equals `value`, or null. Names are validated identifiers.
   */
  findRow(table: string, column: string, value: string): Promise<Record<string, unknown> | null>;
  /**
   * Clients that pulled with a `clientId` (the `clients` table): the `limit` seen most recently,
   * newest first, with the position they last pulled from. Optional (the admin API lists none without it).
   */
  listClients?(limit: number): Promise<ClientRecord[]>;
  /** Throws if the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface MigrateOptions {
  /** Runs after Syncline's own migrations and before capture is installed, so TABLE_NAMES may name tables it creates. */
  app?: (sql: AppSql) => Promise<void>;
}

/** Rows one compaction statement deletes at most. */
export const COMPACT_CHUNK = 10_000;

export interface CompactOptions {
  /** Rows per DELETE (default COMPACT_CHUNK). */
  chunkSize?: number;
  /** Called after each chunk: rows deleted so far of `total` (counted before deleting). */
  onProgress?: (done: number, total: number) => void;
}

export interface ClientRecord {
  clientId: string;
  position: number;
  /** ms since epoch. */
  lastSeen: number;
}

export interface ChangesQuery {
  since: number;
  limit: number;
  /** Records this client's acknowledged position (`since`). */
  clientId?: string;
  /** The authenticated user presenting `clientId`: claims it, or CLIENT_ID_TAKEN if another user owns it. */
  userId?: string | null;
  /**
   * false: read what is sequenced already, without first sequencing other programs' commits
   * (the live change feed, which the sweeper wakes when it sequenced some). Default: a pull
   * includes whatever committed before it started.
   */
  sweep?: boolean;
}

/** Existing SQL tables synced as collections (see capture in tables.ts / the MySQL adapter). */
export interface TableConfig {
  /** Table names (TABLE_NAMES); each becomes a collection of the same name. */
  names: readonly string[];
  /** PostgreSQL schema holding them (ignored on MySQL: they live in its database). */
  schema: string;
}

export interface StorageLimits {
  /** Largest page `getChanges` returns. */
  maxChangesLimit: number;
  /** Largest page `queryDocuments` returns. */
  maxQueryLimit: number;
  defaultQueryLimit: number;
}

/**
 * The `since` for a time whose first kept change follows `since`: when compaction removed what came before
 * it, earlier changes may have been at or after that time too, so it is below the horizon (RESYNC_REQUIRED).
 */
export const beforeHorizon = (since: number, horizon: number): number => (horizon > 0 && since <= horizon ? horizon - 1 : since);
