/**
 * MYSQL_* configuration selects the MySQL adapter; a restart consumes what
 * the triggers captured while no server ran (the target table is never
 * dropped), and the change log keeps counting from where it was.
 */
import { describe, expect, test } from 'vitest';
import { mysqlAvailable, mysqlConfig, uniqueSchema } from '../../../test/services.js';
import { loadConfig } from '../src/config/load-config.js';
import { createStorage } from '../src/storage/create-storage.js';
import { opId } from './harness.js';
import { dropPrefixed, openMysqlClient } from './mysql-harness.js';

describe.skipIf(!(await mysqlAvailable()))('MySQL adapter from configuration', () => {
  test('MYSQL_DATABASE selects it; captures made while stopped are consumed at start, in order, after earlier positions', async () => {
    const schema = uniqueSchema('cfg');
    const config = loadConfig(
      {},
      {
        MYSQL_DATABASE: mysqlConfig.database,
        MYSQL_HOST: mysqlConfig.host,
        MYSQL_PORT: String(mysqlConfig.port),
        MYSQL_USERNAME: mysqlConfig.user,
        MYSQL_PASSWORD: mysqlConfig.password,
        MYSQL_TABLE_TARGET: `${schema}_pubsub`,
        SYNCLINE_SCHEMA: schema,
      },
    );
    expect(config.adapter).toBe('mysql');
    const sql = await openMysqlClient();
    try {
      let storage = await createStorage(config);
      expect(storage.adapter).toBe('mysql');
      await storage.migrate();
      const first = await storage.applyOperations('w', [{ id: opId(), type: 'insert', collection: 'c', docId: 'a', data: {} }]);
      expect(first.results[0]?.position).toBe(1);
      await storage.close();

      await sql.query(
        `INSERT INTO \`${schema}_documents\` (collection, id, data) VALUES ('c', 'while-down-1', '{}'), ('c', 'while-down-2', '{}')`,
      );
      const waiting = await sql.query<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${schema}_pubsub\``);
      expect(Number(waiting.rows[0]?.n)).toBe(2);

      storage = await createStorage(config);
      await storage.migrate();
      const page = await storage.getChanges({ since: 0, limit: 10 });
      expect(page.operations.map((c) => [c.position, c.docId])).toEqual([
        [1, 'a'],
        [2, 'while-down-1'],
        [3, 'while-down-2'],
      ]);
      await storage.close();
    } finally {
      await dropPrefixed(sql, schema);
      await sql.close();
    }
  });
});
