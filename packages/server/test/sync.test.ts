import { startPgliteServer } from './server-harness.js';
import { registerSyncTests } from './sync-suite.js';

registerSyncTests('PGlite', (config) => startPgliteServer({ config }));
