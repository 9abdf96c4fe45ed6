import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { hiddenFieldsSuite } from './hidden-fields-suite.js';
import { startPostgresServer } from './server-harness.js';

if (await postgresAvailable()) {
  hiddenFieldsSuite('PostgreSQL', (config) => startPostgresServer('hidden', { config }));
} else describe.skip('hidden fields: PostgreSQL (unreachable)', () => {});
