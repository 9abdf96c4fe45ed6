/** `/sendActions` and `/sync` push on a table collection (registered for PGlite/staged and PostgreSQL/held). */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SqlQueryable } from '../src/storage/sql-client.js';
import { ActionsClient } from './send-actions-client.js';

export interface TableServer {
  url: string;
  /** Raw SQL on the server's database. */
  sql: SqlQueryable;
  /** Table name for raw SQL (schema-qualified or prefixed). */
  table(name: string): string;
  /** The collection name of a table (its name as listed in TABLE_NAMES). */
  collection(name: string): string;
  /** Whether a CREATE without an id gets its key before the ACK (PostgreSQL sequences); MySQL refuses it. */
  keysBeforeAck: boolean;
  close(): Promise<void>;
}

/** `start` creates tables `category(id serial, name)` and `product(id serial, name, category → category.id)` watched as collections. */
export function registerTableActionTests(name: string, start: () => Promise<TableServer>): void {
  describe(`/sendActions on a table collection: ${name}`, () => {
    let s: TableServer;
    beforeAll(async () => {
      s = await start();
    });
    afterAll(async () => {
      await s?.close();
    });

    test('CREATE without an id is ACKed with the row key the database will keep; FIN commits it (MySQL: refused, with an id it works)', async () => {
      const c = await ActionsClient.connect(s.url);
      try {
        c.send([{ id: 1, type: 'CREATE', collection: s.collection('product'), data: { name: 'Apple' } }]);
        let ack = await c.result(1);
        if (!s.keysBeforeAck) {
          expect(ack).toMatchObject({ status: 'NACK', error: { code: 'INVALID_DOCUMENT_ID' } });
          c.send([{ id: 11, type: 'CREATE', collection: s.collection('product'), data: { id: 77, name: 'Apple' } }]);
          ack = await c.result(11);
          expect(ack.status).toBe('ACK');
          c.fin(11);
          await c.committed(11);
          const { rows } = await s.sql.query<{ name: string }>(`SELECT name FROM ${s.table('product')} WHERE id = 77`);
          expect(rows).toEqual([{ name: 'Apple' }]);
          return;
        }
        expect(ack.status).toBe('ACK');
        const key = ack.data?.id ?? ack.data?._id;
        expect(String(key)).toMatch(/^\d+$/);
        c.fin(1);
        await c.committed(1);
        const { rows } = await s.sql.query<{ name: string }>(`SELECT name FROM ${s.table('product')} WHERE id = $1`, [Number(key)]);
        expect(rows).toEqual([{ name: 'Apple' }]);
      } finally {
        c.close();
      }
    });

    test('an action breaking a foreign key never lands: NACKed, or rolled back at FIN, with CONSTRAINT_VIOLATION', async () => {
      const c = await ActionsClient.connect(s.url);
      try {
        c.send([{ id: 2, type: 'CREATE', collection: s.collection('product'), data: { id: 4242, name: 'Orphan', category: 424242 } }]);
        const ack = await c.result(2);
        if (ack.status === 'ACK') {
          c.fin(2);
          const rb = await c.rolledBack(2);
          expect(JSON.stringify(rb)).toContain('CONSTRAINT_VIOLATION');
        } else {
          expect(ack.status).toBe('NACK');
          expect(JSON.stringify(ack)).toContain('CONSTRAINT_VIOLATION');
        }
        const { rows } = await s.sql.query(`SELECT 1 FROM ${s.table('product')} WHERE name = 'Orphan'`);
        expect(rows).toEqual([]);
      } finally {
        c.close();
      }
    });
  });
}
