/**
 * Where tests find real services. Each URL comes from the environment (with the
 * local default). With CI=1 (or SYNCLINE_REQUIRE_SERVICES=1) an unreachable
 * service fails the run; otherwise its tests are skipped, and we say so.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import pg from 'pg';

export const requireServices = ['1', 'true'].includes(process.env.CI ?? '') || process.env.SYNCLINE_REQUIRE_SERVICES === '1';

export const postgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let pgProbe: Promise<boolean> | undefined;

/** True if PostgreSQL answers; throws in CI if it does not. */
export function postgresAvailable(): Promise<boolean> {
  pgProbe ??= (async () => {
    const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (err) {
      if (requireServices) {
        throw new Error(`PostgreSQL is required (CI) but unreachable at ${postgresUrl}: ${(err as Error).message}`);
      }
      console.warn(`[syncline tests] PostgreSQL unreachable at ${postgresUrl}: skipping its tests (set TEST_DATABASE_URL).`);
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgProbe;
}

/** A schema name no other test file uses. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** MySQL/MariaDB for tests: TEST_MYSQL_URL (mysql://user:pass@host:port/db) or TEST_MYSQL_HOST/PORT/USER/PASSWORD/DATABASE. */
export const mysqlConfig = (() => {
  const url = process.env.TEST_MYSQL_URL ? new URL(process.env.TEST_MYSQL_URL) : undefined;
  return {
    host: url?.hostname || process.env.TEST_MYSQL_HOST || '127.0.0.1',
    port: Number(url?.port || process.env.TEST_MYSQL_PORT || 3306),
    user: decodeURIComponent(url?.username ?? '') || process.env.TEST_MYSQL_USER || 'root',
    password: decodeURIComponent(url?.password ?? '') || process.env.TEST_MYSQL_PASSWORD || '',
    database: url?.pathname.slice(1) || process.env.TEST_MYSQL_DATABASE || 'test',
  };
})();

let mysqlProbe: Promise<boolean> | undefined;

/** True if MySQL/MariaDB answers; throws in CI if it does not. */
export function mysqlAvailable(): Promise<boolean> {
  mysqlProbe ??= (async () => {
    const where = `${mysqlConfig.user}@${mysqlConfig.host}:${mysqlConfig.port}/${mysqlConfig.database}`;
    const mysql = await import('mysql2/promise');
    let conn: Awaited<ReturnType<typeof mysql.createConnection>> | undefined;
    try {
      conn = await mysql.createConnection({ ...mysqlConfig, connectTimeout: 3000 });
      await conn.query('SELECT 1');
      return true;
    } catch (err) {
      if (requireServices) {
        throw new Error(`MySQL is required (CI) but unreachable at ${where}: ${(err as Error).message}`);
      }
      console.warn(`[syncline tests] MySQL unreachable at ${where}: skipping its tests (set TEST_MYSQL_URL).`);
      return false;
    } finally {
      await conn?.end().catch(() => {});
    }
  })();
  return mysqlProbe;
}

/** Message backends for the event bus tests (TEST_REDIS_URL, TEST_NATS_URL, TEST_AMQP_URL). */
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const natsUrl = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
export const amqpUrl = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

const tcpProbes = new Map<string, Promise<boolean>>();

/** True if the service at `url` accepts TCP connections; throws in CI if it does not. */
function tcpServiceAvailable(label: string, url: string, defaultPort: number, envVar: string): Promise<boolean> {
  let probe = tcpProbes.get(url);
  if (!probe) {
    const { hostname, port } = new URL(url);
    const where = `${hostname}:${port || defaultPort}`;
    probe = new Promise<void>((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(port || defaultPort), timeout: 3000 });
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('timeout', () => {
        socket.destroy();
        reject(new Error('timed out'));
      });
      socket.once('error', reject);
    }).then(
      () => true,
      (err: Error) => {
        if (requireServices) throw new Error(`${label} is required (CI) but unreachable at ${where}: ${err.message}`);
        console.warn(`[syncline tests] ${label} unreachable at ${where}: skipping its tests (set ${envVar}).`);
        return false;
      },
    );
    tcpProbes.set(url, probe);
  }
  return probe;
}

export const redisAvailable = () => tcpServiceAvailable('Redis', redisUrl, 6379, 'TEST_REDIS_URL');
export const natsAvailable = () => tcpServiceAvailable('NATS', natsUrl, 4222, 'TEST_NATS_URL');
export const amqpAvailable = () => tcpServiceAvailable('RabbitMQ', amqpUrl, 5672, 'TEST_AMQP_URL');

/** Debian's Chromium for the browser tests (CHROMIUM_PATH overrides). */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** True if Chromium is installed; throws in CI if it is not. */
export function chromiumAvailable(): boolean {
  if (existsSync(chromiumPath)) return true;
  if (requireServices) throw new Error(`Chromium is required (CI) but missing at ${chromiumPath}: apt-get install -y chromium.`);
  console.warn(`[syncline tests] Chromium not found at ${chromiumPath}: skipping the browser tests (apt-get install -y chromium).`);
  return false;
}
