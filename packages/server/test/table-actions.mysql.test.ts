import { describe } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { dropPrefixed, mysqlTestSql, openMysqlClient, openMysqlStorage } from './mysql-harness.js';
import { serveStorage } from './server-harness.js';
import { registerTableActionTests } from './table-actions-suite.js';

if (await mysqlAvailable()) {
  registerTableActionTests('MariaDB (staged)', async () => {
    const prefix = uniqueSchema('ta');
    const app = uniqueSchema('taapp');
    const t = (n: string) => `${app}_${n}`;
    const raw = await openMysqlClient();
    await raw.query(`CREATE TABLE ${t('category')} (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)`);
    await raw.query(
      `CREATE TABLE ${t('product')} (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT, category INT, FOREIGN KEY (category) REFERENCES ${t('category')}(id))`,
    );
    const tables = [t('category'), t('product')];
    const storage = await openMysqlStorage(prefix, { tables });
    const t0 = await serveStorage(storage, { tableNames: tables }, async () => {
      await raw.query(`DROP TABLE IF EXISTS ${t('product')}`);
      await dropPrefixed(raw, app);
      await dropPrefixed(raw, prefix);
      await raw.close();
    });
    return { url: t0.url, sql: mysqlTestSql(raw), table: t, collection: t, keysBeforeAck: false, close: t0.close };
  });
} else describe.skip('/sendActions on tables: MariaDB (unreachable; see test/services.ts)', () => {});
