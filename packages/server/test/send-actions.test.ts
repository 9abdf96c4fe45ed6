/** `/sendActions` on embedded PGlite: staged actions (no transaction is held while a FIN is awaited). */
import { registerSendActionsTests } from './send-actions-suite.js';
import { startPgliteServer } from './server-harness.js';

registerSendActionsTests('PGlite (staged)', (opts = {}) => startPgliteServer(opts), { heldActions: 100 });
