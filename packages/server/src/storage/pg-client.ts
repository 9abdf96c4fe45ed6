import pg from 'pg';
import type { SqlClient, SqlQueryable } from './sql-client.js';

export interface PgClientOptions {
  connectionString: string;
  poolSize?: number;
  /** Bound on how long one statement may run (ms). */
  statementTimeoutMs?: number;
  /** Bound on how long a statement waits for a lock (ms). */
  lockTimeoutMs?: number;
}

// int8 (positions, counts) fits in a JS number up to 2^53; parse it as one.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number.parseInt(v, 10));

export async function createPgClient(opts: PgClientOptions): Promise<SqlClient> {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    statement_timeout: opts.statementTimeoutMs ?? 30_000,
    ...(opts.lockTimeoutMs ? { lock_timeout: opts.lockTimeoutMs } : {}),
    // A transaction left open by a crashed caller must not hold locks forever.
    idle_in_transaction_session_timeout: 60_000,
  } as pg.PoolConfig);
  // An idle client losing its connection must not crash the process.
  pool.on('error', () => {});
  const wrap = (c: pg.Pool | pg.PoolClient): SqlQueryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await c.query(sql, params as unknown[]);
      return { rows: r.rows as T[], affectedRows: r.rowCount ?? 0 };
    },
    async exec(sql: string) {
      // No parameters: the simple protocol, which runs several statements.
      await c.query(sql);
    },
  });
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(p: string) => void>>();

  return {
    kind: 'postgres',
    ...wrap(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
          client.release();
        } catch {
          client.release(true);
        }
        throw err;
      }
    },
    async listen(channel, onPayload) {
      if (!listener) {
        listener = new pg.Client({ connectionString: opts.connectionString });
        listener.on('error', () => {});
        listener.on('notification', (n) => {
          for (const h of handlers.get(n.channel) ?? []) h(n.payload ?? '');
        });
        await listener.connect();
      }
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await listener.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onPayload);
      return async () => {
        set.delete(onPayload);
      };
    },
    async close() {
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
