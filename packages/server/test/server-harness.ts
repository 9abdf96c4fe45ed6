/** A real Syncline server on a free loopback port, on embedded PGlite or on a fresh PostgreSQL schema. */
import pg from 'pg';
import { postgresUrl, uniqueSchema } from '../../../test/services.js';
import { loadConfig } from '../src/config/load-config.js';
import type { ConfigInput } from '../src/config/options.js';
import { createServer, type SynclineServer } from '../src/server.js';
import { createStorage } from '../src/storage/create-storage.js';
import type { Storage } from '../src/storage/storage.js';

export interface TestServer {
  server: SynclineServer;
  url: string;
  close(): Promise<void>;
}

export interface TestServerOptions {
  config?: ConfigInput;
  /** Wraps the storage the server gets (to slow it down or count calls). */
  wrap?: (storage: Storage) => Storage;
}

async function start(input: ConfigInput, opts: TestServerOptions, after?: () => Promise<void>): Promise<TestServer> {
  const storage = opts.wrap ? opts.wrap(await createStorage(loadConfig(input, {}))) : undefined;
  const server = await createServer({ ...input, env: {}, ...(storage ? { storage } : {}) });
  const url = await server.listen();
  return {
    server,
    url,
    async close() {
      await server.close();
      await storage?.close();
      await after?.();
    },
  };
}

export function startPgliteServer(opts: TestServerOptions = {}): Promise<TestServer> {
  return start({ dataDir: 'memory://', logLevel: 'silent', host: '127.0.0.1', port: 0, ...opts.config }, opts);
}

/** Drops its schema on close. */
export function startPostgresServer(prefix: string, opts: TestServerOptions = {}): Promise<TestServer> {
  const schema = uniqueSchema(prefix);
  const input: ConfigInput = { databaseUrl: postgresUrl, schema, logLevel: 'silent', host: '127.0.0.1', port: 0, ...opts.config };
  return start(input, opts, async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });
}

/** A server on a storage the test opened (its tables made first); close() closes both, then runs `after`. */
export async function serveStorage(storage: Storage, config: ConfigInput = {}, after?: () => Promise<void>): Promise<TestServer> {
  const server = await createServer({ storage, env: {}, logLevel: 'silent', host: '127.0.0.1', port: 0, ...config });
  const url = await server.listen();
  return {
    server,
    url,
    async close() {
      await server.close();
      await storage.close();
      await after?.();
    },
  };
}
