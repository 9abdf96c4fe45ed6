import { registerOperationScopeTests } from './operation-scope-suite.js';
import { startPgliteServer } from './server-harness.js';

registerOperationScopeTests('PGlite', (config) => startPgliteServer({ config }));
