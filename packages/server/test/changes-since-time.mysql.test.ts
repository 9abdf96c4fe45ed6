import { describe } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { registerSinceTimeTests } from './changes-since-time-suite.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';
import { serveStorage } from './server-harness.js';

if (await mysqlAvailable()) {
  registerSinceTimeTests('MariaDB', async () => {
    const prefix = uniqueSchema('since');
    const storage = await openMysqlStorage(prefix);
    return serveStorage(storage, {}, async () => {
      const raw = await openMysqlClient();
      await dropPrefixed(raw, prefix);
      await raw.close();
    });
  });
} else describe.skip('POST /changes since a time: MariaDB (unreachable)', () => {});
