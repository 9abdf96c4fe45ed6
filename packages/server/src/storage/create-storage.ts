import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { SynclineError } from '@syncline/protocol';
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
    return createMysqlStorage(config, limits).catch((err: unknown) => {
      const where = `${config.mysqlUsername}@${config.mysqlHost}:${config.mysqlPort}/${config.mysqlDatabase}`;
      throw unreachable(
        err,
        `MYSQL_HOST/MYSQL_PORT/MYSQL_DATABASE/MYSQL_USERNAME (${where})`,
        'MySQL/MariaDB',
        'unset MYSQL_DATABASE to use the embedded PGlite database',
      );
    });
  }
  if (config.adapter === 'postgres') {
    const client = await createPgClient({
      connectionString: config.databaseUrl as string,
      poolSize: config.poolSize,
      statementTimeoutMs: config.statementTimeoutMs,
      lockTimeoutMs: config.lockTimeoutMs,
    });
    // The pool connects lazily: try once here, so a wrong URL is named now, not as a bare ECONNREFUSED later.
    try {
      await client.query('SELECT 1');
    } catch (err) {
      await client.close().catch(() => {});
      throw unreachable(
        err,
        `DATABASE_URL (${redactUrl(config.databaseUrl as string)})`,
        'PostgreSQL',
        'unset DATABASE_URL to use the embedded PGlite database',
      );
    }
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

/** The database named by the configuration cannot be used: say which option, what failed and what to try. */
function unreachable(err: unknown, option: string, what: string, alternative: string): SynclineError {
  if (err instanceof SynclineError) return err;
  const e = err as { message?: string; code?: string };
  const code = e.code ?? '';
  const hint =
    code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EHOSTUNREACH'
      ? `Is ${what} running there? Check the host and port`
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'The host name does not resolve; check it'
        : code === '28P01' || code === '28000' || code === 'ER_ACCESS_DENIED_ERROR'
          ? 'The server refused the user or password; check them'
          : code === '3D000' || code === 'ER_BAD_DB_ERROR'
            ? 'The database does not exist; create it or fix its name'
            : 'Check the connection settings';
  return new SynclineError(
    'INVALID_CONFIG',
    `${option}: cannot connect to ${what}: ${e.message ?? String(err)}. ${hint}, or ${alternative}.`,
    undefined,
    {
      cause: err,
    },
  );
}

/** A connection URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
