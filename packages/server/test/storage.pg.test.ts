import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { postgresHarness } from './harness.js';
import { registerStorageTests } from './storage-conformance.js';

if (await postgresAvailable()) registerStorageTests('PostgreSQL', postgresHarness);
else describe.skip('Storage conformance: PostgreSQL (unreachable; see test/services.ts)', () => {});
