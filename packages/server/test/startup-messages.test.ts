/**
 * What the server says at start about a configuration that cannot work as meant: a database that cannot be
 * used names the option, the cause and a fix; a routing entry for an unwatched table is named.
 */
import { describe, expect, test } from 'vitest';
import { freePort } from '../../../test/free-port.js';
import { mysqlAvailable, mysqlConfig, postgresAvailable, postgresUrl } from '../../../test/services.js';
import { createServer } from '../src/server.js';
import { createPgliteClient } from '../src/storage/pglite-client.js';
import { PostgresStorage } from '../src/storage/postgres-storage.js';
import { limits } from './harness.js';

const start = (input: Record<string, unknown>) => createServer({ ...input, logLevel: 'silent', env: {} });

describe('unreachable databases', () => {
  test('DATABASE_URL where nothing listens: names DATABASE_URL (password hidden), the refusal and the way out', async () => {
    const port = await freePort();
    const url = `postgres://app:s3cret@127.0.0.1:${port}/shop`;
    const err = await start({ databaseUrl: url }).then(
      () => undefined,
      (e: unknown) => e as Error & { code: string },
    );
    expect(err).toMatchObject({ code: 'INVALID_CONFIG' });
    expect(err?.message).toContain(`DATABASE_URL (postgres://app:***@127.0.0.1:${port}/shop): cannot connect to PostgreSQL:`);
    expect(err?.message).toContain('ECONNREFUSED');
    expect(err?.message).toContain('Is PostgreSQL running there? Check the host and port, or unset DATABASE_URL');
    expect(err?.message).not.toContain('s3cret');
  });

  test('DATABASE_URL naming a database that does not exist says so', async ({ skip }) => {
    if (!(await postgresAvailable())) skip();
    const url = new URL(postgresUrl);
    url.pathname = '/syncline_no_such_database';
    await expect(start({ databaseUrl: url.toString() })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringMatching(
        /^DATABASE_URL \(.*syncline_no_such_database\): cannot connect to PostgreSQL: .*The database does not exist/,
      ),
    });
  });

  test('MySQL settings where nothing listens, and a wrong MySQL database, name the options', async ({ skip }) => {
    const port = await freePort();
    await expect(start({ mysqlDatabase: 'shop', mysqlHost: '127.0.0.1', mysqlPort: port })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining(
        `MYSQL_HOST/MYSQL_PORT/MYSQL_DATABASE/MYSQL_USERNAME (root@127.0.0.1:${port}/shop): cannot connect to MySQL/MariaDB:`,
      ),
    });
    if (!(await mysqlAvailable())) skip();
    await expect(
      start({
        mysqlDatabase: 'syncline_no_such_database',
        mysqlHost: mysqlConfig.host,
        mysqlPort: mysqlConfig.port,
        mysqlUsername: mysqlConfig.user,
        mysqlPassword: mysqlConfig.password,
      }),
    ).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('The database does not exist') });
  });
});

test('a TABLE_AUTH_COLUMN_ROUTING table that is not in TABLE_NAMES (a typo) is named at start', async () => {
  const sql = await createPgliteClient(undefined);
  await sql.exec('CREATE TABLE users (id int PRIMARY KEY, name text)');
  const storage = new PostgresStorage(sql, 'syncline', limits, { names: ['users'], schema: 'public' });
  const lines: string[] = [];
  const server = await createServer({
    storage,
    tableNames: ['users'],
    tableAuthColumnRouting: '{"users": "id", "usres": "id"}',
    env: {},
    logStream: { write: (line: string) => void lines.push(line) },
  });
  try {
    const log = lines.join('');
    expect(log).toContain('TABLE_AUTH_COLUMN_ROUTING names table \\"usres\\", which is not in TABLE_NAMES (users)');
    expect(log).not.toContain('names table \\"users\\"');
  } finally {
    await server.close();
    await sql.close();
  }
}, 60_000);
