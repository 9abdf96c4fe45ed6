/**
 * The SQL seam under MySQL/MariaDB storage: a `mysql2/promise` pool, loaded
 * with a dynamic import so the driver loads only when MySQL is configured.
 *
 * Contract:
 * - `query` runs one statement with `?` parameters; objects and arrays are
 *   never expanded by the driver (callers pass JSON text).
 * - Every connection runs READ COMMITTED (the change consumer relies on each
 *   statement seeing every committed row) with time_zone UTC.
 * - `transaction(fn)` runs `fn` on one connection; commits when it resolves,
 *   rolls back when it throws, and always clears the session's writer
 *   variables (capture triggers read them) before the connection is reused.
 * - `session(fn)` lends one connection (for GET_LOCK, which is per session).
 */

/** The subset of mysql2's promise connection we use. */
interface Mysql2Conn {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  release(): void;
  destroy(): void;
}
interface Mysql2Pool {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
  getConnection(): Promise<Mysql2Conn>;
  end(): Promise<void>;
  pool: { on(event: 'connection', fn: (c: { query(sql: string): unknown }) => void): void };
}
interface Mysql2Module {
  createPool(options: Record<string, unknown>): Mysql2Pool;
}

export interface MysqlQueryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[]; affectedRows: number; insertId: number }>;
}

export interface MysqlClient extends MysqlQueryable {
  /** MariaDB and MySQL 8 differ in a few JSON functions (see mysql-filter.ts). */
  readonly flavor: 'mariadb' | 'mysql';
  readonly database: string;
  transaction<T>(fn: (tx: MysqlQueryable) => Promise<T>): Promise<T>;
  session<T>(fn: (conn: MysqlQueryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export interface MysqlClientOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  poolSize?: number;
  /** innodb_lock_wait_timeout of API writes (rounded up to whole seconds, as MySQL takes it). */
  lockTimeoutMs?: number;
  /** Allow several statements in one `query` (tests' "other program" only). */
  multipleStatements?: boolean;
}

/** Session variables the capture triggers read (see mysql-migrations.ts). */
export const CLEAR_WRITER = 'SET @syncline_api = NULL, @syncline_op = NULL, @syncline_client = NULL, @syncline_last_change = NULL';

const wrap = (c: Pick<Mysql2Conn, 'query'>): MysqlQueryable => ({
  async query<T>(sql: string, params?: unknown[]) {
    const [result] = await c.query(sql, params);
    if (Array.isArray(result)) return { rows: result as T[], affectedRows: 0, insertId: 0 };
    const r = result as { affectedRows?: number; insertId?: number };
    return { rows: [] as T[], affectedRows: r.affectedRows ?? 0, insertId: Number(r.insertId ?? 0) };
  },
});

export async function createMysqlClient(opts: MysqlClientOptions): Promise<MysqlClient> {
  const mysql = (await import('mysql2/promise')) as unknown as Partial<Mysql2Module> & { default?: Mysql2Module };
  const driver = (mysql.createPool ? mysql : mysql.default) as Mysql2Module;
  const lockWait = Math.max(1, Math.ceil((opts.lockTimeoutMs ?? 50_000) / 1000));
  const pool = driver.createPool({
    host: opts.host,
    port: opts.port,
    user: opts.user,
    password: opts.password,
    database: opts.database,
    connectionLimit: opts.poolSize ?? 10,
    connectTimeout: 5000,
    charset: 'UTF8MB4_BIN',
    // JSON stays text from the database to the wire (see change-page.ts), on MySQL 8 too.
    jsonStrings: true,
    dateStrings: true,
    supportBigNumbers: true,
    multipleStatements: opts.multipleStatements ?? false,
  });
  pool.pool.on('connection', (c) => {
    c.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    c.query(`SET time_zone = '+00:00', innodb_lock_wait_timeout = ${lockWait}`);
  });
  const pooled = wrap(pool);
  const { rows } = await pooled.query<{ v: string }>('SELECT VERSION() AS v');
  const flavor = /mariadb/i.test(rows[0]?.v ?? '') ? 'mariadb' : 'mysql';

  return {
    flavor,
    database: opts.database,
    ...pooled,
    async transaction(fn) {
      const conn = await pool.getConnection();
      let healthy = true;
      try {
        await conn.beginTransaction();
        const out = await fn(wrap(conn));
        await conn.commit();
        return out;
      } catch (err) {
        await conn.rollback().catch(() => {
          healthy = false;
        });
        throw err;
      } finally {
        await conn.query(CLEAR_WRITER).catch(() => {
          healthy = false;
        });
        // A connection in an unknown state is not given back.
        if (healthy) conn.release();
        else conn.destroy();
      }
    },
    async session(fn) {
      const conn = await pool.getConnection();
      try {
        const out = await fn(wrap(conn));
        conn.release();
        return out;
      } catch (err) {
        conn.destroy();
        throw err;
      }
    },
    close: () => pool.end(),
  };
}
