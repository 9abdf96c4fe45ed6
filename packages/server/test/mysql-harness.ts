/**
 * MySQL/MariaDB for the shared suites: a fresh table prefix per harness (tables
 * `<prefix>_documents`, ..., target `<prefix>_pubsub`), dropped on close; a
 * separate pool with multiple statements plays "another program".
 */
import { mysqlConfig, uniqueSchema } from '../../../test/services.js';
import { toMysqlPlaceholders } from '../src/storage/app-sql.js';
import { createMysqlClient, type MysqlClient, type MysqlQueryable } from '../src/storage/mysql/mysql-client.js';
import { migrations } from '../src/storage/mysql/mysql-migrations.js';
import { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import type { Harness, HarnessFactory, TestSql } from './harness.js';
import { limits } from './harness.js';

export const openMysqlClient = (multipleStatements = false): Promise<MysqlClient> =>
  createMysqlClient({ ...mysqlConfig, poolSize: 10, multipleStatements });

const asTestSql = (q: MysqlQueryable): Pick<TestSql, 'query' | 'exec'> => ({
  query: <T>(sql: string, params?: unknown[]) => q.query<T>(...toMysqlPlaceholders(sql, params)),
  exec: async (sql: string) => {
    await q.query(sql);
  },
});

export function mysqlTestSql(db: MysqlClient): TestSql {
  return { kind: 'mysql', ...asTestSql(db), transaction: (fn) => db.transaction((tx) => fn(asTestSql(tx))) };
}

/** Drops every table whose name starts with `<prefix>_` (their triggers go with them). */
export async function dropPrefixed(db: MysqlQueryable, prefix: string): Promise<void> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?`,
    [`${prefix.replaceAll('_', '\\_')}\\_%`],
  );
  for (const r of rows) await db.query(`DROP TABLE IF EXISTS \`${r.name}\``);
}

export interface MysqlHarnessOptions {
  pollIntervalMs?: number;
  tables?: string[];
}

export async function openMysqlStorage(prefix: string, opts: MysqlHarnessOptions = {}): Promise<MysqlStorage> {
  const storage = new MysqlStorage(await openMysqlClient(), {
    names: { prefix, target: `${prefix}_pubsub` },
    limits,
    pollIntervalMs: opts.pollIntervalMs ?? 250,
    tables: opts.tables ?? [],
  });
  await storage.migrate();
  return storage;
}

export const mysqlHarness: HarnessFactory = async () => {
  const schema = uniqueSchema('t');
  const raw = await openMysqlClient(true);
  const sql = mysqlTestSql(raw);
  const h: Harness = {
    sql,
    storage: await openMysqlStorage(schema),
    schema,
    table: (name) => `\`${schema}_${name}\``,
    migrations: migrations.map((m) => m.version),
    jsonMerge: (col, json) => `JSON_MERGE_PATCH(${col}, ${json})`,
    async age(what, days) {
      const t = h.table;
      if (what === 'changes') await raw.query(`UPDATE ${t('changes')} SET committed_ms = committed_ms - ?`, [days * 86_400_000]);
      if (what === 'operations') await raw.query(`UPDATE ${t('operations')} SET created_at = created_at - INTERVAL ? DAY`, [days]);
      if (what === 'documents') await raw.query(`UPDATE ${t('documents')} SET updated_at = updated_at - INTERVAL ? DAY`, [days]);
    },
    async reopen() {
      await h.storage.close();
      h.storage = await openMysqlStorage(schema);
    },
    async close() {
      await h.storage.close();
      await dropPrefixed(raw, schema);
      await raw.close();
    },
  };
  return h;
};
