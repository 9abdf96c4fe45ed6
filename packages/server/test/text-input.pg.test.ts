import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { startPostgresServer } from './server-harness.js';
import { registerTextInputTests } from './text-input-suite.js';

if (await postgresAvailable()) {
  registerTextInputTests('PostgreSQL', () => startPostgresServer('text'));
} else describe.skip('text the database cannot store: PostgreSQL (unreachable)', () => {});
