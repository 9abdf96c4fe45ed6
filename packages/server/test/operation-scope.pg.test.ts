import { describe } from 'vitest';
import { postgresAvailable } from '../../../test/services.js';
import { registerOperationScopeTests } from './operation-scope-suite.js';
import { startPostgresServer } from './server-harness.js';

if (await postgresAvailable()) registerOperationScopeTests('PostgreSQL', (config) => startPostgresServer('opscope', { config }));
else describe.skip('operation ids scoped to their caller: PostgreSQL (unreachable; see test/services.ts)', () => {});
