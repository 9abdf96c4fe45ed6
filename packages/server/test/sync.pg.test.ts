import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { startPostgresServer } from './server-harness.js';
import { registerSyncTests } from './sync-suite.js';

if (await postgresAvailable()) {
  registerSyncTests('PostgreSQL', (config) => startPostgresServer('sync', { config }));
} else describe.skip('/sync namespace: PostgreSQL (unreachable)', () => {});
