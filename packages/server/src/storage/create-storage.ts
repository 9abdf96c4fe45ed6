import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/options.js';
import type { MysqlStorageConfig } from './mysql/create-mysql-storage.js';
import { createPgClient } from './pg-client.js';
import { createPgliteClient } from './pglite-client.js';
import { PostgresStorage } from './postgres-storage.js';
import type { Storage } from './storage.js';

type StorageConfig = Pick<
  Config,
  | 'adapter'
  | 'databaseUrl'
  | 'dataDir'
  | 'schema'
  | 'poolSize'
  | 'statementTimeoutMs'
  | 'lockTimeoutMs'
  | 'maxChangesLimit'
  | 'maxQueryLimit'
  | 'defaultQueryLimit'
  | 'tableNames'
  | 'tableSchema'
  | 'capturePollMs'
> &
  MysqlStorageConfig;

/** Opens the configured storage (not yet migrated). Drivers load only when used. */
export async function createStorage(config: StorageConfig): Promise<Storage> {
  const limits = {
    maxChangesLimit: config.maxChangesLimit,
    maxQueryLimit: config.maxQueryLimit,
    defaultQueryLimit: config.defaultQueryLimit,
  };
  const tables = { names: config.tableNames, schema: config.tableSchema };
  if (config.adapter === 'mysql') {
    const { createMysqlStorage } = await import('./mysql/create-mysql-storage.js');
    return createMysqlStorage(config, limits);
  }
  if (config.adapter === 'postgres') {
    const client = await createPgClient({
      connectionString: config.databaseUrl as string,
      poolSize: config.poolSize,
      statementTimeoutMs: config.statementTimeoutMs,
      lockTimeoutMs: config.lockTimeoutMs,
    });
    return new PostgresStorage(client, config.schema, limits, tables, { sweepIntervalMs: config.capturePollMs });
  }
  const inMemory = config.dataDir === 'memory://' || config.dataDir === ':memory:';
  let dir: string | undefined;
  if (!inMemory) {
    dir = resolve(config.dataDir);
    mkdirSync(dir, { recursive: true });
  }
  return new PostgresStorage(await createPgliteClient(dir), config.schema, limits, tables, { sweepIntervalMs: config.capturePollMs });
}
