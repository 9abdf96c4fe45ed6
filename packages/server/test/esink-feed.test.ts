import { registerEsinkFeedTests } from './esink-feed-suite.js';
import { startPgliteServer } from './server-harness.js';

registerEsinkFeedTests('PGlite', (config) => startPgliteServer({ config }));
