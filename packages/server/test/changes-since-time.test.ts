import { registerSinceTimeTests } from './changes-since-time-suite.js';
import { startPgliteServer } from './server-harness.js';

registerSinceTimeTests('PGlite', () => startPgliteServer());
