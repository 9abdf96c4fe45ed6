import { describe } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { registerEsinkFeedTests } from './esink-feed-suite.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';
import { serveStorage } from './server-harness.js';

if (await mysqlAvailable()) {
  registerEsinkFeedTests('MariaDB', async (config) => {
    const prefix = uniqueSchema('es');
    const storage = await openMysqlStorage(prefix);
    return serveStorage(storage, config, async () => {
      const raw = await openMysqlClient();
      await dropPrefixed(raw, prefix);
      await raw.close();
    });
  });
} else describe.skip('default namespace: MariaDB (unreachable)', () => {});
