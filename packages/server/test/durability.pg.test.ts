import pg from 'pg';
import { afterAll, describe } from 'vitest';
import { postgresAvailable, postgresUrl, uniqueSchema } from '../../../test/services.js';
import { registerDurabilityTest } from './durability.js';

describe.skipIf(!(await postgresAvailable()))('durability (PostgreSQL)', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    const client = new pg.Client({ connectionString: postgresUrl });
    await client.connect();
    for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    await client.end();
  });
  registerDurabilityTest('PostgreSQL', async () => {
    const schema = uniqueSchema('kill');
    schemas.push(schema);
    return { DATABASE_URL: postgresUrl, SYNCLINE_SCHEMA: schema };
  });
});
