import { describe } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { registerEsinkTableTests } from './esink-tables-suite.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';
import { serveStorage } from './server-harness.js';

if (await mysqlAvailable()) {
  registerEsinkTableTests('MariaDB', async () => {
    // One database for everything: Syncline's tables and the application's carry per-run prefixes.
    const prefix = uniqueSchema('es');
    const app = uniqueSchema('esapp');
    const t = (n: string) => `${app}_${n}`;
    const sql = await openMysqlClient();
    return {
      t,
      name: t,
      exec: async (text) => {
        await sql.query(text);
      },
      async createTables() {
        for (const ddl of [
          `CREATE TABLE ${t('posts')} (id INT AUTO_INCREMENT PRIMARY KEY, author_id INT, editor_id INT, title TEXT, body TEXT, secret TEXT)`,
          `CREATE TABLE ${t('profiles')} (id INT PRIMARY KEY, name TEXT, password_hash TEXT)`,
          `CREATE TABLE ${t('bulletins')} (id INT AUTO_INCREMENT PRIMARY KEY, text TEXT, internal TEXT)`,
          `CREATE TABLE ${t('audit')} (id INT AUTO_INCREMENT PRIMARY KEY, who INT)`,
        ])
          await sql.query(ddl);
      },
      async start(config) {
        const storage = await openMysqlStorage(prefix, { tables: config.tableNames as string[] });
        return serveStorage(storage, config);
      },
      async close() {
        await dropPrefixed(sql, app);
        await dropPrefixed(sql, prefix);
        await sql.close();
      },
    };
  });
} else describe.skip('default namespace on table collections: MariaDB (unreachable)', () => {});
