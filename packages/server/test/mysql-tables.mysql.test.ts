/**
 * Table collections (TABLE_NAMES) on MySQL/MariaDB: the cases of
 * table-capture-suite.ts (PostgreSQL) with MySQL DDL. Table names carry a
 * per-file prefix, so they are the collection names too.
 */
import type { Change, OperationResult } from '@syncline/protocol';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import type { MysqlClient } from '../src/storage/mysql/mysql-client.js';
import type { MysqlStorage } from '../src/storage/mysql/mysql-storage.js';
import { opId } from './harness.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';

describe.skipIf(!(await mysqlAvailable()))('Table collections: MySQL/MariaDB', () => {
  const prefix = uniqueSchema('tc');
  const app = uniqueSchema('app');
  const t = (n: string) => `${app}_${n}`;
  const TABLES = ['category', 'product', 'notes', 'users'].map(t);
  let sql: MysqlClient;
  let storage: MysqlStorage;
  const open = (tables: string[]) => openMysqlStorage(prefix, { tables });
  const changesSince = async (since: number): Promise<Change[]> => (await storage.getChanges({ since, limit: 1000 })).operations;
  const count = async (table: string, where = 'TRUE', params: unknown[] = []) =>
    Number((await sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${table}\` WHERE ${where}`, params)).rows[0]?.n);

  beforeAll(async () => {
    sql = await openMysqlClient();
    for (const ddl of [
      `CREATE TABLE ${t('category')} (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE)`,
      `CREATE TABLE ${t('product')} (
        id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL, price DECIMAL(10, 2) CHECK (price >= 0), description TEXT,
        ownerId INT, secret TEXT, category INT, lastUpdate DATETIME DEFAULT CURRENT_TIMESTAMP,
        CONSTRAINT ${t('product_category')} FOREIGN KEY (category) REFERENCES ${t('category')} (id))`,
      `CREATE TABLE ${t('notes')} (id CHAR(36) PRIMARY KEY, body TEXT, tags JSON)`,
      `CREATE TABLE ${t('users')} (email VARCHAR(200) PRIMARY KEY, name TEXT)`,
      `CREATE TABLE ${t('nokey')} (a INT, b TEXT)`,
      `CREATE TABLE ${t('twokeys')} (a INT, b INT, PRIMARY KEY (a, b))`,
    ])
      await sql.query(ddl);
    storage = await open(TABLES);
  });
  afterAll(async () => {
    await storage?.close();
    for (const n of ['product', 'category', 'notes', 'users', 'nokey', 'twokeys']) await sql.query(`DROP TABLE IF EXISTS ${t(n)}`);
    await dropPrefixed(sql, prefix);
    await sql.close();
  });

  test('lists the configured tables as collections', () => {
    expect([...storage.tableCollections].sort()).toEqual([...TABLES].sort());
  });

  test('writes made directly in SQL are captured in commit order with source "database", versions and old values', async () => {
    const p0 = await storage.currentPosition();
    await sql.query(`INSERT INTO ${t('category')} (name) VALUES ('fruit'), ('vegetables')`);
    await sql.query(`INSERT INTO ${t('product')} (name, price, ownerId, secret, category) VALUES ('apple', 1.5, 7, 's3cret', 1)`);
    await sql.query(`UPDATE ${t('product')} SET price = 2, ownerId = 8 WHERE name = 'apple'`);
    await sql.query(`DELETE FROM ${t('product')} WHERE name = 'apple'`);
    const changes = await changesSince(p0);
    expect(changes.map((c) => [c.collection, c.type, c.version, c.source])).toEqual([
      [t('category'), 'insert', 1, 'database'],
      [t('category'), 'insert', 1, 'database'],
      [t('product'), 'insert', 1, 'database'],
      [t('product'), 'update', 2, 'database'],
      [t('product'), 'delete', 3, 'database'],
    ]);
    const [, , ins, upd, del] = changes as Change[];
    expect(ins?.data).toMatchObject({ name: 'apple', price: 1.5, ownerId: 7, secret: 's3cret', category: 1 });
    expect(ins?.docId).toBe(String(ins?.data?.id));
    expect(ins?.old).toBeUndefined();
    expect(ins?.vectorClock).toEqual({});
    expect(upd?.data).toMatchObject({ price: 2, ownerId: 8 });
    expect(upd?.old).toEqual({ price: 1.5, ownerId: 7 });
    expect(del?.data).toBeNull();
    expect(del?.old).toMatchObject({ name: 'apple', price: 2, ownerId: 8, secret: 's3cret' });
    // `old` is server-side only: never in the serialized pull.
    expect(await storage.getChangesJson({ since: p0, limit: 1000 })).not.toContain('"old"');
  });

  test('stats count the rows of table collections', async () => {
    const stats = await storage.getStats();
    const { rows } = await sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t('category')}`);
    expect(stats.collections[t('category')]).toEqual({ documents: Number(rows[0]?.n), deleted: 0 });
  });

  test('every UPDATEd row is recorded, even when nothing changed', async () => {
    await sql.query(`INSERT INTO ${t('users')} (email, name) VALUES ('same@x.io', 'S')`);
    const p0 = await storage.currentPosition();
    await sql.query(`UPDATE ${t('users')} SET name = 'S' WHERE email = 'same@x.io'`);
    const [c] = await changesSince(p0);
    expect(c).toMatchObject({ type: 'update', version: 2, old: {} });
  });

  test('a 9000-byte row is captured and delivered whole', async () => {
    const p0 = await storage.currentPosition();
    const big = 'x'.repeat(9000);
    await sql.query(`INSERT INTO ${t('product')} (name, description) VALUES ('big', ?)`, [big]);
    const [c] = await changesSince(p0);
    expect(c?.data?.description).toBe(big);
    expect((await storage.getDocument(t('product'), c?.docId as string))?.description).toBe(big);
  });

  test('a changed primary key is a delete of the old key and an insert of the new one', async () => {
    await sql.query(`INSERT INTO ${t('users')} (email, name) VALUES ('a@x.io', 'Ann')`);
    const p0 = await storage.currentPosition();
    await sql.query(`UPDATE ${t('users')} SET email = 'ann@x.io' WHERE email = 'a@x.io'`);
    const changes = await changesSince(p0);
    expect(changes.map((c) => [c.type, c.docId, c.version])).toEqual([
      ['delete', 'a@x.io', 2],
      ['insert', 'ann@x.io', 1],
    ]);
  });

  test('API insert without docId gets the generated key back; the change says source "api" with the operation id', async () => {
    const p0 = await storage.currentPosition();
    const op = { id: opId(), type: 'insert', collection: t('product'), data: { name: 'pear', price: 3, category: 2 } };
    const r = (await storage.applyOperations('client-1', [op])).results[0] as OperationResult;
    expect(r.status).toBe('applied');
    expect(r.docId).toMatch(/^\d+$/);
    expect(r.document).toMatchObject({ _id: r.docId, _rev: 1, name: 'pear', price: 3, category: 2 });
    expect(r.position).toBeGreaterThan(p0);
    expect(await count(t('product'), 'id = ? AND name = ?', [Number(r.docId), 'pear'])).toBe(1);
    const [c] = await changesSince(p0);
    expect(c).toMatchObject({ collection: t('product'), docId: r.docId, type: 'insert', source: 'api', id: op.id, clientId: 'client-1' });
    expect(c?.position).toBe(r.position);
    // The writer's session variables do not leak into later writes on the same connections.
    await sql.query(`UPDATE ${t('product')} SET price = 4 WHERE id = ?`, [Number(r.docId)]);
    expect((await changesSince(r.position as number))[0]).toMatchObject({
      source: 'database',
      clientId: null,
      id: expect.stringMatching(/^chg-/),
    });
  });

  test('patch sets only the named columns; baseVersion is checked against the row version', async () => {
    const ins = await storage.applyOperations('c', [
      { id: opId(), type: 'insert', collection: t('product'), data: { name: 'kiwi', price: 1, description: 'green' } },
    ]);
    const id = (ins.results[0] as OperationResult).docId as string;
    const ok = await storage.applyOperations('c', [
      { id: opId(), type: 'patch', collection: t('product'), docId: id, baseVersion: 1, data: { price: 4 } },
    ]);
    expect(ok.results[0]).toMatchObject({ status: 'applied', version: 2, document: { price: 4, description: 'green', _rev: 2 } });
    const stale = await storage.applyOperations('c', [
      { id: opId(), type: 'patch', collection: t('product'), docId: id, baseVersion: 1, data: { price: 9 } },
    ]);
    expect(stale.results[0]).toMatchObject({
      status: 'conflict',
      error: { code: 'VERSION_MISMATCH' },
      serverDocument: { price: 4, _rev: 2 },
    });
    expect((await storage.getDocument(t('product'), id))?.price).toBe(4);
    await sql.query(`UPDATE ${t('product')} SET price = 5 WHERE id = ?`, [Number(id)]);
    expect((await storage.getDocument(t('product'), id))?._rev).toBe(3);
  });

  test('unknown columns, bad keys and constraint violations are coded rejections that write nothing, and do not block the rest', async () => {
    const before = await count(t('product'));
    const res = await storage.applyOperations('c', [
      { id: opId(), type: 'insert', collection: t('product'), data: { name: 'x', colour: 'red' } },
      { id: opId(), type: 'insert', collection: t('product'), data: { name: 'orphan', category: 999 } },
      { id: opId(), type: 'insert', collection: t('product'), data: { price: 1 } },
      { id: opId(), type: 'insert', collection: t('product'), data: { name: 'neg', price: -1 } },
      { id: opId(), type: 'insert', collection: t('category'), data: { name: 'fruit' } },
      { id: opId(), type: 'update', collection: t('product'), docId: 'abc', data: { name: 'y' } },
      { id: opId(), type: 'delete', collection: t('category'), docId: '1' },
      { id: opId(), type: 'insert', collection: t('product'), data: { name: 'fine' } },
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
    expect(await count(t('product'))).toBe(before + 1);
  });

  test('deleting a row that others reference is a CONSTRAINT_VIOLATION', async () => {
    const cat = await storage.applyOperations('c', [{ id: opId(), type: 'insert', collection: t('category'), data: { name: 'nuts' } }]);
    const catId = Number((cat.results[0] as OperationResult).docId);
    await sql.query(`INSERT INTO ${t('product')} (name, category) VALUES ('walnut', ?)`, [catId]);
    const res = await storage.applyOperations('c', [{ id: opId(), type: 'delete', collection: t('category'), docId: String(catId) }]);
    expect(res.results[0]).toMatchObject({ status: 'rejected', error: { code: 'CONSTRAINT_VIOLATION' } });
    expect(await storage.getDocument(t('category'), String(catId))).not.toBeNull();
  });

  test('an operation id is applied once: a retry answers duplicate and writes nothing', async () => {
    const name = `once-${opId()}`;
    const op = { id: opId(), type: 'insert', collection: t('category'), data: { name } };
    const first = await storage.applyOperations('c', [op]);
    const again = await storage.applyOperations('c', [op, op]);
    expect(first.results[0]?.status).toBe('applied');
    expect(again.results.map((r) => [r.status, r.originalStatus, r.docId])).toEqual([
      ['duplicate', 'applied', first.results[0]?.docId],
      ['duplicate', 'applied', first.results[0]?.docId],
    ]);
    expect(await count(t('category'), 'name = ?', [name])).toBe(1);
  });

  test('text keys: insert with a docId, upsert, delete; json columns keep their structure', async () => {
    const res = await storage.applyOperations('c', [
      { id: opId(), type: 'insert', collection: t('users'), docId: 'bo@x.io', data: { name: 'Bo' } },
      { id: opId(), type: 'upsert', collection: t('users'), docId: 'bo@x.io', data: { name: 'Bob' } },
      { id: opId(), type: 'upsert', collection: t('users'), docId: 'cy@x.io', data: { name: 'Cy' } },
      { id: opId(), type: 'insert', collection: t('notes'), data: { body: 'hi', tags: { a: [1, 2] } } },
      { id: opId(), type: 'insert', collection: t('users'), docId: 'bo@x.io', data: { name: 'Again' } },
    ]);
    expect(res.results.map((r) => r.error?.code ?? r.status)).toEqual(['applied', 'applied', 'applied', 'applied', 'DOCUMENT_EXISTS']);
    expect(res.results[1]?.version).toBe(2);
    expect(res.results[3]?.docId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await storage.getDocument(t('notes'), res.results[3]?.docId as string))?.tags).toEqual({ a: [1, 2] });
    expect(await storage.getDocument(t('users'), 'bo@x.io')).toMatchObject({ _id: 'bo@x.io', _rev: 2, name: 'Bob' });
    const del = await storage.applyOperations('c', [{ id: opId(), type: 'delete', collection: t('users'), docId: 'cy@x.io' }]);
    expect(del.results[0]).toMatchObject({ status: 'applied', document: null, version: 2 });
    expect(await storage.getDocument(t('users'), 'cy@x.io')).toBeNull();
  });

  test('query reads the table with the filter language, sorted and paged', async () => {
    await sql.query(`INSERT INTO ${t('category')} (name) VALUES ('q-a'), ('q-b'), ('q-c')`);
    const q = { filter: { name: { $in: ['q-a', 'q-b', 'q-c'] } }, sort: { name: -1 as const }, limit: 2 };
    const page1 = await storage.queryDocuments(t('category'), q);
    expect(page1.documents.map((d) => d.name)).toEqual(['q-c', 'q-b']);
    const page2 = await storage.queryDocuments(t('category'), { ...q, cursor: page1.nextCursor as string });
    expect(page2.documents.map((d) => d.name)).toEqual(['q-a']);
    expect(page2.documents[0]?._id).toMatch(/^\d+$/);
  });

  test('a batch mixing a table and a document collection applies both', async () => {
    const res = await storage.applyOperations('c', [
      { id: opId(), type: 'insert', collection: 'todo-docs', docId: 'd1', data: { title: 'doc' } },
      { id: opId(), type: 'insert', collection: t('category'), data: { name: `mixed-${opId()}` } },
    ]);
    expect(res.results.map((r) => r.status)).toEqual(['applied', 'applied']);
    expect(res.accepted).toHaveLength(2);
  });

  test('findRow looks a row up exactly (AUTH_TABLE)', async () => {
    await sql.query(`INSERT INTO ${t('users')} (email, name) VALUES ('tok@x.io', 'T')`);
    expect(await storage.findRow(t('users'), 'email', 'tok@x.io')).toMatchObject({ name: 'T' });
    expect(await storage.findRow(t('users'), 'email', 'TOK@x.io')).toBeNull();
    expect(await storage.findRow(t('category'), 'id', '01')).toBeNull();
  });

  test('a table no longer listed loses its triggers (and is captured again when listed again)', async () => {
    await storage.close();
    storage = await open([t('category')]);
    expect([...storage.tableCollections]).toEqual([t('category')]);
    const p0 = await storage.currentPosition();
    await sql.query(`INSERT INTO ${t('users')} (email) VALUES ('unwatched@x.io')`);
    await sql.query(`INSERT INTO ${t('category')} (name) VALUES ('still-watched')`);
    expect((await changesSince(p0)).map((c) => c.collection)).toEqual([t('category')]);
    expect(await count('information_schema`.`TRIGGERS', 'EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?', [t('users')])).toBe(
      0,
    );
    await storage.close();
    storage = await open(TABLES);
    const p1 = await storage.currentPosition();
    await sql.query(`INSERT INTO ${t('users')} (email) VALUES ('watched-again@x.io')`);
    expect((await changesSince(p1)).map((c) => c.docId)).toEqual(['watched-again@x.io']);
  });

  test('a missing table or one without a single-column key fails at start with INVALID_CONFIG', async () => {
    for (const tables of [[t('nosuchtable')], [t('nokey')], [t('twokeys')]]) {
      await expect(open(tables)).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    }
  });
});
