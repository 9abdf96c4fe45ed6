import { pgliteHarness } from './harness.js';
import { registerStorageTests } from './storage-conformance.js';

registerStorageTests('PGlite', pgliteHarness);
