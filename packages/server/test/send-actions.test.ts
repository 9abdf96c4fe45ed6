/** `/sendActions` on embedded PGlite: staged actions (no transaction is held while a FIN is awaited). */
import { loadConfig } from '../src/config/load-config.js';
import type { ConfigInput } from '../src/config/options.js';
import { createServer } from '../src/server.js';
import { createStorage } from '../src/storage/create-storage.js';
import { type MakeServer, registerSendActionsTests } from './send-actions-suite.js';

const makeServer: MakeServer = async ({ config = {}, wrap } = {}) => {
  const input: ConfigInput = { dataDir: 'memory://', logLevel: 'silent', host: '127.0.0.1', port: 0, ...config };
  const storage = wrap ? wrap(await createStorage(loadConfig(input, {}))) : undefined;
  const server = await createServer({ ...input, env: {}, ...(storage ? { storage } : {}) });
  const url = await server.listen();
  return {
    url,
    server,
    async close() {
      await server.close();
      await storage?.close();
    },
  };
};

registerSendActionsTests('PGlite (staged)', makeServer, { heldActions: 100 });
