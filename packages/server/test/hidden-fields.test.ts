import { hiddenFieldsSuite } from './hidden-fields-suite.js';
import { startPgliteServer } from './server-harness.js';

hiddenFieldsSuite('PGlite', (config) => startPgliteServer({ config }));
