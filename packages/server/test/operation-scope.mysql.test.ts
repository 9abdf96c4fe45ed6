import { describe } from 'vitest';
import { mysqlAvailable, uniqueSchema } from '../../../test/services.js';
import { dropPrefixed, openMysqlClient, openMysqlStorage } from './mysql-harness.js';
import { registerOperationScopeTests } from './operation-scope-suite.js';
import { serveStorage } from './server-harness.js';

if (await mysqlAvailable()) {
  registerOperationScopeTests('MariaDB', async (config) => {
    const prefix = uniqueSchema('opscope');
    const storage = await openMysqlStorage(prefix);
    return serveStorage(storage, config, async () => {
      const raw = await openMysqlClient();
      await dropPrefixed(raw, prefix);
      await raw.close();
    });
  });
} else describe.skip('operation ids scoped to their caller: MariaDB (unreachable; see test/services.ts)', () => {});
