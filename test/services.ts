/**
 * Where tests find real services. Each URL comes from the environment (with the
 * local default). With CI=1 (or SYNCLINE_REQUIRE_SERVICES=1) an unreachable
 * service fails the run; otherwise its tests are skipped, and we say so.
 */
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
