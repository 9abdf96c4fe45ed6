import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { SynclineError } from '@syncline/protocol';
import type { SqlClient, SqlQueryable } from './sql-client.js';

/**
 * PGlite has no lock of its own: two processes opening one folder corrupt it
 * (e.g. `npm run seed` while `npm start` runs). A file naming the holder's pid
 * refuses a second process while the first is alive; a dead holder's file is taken over.
 */
function lockDataDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'syncline.pid');
  let holder: number | undefined;
  try {
    holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    holder = undefined;
  }
  if (holder !== undefined && Number.isSafeInteger(holder) && holder !== process.pid && alive(holder)) {
    throw new SynclineError(
      'INVALID_CONFIG',
      `The data folder ${dir} is in use by process ${holder} (a running Syncline server?). Stop it first: embedded PGlite allows one process per folder.`,
      { dataDir: dir, pid: holder },
    );
  }
  writeFileSync(file, String(process.pid));
  return () => {
    try {
      if (readFileSync(file, 'utf8') === String(process.pid)) rmSync(file);
    } catch {}
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Embedded PostgreSQL (WASM). One connection: `transaction` holds it exclusively. */
export async function createPgliteClient(dataDir?: string): Promise<SqlClient> {
  // No dataDir = in memory (tests); otherwise a folder on disk.
  const unlock = dataDir ? lockDataDir(dataDir) : () => {};
  const db = await (dataDir ? PGlite.create(dataDir) : PGlite.create()).catch((err: unknown) => {
    unlock();
    throw err;
  });
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
      unlock();
    },
  };
}
