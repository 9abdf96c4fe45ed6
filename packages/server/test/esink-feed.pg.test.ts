import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { registerEsinkFeedTests } from './esink-feed-suite.js';
import { startPostgresServer } from './server-harness.js';

if (await postgresAvailable()) {
  registerEsinkFeedTests('PostgreSQL', (config) => startPostgresServer('esink', { config }));
} else describe.skip('default namespace: PostgreSQL (unreachable)', () => {});
