import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { registerSinceTimeTests } from './changes-since-time-suite.js';
import { startPostgresServer } from './server-harness.js';

if (await postgresAvailable()) registerSinceTimeTests('PostgreSQL', () => startPostgresServer('since'));
else describe.skip('POST /changes since a time: PostgreSQL (unreachable; see test/services.ts)', () => {});
