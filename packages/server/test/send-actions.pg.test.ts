/** `/sendActions` on PostgreSQL: held (a transaction per ACKed action, on a pool of its own) and staged. */
import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { registerSendActionsTests } from './send-actions-suite.js';
import { startPostgresServer } from './server-harness.js';

// max_connections is often 100: hold fewer than on PGlite (each open action holds a connection).
if (await postgresAvailable()) {
  registerSendActionsTests(
    'PostgreSQL (held transactions)',
    ({ config = {}, wrap } = {}) =>
      startPostgresServer('act', { config: { poolSize: 4, actionMode: 'held', ...config }, ...(wrap ? { wrap } : {}) }),
    { heldActions: 30 },
  );
  registerSendActionsTests(
    'PostgreSQL (staged, the default)',
    ({ config = {}, wrap } = {}) => startPostgresServer('acs', { config: { poolSize: 4, ...config }, ...(wrap ? { wrap } : {}) }),
    { heldActions: 100 },
  );
} else describe.skip('/sendActions: PostgreSQL (unreachable; see test/services.ts)', () => {});
