import { createServer } from '../src/server.js';
import { registerSyncTests } from './sync-suite.js';

registerSyncTests('PGlite', async (overrides) => {
  const server = await createServer({ dataDir: 'memory://', logLevel: 'silent', port: 0, host: '127.0.0.1', env: {}, ...overrides });
  const url = await server.listen();
  return { server, url, cleanup: () => server.close() };
});
