/** `/sendActions` on PostgreSQL: a held transaction per ACKed action, on a pool of its own. */
import pg from 'pg';
import { describe } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { loadConfig } from '../src/config/load-config.js';
import type { ConfigInput } from '../src/config/options.js';
import { createServer } from '../src/server.js';
import { createStorage } from '../src/storage/create-storage.js';
import { type MakeServer, registerSendActionsTests } from './send-actions-suite.js';

const makeServer: MakeServer = async ({ config = {}, wrap } = {}) => {
  const schema = uniqueSchema('act');
  const input: ConfigInput = { databaseUrl: postgresUrl, schema, poolSize: 4, logLevel: 'silent', host: '127.0.0.1', port: 0, ...config };
  const storage = wrap ? wrap(await createStorage(loadConfig(input, {}))) : undefined;
  const server = await createServer({ ...input, env: {}, ...(storage ? { storage } : {}) });
  const url = await server.listen();
  return {
    url,
    server,
    async close() {
      await server.close();
      await storage?.close();
      const client = new pg.Client({ connectionString: postgresUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
};

// max_connections is often 100: hold fewer than on PGlite (each open action holds a connection).
if (await postgresAvailable()) registerSendActionsTests('PostgreSQL (held transactions)', makeServer, { heldActions: 30 });
else describe.skip('/sendActions: PostgreSQL (unreachable; see test/services.ts)', () => {});
