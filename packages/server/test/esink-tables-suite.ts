/**
 * End to end on table collections: rows written with raw SQL by another
 * program reach, on the default namespace, exactly the users
 * TABLE_AUTH_COLUMN_ROUTING allows, never with a FILTERS column. Registered per backend.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../src/config/options.js';
import type { EsinkPayload } from '../src/transport/esink-namespace.js';
import { barrier, connectAll, type EsinkClient } from './esink-client.js';
import { HS_SECRET, jwtFor } from './esink-tokens.js';

export interface EsinkTableHarness {
  /** Runs SQL as another program would (not through Syncline). */
  exec(sql: string): Promise<void>;
  /** The table's name as that program writes it (schema-qualified where needed). */
  t(name: string): string;
  /** The table's collection name (TABLE_NAMES, routing, FILTERS, the payload's `table`). */
  name(name: string): string;
  /** Creates the application's tables; called once before `start`. */
  createTables(): Promise<void>;
  /** A server watching TABLE_NAMES with this configuration. */
  start(config: ConfigInput): Promise<{ url: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

/** The application's tables, as its own migration would create them. */
export const TABLES_SQL = (t: (n: string) => string) => `
  CREATE TABLE ${t('posts')} (id serial PRIMARY KEY, author_id integer, editor_id integer, title text, body text, secret text);
  CREATE TABLE ${t('profiles')} (id integer PRIMARY KEY, name text, password_hash text);
  CREATE TABLE ${t('bulletins')} (id serial PRIMARY KEY, text text, internal text);
  CREATE TABLE ${t('audit')} (id serial PRIMARY KEY, who integer);`;

const SECRETS = ['pw-hash-secret', 'post-secret-1', 'post-secret-2', 'bulletin-internal'];

/** The configuration under test, with the backend's collection names. */
export const esinkConfig = (n: (name: string) => string): ConfigInput => ({
  jwtSecret: HS_SECRET,
  tableNames: ['posts', 'profiles', 'bulletins', 'audit'].map(n),
  tableAuthColumnRouting: { [n('posts')]: ['author_id', 'editor_id'], [n('profiles')]: 'id', [n('bulletins')]: '*' },
  filters: [`${n('posts')}.secret`, `${n('profiles')}.password_hash`, `${n('bulletins')}.internal`],
});

export function registerEsinkTableTests(name: string, factory: () => Promise<EsinkTableHarness>): void {
  describe(`default namespace on table collections: ${name}`, () => {
    let h: EsinkTableHarness;
    let server: { url: string; close(): Promise<void> };
    let u1: EsinkClient;
    let u2: EsinkClient;
    let u3: EsinkClient;
    const all = () => [u1, u2, u3];
    /** Every payload each client received during the whole suite (for the FILTERS check at the end). */
    const everything: EsinkPayload[] = [];

    /** A bulletin (routed "*") every client must see: all earlier events have arrived by then. */
    const sync = (clear = false) =>
      barrier(all(), (marker) => h.exec(`INSERT INTO ${h.t('bulletins')} (text) VALUES ('${marker}')`), { field: 'text', clear });
    const seen = (c: EsinkClient) => c.changes.map((p) => `${p.table === h.name('posts') ? 'posts' : p.table}:${p.type}:${p.data?.id}`);

    beforeAll(async () => {
      h = await factory();
      await h.createTables();
      server = await h.start(esinkConfig(h.name));
      [u1, u2, u3] = await connectAll(server.url, [await jwtFor('1'), await jwtFor('2'), await jwtFor('3')]);
      for (const c of all()) {
        // Every event: `changes`, `<table>`, and anything else.
        c.socket.onAny((_event: string, p: EsinkPayload) => everything.push(p));
      }
    });
    afterAll(async () => {
      for (const c of [u1, u2, u3]) c?.close();
      await server?.close();
      await h?.close();
    });
    beforeEach(() => sync(true));

    test('an external insert reaches exactly the users in its routing columns, as <table> and changes', async () => {
      await h.exec(`INSERT INTO ${h.t('posts')} (id, author_id, editor_id, title, secret) VALUES (10, 1, 2, 'hello', 'post-secret-1')`);
      await h.exec(`INSERT INTO ${h.t('audit')} (who) VALUES (1)`);
      await sync();
      for (const c of [u1, u2]) {
        expect(c.changes).toEqual([
          {
            table: h.name('posts'),
            type: 'insert',
            data: { id: 10, author_id: 1, editor_id: 2, title: 'hello', body: null },
            source: 'database',
            timestamp: expect.any(Number),
            version: 1,
            position: expect.any(Number),
          },
        ]);
        expect(c.tableEvents).toEqual([{ event: h.name('posts'), payload: c.changes[0] }]);
      }
      expect(u3.changes).toEqual([]);
    });

    test('an update in place is an update for its users; a moved row is a delete (old row) for the old owner and an insert for the new', async () => {
      // Each statement is delivered before the next (as live): on PostgreSQL an insert is read
      // from the table when delivered, so a later statement would already show in it.
      await h.exec(`INSERT INTO ${h.t('posts')} (id, author_id, editor_id, title, secret) VALUES (11, 1, 2, 'v1', 'post-secret-2')`);
      await sync();
      await h.exec(`UPDATE ${h.t('posts')} SET title = 'v2' WHERE id = 11`);
      await sync();
      await h.exec(`UPDATE ${h.t('posts')} SET author_id = 3, editor_id = NULL, title = 'v3' WHERE id = 11`);
      await sync();
      expect(seen(u1)).toEqual(['posts:insert:11', 'posts:update:11', 'posts:delete:11']);
      expect(seen(u2)).toEqual(['posts:insert:11', 'posts:update:11', 'posts:delete:11']);
      expect(seen(u3)).toEqual(['posts:insert:11']);
      // The delete carries the row as it was (so the replica can find it), the insert the row as it is.
      expect(u1.changes[2]?.data).toEqual({ id: 11, author_id: 1, editor_id: 2, title: 'v2', body: null });
      expect(u1.changes[2]?.version).toBe(3);
      expect(u3.changes[0]?.data).toEqual({ id: 11, author_id: 3, editor_id: null, title: 'v3', body: null });
      // Deleting it now reaches only its current owner, with the deleted row.
      await h.exec(`DELETE FROM ${h.t('posts')} WHERE id = 11`);
      await sync();
      expect(seen(u3)).toEqual(['posts:insert:11', 'posts:delete:11']);
      expect(u3.changes[1]?.data).toEqual({ id: 11, author_id: 3, editor_id: null, title: 'v3', body: null });
      expect(seen(u1)).toHaveLength(3);
    });

    test('one statement touching rows of several owners: each owner gets only their rows', async () => {
      await h.exec(
        `INSERT INTO ${h.t('profiles')} (id, name, password_hash) VALUES (1, 'one', 'pw-hash-secret'), (2, 'two', 'pw-hash-secret'), (4, 'four', 'x')`,
      );
      await sync();
      await h.exec(`UPDATE ${h.t('profiles')} SET name = upper(name)`);
      await sync();
      expect(u1.changes.map((p) => [p.type, p.data])).toEqual([
        ['insert', { id: 1, name: 'one' }],
        ['update', { id: 1, name: 'ONE' }],
      ]);
      expect(u2.changes.map((p) => [p.type, p.data])).toEqual([
        ['insert', { id: 2, name: 'two' }],
        ['update', { id: 2, name: 'TWO' }],
      ]);
      expect(u3.changes).toEqual([]);
    });

    test('a 9000-byte row arrives whole', async () => {
      const body = 'é'.repeat(4500);
      await h.exec(`INSERT INTO ${h.t('posts')} (id, author_id, body) VALUES (12, 3, '${body}')`);
      await sync();
      expect(Buffer.byteLength(body)).toBe(9000);
      expect(u3.changes.map((p) => p.data?.body)).toEqual([body]);
      expect(u1.changes).toEqual([]);
    });

    test('a "*" table reaches everyone; a TABLE_NAMES table without a routing entry reaches no one', async () => {
      await h.exec(`INSERT INTO ${h.t('bulletins')} (text, internal) VALUES ('for all', 'bulletin-internal')`);
      await h.exec(`INSERT INTO ${h.t('audit')} (who) VALUES (2), (3)`);
      await sync();
      for (const c of all()) expect(c.changes.map((p) => [p.table, p.data?.text])).toEqual([[h.name('bulletins'), 'for all']]);
    });

    test('no payload of the whole suite carried a filtered column', async () => {
      await sync();
      expect(everything.length).toBeGreaterThan(20);
      const wire = JSON.stringify(everything);
      for (const s of SECRETS) expect(wire).not.toContain(s);
      for (const column of ['"secret"', '"password_hash"', '"internal"']) expect(wire).not.toContain(column);
    });
  });
}
