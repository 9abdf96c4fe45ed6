import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change } from '@syncline/protocol';
import { postgresUrl, uniqueSchema } from '../../../test/services.js';
import { migrations } from '../src/storage/migrations.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import type { Storage } from '../src/storage/storage.js';

/** Raw SQL in the backend's dialect; `$n` placeholders (the MySQL harness translates them). */
export interface TestSql {
  readonly kind: 'pglite' | 'postgres' | 'mysql';
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[]; affectedRows: number }>;
  /** Runs a script of several statements. */
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: Pick<TestSql, 'query' | 'exec'>) => Promise<T>): Promise<T>;
}

export interface Harness {
  storage: Storage;
  /** Raw SQL on the same database, for writes "made by another program" and for inspection. */
  sql: TestSql;
  schema: string;
  /** One of Syncline's own tables as SQL: `syncline.documents` (PostgreSQL), `syncline_documents` (MySQL). */
  table(name: string): string;
  /** The migration versions a migrated database records. */
  migrations: number[];
  /** SQL of the JSON column `col` with the JSON object literal `json` merged in. */
  jsonMerge(col: string, json: string): string;
  /** Moves the recorded times of the change log, the operation log or the documents `days` days back. */
  age(what: 'changes' | 'operations' | 'documents', days: number): Promise<void>;
  /** Closes and opens the storage again on the same data (a restart). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export type HarnessFactory = () => Promise<Harness>;

export const limits = { maxChangesLimit: 1000, maxQueryLimit: 1000, defaultQueryLimit: 100 };

/** The dialect parts of a PostgreSQL / PGlite harness. */
function postgresDialect(schema: string, sql: () => TestSql) {
  const column = { changes: ['commits', 'committed_at'], operations: ['operations', 'created_at'], documents: ['documents', 'updated_at'] };
  return {
    schema,
    table: (name: string) => `${schema}.${name}`,
    migrations: migrations.map((m) => m.version),
    jsonMerge: (col: string, json: string) => `${col} || ${json}`,
    async age(what: keyof typeof column, days: number) {
      const [table, col] = column[what];
      await sql().exec(`UPDATE ${schema}.${table} SET ${col} = ${col} - interval '${days} days'`);
    },
  };
}

/** PGlite in a temporary folder, so that a restart keeps the data. */
export const pgliteHarness: HarnessFactory = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-test-'));
  const schema = 'syncline';
  const h: Harness = {
    sql: await createPgliteClient(dir),
    storage: undefined as unknown as PostgresStorage,
    ...postgresDialect(schema, () => h.sql),
    async reopen() {
      await h.storage.close();
      const sql = await createPgliteClient(dir);
      h.sql = sql;
      h.storage = new PostgresStorage(sql, schema, limits);
      await h.storage.migrate();
    },
    async close() {
      await h.storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  h.storage = new PostgresStorage(h.sql as SqlClient, schema, limits);
  await h.storage.migrate();
  return h;
};

/** A fresh schema on the PostgreSQL server; a separate pool plays "another program". */
export const postgresHarness: HarnessFactory = async () => {
  const schema = uniqueSchema('t');
  const open = () => createPgClient({ connectionString: postgresUrl, poolSize: 10 });
  const sql = await open();
  const h: Harness = {
    sql,
    storage: new PostgresStorage(await open(), schema, limits),
    ...postgresDialect(schema, () => sql),
    async reopen() {
      await h.storage.close();
      h.storage = new PostgresStorage(await open(), schema, limits);
      await h.storage.migrate();
    },
    async close() {
      await h.storage.close();
      await sql.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await sql.close();
    },
  };
  await h.storage.migrate();
  return h;
};

let counter = 0;
/** A collection name unique within the run, so tests sharing a database don't see each other. */
export const freshCollection = (prefix = 'c') => `${prefix}${++counter}_${Math.random().toString(36).slice(2, 6)}`;
let opCounter = 0;
export const opId = () => `op-${process.pid}-${++opCounter}-${Math.random().toString(36).slice(2, 8)}`;

/** A change as the change log serves it, for unit tests; fields default to an API insert at position 1. */
export function testChange(fields: Partial<Change>): Change {
  return {
    position: 1,
    id: 'op1',
    type: 'insert',
    collection: 'c',
    docId: 'd1',
    data: {},
    version: 1,
    vectorClock: {},
    timestamp: 0,
    clientId: null,
    source: 'api',
    synced: true,
    ...fields,
  };
}
