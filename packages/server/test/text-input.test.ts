import { startPgliteServer } from './server-harness.js';
import { registerTextInputTests } from './text-input-suite.js';

registerTextInputTests('PGlite', () => startPgliteServer());
