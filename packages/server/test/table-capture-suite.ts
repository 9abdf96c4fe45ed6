/**
 * Table collections (TABLE_NAMES) on one PostgreSQL-dialect backend: capture of
 * writes made directly in SQL, API writes on real columns, and trigger
 * installation/removal. Run on PGlite and on PostgreSQL.
 */
import type { Change, OperationResult } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import type { SqlClient } from '../src/storage/sql-client.js';
import { limits, opId } from './harness.js';

export interface TableHarness {
  /** Raw SQL as "another program" would run it. */
  sql: SqlClient;
  /** Opens a storage (migrated) watching these tables; closed by the suite. */
  open(tables: string[]): Promise<PostgresStorage>;
  /** Schema holding the application's tables. */
  appSchema: string;
  close(): Promise<void>;
}

const TABLES = ['category', 'product', 'notes', 'users', 'odd'];

async function changesSince(storage: PostgresStorage, since: number): Promise<Change[]> {
  const res = await storage.getChanges({ since, limit: 1000 });
  return res.operations;
}

export function registerTableCaptureTests(name: string, factory: () => Promise<TableHarness>): void {
  describe(`Table collections: ${name}`, () => {
    let h: TableHarness;
    let storage: PostgresStorage;
    let t: (name: string) => string;

    beforeAll(async () => {
      h = await factory();
      t = (n) => `${h.appSchema}.${n}`;
      await h.sql.exec(`
        CREATE TABLE ${t('category')} (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
        CREATE TABLE ${t('product')} (
          id serial PRIMARY KEY, name text NOT NULL, price numeric CHECK (price >= 0), description text,
          "ownerId" integer, secret text, category integer REFERENCES ${t('category')}(id), "lastUpdate" timestamptz DEFAULT now());
        CREATE TABLE ${t('notes')} (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), body text, tags jsonb);
        CREATE TABLE ${t('users')} (email text PRIMARY KEY, name text);
        CREATE TABLE ${t('nokey')} (a integer, b text);
        CREATE TABLE ${t('odd')} (id serial PRIMARY KEY, n integer, o integer, t text, j integer, v integer, r text);
        CREATE TABLE ${t('twokeys')} (a integer, b integer, PRIMARY KEY (a, b));`);
      storage = await h.open(TABLES);
    });
    afterAll(async () => {
      await storage?.close();
      await h?.close();
    });

    test('lists the configured tables as collections', () => {
      expect([...storage.tableCollections].sort()).toEqual([...TABLES].sort());
    });

    test('writes made directly in SQL are captured in commit order with source "database", versions and old values', async () => {
      const p0 = await storage.currentPosition();
      await h.sql.exec(`INSERT INTO ${t('category')} (name) VALUES ('fruit'), ('vegetables')`);
      await h.sql.exec(`INSERT INTO ${t('product')} (name, price, "ownerId", secret, category) VALUES ('apple', 1.5, 7, 's3cret', 1)`);
      const inserted = await changesSince(storage, p0);
      expect(inserted.map((c) => [c.collection, c.type, c.version, c.source])).toEqual([
        ['category', 'insert', 1, 'database'],
        ['category', 'insert', 1, 'database'],
        ['product', 'insert', 1, 'database'],
      ]);
      const ins = inserted[2] as Change;
      expect(ins.data).toMatchObject({ name: 'apple', price: 1.5, ownerId: 7, secret: 's3cret', category: 1 });
      expect(ins.docId).toBe(String(ins.data?.id));
      expect(ins.old).toBeUndefined();

      await h.sql.exec(`UPDATE ${t('product')} SET price = 2, "ownerId" = 8 WHERE name = 'apple'`);
      await h.sql.exec(`DELETE FROM ${t('product')} WHERE name = 'apple'`);
      const changes = await changesSince(storage, ins.position);
      expect(changes.map((c) => [c.collection, c.type, c.version, c.source])).toEqual([
        ['product', 'update', 2, 'database'],
        ['product', 'delete', 3, 'database'],
      ]);
      const [upd, del] = changes as Change[];
      // An update keeps its own row and the old values of exactly the columns it changed.
      expect(upd?.data).toMatchObject({ price: 2, ownerId: 8 });
      expect(upd?.old).toEqual({ price: 1.5, ownerId: 7 });
      // A delete carries no data, and the whole deleted row as old.
      expect(del?.data).toBeNull();
      expect(del?.old).toMatchObject({ name: 'apple', price: 2, ownerId: 8, secret: 's3cret' });
      // Read again from the start: the insert of a row deleted since is not served (its delete follows).
      const again = await changesSince(storage, p0);
      expect(again.map((c) => [c.collection, c.type])).toEqual([
        ['category', 'insert'],
        ['category', 'insert'],
        ['product', 'update'],
        ['product', 'delete'],
      ]);
      expect(again.map((c) => c.position)).toEqual([...again.map((c) => c.position)].sort((a, b) => a - b));
    });

    test('an insert is logged without its row: it is read from the table as it is when the change is read', async () => {
      const p0 = await storage.currentPosition();
      await h.sql.exec(`INSERT INTO ${t('category')} (name) VALUES ('read-through')`);
      await h.sql.exec(`UPDATE ${t('category')} SET name = 'read-through 2' WHERE name = 'read-through'`);
      const changes = await changesSince(storage, p0);
      expect(changes.map((c) => [c.type, c.data?.name, c.version])).toEqual([
        ['insert', 'read-through 2', 2],
        ['update', 'read-through 2', 2],
      ]);
      // One log row for a whole INSERT statement, whatever its size.
      const { rows } = await h.sql.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM ${storage.schemaName}.changes WHERE collection = 'category' AND type = 'insert' AND ids IS NOT NULL AND cardinality(ids) = 3`,
      );
      const before = rows[0]?.n ?? 0;
      await h.sql.exec(`INSERT INTO ${t('category')} (name) VALUES ('bulk-1'), ('bulk-2'), ('bulk-3')`);
      const { rows: after } = await h.sql.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM ${storage.schemaName}.changes WHERE collection = 'category' AND type = 'insert' AND ids IS NOT NULL AND cardinality(ids) = 3`,
      );
      expect(after[0]?.n).toBe(before + 1);
      const bulk = await changesSince(storage, changes.at(-1)?.position as number);
      expect(bulk.map((c) => c.data?.name)).toEqual(['bulk-1', 'bulk-2', 'bulk-3']);
      expect(new Set(bulk.map((c) => c.position)).size).toBe(3);
    });

    test('columns named like the capture SQL aliases (n, o, t, j, v, r) are captured and written like any other', async () => {
      const p0 = await storage.currentPosition();
      await h.sql.exec(`INSERT INTO ${t('odd')} (n, o, t, j, v, r) VALUES (1, 2, 'x', 3, 4, 'y')`);
      await h.sql.exec(`UPDATE ${t('odd')} SET n = 10, o = 20`);
      const res = await storage.applyOperations('c', [{ id: opId(), type: 'insert', collection: 'odd', data: { n: 5, t: 'api' } }]);
      const id = res.results[0]?.docId as string;
      expect(res.results[0]).toMatchObject({ status: 'applied', document: { n: 5, t: 'api', _rev: 1 } });
      expect(await storage.getDocument('odd', id)).toMatchObject({ n: 5, t: 'api' });
      const live = await changesSince(storage, p0);
      expect(live.map((c) => [c.type, c.data?.n ?? null, c.old?.n ?? null])).toEqual([
        ['insert', 10, null],
        ['update', 10, 1],
        ['insert', 5, null],
      ]);
      await h.sql.exec(`DELETE FROM ${t('odd')}`);
      const changes = await changesSince(storage, live.at(-1)?.position as number);
      expect(changes.map((c) => [c.type, c.old?.n ?? null, c.old?.t ?? null]).sort()).toEqual([
        ['delete', 10, 'x'],
        ['delete', 5, 'api'],
      ]);
    });

    test('a 9000-byte row is captured and delivered whole', async () => {
      const p0 = await storage.currentPosition();
      const big = 'x'.repeat(9000);
      await h.sql.query(`INSERT INTO ${t('product')} (name, description) VALUES ('big', $1)`, [big]);
      const [c] = await changesSince(storage, p0);
      expect(c?.data?.description).toBe(big);
      const doc = await storage.getDocument('product', c?.docId as string);
      expect(doc?.description).toBe(big);
    });

    test('a changed primary key is a delete of the old key and an insert of the new one', async () => {
      await h.sql.exec(`INSERT INTO ${t('users')} (email, name) VALUES ('a@x.io', 'Ann')`);
      const p0 = await storage.currentPosition();
      await h.sql.exec(`UPDATE ${t('users')} SET email = 'ann@x.io' WHERE email = 'a@x.io'`);
      const changes = await changesSince(storage, p0);
      expect(changes.map((c) => [c.type, c.docId]).sort()).toEqual([
        ['delete', 'a@x.io'],
        ['insert', 'ann@x.io'],
      ]);
    });

    test('TRUNCATE records a delete for every row', async () => {
      await h.sql.exec(`INSERT INTO ${t('users')} (email) VALUES ('t1@x.io'), ('t2@x.io')`);
      const live = (await storage.queryDocuments('users', {})).documents.length;
      const p0 = await storage.currentPosition();
      await h.sql.exec(`TRUNCATE ${t('users')}`);
      const changes = await changesSince(storage, p0);
      expect(changes.length).toBe(live);
      expect(changes.every((c) => c.type === 'delete' && c.collection === 'users')).toBe(true);
    });

    test('API insert without docId gets the generated key back; the change says source "api" with the operation id', async () => {
      const p0 = await storage.currentPosition();
      const op = { id: opId(), type: 'insert', collection: 'product', data: { name: 'pear', price: 3, category: 2 } };
      const res = await storage.applyOperations('client-1', [op]);
      const r = res.results[0] as OperationResult;
      expect(r.status).toBe('applied');
      expect(r.docId).toMatch(/^\d+$/);
      expect(r.document).toMatchObject({ _id: r.docId, _rev: 1, name: 'pear', price: 3, category: 2 });
      expect(r.position).toBeGreaterThan(p0);
      const { rows } = await h.sql.query<{ name: string }>(`SELECT name FROM ${t('product')} WHERE id = $1`, [Number(r.docId)]);
      expect(rows).toEqual([{ name: 'pear' }]);
      const [c] = await changesSince(storage, p0);
      expect(c).toMatchObject({ collection: 'product', docId: r.docId, type: 'insert', source: 'api', id: op.id, clientId: 'client-1' });
    });

    test('patch sets only the named columns; baseVersion is checked against the row version', async () => {
      const ins = await storage.applyOperations('c', [
        { id: opId(), type: 'insert', collection: 'product', data: { name: 'kiwi', price: 1, description: 'green' } },
      ]);
      const id = (ins.results[0] as OperationResult).docId as string;
      const ok = await storage.applyOperations('c', [
        { id: opId(), type: 'patch', collection: 'product', docId: id, baseVersion: 1, data: { price: 4 } },
      ]);
      expect(ok.results[0]).toMatchObject({ status: 'applied', version: 2, document: { price: 4, description: 'green', _rev: 2 } });
      const stale = await storage.applyOperations('c', [
        { id: opId(), type: 'patch', collection: 'product', docId: id, baseVersion: 1, data: { price: 9 } },
      ]);
      expect(stale.results[0]).toMatchObject({
        status: 'conflict',
        error: { code: 'VERSION_MISMATCH' },
        serverDocument: { price: 4, _rev: 2 },
      });
      expect((await storage.getDocument('product', id))?.price).toBe(4);
      // A write made in SQL advances the version too.
      await h.sql.query(`UPDATE ${t('product')} SET price = 5 WHERE id = $1`, [Number(id)]);
      expect((await storage.getDocument('product', id))?._rev).toBe(3);
    });

    test('unknown columns, bad keys and constraint violations are coded rejections that write nothing, and do not block the rest', async () => {
      const before = await h.sql.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${t('product')}`);
      const res = await storage.applyOperations('c', [
        { id: opId(), type: 'insert', collection: 'product', data: { name: 'x', colour: 'red' } },
        { id: opId(), type: 'insert', collection: 'product', data: { name: 'orphan', category: 999 } },
        { id: opId(), type: 'insert', collection: 'product', data: { price: 1 } },
        { id: opId(), type: 'insert', collection: 'product', data: { name: 'neg', price: -1 } },
        { id: opId(), type: 'insert', collection: 'category', data: { name: 'fruit' } },
        { id: opId(), type: 'update', collection: 'product', docId: 'abc', data: { name: 'y' } },
        { id: opId(), type: 'delete', collection: 'category', docId: '1' },
        { id: opId(), type: 'insert', collection: 'product', data: { name: 'fine' } },
      ]);
      expect(res.results.map((r) => r.error?.code ?? r.status)).toEqual([
        'UNKNOWN_COLUMN',
        'CONSTRAINT_VIOLATION',
        'CONSTRAINT_VIOLATION',
        'CONSTRAINT_VIOLATION',
        'CONSTRAINT_VIOLATION',
        'INVALID_DOCUMENT_ID',
        'applied',
        'applied',
      ]);
      expect(res.results[1]?.error?.message).toContain('foreign_key');
      expect(res.results[2]?.error?.message).toContain('not_null');
      expect(res.results[3]?.error?.message).toContain('check');
      expect(res.results[4]?.error?.message).toContain('unique');
      const after = await h.sql.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${t('product')}`);
      expect(after.rows[0]?.n).toBe((before.rows[0]?.n ?? 0) + 1);
    });

    test('deleting a row that others reference is a CONSTRAINT_VIOLATION', async () => {
      const cat = await storage.applyOperations('c', [{ id: opId(), type: 'insert', collection: 'category', data: { name: 'nuts' } }]);
      const catId = Number((cat.results[0] as OperationResult).docId);
      await h.sql.query(`INSERT INTO ${t('product')} (name, category) VALUES ('walnut', $1)`, [catId]);
      const res = await storage.applyOperations('c', [{ id: opId(), type: 'delete', collection: 'category', docId: String(catId) }]);
      expect(res.results[0]).toMatchObject({ status: 'rejected', error: { code: 'CONSTRAINT_VIOLATION' } });
      expect(await storage.getDocument('category', String(catId))).not.toBeNull();
    });

    test('an operation id is applied once: a retry answers duplicate and writes nothing', async () => {
      const op = { id: opId(), type: 'insert', collection: 'category', data: { name: `once-${opId()}` } };
      const first = await storage.applyOperations('c', [op]);
      const again = await storage.applyOperations('c', [op, op]);
      expect(first.results[0]?.status).toBe('applied');
      expect(again.results.map((r) => [r.status, r.originalStatus, r.docId])).toEqual([
        ['duplicate', 'applied', first.results[0]?.docId],
        ['duplicate', 'applied', first.results[0]?.docId],
      ]);
      const { rows } = await h.sql.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${t('category')} WHERE name = $1`, [
        (op.data as { name: string }).name,
      ]);
      expect(rows[0]?.n).toBe(1);
    });

    test('text and uuid keys: insert with a docId, upsert, delete; json columns keep their structure', async () => {
      const res = await storage.applyOperations('c', [
        { id: opId(), type: 'insert', collection: 'users', docId: 'bo@x.io', data: { name: 'Bo' } },
        { id: opId(), type: 'upsert', collection: 'users', docId: 'bo@x.io', data: { name: 'Bob' } },
        { id: opId(), type: 'upsert', collection: 'users', docId: 'cy@x.io', data: { name: 'Cy' } },
        { id: opId(), type: 'insert', collection: 'notes', data: { body: 'hi', tags: { a: [1, 2] } } },
        { id: opId(), type: 'insert', collection: 'users', docId: 'bo@x.io', data: { name: 'Again' } },
      ]);
      expect(res.results.map((r) => r.error?.code ?? r.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'DOCUMENT_EXISTS']);
      expect(res.results[1]?.version).toBe(2);
      expect(res.results[3]?.docId).toMatch(/^[0-9a-f-]{36}$/);
      expect((await storage.getDocument('notes', res.results[3]?.docId as string))?.tags).toEqual({ a: [1, 2] });
      expect(await storage.getDocument('users', 'bo@x.io')).toMatchObject({ _id: 'bo@x.io', _rev: 2, name: 'Bob' });
      const del = await storage.applyOperations('c', [{ id: opId(), type: 'delete', collection: 'users', docId: 'cy@x.io' }]);
      expect(del.results[0]).toMatchObject({ status: 'applied', document: null, version: 2 });
      expect(await storage.getDocument('users', 'cy@x.io')).toBeNull();
    });

    test('query reads the table with the filter language, sorted and paged', async () => {
      await h.sql.exec(`INSERT INTO ${t('category')} (name) VALUES ('q-a'), ('q-b'), ('q-c')`);
      const page1 = await storage.queryDocuments('category', {
        filter: { name: { $in: ['q-a', 'q-b', 'q-c'] } },
        sort: { name: -1 },
        limit: 2,
      });
      expect(page1.documents.map((d) => d.name)).toEqual(['q-c', 'q-b']);
      const page2 = await storage.queryDocuments('category', {
        filter: { name: { $in: ['q-a', 'q-b', 'q-c'] } },
        sort: { name: -1 },
        limit: 2,
        cursor: page1.nextCursor as string,
      });
      expect(page2.documents.map((d) => d.name)).toEqual(['q-a']);
      expect(page2.documents[0]?._id).toMatch(/^\d+$/);
    });

    test('stats count the rows of table collections', async () => {
      const stats = await storage.getStats();
      const { rows } = await h.sql.query<{ n: number }>(`SELECT count(*)::integer AS n FROM ${t('category')}`);
      expect(stats.collections.category).toEqual({ documents: rows[0]?.n, deleted: 0 });
      expect(stats.totalDocuments).toBeGreaterThanOrEqual(rows[0]?.n ?? 0);
    });

    test('a batch mixing a table and a document collection applies both', async () => {
      const res = await storage.applyOperations('c', [
        { id: opId(), type: 'insert', collection: 'todo-docs', docId: 'd1', data: { title: 'doc' } },
        { id: opId(), type: 'insert', collection: 'category', data: { name: `mixed-${opId()}` } },
      ]);
      expect(res.results.map((r) => r.status)).toEqual(['applied', 'applied']);
      expect(res.accepted).toHaveLength(2);
    });

    test('a table no longer listed loses its triggers (and is captured again when listed again)', async () => {
      await storage.close();
      storage = await h.open(['category']);
      expect([...storage.tableCollections]).toEqual(['category']);
      const p0 = await storage.currentPosition();
      await h.sql.exec(`INSERT INTO ${t('users')} (email) VALUES ('unwatched@x.io')`);
      await h.sql.exec(`INSERT INTO ${t('category')} (name) VALUES ('still-watched')`);
      expect((await changesSince(storage, p0)).map((c) => c.collection)).toEqual(['category']);
      const { rows } = await h.sql.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal`,
        [t('users')],
      );
      expect(rows[0]?.n).toBe(0);
      await storage.close();
      storage = await h.open(TABLES);
      const p1 = await storage.currentPosition();
      await h.sql.exec(`INSERT INTO ${t('users')} (email) VALUES ('watched-again@x.io')`);
      expect((await changesSince(storage, p1)).map((c) => c.docId)).toEqual(['watched-again@x.io']);
    });

    test('a missing table or one without a single-column key fails at start with INVALID_CONFIG', async () => {
      for (const tables of [['nosuchtable'], ['nokey'], ['twokeys']]) {
        await expect(h.open(tables)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
      }
    });
  });
}

export async function openTableStorage(sql: SqlClient, schema: string, appSchema: string, tables: string[]): Promise<PostgresStorage> {
  const storage = new PostgresStorage(sql, schema, limits, { names: tables, schema: appSchema });
  await storage.migrate();
  return storage;
}
