/**
 * The SQL seam under PostgreSQL-dialect storage: embedded PGlite or a `pg` pool.
 * Both speak the same SQL, so one Storage implementation runs on either.
 *
 * Contract:
 * - `query` runs one statement with `$n` parameters (arrays and objects serialize
 *   as PostgreSQL arrays / json).
 * - `transaction(fn)` runs `fn` in one READ COMMITTED transaction on one
 *   connection; it commits when `fn` resolves and rolls back when it throws.
 * - `listen(channel, fn)` delivers NOTIFY payloads until the returned function is called.
 */
export interface SqlQueryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[]; affectedRows: number }>;
  /** Runs a multi-statement script without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface SqlClient extends SqlQueryable {
  readonly kind: 'pglite' | 'postgres';
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** A PostgreSQL identifier, quoted (names come from configuration, never from requests). */
export const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
