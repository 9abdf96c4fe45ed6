/**
 * Knex on Syncline's own connection: application migrations and seeds written for Knex (`exports.up/down(knex)`,
 * `exports.seed(knex)`, as the reference sync server's project has them) get a Knex instance whose every query
 * runs on the connection the migration step holds, inside its transaction and under its lock. So a Knex file is
 * applied exactly like a SQL file (ordered, once, recorded, all or nothing on PostgreSQL), on PostgreSQL, PGlite
 * (Knex has no driver for it: it needs none here) and MySQL/MariaDB. Knex is an optional dependency, loaded only
 * when such a file exists.
 */
import { createRequire } from 'node:module';
import { SynclineError } from '@syncline/protocol';
import type { AppQueryable, AppSql } from '../storage/app-sql.js';

/** What a migration or seed receives: Knex's query builder (typed loosely: Knex is optional). */
export type KnexLike = ((table: string) => unknown) & { schema: unknown; raw: (...args: unknown[]) => unknown; destroy(): Promise<void> };

interface KnexQuery {
  sql: string;
  bindings?: unknown[];
  response?: unknown;
}

type ClientClass = new (
  config: Record<string, unknown>,
) => {
  _query(connection: unknown, obj: KnexQuery): Promise<KnexQuery>;
};

const require = createRequire(import.meta.url);

function loadKnex(file: string): { knex: (config: Record<string, unknown>) => KnexLike; pg: ClientClass; mysql: ClientClass } {
  try {
    return {
      knex: require('knex') as (config: Record<string, unknown>) => KnexLike,
      pg: require('knex/lib/dialects/postgres/index.js') as ClientClass,
      mysql: require('knex/lib/dialects/mysql2/index.js') as ClientClass,
    };
  } catch (err) {
    throw new SynclineError(
      'INVALID_CONFIG',
      `${file} is a Knex file, but the knex package cannot be loaded (${(err as Error).message}): npm install knex`,
      { file },
    );
  }
}

/** The first keyword of a statement, as node-postgres reports it in `command`. */
const command = (sql: string) => /^\s*(?:\(\s*)?([A-Za-z]+)/.exec(sql)?.[1]?.toUpperCase() ?? '';

/** A Knex instance that runs every query on `q` (`file`: named in the error when Knex is missing). */
export function knexOn(q: AppQueryable, dialect: AppSql['dialect'], file: string): KnexLike {
  const { knex, pg, mysql } = loadKnex(file);
  const Base = dialect === 'mysql' ? mysql : pg;
  const connection = {};
  // No pool and no driver: one borrowed connection, answered in the shape each Knex dialect expects of its driver.
  class Bridged extends Base {
    async acquireConnection() {
      return connection;
    }
    async releaseConnection() {}
    override async _query(_connection: unknown, obj: KnexQuery) {
      if (!obj.sql) throw new Error('The query is empty');
      const r = (await q.query(obj.sql, obj.bindings ?? [])) as { rows: unknown[]; affectedRows: number; insertId?: number };
      const verb = command(obj.sql);
      if (dialect === 'mysql') {
        const rows = ['SELECT', 'SHOW', 'WITH', 'DESCRIBE', 'EXPLAIN'].includes(verb)
          ? r.rows
          : { affectedRows: r.affectedRows, insertId: r.insertId ?? 0 };
        obj.response = [rows, undefined];
      } else {
        obj.response = { command: verb === 'WITH' || verb === 'VALUES' ? 'SELECT' : verb, rows: r.rows, rowCount: r.affectedRows };
      }
      return obj;
    }
  }
  return knex({ client: Bridged, useNullAsDefault: dialect === 'mysql' });
}

/** Runs `fn` with a Knex instance on `q`, releasing it after. */
export async function withKnex<T>(q: AppQueryable, dialect: AppSql['dialect'], file: string, fn: (k: KnexLike) => Promise<T>): Promise<T> {
  const k = knexOn(q, dialect, file);
  try {
    return await fn(k);
  } finally {
    await k.destroy().catch(() => {});
  }
}
