import { PGlite } from '@electric-sql/pglite';
import type { SqlClient, SqlQueryable } from './sql-client.js';

/** Embedded PostgreSQL (WASM). One connection: `transaction` holds it exclusively. */
export async function createPgliteClient(dataDir?: string): Promise<SqlClient> {
  // No dataDir = in memory (tests); otherwise a folder on disk.
  const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): SqlQueryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await q.query<T>(sql, params);
      return { rows: r.rows, affectedRows: r.affectedRows ?? 0 };
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  const base = wrap(db);
  return {
    kind: 'pglite',
    query: base.query,
    exec: base.exec,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onPayload) {
      const unsub = await db.listen(channel, onPayload);
      return async () => {
        await unsub();
      };
    },
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
