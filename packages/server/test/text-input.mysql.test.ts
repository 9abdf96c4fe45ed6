import { describe } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';
import { serveStorage } from './server-harness.js';
import { registerTextInputTests } from './text-input-suite.js';

if (await mysqlAvailable()) {
  registerTextInputTests('MariaDB', async () => {
    const prefix = uniqueSchema('txt');
    const storage = await openMysqlStorage(prefix);
    return serveStorage(storage, {}, async () => {
      const raw = await openMysqlClient();
      await dropPrefixed(raw, prefix);
      await raw.close();
    });
  });
} else describe.skip('text the database cannot store: MariaDB (unreachable)', () => {});
