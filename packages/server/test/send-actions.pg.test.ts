/** `/sendActions` on PostgreSQL: a held transaction per ACKed action, on a pool of its own. */
import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { registerSendActionsTests } from './send-actions-suite.js';
import { startPostgresServer } from './server-harness.js';

// max_connections is often 100: hold fewer than on PGlite (each open action holds a connection).
if (await postgresAvailable()) {
  registerSendActionsTests(
    'PostgreSQL (held transactions)',
    ({ config = {}, wrap } = {}) => startPostgresServer('act', { config: { poolSize: 4, ...config }, ...(wrap ? { wrap } : {}) }),
    { heldActions: 30 },
  );
} else describe.skip('/sendActions: PostgreSQL (unreachable; see test/services.ts)', () => {});
