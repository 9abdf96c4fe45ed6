import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Change } from '@syncline/protocol';
import { postgresUrl, uniqueSchema } from '../../../test/services.js';
import { createPgClient } from '../src/storage/pg-client.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';

export interface Harness {
  storage: PostgresStorage;
  /** Raw SQL on the same database, for writes "made by another program" and for inspection. */
  sql: SqlClient;
  schema: string;
  /** Closes and opens the storage again on the same data (a restart). */
  reopen(): Promise<void>;
  close(): Promise<void>;
}

export type HarnessFactory = () => Promise<Harness>;

export const limits = { maxChangesLimit: 1000, maxQueryLimit: 1000, defaultQueryLimit: 100 };

/** PGlite in a temporary folder, so that a restart keeps the data. */
export const pgliteHarness: HarnessFactory = async () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncline-test-'));
  const schema = 'syncline';
  const h: Harness = {
    sql: await createPgliteClient(dir),
    storage: undefined as unknown as PostgresStorage,
    schema,
    async reopen() {
      await h.storage.close();
      h.sql = await createPgliteClient(dir);
      h.storage = new PostgresStorage(h.sql, schema, limits);
      await h.storage.migrate();
    },
    async close() {
      await h.storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  h.storage = new PostgresStorage(h.sql, schema, limits);
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
    schema,
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
