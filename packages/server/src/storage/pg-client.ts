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

const LISTEN_RETRY_MS = 500;

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
  // One LISTEN connection for all channels. If it drops (a PostgreSQL restart),
  // it reconnects and listens again; readers poll meanwhile, so nothing is lost.
  let listener: Promise<pg.Client> | undefined;
  let closed = false;
  const handlers = new Map<string, Set<(p: string) => void>>();
  const connectListener = (): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: opts.connectionString });
    const lost = () => {
      if (closed || listener === undefined) return;
      listener = undefined;
      setTimeout(() => {
        if (!closed && listener === undefined && handlers.size > 0) ensureListener().catch(() => {});
      }, LISTEN_RETRY_MS).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => {
      for (const h of handlers.get(n.channel) ?? []) h(n.payload ?? '');
    });
    return client.connect().then(async () => {
      for (const channel of handlers.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return client;
    });
  };
  const ensureListener = (): Promise<pg.Client> => {
    listener ??= connectListener().catch((err) => {
      listener = undefined;
      throw err;
    });
    return listener;
  };

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
      let set = handlers.get(channel);
      const isNew = !set;
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
      }
      set.add(onPayload);
      const client = await ensureListener();
      if (isNew) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      return async () => {
        set.delete(onPayload);
      };
    },
    async close() {
      closed = true;
      const l = listener;
      listener = undefined;
      await l?.then((c) => c.end()).catch(() => {});
      await pool.end();
    },
  };
}
