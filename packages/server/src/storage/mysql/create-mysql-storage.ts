import type { Config } from '../../config/options.js';
import type { StorageLimits } from '../storage.js';
import { createMysqlClient } from './mysql-client.js';
import { MysqlStorage } from './mysql-storage.js';

export type MysqlStorageConfig = Pick<
  Config,
  | 'schema'
  | 'poolSize'
  | 'lockTimeoutMs'
  | 'mysqlDatabase'
  | 'mysqlHost'
  | 'mysqlPort'
  | 'mysqlUsername'
  | 'mysqlPassword'
  | 'mysqlTableTarget'
  | 'mysqlPollIntervalMs'
  | 'tableNames'
>;

/** Opens MySQL/MariaDB storage (not yet migrated); the driver loads here, only when configured. */
export async function createMysqlStorage(config: MysqlStorageConfig, limits: StorageLimits): Promise<MysqlStorage> {
  const client = await createMysqlClient({
    host: config.mysqlHost,
    port: config.mysqlPort,
    user: config.mysqlUsername,
    password: config.mysqlPassword,
    database: config.mysqlDatabase as string,
    poolSize: config.poolSize,
    lockTimeoutMs: config.lockTimeoutMs,
  });
  return new MysqlStorage(client, {
    names: { prefix: config.schema, target: config.mysqlTableTarget ?? `${config.schema}_pubsub` },
    limits,
    pollIntervalMs: config.mysqlPollIntervalMs,
    tables: config.tableNames ?? [],
  });
}
